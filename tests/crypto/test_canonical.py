"""Canonical encoding: known answers, unambiguity (a decoder recovers the fields), refusals."""

import json
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tipdrop.crypto import canonical
from tipdrop.errors import FormatError

SIGNING_VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "signing.json").read_text(encoding="utf-8")
)


def _field(spec):
    [(kind, value)] = spec.items()
    return bytes.fromhex(value) if kind == "bytes" else value


def _decode(data):
    """Split an encoding back into (label, [field bytes]); raise ValueError if malformed."""
    (label_len,) = struct.unpack_from(">H", data, 0)
    pos = 2 + label_len
    label = data[2:pos].decode("ascii")
    fields = []
    while pos < len(data):
        (n,) = struct.unpack_from(">I", data, pos)
        pos += 4
        if pos + n > len(data):
            raise ValueError("field runs past the end")
        fields.append(data[pos : pos + n])
        pos += n
    return label, fields


labels = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
fields = st.lists(st.binary(max_size=40), max_size=6)


def test_encoding_is_worked_out_by_hand():
    # 2-byte label length, label, then a 4-byte length before each field;
    # str is UTF-8 and int is 8 bytes big-endian.
    expected = (
        "0001" "78"
        "00000002" "6162"
        "00000002" "c3a9"
        "00000008" "0000000000000102"
    )
    assert canonical.encode("x", b"ab", "\u00e9", 258).hex() == expected


def test_a_label_alone_encodes_to_its_length_and_bytes():
    assert canonical.encode("tipdrop/v1/reply") == b"\x00\x10tipdrop/v1/reply"


@pytest.mark.parametrize(
    "vector", SIGNING_VECTORS["vectors"], ids=lambda v: v["label"].rsplit("/", 1)[-1]
)
def test_encoding_matches_signing_vectors(vector):
    encoded = canonical.encode(vector["label"], *[_field(f) for f in vector["fields"]])
    assert encoded.hex() == vector["encoding"]


@given(label=labels, fields=fields)
def test_decoding_an_encoding_gives_back_label_and_fields(label, fields):
    assert _decode(canonical.encode(label, *fields)) == (label, fields)


@given(a=fields, b=fields)
def test_different_field_lists_never_encode_alike(a, b):
    if a != b:
        assert canonical.encode("l", *a) != canonical.encode("l", *b)


@pytest.mark.parametrize(
    "a, b",
    [
        (("ab", "c"), ("a", "bc")),
        (("abc",), ("a", "b", "c")),
        ((), ("",)),
        (("",), ("", "")),
        ((b"\x00\x00\x00\x01",), (b"", b"")),
    ],
    ids=["moved-boundary", "split-field", "empty-field", "two-empty-fields", "length-lookalike"],
)
def test_shifting_bytes_between_fields_changes_the_encoding(a, b):
    assert canonical.encode("tipdrop/v1/status", *a) != canonical.encode("tipdrop/v1/status", *b)


def test_label_and_fields_cannot_trade_bytes():
    assert canonical.encode("tipdrop/v1/reply", "x") != canonical.encode("tipdrop/v1/replyx")


def test_str_fields_encode_as_their_utf8_bytes():
    # Types are not tagged: each label fixes what its fields are.
    assert canonical.encode("l", "caf\u00e9") == canonical.encode("l", "caf\u00e9".encode())


@pytest.mark.parametrize("value", [0, 1, 2**64 - 1])
def test_integers_in_range_are_eight_bytes(value):
    assert canonical.field_bytes(value) == value.to_bytes(8, "big")


@pytest.mark.parametrize("value", [-1, 2**64, -(2**70)])
def test_integers_out_of_range_are_refused(value):
    with pytest.raises(FormatError):
        canonical.encode("l", value)


@pytest.mark.parametrize("value", [True, False, 1.0, None, ["a"], {"a": 1}])
def test_fields_without_a_fixed_encoding_are_refused(value):
    with pytest.raises(TypeError):
        canonical.encode("l", value)


def test_non_ascii_labels_are_refused():
    with pytest.raises(UnicodeEncodeError):
        canonical.encode("tipdrop/v1/r\u00e9ply")


def test_bytearray_and_memoryview_encode_like_bytes():
    expected = canonical.encode("l", b"abc")
    assert canonical.encode("l", bytearray(b"abc")) == expected
    assert canonical.encode("l", memoryview(b"abc")) == expected
