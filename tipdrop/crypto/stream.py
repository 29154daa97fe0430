"""STREAM encryption of payloads of any size in constant memory.

Photos and videos can be hundreds of megabytes and arrive over slow phone
connections, so they are encrypted as they stream in and decrypted the same
way. Construction (in the style of age, docs/protocol.md):

    version (1) | kind (1) | key id (16) | HPKE-sealed payload key (80) | chunks

A fresh 32-byte payload key is sealed to the recipient with HPKE, bound to
the tip id, kind, part and key id. The plaintext (padded to its Padmé length)
is cut into 64 KiB chunks, each sealed with AES-256-GCM under the payload key
with nonce = 11-byte big-endian chunk counter || last-chunk flag. The final
chunk is never empty and is the only one with the flag set, so cutting the
stream at a chunk boundary, dropping, reordering or appending chunks all
fail to decrypt.
"""

import secrets
from types import TracebackType
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tipdrop.crypto import hpke, keys, padding
from tipdrop.crypto.envelope import HEADER_LEN as _KIND_HEADER_LEN
from tipdrop.crypto.envelope import HpkeSeal, _header, context_info, parse_header
from tipdrop.errors import DecryptionError, FormatError, TruncatedError

CHUNK_SIZE = 64 * 1024
TAG_LEN = 16
SEALED_CHUNK = CHUNK_SIZE + TAG_LEN
#: Sealed chunks (encrypting) and opened chunks (decrypting) are written out
#: this many at a time.
OUT_CHUNKS = 4
PAYLOAD_KEY_LEN = 32
HEADER_LEN = _KIND_HEADER_LEN + hpke.OVERHEAD + PAYLOAD_KEY_LEN
_MAX_COUNTER = 2**88 - 1
_LABEL = "tipdrop/v1/stream"


class Source(Protocol):
    """What a stream is read from: a binary file, a socket's file, a BytesIO."""

    def readinto(self, buffer: bytearray | memoryview, /) -> int | None: ...


class Sink(Protocol):
    """What a stream is written to."""

    def write(self, data: bytes | bytearray | memoryview, /) -> object: ...


def _nonce(counter: int, last: bool) -> bytes:
    if counter > _MAX_COUNTER:
        raise FormatError("stream too long")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def ciphertext_length(plaintext_length: int) -> int:
    """Exact stream length for ``plaintext_length`` bytes of data."""
    padded = padding.padded_length(plaintext_length)
    chunks = -(-padded // CHUNK_SIZE)
    return HEADER_LEN + padded + chunks * TAG_LEN


class FramingCheck:
    """Check a stream's framing as its bytes pass by, without the key.

    For streams sealed on the reporter's device: the server stores them as
    they arrive and cannot decrypt them, but refuses any that is certainly
    malformed: a wrong version or kind in the header, more than ``max_len``
    bytes, or a total length that no padded plaintext cut into 64 KiB chunks
    gives (section 5). Chunk contents are checked by the officer's tool,
    which holds the key.
    """

    def __init__(self, *, kind: str, max_len: int) -> None:
        self.kind = kind
        self.max_len = max_len
        self.length = 0
        self._head = bytearray()
        self.key_id: bytes | None = None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self.length += len(data)
        if self.length > self.max_len:
            raise FormatError("the stream is too large")
        if self.key_id is None:
            self._head += data[: _KIND_HEADER_LEN - len(self._head)]
            if len(self._head) == _KIND_HEADER_LEN:
                found, self.key_id = parse_header(self._head)
                if found != self.kind:
                    raise FormatError(f"expected a {self.kind} stream, found a {found}")

    def finish(self) -> bytes:
        """Return the header's key id once the whole stream passed and fits."""
        body = self.length - HEADER_LEN
        if self.key_id is None or body <= 0:
            raise TruncatedError("the stream is incomplete")
        chunks = -(-body // SEALED_CHUNK)
        padded = body - chunks * TAG_LEN
        if padded < 1 or padding.padme(padded) != padded or -(-padded // CHUNK_SIZE) != chunks:
            raise FormatError("the stream length is not one a sealer produces")
        return self.key_id


class StreamEncryptor:
    """A write-only file object that encrypts what is written to it into ``out``.

    Write any amount, any number of times, then call :meth:`close` (or use it
    as a context manager): the padding and the final chunk are written then.
    A stream that is never closed has no final chunk and will not decrypt.
    """

    def __init__(self, out: Sink, recipient: keys.Recipient, *, kind: str, tip_id: str,
                 part: str = "") -> None:
        self._start(out, recipient, kind, tip_id, part,
                    secrets.token_bytes(PAYLOAD_KEY_LEN), hpke.seal)

    @classmethod
    def _from_parts(cls, out: Sink, recipient: keys.Recipient, *, kind: str, tip_id: str,
                    part: str = "", payload_key: bytes, hpke_seal: HpkeSeal) -> "StreamEncryptor":
        """An encryptor with the caller's payload key and HPKE seal.

        For the known-answer vectors only (tests/vectors/rfc9180.py passes a
        deterministic seal); production goes through ``__init__``, which
        draws both.
        """
        self = cls.__new__(cls)
        self._start(out, recipient, kind, tip_id, part, payload_key, hpke_seal)
        return self

    def _start(self, out: Sink, recipient: keys.Recipient, kind: str, tip_id: str, part: str,
               payload_key: bytes, hpke_seal: HpkeSeal) -> None:
        info = context_info(_LABEL, kind, tip_id, part, recipient.key_id)
        sealed_key = hpke_seal(payload_key, recipient.x25519, info)
        self._out = out
        self._aead = AESGCM(payload_key)
        self._buf = bytearray(CHUNK_SIZE)
        # Sealed chunks are gathered here and written OUT_CHUNKS at a time:
        # one write per chunk was a tenth of the CPU time of encrypting a
        # file (bench/RESULTS.md, "Attachment stream cipher").
        self._sealed = memoryview(bytearray(OUT_CHUNKS * SEALED_CHUNK))
        self._sealed_fill = 0
        self._fill = 0
        self._counter = 0
        self._closed = False
        self.data_length = 0
        self.bytes_written = HEADER_LEN
        #: The stream's first HEADER_LEN bytes; a report binds its files by their digest.
        self.header = _header(kind, recipient.key_id) + sealed_key
        out.write(self.header)

    def writable(self) -> bool:
        return True

    def _emit(self, data: bytearray | memoryview, last: bool) -> None:
        start = self._sealed_fill
        if start + len(data) + TAG_LEN > len(self._sealed):
            self._flush()
            start = 0
        n = self._aead.encrypt_into(
            _nonce(self._counter, last), data, None, self._sealed[start : start + len(data) + TAG_LEN]
        )
        self._sealed_fill = start + n
        self._counter += 1
        self.bytes_written += n
        if last:
            self._flush()

    def _flush(self) -> None:
        if self._sealed_fill:
            self._out.write(self._sealed[: self._sealed_fill])
            self._sealed_fill = 0

    def _push(self, data: bytes | bytearray | memoryview, *, data_follows: bool) -> None:
        """Seal ``data``'s whole chunks and keep the rest for the next call.

        A chunk can only be sealed once it is known not to be the final one.
        With ``data_follows`` (what the caller writes) that is always known:
        at least the padding's marker comes after it, so a chunk is sealed as
        soon as it is whole, straight from the caller's buffer when it lies
        there whole. The padding (``data_follows`` false) may end exactly on a
        chunk boundary, so its last whole chunk waits for :meth:`close`.
        """
        view = memoryview(data).cast("B")
        # A chunk in the caller's buffer is sealed from there if it is whole,
        # and is not possibly the final one.
        direct = CHUNK_SIZE if data_follows else CHUNK_SIZE + 1
        while len(view):
            if self._fill == CHUNK_SIZE:
                self._emit(self._buf, last=False)
                self._fill = 0
            if self._fill == 0 and len(view) >= direct:
                self._emit(view[:CHUNK_SIZE], last=False)
                view = view[CHUNK_SIZE:]
                continue
            take = min(CHUNK_SIZE - self._fill, len(view))
            self._buf[self._fill : self._fill + take] = view[:take]
            self._fill += take
            view = view[take:]
        if data_follows and self._fill == CHUNK_SIZE:
            self._emit(self._buf, last=False)
            self._fill = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError("write to a closed stream")
        n = len(memoryview(data).cast("B"))
        self._push(data, data_follows=True)
        self.data_length += n
        return n

    def close(self) -> None:
        if self._closed:
            return
        pad = padding.padding_for(self.data_length)
        self._push(b"\x80", data_follows=False)
        zeros = bytes(min(pad - 1, CHUNK_SIZE))
        remaining = pad - 1
        while remaining:
            n = min(remaining, len(zeros))
            self._push(memoryview(zeros)[:n], data_follows=False)
            remaining -= n
        self._emit(memoryview(self._buf)[: self._fill], last=True)
        self._closed = True

    def __enter__(self) -> "StreamEncryptor":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            # Leave the stream without a final chunk: it can never open.
            self._closed = True


def encrypt_stream(src: Source, out: Sink, recipient: keys.Recipient, *, kind: str, tip_id: str,
                   part: str = "") -> int:
    """Encrypt everything readable from ``src`` into ``out``; return bytes written."""
    enc = StreamEncryptor(out, recipient, kind=kind, tip_id=tip_id, part=part)
    buf = bytearray(CHUNK_SIZE * 4)
    view = memoryview(buf)
    while True:
        n = src.readinto(buf)
        if not n:
            break
        enc.write(view[:n])
    enc.close()
    return enc.bytes_written


def read_header(src: Source) -> tuple[str, bytes, bytearray]:
    """Read and parse a stream header: (kind, key id, header bytes)."""
    header = _read_exactly(src, HEADER_LEN)
    if len(header) < HEADER_LEN:
        raise TruncatedError("the header is incomplete")
    kind, key_id = parse_header(header)
    return kind, key_id, header


def _read_exactly(src: Source, n: int) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = src.readinto(view[got:])
        if not k:
            break
        got += k
    return buf if got == n else buf[:got]


def decrypt_stream(src: Source, out: Sink, opener: keys.Opener, *, kind: str, tip_id: str,
                   part: str = "") -> int:
    """Decrypt a stream from ``src`` into ``out``; return the data length.

    Raises DecryptionError (or TruncatedError) on any tampering. Output
    written before a failure must be discarded by the caller: write to a
    temporary file and rename only on success.
    """
    found_kind, key_id, header = read_header(src)
    if found_kind != kind:
        raise DecryptionError(f"expected a {kind} stream, found a {found_kind}")
    opener.require(key_id)
    info = context_info(_LABEL, kind, tip_id, part, key_id)
    payload_key = hpke.open_(header[_KIND_HEADER_LEN:], opener.x25519, info)
    aead = AESGCM(payload_key)
    # Opened chunks are gathered OUT_CHUNKS at a time behind one spare byte,
    # where the unpadder puts the byte it held back (it holds each piece's
    # last non-zero byte until more data shows it was not the padding's
    # marker): one write per piece, and no copy of the data. One write per
    # chunk, or two (the second a single byte), cost a decryption into a
    # file half its speed (bench/RESULTS.md, "Attachment stream cipher").
    plain = memoryview(bytearray(1 + OUT_CHUNKS * CHUNK_SIZE))
    filled = 1
    unpadder = padding.StreamUnpadder(out.write)
    # The stream is read OUT_CHUNKS sealed chunks at a time, into two buffers
    # used in turns: the batch being opened and the one after it, read first,
    # which tells whether the batch's last chunk is the stream's last. One
    # read per chunk was a tenth of a decryption's CPU time in system calls
    # and Python (bench/RESULTS.md, "Attachment stream cipher").
    batch = OUT_CHUNKS * SEALED_CHUNK
    buffers = (bytearray(batch), bytearray(batch))
    current = _read_into(src, buffers[0])
    turn = counter = 0
    while True:
        turn = 1 - turn
        # A batch cut short is the stream's end: nothing follows it.
        upcoming = _read_into(src, buffers[turn]) if len(current) == batch else current[:0]
        end = len(current)
        start = 0
        while True:
            sealed = current[start : start + SEALED_CHUNK]
            start += SEALED_CHUNK
            last = start >= end and not upcoming
            if len(sealed) <= TAG_LEN:
                raise TruncatedError("a chunk is missing or cut short")
            filled += _open_chunk(aead, counter, last, sealed,
                                  plain[filled : filled + len(sealed) - TAG_LEN])
            counter += 1
            if last or filled + CHUNK_SIZE > len(plain):
                unpadder.feed_after_spare(plain[:filled])
                filled = 1
            if start >= end:
                break
        if last:
            break
        current = upcoming
    unpadder.finish()
    return unpadder.data_length


def _read_into(src: Source, buffer: bytearray) -> memoryview:
    """Fill ``buffer`` from ``src`` as far as it goes; the filled part, as a memoryview."""
    view = memoryview(buffer)
    got = 0
    while got < len(buffer):
        k = src.readinto(view[got:])
        if not k:
            break
        got += k
    return view[:got]


def _open_chunk(aead: AESGCM, counter: int, last: bool, sealed: memoryview,
                plain: memoryview) -> int:
    """Open one sealed chunk into ``plain`` (its length less the tag); return that length."""
    try:
        return aead.decrypt_into(_nonce(counter, last), sealed, None, plain)
    except InvalidTag:
        pass
    if last:
        # Distinguish "cut at a chunk boundary" from other damage for the user.
        try:
            aead.decrypt_into(_nonce(counter, False), sealed, None, plain)
        except InvalidTag:
            pass
        else:
            raise TruncatedError("the final chunk is missing")
    raise DecryptionError(f"chunk {counter} does not authenticate")
