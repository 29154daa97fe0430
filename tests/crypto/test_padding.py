"""Padmé padding: known bucket sizes, bounded overhead, round trips, canonical-only unpadding."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipdrop.crypto import padding
from tipdrop.errors import PaddingError

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "padding.json").read_text(encoding="utf-8")
)

# Data whose end looks like padding is the hard case for unpadding.
tricky_tails = st.sampled_from(
    [b"", b"\x00", b"\x00" * 7, b"\x80", b"\x80\x00", b"\x80\x00\x00", b"\x00\x80", b"\x01\x00"]
)
data_with_tricky_tails = st.builds(
    lambda body, tail: body + tail, st.binary(max_size=600), tricky_tails
)


def _splits(data, cuts):
    """Cut ``data`` at the (sorted, clipped) positions ``cuts``."""
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, start = [], 0
    for point in points + [len(data)]:
        pieces.append(data[start:point])
        start = point
    return pieces


def _unpad_in_pieces(padded, cuts, minimum):
    out = bytearray()
    unpadder = padding.StreamUnpadder(out.extend)
    for piece in _splits(padded, cuts):
        unpadder.feed(piece)
    unpadder.finish(minimum)
    return bytes(out), unpadder


def test_padme_matches_vectors():
    assert VECTORS["padme"], "empty vector file"
    for length, expected in VECTORS["padme"]:
        assert padding.padme(length) == expected, length


def test_padded_length_matches_vectors():
    assert VECTORS["min_padded_len"] == padding.MIN_PADDED_LEN
    for length, minimum, expected in VECTORS["padded_length"]:
        assert padding.padded_length(length, minimum) == expected, (length, minimum)


@given(st.integers(min_value=256, max_value=2**50))
def test_padme_overhead_is_at_most_twelve_percent(length):
    padded = padding.padme(length)
    assert length <= padded <= length * 1.12


def test_padme_overhead_is_at_most_twelve_percent_for_every_small_length():
    for length in range(2, 20000):
        assert length <= padding.padme(length) <= length * 1.12, length


@pytest.mark.parametrize("exponent", [8, 12, 16, 20, 30])
def test_padme_leaves_few_lengths_per_power_of_two(exponent):
    # Between 2^E and 2^(E+1) only about 2^S buckets exist (S = bits of E):
    # the padded length reveals O(log log n) bits instead of O(log n).
    low = 2**exponent
    # Sample large ranges: every bucket edge is a multiple of step.
    step = 2 ** max(exponent - 14, 0)
    buckets = {padding.padme(n) for n in range(low, 2 * low, step)}
    assert len(buckets) <= 2 ** exponent.bit_length() + 1


@given(st.integers(min_value=0, max_value=2**40))
def test_padme_is_idempotent(length):
    assert padding.padme(padding.padme(length)) == padding.padme(length)


@given(data=data_with_tricky_tails, minimum=st.sampled_from([0, 1, 256, 1000]))
def test_unpad_gives_back_what_pad_padded(data, minimum):
    padded = padding.pad(data, minimum)
    assert len(padded) == padding.padded_length(len(data), minimum)
    assert padding.unpad(padded, minimum) == data


def test_short_texts_share_one_bucket():
    assert len(padding.pad(b"x" * 10)) == len(padding.pad(b"x" * 200)) == padding.MIN_PADDED_LEN


def test_padding_for_counts_marker_and_zeros():
    for length in (0, 1, 255, 256, 5000):
        assert length + padding.padding_for(length) == padding.padded_length(length)


def _to_next_bucket(data):
    # Valid-looking ISO padding, but to a larger length than the canonical one.
    canonical_len = padding.padded_length(len(data), padding.MIN_PADDED_LEN)
    return data + b"\x80" + bytes(padding.padme(canonical_len + 1) - len(data) - 1)


@pytest.mark.parametrize(
    "padded",
    [
        b"",
        bytes(256),
        b"x" * 256,
        padding.pad(b"report")[:-1],
        padding.pad(b"report") + b"\x00",
        padding.pad(b"report")[:6] + b"\x81" + padding.pad(b"report")[7:],
        b"report\x80" + bytes(10),
        _to_next_bucket(b"report"),
    ],
    ids=[
        "empty",
        "all-zeros",
        "no-marker",
        "one-zero-short",
        "one-zero-long",
        "wrong-marker",
        "short-of-minimum",
        "larger-bucket",
    ],
)
def test_non_canonical_padding_is_refused(padded):
    with pytest.raises(PaddingError):
        padding.unpad(padded)


@given(
    data=data_with_tricky_tails,
    cuts=st.lists(st.integers(min_value=0, max_value=700), max_size=8),
    minimum=st.sampled_from([0, 256]),
)
@settings(max_examples=200)
def test_stream_unpadder_fed_in_pieces_equals_unpad(data, cuts, minimum):
    padded = padding.pad(data, minimum)
    out, unpadder = _unpad_in_pieces(padded, cuts, minimum)
    assert out == padding.unpad(padded, minimum) == data
    assert unpadder.data_length == len(data)
    assert unpadder.total == len(padded)


@given(
    padded=st.one_of(
        st.binary(max_size=300),
        st.builds(lambda d: padding.pad(d, 0)[:-1], st.binary(min_size=2, max_size=300)),
        st.builds(lambda d: padding.pad(d, 0) + b"\x00", st.binary(max_size=300)),
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=5),
)
def test_stream_unpadder_refuses_exactly_what_unpad_refuses(padded, cuts):
    try:
        expected = padding.unpad(padded, 0)
    except PaddingError:
        with pytest.raises(PaddingError):
            _unpad_in_pieces(padded, cuts, 0)
    else:
        assert _unpad_in_pieces(padded, cuts, 0)[0] == expected


def test_stream_unpadder_passes_long_zero_runs_inside_the_data():
    # Given data that is mostly zeros (held back as a count, not as bytes)
    data = b"start" + bytes(3 * 65536 + 5) + b"end" + bytes(70000)
    padded = padding.pad(data, 0)
    # When it is fed in 64 KiB pieces
    out, _ = _unpad_in_pieces(padded, range(0, len(padded), 65536), 0)
    # Then every zero inside the data comes out, and the padding does not
    assert out == data


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 3 * padding._BLOCK))
def test_the_last_non_zero_byte_is_found_across_blocks_of_zeros(head, zeros):
    data = head + bytes(zeros)
    expected = len(data.rstrip(b"\x00")) - 1
    assert padding._last_nonzero(memoryview(data)) == expected


def _unpad_after_spare(padded, cuts, minimum):
    """As _unpad_in_pieces, each piece given behind a spare byte (as decrypt_stream does)."""
    out = bytearray()
    unpadder = padding.StreamUnpadder(lambda data: out.extend(bytes(data)))
    for piece in _splits(padded, cuts):
        unpadder.feed_after_spare(memoryview(bytearray(b"?") + piece))
    unpadder.finish(minimum)
    return bytes(out), unpadder


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), tricky_tails, st.lists(st.integers(0, 700), max_size=6),
       st.sampled_from([0, padding.MIN_PADDED_LEN]))
def test_pieces_behind_a_spare_byte_unpad_as_pieces_do(data, tail, cuts, minimum):
    padded = padding.pad(data + tail, minimum)
    expected, plain = _unpad_in_pieces(padded, cuts, minimum)
    got, spare = _unpad_after_spare(padded, cuts, minimum)
    assert got == expected == data + tail
    assert (spare.total, spare.data_length) == (plain.total, plain.data_length)


def _outcome(unpad, data, cuts):
    try:
        return unpad(data, cuts, 0)[0]
    except PaddingError:
        return PaddingError


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), tricky_tails, st.sampled_from([b"", b"\x00", b"\x80\x00\x00\x00"]),
       st.lists(st.integers(0, 400), max_size=5))
def test_any_bytes_behind_a_spare_byte_are_refused_or_unpadded_as_in_pieces(data, tail, end, cuts):
    # Canonical paddings and not (no marker, or one of the wrong length) alike
    damaged = data + tail + end
    assert _outcome(_unpad_after_spare, damaged, cuts) == _outcome(_unpad_in_pieces, damaged, cuts)
