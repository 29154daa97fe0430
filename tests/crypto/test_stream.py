"""STREAM: known answers, round trips at chunk boundaries, constant memory, tampering refused."""

import array
import hashlib
import io
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.memory import peak_traced
from tests.vectors.rfc9180 import stream_encryptor
from tipdrop.crypto import envelope, hpke, keys, stream
from tipdrop.errors import (
    CryptoError,
    DecryptionError,
    FormatError,
    TipdropError,
    TruncatedError,
    WrongKeyError,
)

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "stream.json").read_text(encoding="utf-8")
)
CHUNK = stream.CHUNK_SIZE
SEALED = stream.SEALED_CHUNK
HEADER = stream.HEADER_LEN
CONTEXT = {"kind": "attachment", "tip_id": "T-0001", "part": "photo-1"}
MiB = 1024 * 1024


def pattern(length):
    """Byte i is i mod 251: the data rule of stream.json."""
    return (bytes(range(251)) * (length // 251 + 1))[:length]


def _encrypt(data, recipient, pieces=None, **context):
    out = io.BytesIO()
    with stream.StreamEncryptor(out, recipient, **(context or CONTEXT)) as enc:
        for piece in pieces if pieces is not None else [data]:
            enc.write(piece)
    assert enc.bytes_written == len(out.getvalue())
    assert enc.data_length == len(data)
    return out.getvalue()


def _decrypt(ciphertext, opener, **context):
    out = io.BytesIO()
    length = stream.decrypt_stream(io.BytesIO(ciphertext), out, opener, **(context or CONTEXT))
    assert length == len(out.getvalue())
    return out.getvalue()


def _chunks(ciphertext):
    body = ciphertext[HEADER:]
    return [body[i : i + SEALED] for i in range(0, len(body), SEALED)]


def _vector_unit(vector):
    return keys.UnitPrivateKey(
        vector["unit"],
        X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["x25519_private"])),
        Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["ed25519_private"])),
        "2024-05-01",
    )


def _vector_context(vector):
    return {"kind": vector["kind"], "tip_id": vector["tip_id"], "part": vector["part"]}


@pytest.fixture(scope="module")
def long_data():
    # Three full chunks and a short one once padded: every chunk position exists.
    return pattern(3 * CHUNK + 100)


@pytest.fixture(scope="module")
def long_stream(recipient, long_data):
    return _encrypt(long_data, recipient)


@pytest.fixture(scope="module")
def short_stream(recipient):
    return _encrypt(pattern(500), recipient)


# --- known answers ---------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: str(v["data"]["length"]))
def test_encrypting_reproduces_vectors(vector):
    # Given the vector's unit key, payload key and ephemeral key
    unit = _vector_unit(vector)
    assert unit.key_id.hex() == vector["key_id"]
    data = pattern(vector["data"]["length"])
    assert hashlib.sha256(data).hexdigest() == vector["data"]["sha256"]
    # When the data is streamed through the encryptor
    out = io.BytesIO()
    with stream_encryptor(
        out,
        unit.public.recipient,
        payload_key=bytes.fromhex(vector["payload_key"]),
        ephemeral=X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["ephemeral_private"])),
        **_vector_context(vector),
    ) as enc:
        enc.write(data)
    made = out.getvalue()
    # Then header, every chunk and the whole ciphertext are the vector's
    assert made[:HEADER].hex() == vector["header"]
    chunks = _chunks(made)
    assert len(chunks) == len(vector["chunks"])
    for chunk, expected in zip(chunks, vector["chunks"], strict=False):
        assert len(chunk) == expected["length"]
        assert hashlib.sha256(chunk).hexdigest() == expected["sha256"]
        if "hex" in expected:
            assert chunk.hex() == expected["hex"]
        else:
            assert chunk[: len(expected["head"]) // 2].hex() == expected["head"]
            assert chunk[-stream.TAG_LEN :].hex() == expected["tag"]
    assert len(made) == vector["ciphertext_length"] == stream.ciphertext_length(len(data))
    assert hashlib.sha256(made).hexdigest() == vector["ciphertext_sha256"]
    if "ciphertext" in vector:
        assert made.hex() == vector["ciphertext"]


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: str(v["data"]["length"]))
def test_vector_streams_decrypt_to_their_data(vector):
    unit = _vector_unit(vector)
    ciphertext = _encrypt_as_vector(vector, unit)
    plain = _decrypt(ciphertext, unit.opener, **_vector_context(vector))
    assert len(plain) == vector["data"]["length"]
    assert hashlib.sha256(plain).hexdigest() == vector["data"]["sha256"]


def _encrypt_as_vector(vector, unit):
    if "ciphertext" in vector:
        return bytes.fromhex(vector["ciphertext"])
    out = io.BytesIO()
    with stream_encryptor(
        out,
        unit.public.recipient,
        payload_key=bytes.fromhex(vector["payload_key"]),
        ephemeral=X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["ephemeral_private"])),
        **_vector_context(vector),
    ) as enc:
        enc.write(pattern(vector["data"]["length"]))
    assert hashlib.sha256(out.getvalue()).hexdigest() == vector["ciphertext_sha256"]
    return out.getvalue()


def test_vectors_cover_the_chunk_boundaries():
    lengths = {v["data"]["length"] for v in VECTORS["vectors"]}
    assert {0, 1, CHUNK - 1, CHUNK, CHUNK + 1} <= lengths
    assert any(len(v["chunks"]) >= 3 for v in VECTORS["vectors"])
    assert VECTORS["chunk_size"] == CHUNK


# --- round trips -----------------------------------------------------------------


@pytest.mark.parametrize(
    "length", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK], ids=lambda n: f"{n}-bytes"
)
def test_streams_round_trip_around_chunk_boundaries(recipient, opener, length):
    data = pattern(length)
    ciphertext = _encrypt(data, recipient)
    assert len(ciphertext) == stream.ciphertext_length(length)
    assert _decrypt(ciphertext, opener) == data


def test_the_final_chunk_is_never_empty(recipient):
    for length in (CHUNK - 1, 2 * CHUNK - 1):
        ciphertext = _encrypt(pattern(length), recipient)
        assert len(_chunks(ciphertext)[-1]) > stream.TAG_LEN


def test_writing_one_byte_at_a_time_gives_a_stream_that_decrypts(recipient, opener):
    data = pattern(CHUNK + 300)
    pieces = [data[i : i + 1] for i in range(len(data))]
    assert _decrypt(_encrypt(data, recipient, pieces), opener) == data


@given(
    length=st.integers(min_value=0, max_value=3 * CHUNK + 50),
    cuts=st.lists(st.integers(min_value=0, max_value=3 * CHUNK + 50), max_size=10),
)
@settings(max_examples=25, deadline=None)
def test_writes_split_anywhere_give_a_stream_that_decrypts(recipient, opener, length, cuts):
    data = pattern(length)
    points = sorted({min(c, length) for c in cuts}) + [length]
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    ciphertext = _encrypt(data, recipient, pieces)
    assert len(ciphertext) == stream.ciphertext_length(length)
    assert _decrypt(ciphertext, opener) == data


def test_any_buffer_type_can_be_written(recipient, opener):
    words = array.array("H", range(1000))
    pieces = [b"bytes", bytearray(b"bytearray"), memoryview(b"view"), words]
    data = b"".join(bytes(p) for p in pieces)
    assert _decrypt(_encrypt(data, recipient, pieces), opener) == data


class _Writes(io.BytesIO):
    """An output that records the size of every write it is given."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def write(self, data):
        self.sizes.append(len(data))
        return super().write(data)


def test_decrypting_writes_the_output_in_pieces_of_several_chunks(recipient, opener):
    # Given a stream of ten chunks' worth of data (non-zero bytes throughout)
    data = bytes(range(1, 256)) * (10 * CHUNK // 255)
    out = _Writes()
    stream.decrypt_stream(io.BytesIO(_encrypt(data, recipient)), out, opener, **CONTEXT)
    # Then the data comes out whole, in a few large writes: not two writes per
    # chunk, one of them a single byte (the unpadder holds each chunk's last
    # non-zero byte back), which halved the speed of decrypting into a file
    assert out.getvalue() == data
    assert len(out.sizes) <= 3 and min(out.sizes[:-1]) >= 2 * CHUNK, out.sizes[:6]


def test_a_whole_chunk_written_is_sealed_at_once(recipient, opener):
    # Given an encryptor, written exactly one chunk's worth of data
    out = io.BytesIO()
    enc = stream.StreamEncryptor(out, recipient, **CONTEXT)
    data = pattern(3 * CHUNK)
    enc.write(data[:CHUNK])
    # Then that chunk is sealed now, not copied aside until more data shows
    # it was not the final one: the padding's marker always follows written
    # data, so written data never ends the stream (holding the chunk back
    # cost a 64 KiB copy per read of a file, bench/RESULTS.md)
    assert enc.bytes_written == HEADER + SEALED
    # And writes that end on chunk boundaries still give a stream that decrypts
    enc.write(data[CHUNK:])
    enc.close()
    assert enc.bytes_written == len(out.getvalue()) == stream.ciphertext_length(len(data))
    assert _decrypt(out.getvalue(), opener) == data


def test_encrypting_a_file_writes_several_chunks_at_a_time(tmp_path, recipient, opener):
    # Given a file of ten chunks' worth of data
    data = pattern(10 * CHUNK)
    source = tmp_path / "video.mp4"
    source.write_bytes(data)
    out = _Writes()
    with source.open("rb") as src:
        stream.encrypt_stream(src, out, recipient, **CONTEXT)
    # Then after the header the stream goes out in writes of several sealed
    # chunks, not one write per chunk
    assert out.sizes[0] == HEADER
    assert len(out.sizes) <= 1 + 3 and min(out.sizes[1:-1]) >= 4 * SEALED, out.sizes
    assert _decrypt(out.getvalue(), opener) == data


class _Reads(io.BytesIO):
    """A source that records how many reads it is given."""

    def __init__(self, data):
        super().__init__(data)
        self.reads = 0

    def readinto(self, buffer):
        self.reads += 1
        return super().readinto(buffer)


def test_decrypting_reads_the_stream_several_chunks_at_a_time(recipient, opener):
    # Given a stream of sixteen chunks
    data = pattern(16 * CHUNK - 1)
    src = _Reads(_encrypt(data, recipient))
    out = io.BytesIO()
    stream.decrypt_stream(src, out, opener, **CONTEXT)
    # Then it comes out whole after a few reads of several chunks each, not
    # one read per chunk
    assert out.getvalue() == data
    assert src.reads <= 16 // stream.OUT_CHUNKS + 3, src.reads


#: Padded lengths of whole read batches (the final chunk full, ending a batch) and around them.
BATCH_LENGTHS = [stream.OUT_CHUNKS * CHUNK - 1, stream.OUT_CHUNKS * CHUNK,
                 2 * stream.OUT_CHUNKS * CHUNK - 1, 2 * stream.OUT_CHUNKS * CHUNK + 1]


@pytest.mark.parametrize("length", BATCH_LENGTHS, ids=lambda n: f"{n}-bytes")
def test_streams_round_trip_around_read_batch_boundaries(recipient, opener, length):
    data = pattern(length)
    ciphertext = _encrypt(data, recipient)
    assert len(ciphertext) == stream.ciphertext_length(length)
    assert _decrypt(ciphertext, opener) == data


def test_cutting_a_long_stream_at_any_chunk_boundary_is_detected(recipient, opener):
    # Given a stream whose final chunk is full and ends the second read batch
    ciphertext = _encrypt(pattern(2 * stream.OUT_CHUNKS * CHUNK - 1), recipient)
    chunks = len(_chunks(ciphertext))
    assert chunks == 2 * stream.OUT_CHUNKS and len(_chunks(ciphertext)[-1]) == SEALED
    # Then cut after any number of its chunks, at a batch boundary or not, it is truncated
    for kept in range(chunks):
        with pytest.raises(TruncatedError):
            _decrypt(ciphertext[: HEADER + kept * SEALED], opener)


def test_encrypt_stream_reads_a_whole_file(tmp_path, recipient, opener):
    data = pattern(2 * CHUNK + 7)
    source = tmp_path / "photo.jpg"
    source.write_bytes(data)
    out = io.BytesIO()
    with source.open("rb") as src:
        written = stream.encrypt_stream(src, out, recipient, **CONTEXT)
    assert written == len(out.getvalue()) == stream.ciphertext_length(len(data))
    assert _decrypt(out.getvalue(), opener) == data


def test_the_stream_does_not_contain_the_plaintext(long_data, long_stream):
    assert long_data[:64] not in long_stream
    assert long_data[-64:] not in long_stream


def test_writing_after_close_is_refused(recipient):
    enc = stream.StreamEncryptor(io.BytesIO(), recipient, **CONTEXT)
    enc.close()
    enc.close()  # closing twice is harmless
    with pytest.raises(ValueError):
        enc.write(b"late")


# --- memory ----------------------------------------------------------------------------


def _write_pattern_file(path, size):
    block = pattern(251 * 4096)  # ~1 MiB and a whole number of pattern periods
    with open(path, "wb") as f:
        for start in range(0, size, len(block)):
            f.write(block[: min(len(block), size - start)])


def _sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def _round_trip_peaks(folder, size, recipient, opener):
    plain, sealed, opened = folder / f"{size}.bin", folder / f"{size}.enc", folder / f"{size}.out"
    _write_pattern_file(plain, size)

    def encrypt():
        with open(plain, "rb") as src, open(sealed, "wb") as out:
            stream.encrypt_stream(src, out, recipient, **CONTEXT)

    def decrypt():
        with open(sealed, "rb") as src, open(opened, "wb") as out:
            stream.decrypt_stream(src, out, opener, **CONTEXT)

    peaks = peak_traced(encrypt), peak_traced(decrypt)
    assert sealed.stat().st_size == stream.ciphertext_length(size)
    assert _sha256_file(opened) == _sha256_file(plain)
    for path in (plain, sealed, opened):
        path.unlink()
    return peaks


def test_memory_does_not_grow_with_the_stream_length(tmp_path, recipient, opener):
    # Given an 8 MiB and a 64 MiB file, encrypted and decrypted file to file
    small = _round_trip_peaks(tmp_path, 8 * MiB, recipient, opener)
    large = _round_trip_peaks(tmp_path, 64 * MiB, recipient, opener)
    # Then neither direction holds more than a few chunks at a time (~0.5 MiB
    # measured), and eight times the data needs no more memory: the peak
    # varies only by a transient chunk copy, depending on where zeros fall
    for peak_small, peak_large in zip(small, large, strict=False):
        assert peak_large < 1 * MiB, (small, large)
        assert peak_large - peak_small < 512 * 1024, (small, large)


# --- tampering ---------------------------------------------------------------------


def _flipped(data, position, mask=0x01):
    damaged = bytearray(data)
    damaged[position] ^= mask
    return bytes(damaged)


# Positions relative to the stream of long_data: header, 3 full chunks, a short final chunk.
FLIPS = {
    "version": (0, FormatError),
    "kind": (1, CryptoError),
    "key-id": (5, WrongKeyError),
    "enc": (envelope.HEADER_LEN + 3, DecryptionError),
    "sealed-payload-key": (envelope.HEADER_LEN + hpke.ENC_LEN + 5, DecryptionError),
    "sealed-payload-key-tag": (HEADER - 1, DecryptionError),
    "first-chunk-start": (HEADER, DecryptionError),
    "middle-of-a-chunk": (HEADER + SEALED + CHUNK // 2, DecryptionError),
    "a-chunk-tag": (HEADER + SEALED - 1, DecryptionError),
    "last-chunk": (-100, DecryptionError),
    "last-chunk-tag": (-1, DecryptionError),
}


@pytest.mark.parametrize("where", FLIPS)
def test_flipping_a_stream_byte_is_refused(long_stream, opener, where):
    position, error = FLIPS[where]
    for mask in (0x01, 0x80):
        with pytest.raises(error):
            _decrypt(_flipped(long_stream, position, mask), opener)


@pytest.mark.parametrize("chunks_kept", [0, 1, 2, 3])
def test_cutting_the_stream_at_a_chunk_boundary_is_detected(long_stream, opener, chunks_kept):
    with pytest.raises(TruncatedError):
        _decrypt(long_stream[: HEADER + chunks_kept * SEALED], opener)


@pytest.mark.parametrize(
    "length",
    [
        0, 1, HEADER - 1, HEADER + 1, HEADER + stream.TAG_LEN, HEADER + CHUNK // 2,
        HEADER + SEALED + 100, -1,
    ],
    ids=["empty", "1-byte", "mid-header", "1-byte-chunk", "tag-only", "mid-first-chunk",
         "mid-second-chunk", "last-byte-missing"],
)
def test_cutting_the_stream_inside_a_chunk_is_refused(long_stream, opener, length):
    with pytest.raises(CryptoError):
        _decrypt(long_stream[:length], opener)


def test_a_stream_cut_inside_its_header_is_truncated(long_stream, opener):
    for length in range(HEADER):
        with pytest.raises(TruncatedError):
            _decrypt(long_stream[:length], opener)


def _reassembled(long_stream, order, extra=b""):
    chunks = _chunks(long_stream)
    return long_stream[:HEADER] + b"".join(chunks[i] for i in order) + extra


@pytest.mark.parametrize(
    "order",
    [(0, 2, 3), (1, 0, 2, 3), (0, 1, 1, 2, 3), (0, 1, 3), (1, 2, 3), (0, 1, 2, 3, 3)],
    ids=["middle-dropped", "swapped", "duplicated", "last-full-chunk-dropped", "first-dropped",
         "final-repeated"],
)
def test_dropping_reordering_or_repeating_chunks_is_refused(long_stream, opener, order):
    with pytest.raises(DecryptionError):
        _decrypt(_reassembled(long_stream, order), opener)


@pytest.mark.parametrize(
    "extra",
    [b"\x00", b"garbage", bytes(SEALED)],
    ids=["one-zero", "garbage", "a-chunk-of-zeros"],
)
def test_bytes_after_the_final_chunk_are_refused(long_stream, opener, extra):
    with pytest.raises(DecryptionError):
        _decrypt(long_stream + extra, opener)


def test_a_chunk_copied_after_the_final_chunk_is_refused(long_stream, opener):
    with pytest.raises(DecryptionError):
        _decrypt(long_stream + _chunks(long_stream)[0], opener)


def test_bytes_after_a_full_size_final_chunk_are_refused(recipient, opener):
    # CHUNK - 1 data bytes pad to exactly one full chunk: the final chunk is
    # recognised only by what follows it.
    ciphertext = _encrypt(pattern(CHUNK - 1), recipient)
    assert len(ciphertext) == HEADER + SEALED
    for extra in (b"\x00", _chunks(ciphertext)[0]):
        with pytest.raises(DecryptionError):
            _decrypt(ciphertext + extra, opener)


@pytest.mark.parametrize(
    "context",
    [
        {"kind": "attachment", "tip_id": "T-0002", "part": "photo-1"},
        {"kind": "attachment", "tip_id": "T-0001", "part": "photo-2"},
        {"kind": "tip", "tip_id": "T-0001", "part": "photo-1"},
    ],
    ids=["other-tip", "other-part", "other-kind"],
)
def test_opening_in_another_context_is_refused(long_stream, opener, context):
    with pytest.raises(DecryptionError):
        _decrypt(long_stream, opener, **context)


def test_a_header_relabelled_to_another_kind_does_not_open(long_stream, opener):
    relabelled = long_stream[:1] + bytes([envelope.KINDS["tip"]]) + long_stream[2:]
    with pytest.raises(DecryptionError):
        _decrypt(relabelled, opener, kind="tip", tip_id="T-0001", part="photo-1")


def test_another_units_key_is_refused(long_stream, other_unit_key):
    with pytest.raises(WrongKeyError):
        _decrypt(long_stream, other_unit_key.opener)


@pytest.mark.parametrize(
    "length", [10, 3 * CHUNK + 10], ids=["inside-first-chunk", "after-full-chunks"]
)
def test_a_stream_abandoned_by_an_exception_does_not_decrypt(recipient, opener, length):
    # Given an upload that fails part-way, inside the encryptor's with-block
    out = io.BytesIO()
    with pytest.raises(OSError):
        with stream.StreamEncryptor(out, recipient, **CONTEXT) as enc:
            enc.write(pattern(length))
            raise OSError("connection reset by the reporter's phone")
    # Then what was written is refused as cut short, not returned as data
    with pytest.raises(TruncatedError):
        _decrypt(out.getvalue(), opener)


def test_a_stream_never_closed_does_not_decrypt(recipient, opener):
    out = io.BytesIO()
    enc = stream.StreamEncryptor(out, recipient, **CONTEXT)
    enc.write(pattern(2 * CHUNK + 1))
    with pytest.raises(TruncatedError):
        _decrypt(out.getvalue(), opener)


def test_an_envelope_is_not_a_stream(recipient, opener):
    sealed = envelope.seal(pattern(200), recipient, **CONTEXT)
    with pytest.raises(CryptoError):
        _decrypt(sealed, opener)


def test_a_stream_header_is_not_an_envelope(long_stream, opener):
    # Same layout (header | HPKE enc | ciphertext), different info label.
    with pytest.raises(DecryptionError):
        envelope.open_(long_stream[:HEADER], opener, **CONTEXT)


# --- fuzzing -----------------------------------------------------------------------


@given(data=st.binary(max_size=600))
@settings(max_examples=150, deadline=None)
def test_arbitrary_bytes_raise_only_tipdrop_errors(opener, data):
    with pytest.raises(TipdropError):
        _decrypt(data, opener)


@given(body=st.binary(max_size=600))
@settings(max_examples=100, deadline=None)
def test_arbitrary_bodies_behind_a_valid_header_are_refused(recipient, opener, body):
    header = bytes([envelope.VERSION, envelope.KINDS["attachment"]]) + recipient.key_id
    with pytest.raises(CryptoError):
        _decrypt(header + body, opener)


@given(
    edits=st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
        min_size=1,
        max_size=3,
    ),
    cut=st.none() | st.integers(min_value=0),
)
@settings(max_examples=100, deadline=None)
def test_random_edits_of_a_real_stream_are_refused(short_stream, opener, edits, cut):
    damaged = bytearray(short_stream)
    for position, value in edits:
        damaged[position % len(damaged)] = value
    if cut is not None:
        damaged = damaged[: cut % len(damaged)]
    if bytes(damaged) == short_stream:
        return
    with pytest.raises(CryptoError):
        _decrypt(bytes(damaged), opener)

