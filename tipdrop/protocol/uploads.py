"""Resumable uploads of a device-sealed report: names and digests both sides compute.

A device that sealed a report (docs/protocol.md section 14) may send it in
pieces that survive a dropped connection (docs/protocol.md section 17): it
picks a random *upload key* (128 bits, 32 lower-case hex digits), the
server knows the upload only by :func:`upload_id` of that key, every piece
carries :func:`piece_digest` of its bytes, and the final request carries the
:func:`chain` over every piece in order, which binds the pieces to their
upload, their order and their number. Reader beside writer: the server
(tipdrop/server/uploads.py) and the page's JavaScript (static/js/resume.js)
compute the same values; tests/vectors/uploads.json holds known answers.
"""

import hashlib
import re

from tipdrop.crypto import canonical

#: Bytes per piece (the last may be shorter): one row of the staged blob it
#: is stored in (tipdrop/server/store/blobs.py), a few seconds on 3G.
PIECE_BYTES = 1024 * 1024
#: The upload key: 128 random bits from the device, as 32 lower-case hex digits.
UPLOAD_KEY = re.compile(r"[0-9a-f]{32}")
ID_LABEL = "tipdrop/v1/upload-id"
START_LABEL = "tipdrop/v1/upload-start"
PIECE_LABEL = "tipdrop/v1/upload-piece"
REPORT_LABEL = "tipdrop/v1/report-digest"
#: A report digest: 32 bytes as 64 lower-case hex digits (the begin's ``report_digest``).
REPORT_DIGEST = re.compile(r"[0-9a-f]{64}")


def upload_id(key: str) -> str:
    """The name the server stores an upload under: it cannot be turned back into the key."""
    if not UPLOAD_KEY.fullmatch(key):
        raise ValueError("an upload key is 32 lower-case hex digits")
    return hashlib.sha256(canonical.encode(ID_LABEL, bytes.fromhex(key))).hexdigest()


def piece_digest(data: bytes | bytearray | memoryview) -> bytes:
    """SHA-256 of one piece's bytes, sent with the piece and checked on arrival."""
    return hashlib.sha256(data).digest()


def chain_start(upload: str) -> bytes:
    """The chain before any piece: bound to the upload's id."""
    return hashlib.sha256(canonical.encode(START_LABEL, upload)).digest()


def chain_next(previous: bytes, index: int, digest: bytes) -> bytes:
    """The chain after piece ``index`` (0, 1, ...) whose digest is ``digest``."""
    if len(previous) != 32 or len(digest) != 32:
        raise ValueError("chain values and piece digests are 32 bytes")
    return hashlib.sha256(canonical.encode(PIECE_LABEL, previous, index, digest)).digest()


def chain(upload: str, digests: list[bytes]) -> bytes:
    """The chain over every piece's digest, in order (what the final request carries)."""
    value = chain_start(upload)
    for index, digest in enumerate(digests):
        value = chain_next(value, index, digest)
    return value


def report_digest(tip_id: str, digests: list[bytes]) -> bytes:
    """What a report's sealed bytes are, named apart from any upload of them.

    SHA-256 over the tip id and every piece's digest, in order: only
    ciphertext (and the tip id both sides already name), never anything
    about the plaintext, and the same under every upload key, so a device
    that starts over with the same sealed bytes names the same report
    (docs/protocol.md section 19, "Lost answers").
    """
    if any(len(digest) != 32 for digest in digests) or not digests:
        raise ValueError("a report digest is over one or more 32-byte piece digests")
    return hashlib.sha256(canonical.encode(REPORT_LABEL, tip_id, *digests)).digest()


class PieceDigests:
    """The digest of every PIECE_BYTES of a stream fed in any slices (the server's side)."""

    def __init__(self) -> None:
        self.digests: list[bytes] = []
        self._hash = hashlib.sha256()
        self._filled = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while len(view):
            take = min(len(view), PIECE_BYTES - self._filled)
            self._hash.update(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled == PIECE_BYTES:
                self._close()

    def _close(self) -> None:
        self.digests.append(self._hash.digest())
        self._hash, self._filled = hashlib.sha256(), 0

    def finish(self) -> list[bytes]:
        """Every piece's digest, the last (shorter) one included."""
        if self._filled:
            self._close()
        return self.digests


def piece_count(total: int) -> int:
    """How many pieces ``total`` bytes make (at least one: an upload is never empty)."""
    return max(1, -(-total // PIECE_BYTES))
