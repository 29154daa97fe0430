"""An attachment's plaintext handed out in pieces: memory that does not grow with its size.

The officer app's download of a file (app/views.py) may be a stream of up
to 16 GiB (protocol/bundles.py MAX_STREAM_RECORD); it is never held whole.
The stream is decrypted twice: once into nothing but its first bytes (the
download's name needs them, saving.checked_extension), which proves the
whole stream authentic before a byte is sent; then again, piece by piece,
into the response. Nothing of the plaintext touches the disk.
"""

import queue
import threading

from tipdrop.officer.saving import HEAD_BYTES

#: Pieces of plaintext waiting for the browser at most (each up to a few
#: 64 KiB chunks, stream.OUT_CHUNKS): what the download holds in memory.
WAITING = 4
#: Seconds a waiting piece checks whether the browser went away.
_POLL = 0.5


class _Head:
    """A sink that keeps the first HEAD_BYTES bytes and counts the rest away."""

    def __init__(self):
        self.head = bytearray()

    def write(self, data, /):
        if len(self.head) < HEAD_BYTES:
            self.head += bytes(data[:HEAD_BYTES - len(self.head)])
        return len(data)


def authenticated_head(workspace, tip_id, part, keyring):
    """The first bytes of an attachment, once its whole stream authenticated."""
    sink = _Head()
    workspace.read_attachment(tip_id, part, keyring, sink)
    return bytes(sink.head)


class _Gone(Exception):
    """The reader of the pieces stopped (the browser closed the download)."""


class _Handover:
    """A sink that hands each piece to another thread, WAITING at most at a time."""

    def __init__(self):
        self.pieces = queue.Queue(maxsize=WAITING)
        self.stop = threading.Event()

    def write(self, data, /):
        piece = bytes(data)  # the decryptor reuses its buffer
        while not self.stop.is_set():
            try:
                self.pieces.put(piece, timeout=_POLL)
                return len(data)
            except queue.Full:
                continue
        raise _Gone()


def plaintext_pieces(workspace, tip_id, part, keyring):
    """The attachment's plaintext as an iterator of pieces, decrypted as they are taken.

    Call authenticated_head first: a stream that fails here changed on the
    disk since; the iterator then raises and the download is cut short.
    Closing the iterator early (the browser went away) stops the decryption.
    """
    read = workspace.attachment_reader(tip_id, part, keyring)  # here: the database's thread
    sink = _Handover()
    done = object()
    failure = []

    def decrypt():
        try:
            read(sink)
        except _Gone:
            return
        except Exception as e:  # handed to the reader, raised there
            failure.append(e)
        while not sink.stop.is_set():
            try:
                sink.pieces.put(done, timeout=_POLL)
                return
            except queue.Full:
                continue

    worker = threading.Thread(target=decrypt, name="download", daemon=True)
    worker.start()
    try:
        while True:
            piece = sink.pieces.get()
            if piece is done:
                break
            yield piece
        if failure:
            raise failure[0]
    finally:
        sink.stop.set()
        worker.join()
