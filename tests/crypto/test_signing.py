"""Signatures: known answers, round trips, and every kind of tampering refused."""

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from tipdrop.crypto import signing
from tipdrop.errors import SignatureError

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "signing.json").read_text(encoding="utf-8")
)
VECTOR_KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["ed25519_private"]))
VECTOR_PUBLIC = bytes.fromhex(VECTORS["ed25519_public"])

STATUS = "tipdrop/v1/status"
FIELDS = ("T-0001", 7, "closed", b"\x00\x01")

field_values = st.one_of(
    st.text(max_size=30), st.binary(max_size=30), st.integers(min_value=0, max_value=2**64 - 1)
)


def _field(spec):
    [(kind, value)] = spec.items()
    return bytes.fromhex(value) if kind == "bytes" else value


def _changed(field):
    """A different value of the same type."""
    if isinstance(field, bytes):
        return field[:-1] + bytes([field[-1] ^ 1]) if field else b"\x00"
    if isinstance(field, int):
        return field + 1
    return field + "x"


@pytest.fixture(scope="module")
def key():
    return Ed25519PrivateKey.generate()


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["label"].rsplit("/", 1)[-1])
def test_signatures_match_vectors(vector):
    fields = [_field(f) for f in vector["fields"]]
    signature = signing.sign(VECTOR_KEY, vector["label"], *fields)
    assert signature.hex() == vector["signature"]
    signing.verify(VECTOR_PUBLIC, signature, vector["label"], *fields)


def test_vectors_cover_reply_status_and_request():
    labels = {v["label"] for v in VECTORS["vectors"]}
    assert {"tipdrop/v1/reply", "tipdrop/v1/status", "tipdrop/v1/request"} <= labels
    kinds = {next(iter(f)) for v in VECTORS["vectors"] for f in v["fields"]}
    assert kinds == {"str", "bytes", "int"}


@given(label=st.sampled_from(sorted(signing.LABELS)), fields=st.lists(field_values, max_size=6))
@settings(max_examples=50, deadline=None)
def test_a_signature_verifies_for_the_same_label_and_fields(key, label, fields):
    signature = signing.sign(key, label, *fields)
    assert len(signature) == signing.SIGNATURE_LEN
    assert signing.verify(key.public_key(), signature, label, *fields) is None


def test_a_raw_public_key_verifies_like_the_key_object(key):
    signature = signing.sign(key, STATUS, *FIELDS)
    signing.verify(key.public_key().public_bytes_raw(), signature, STATUS, *FIELDS)


@pytest.mark.parametrize("index", range(len(FIELDS)))
def test_changing_any_field_breaks_the_signature(key, index):
    signature = signing.sign(key, STATUS, *FIELDS)
    fields = list(FIELDS)
    fields[index] = _changed(fields[index])
    with pytest.raises(SignatureError):
        signing.verify(key.public_key(), signature, STATUS, *fields)


@pytest.mark.parametrize(
    "fields",
    [FIELDS[:-1], FIELDS + ("",), FIELDS[::-1], ("T-0001", 8, "closed", b"\x00\x01")],
    ids=["field-dropped", "field-added", "fields-reordered", "sequence-replayed-as-next"],
)
def test_dropping_adding_or_reordering_fields_breaks_the_signature(key, fields):
    signature = signing.sign(key, STATUS, *FIELDS)
    with pytest.raises(SignatureError):
        signing.verify(key.public_key(), signature, STATUS, *fields)


@pytest.mark.parametrize("other_label", sorted(signing.LABELS - {STATUS}))
def test_a_signature_for_one_record_type_is_refused_for_another(key, other_label):
    signature = signing.sign(key, STATUS, *FIELDS)
    with pytest.raises(SignatureError):
        signing.verify(key.public_key(), signature, other_label, *FIELDS)


def test_flipping_any_signature_bit_is_refused(key):
    signature = signing.sign(key, STATUS, *FIELDS)
    for position in range(len(signature)):
        for mask in (0x01, 0x80):
            damaged = bytearray(signature)
            damaged[position] ^= mask
            with pytest.raises(SignatureError):
                signing.verify(key.public_key(), bytes(damaged), STATUS, *FIELDS)


def test_another_key_is_refused(key):
    signature = signing.sign(key, STATUS, *FIELDS)
    with pytest.raises(SignatureError):
        signing.verify(Ed25519PrivateKey.generate().public_key(), signature, STATUS, *FIELDS)


@pytest.mark.parametrize(
    "signature",
    [b"", bytes(63), bytes(65), "0" * 64, None],
    ids=["empty", "63", "65", "str", "none"],
)
def test_signatures_of_the_wrong_shape_are_refused(key, signature):
    with pytest.raises(SignatureError):
        signing.verify(key.public_key(), signature, STATUS, *FIELDS)


@pytest.mark.parametrize("raw", [b"", bytes(31), bytes(33)], ids=["empty", "31", "33"])
def test_raw_public_keys_of_the_wrong_length_are_refused(key, raw):
    signature = signing.sign(key, STATUS, *FIELDS)
    with pytest.raises(SignatureError):
        signing.verify(raw, signature, STATUS, *FIELDS)


@pytest.mark.parametrize(
    "label", ["tipdrop/v1/unknown", "tipdrop/v2/status", "", "tipdrop/v1/status "]
)
def test_unknown_labels_are_a_programming_error(key, label):
    with pytest.raises(ValueError):
        signing.sign(key, label, *FIELDS)
    with pytest.raises(ValueError):
        signing.verify(key.public_key(), bytes(64), label, *FIELDS)


def test_field_boundaries_are_signed(key):
    signature = signing.sign(key, STATUS, "ab", "c")
    with pytest.raises(SignatureError):
        signing.verify(key.public_key(), signature, STATUS, "a", "bc")


def test_only_ed25519_private_keys_sign():
    with pytest.raises(TypeError):
        signing.sign(X25519PrivateKey.generate(), STATUS, *FIELDS)


@given(raw_key=st.binary(min_size=32, max_size=32), signature=st.binary(min_size=64, max_size=64))
@settings(max_examples=100, deadline=None)
def test_arbitrary_raw_keys_and_signatures_raise_only_signature_errors(raw_key, signature):
    # Low-order keys can accept crafted signatures: verify is only ever called
    # with a unit's installed key, never with a key the sender chose.
    try:
        signing.verify(raw_key, signature, STATUS, *FIELDS)
    except SignatureError:
        pass
