"""Length hiding: pad plaintexts to Padmé buckets before encryption.

A ciphertext's length otherwise tells anyone with the database how long each
report or photo is, which can single out a reporter ("the one who sent the
12,345,678-byte video"). Padmé (Nikitin et al., PETS 2019) rounds a length up
so that at most O(log log n) bits of it remain, for at most ~12 % overhead.

The padding itself is ISO/IEC 7816-4 style: one 0x80 byte, then zeros, so the
original length is recovered from the plaintext alone and a stream can be
padded at its end without knowing its length in advance.
"""

from collections.abc import Callable

from tipdrop.errors import PaddingError

MARKER = 0x80

#: Small messages (a few words of report text) all share one bucket.
MIN_PADDED_LEN = 256


def padme(length: int) -> int:
    """Round ``length`` up to its Padmé bucket."""
    if length < 2:
        return length
    exponent = length.bit_length() - 1
    mantissa_bits = exponent.bit_length()
    low_bits = exponent - mantissa_bits
    mask = (1 << low_bits) - 1
    return (length + mask) & ~mask


def padded_length(length: int, minimum: int = 0) -> int:
    """Total plaintext length after padding ``length`` data bytes."""
    return padme(max(length + 1, minimum))


def pad(data: bytes | bytearray | memoryview, minimum: int = MIN_PADDED_LEN) -> bytes:
    """Return ``data || 0x80 || 0x00*`` with Padmé length (at least ``minimum``)."""
    total = padded_length(len(data), minimum)
    return bytes(data) + b"\x80" + bytes(total - len(data) - 1)


def unpad(padded: bytes | bytearray | memoryview, minimum: int = MIN_PADDED_LEN) -> bytes:
    """Inverse of :func:`pad`; raise PaddingError unless the padding is canonical."""
    body = bytes(padded).rstrip(b"\x00")
    if not body or body[-1] != MARKER:
        raise PaddingError()
    data = body[:-1]
    if padded_length(len(data), minimum) != len(padded):
        raise PaddingError("padding length is not the canonical one")
    return data


def padding_for(length: int, minimum: int = 0) -> int:
    """How many padding bytes (marker included) follow ``length`` data bytes."""
    return padded_length(length, minimum) - length


class StreamUnpadder:
    """Strip padding from a stream in constant memory.

    The end of the data is only known at the end of the stream, so the last
    non-zero byte seen (a candidate marker) and the count of zeros after it
    are held back; they are released as soon as more non-zero data arrives.
    """

    _ZERO_BLOCK = bytes(64 * 1024)

    def __init__(self, write: Callable[[bytes | memoryview], object]) -> None:
        self._write = write
        self._held: int | None = None
        self._zeros = 0
        self.total = 0
        self.data_length = 0

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        chunk = memoryview(data)
        if not len(chunk):
            return
        self.total += len(chunk)
        if chunk[-1]:
            last = len(chunk) - 1
        else:
            last = _last_nonzero(chunk)
            if last < 0:
                self._zeros += len(chunk)
                return
        self._release()
        self._emit(chunk[:last])
        self._held = chunk[last]
        self._zeros = len(chunk) - last - 1

    def feed_after_spare(self, view: memoryview) -> None:
        """:meth:`feed` ``view[1:]``, where ``view[0]`` is a spare byte.

        The byte held back from the data before, if nothing else is held
        with it, is put in the spare byte and written with the new data: one
        write per piece instead of two (the first a single byte).
        """
        chunk = view[1:]
        if not len(chunk):
            return
        self.total += len(chunk)
        last = len(chunk) - 1 if chunk[-1] else _last_nonzero(chunk)
        if last < 0:
            self._zeros += len(chunk)
            return
        if self._held is not None and not self._zeros:
            view[0] = self._held
            self._held = None
            self._emit(view[: last + 1])
        else:
            self._release()
            self._emit(chunk[:last])
        self._held = chunk[last]
        self._zeros = len(chunk) - last - 1

    def _release(self) -> None:
        if self._held is not None:
            self._emit(bytes([self._held]))
        while self._zeros:
            n = min(self._zeros, len(self._ZERO_BLOCK))
            self._emit(memoryview(self._ZERO_BLOCK)[:n])
            self._zeros -= n
        self._held = None

    def _emit(self, data: bytes | memoryview) -> None:
        if len(data):
            self._write(data)
            self.data_length += len(data)

    def finish(self, minimum: int = 0) -> None:
        """Check the held-back tail is exactly a canonical padding."""
        if self._held != MARKER:
            raise PaddingError()
        if padded_length(self.data_length, minimum) != self.total:
            raise PaddingError("padding length is not the canonical one")


#: Zeros are looked for this many bytes at a time (see _last_nonzero).
_BLOCK = 4096
_ZEROS = bytes(_BLOCK)


def _last_nonzero(data: memoryview) -> int:
    """The index of the last non-zero byte of ``data``, or -1 if it is all zeros.

    Block by block from the end, compared whole: ``bytes.rstrip(b"\\x00")``
    looks at one byte per call of memchr, and the padding of a 1 GiB file is
    16 MiB of zeros (a tenth of the time of decrypting it, bench/RESULTS.md).
    """
    end = len(data)
    while end:
        start = max(0, end - _BLOCK)
        block = bytes(data[start:end])
        if block != _ZEROS[: end - start]:
            return start + len(block.rstrip(b"\x00")) - 1
        end = start
    return -1
