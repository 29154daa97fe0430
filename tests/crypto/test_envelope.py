"""Envelopes: known answers, round trips, and any tampering refused with a tipdrop error."""

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vectors.rfc9180 import envelope_with_ephemeral
from tipdrop.crypto import envelope, hpke, keys, padding
from tipdrop.errors import CryptoError, DecryptionError, FormatError, TipdropError, WrongKeyError

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "envelope.json").read_text(encoding="utf-8")
)
CONTEXT = {"kind": "tip", "tip_id": "T-0001", "part": ""}
byte_edits = st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
REPORT = b"The blue van parks behind the school every night."

# Byte ranges of an envelope, and the error a flip there must raise.
ENC_START = envelope.HEADER_LEN
BODY_START = envelope.HEADER_LEN + hpke.ENC_LEN
REGIONS = {
    "version": (0, 1, FormatError),
    "kind": (1, 2, CryptoError),
    "key-id": (2, envelope.HEADER_LEN, WrongKeyError),
    "enc": (ENC_START, BODY_START, DecryptionError),
    "body": (BODY_START, -hpke.TAG_LEN, DecryptionError),
    "tag": (-hpke.TAG_LEN, None, DecryptionError),
}


def _vector_parties(vector):
    """(recipient, opener) for a vector: a unit key or a reporter's reply key."""
    x25519 = X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["x25519_private"]))
    if vector["recipient"] == "reply-key":
        recipient = keys.reply_recipient(x25519.public_key().public_bytes_raw())
        return recipient, keys.reply_opener(x25519)
    ed25519 = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["ed25519_private"]))
    unit = keys.UnitPrivateKey(vector["unit"], x25519, ed25519, VECTORS["created"])
    return unit.public.recipient, unit.opener


def _vector_id(vector):
    return f"{vector['kind']}-{vector['tip_id']}-{len(vector['plaintext']) // 2}"


def _context(vector):
    return {"kind": vector["kind"], "tip_id": vector["tip_id"], "part": vector["part"]}


@pytest.fixture(scope="module")
def sealed(recipient):
    return envelope.seal(REPORT, recipient, **CONTEXT)


# --- known answers ---------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=_vector_id)
def test_sealing_reproduces_vectors(vector):
    recipient, _ = _vector_parties(vector)
    assert recipient.key_id.hex() == vector["key_id"]
    ephemeral = X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["ephemeral_private"]))
    made = envelope_with_ephemeral(
        bytes.fromhex(vector["plaintext"]), recipient, ephemeral, **_context(vector)
    )
    assert made.hex() == vector["envelope"]


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=_vector_id)
def test_vector_envelopes_open_to_their_plaintext(vector):
    _, opener = _vector_parties(vector)
    opened = envelope.open_(bytes.fromhex(vector["envelope"]), opener, **_context(vector))
    assert opened.hex() == vector["plaintext"]


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=_vector_id)
def test_vector_info_strings_match(vector):
    recipient, _ = _vector_parties(vector)
    info = envelope.context_info(
        "tipdrop/v1/envelope", vector["kind"], vector["tip_id"], vector["part"], recipient.key_id
    )
    assert info.hex() == vector["info"]


def test_vectors_cover_every_kind_and_size():
    vectors = VECTORS["vectors"]
    # "backup" is only ever a stream (docs/protocol.md section 16), never an envelope.
    assert {v["kind"] for v in vectors} == set(envelope.KINDS) - {"backup"}
    sizes = {len(v["plaintext"]) // 2 for v in vectors}
    assert {0, 300, 5000} <= sizes
    assert any(v["part"] for v in vectors)
    assert {v["recipient"] for v in vectors} == {"unit", "reply-key"}


# --- round trips -----------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(envelope.KINDS))
def test_every_kind_round_trips(recipient, opener, kind):
    sealed = envelope.seal(REPORT, recipient, kind=kind, tip_id="T-0042", part="2")
    assert envelope.parse_header(sealed) == (kind, recipient.key_id)
    assert envelope.open_(sealed, opener, kind=kind, tip_id="T-0042", part="2") == REPORT


@given(plaintext=st.binary(max_size=2000))
@settings(max_examples=40, deadline=None)
def test_any_plaintext_round_trips(recipient, opener, plaintext):
    sealed = envelope.seal(plaintext, recipient, **CONTEXT)
    padded = padding.padded_length(len(plaintext), padding.MIN_PADDED_LEN)
    assert len(sealed) == envelope.OVERHEAD + padded
    assert envelope.open_(sealed, opener, **CONTEXT) == plaintext


def test_a_reply_to_a_reply_key_round_trips():
    reply_key = X25519PrivateKey.generate()
    recipient = keys.reply_recipient(reply_key.public_key().public_bytes_raw())
    sealed = envelope.seal(b"Thank you.", recipient, kind="reply", tip_id="T-1", part="1")
    opener = keys.reply_opener(reply_key)
    assert envelope.open_(sealed, opener, kind="reply", tip_id="T-1", part="1") == b"Thank you."


def test_padding_hides_the_length_of_short_texts(recipient):
    short = envelope.seal(b"x" * 10, recipient, **CONTEXT)
    longer = envelope.seal(b"x" * 200, recipient, **CONTEXT)
    assert len(short) == len(longer)


def test_the_envelope_does_not_contain_the_plaintext(sealed):
    assert REPORT not in sealed
    assert REPORT[:16] not in sealed


# --- tampering ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "context",
    [
        {"kind": "followup", "tip_id": "T-0001", "part": ""},
        {"kind": "tip", "tip_id": "T-0002", "part": ""},
        {"kind": "tip", "tip_id": "T-0001", "part": "1"},
    ],
    ids=["other-kind", "other-tip", "other-part"],
)
def test_opening_in_another_context_is_refused(sealed, opener, context):
    with pytest.raises(DecryptionError):
        envelope.open_(sealed, opener, **context)


def test_another_units_key_is_refused(sealed, other_unit_key):
    with pytest.raises(WrongKeyError):
        envelope.open_(sealed, other_unit_key.opener, **CONTEXT)


def test_a_header_relabelled_to_another_kind_does_not_open(sealed, opener):
    # The server rewrites the kind byte so the header agrees with the kind asked for.
    relabelled = bytes([sealed[0], envelope.KINDS["followup"]]) + sealed[2:]
    with pytest.raises(DecryptionError):
        envelope.open_(relabelled, opener, kind="followup", tip_id="T-0001")


def test_a_header_relabelled_to_another_key_does_not_open(sealed, other_unit_key):
    relabelled = sealed[:2] + other_unit_key.key_id + sealed[envelope.HEADER_LEN :]
    with pytest.raises(DecryptionError):
        envelope.open_(relabelled, other_unit_key.opener, **CONTEXT)


@pytest.mark.parametrize("version", [0, 2, 255])
def test_other_format_versions_are_refused(sealed, opener, version):
    with pytest.raises(FormatError):
        envelope.open_(bytes([version]) + sealed[1:], opener, **CONTEXT)


@pytest.mark.parametrize("code", [0, len(envelope.KINDS) + 1, 255])
def test_unknown_kind_bytes_are_refused(sealed, opener, code):
    with pytest.raises(FormatError):
        envelope.open_(sealed[:1] + bytes([code]) + sealed[2:], opener, **CONTEXT)


@pytest.mark.parametrize("region", REGIONS)
def test_flipping_any_envelope_byte_is_refused(sealed, opener, region):
    start, stop, error = REGIONS[region]
    positions = range(len(sealed))[start:stop]
    assert len(positions) > 0
    for position in positions:
        for mask in (0x01, 0x80, 0xFF):
            damaged = bytearray(sealed)
            damaged[position] ^= mask
            with pytest.raises(error):
                envelope.open_(bytes(damaged), opener, **CONTEXT)


def test_every_truncation_is_refused(recipient, opener):
    sealed = envelope.seal(b"", recipient, **CONTEXT)
    for length in range(len(sealed)):
        with pytest.raises(CryptoError):
            envelope.open_(sealed[:length], opener, **CONTEXT)


@pytest.mark.parametrize("extra", [b"\x00", b"\x80", bytes(16)], ids=["zero", "marker", "block"])
def test_appended_bytes_are_refused(sealed, opener, extra):
    with pytest.raises(DecryptionError):
        envelope.open_(sealed + extra, opener, **CONTEXT)


@pytest.mark.parametrize(
    "tip_id, part",
    [("", ""), ("T-\u00e9", ""), ("T" * 65, ""), ("T-1", "p" * 65), (1, ""), ("T-1", None)],
    ids=["empty-tip", "non-ascii-tip", "long-tip", "long-part", "int-tip", "none-part"],
)
def test_malformed_contexts_are_refused(recipient, opener, sealed, tip_id, part):
    with pytest.raises(FormatError):
        envelope.seal(b"x", recipient, kind="tip", tip_id=tip_id, part=part)
    with pytest.raises(FormatError):
        envelope.open_(sealed, opener, kind="tip", tip_id=tip_id, part=part)


def test_unknown_kinds_are_a_programming_error(recipient):
    with pytest.raises(ValueError):
        envelope.seal(b"x", recipient, kind="photo", tip_id="T-1")


# --- fuzzing -----------------------------------------------------------------------


@given(data=st.binary(max_size=400))
@settings(max_examples=200, deadline=None)
def test_arbitrary_bytes_raise_only_tipdrop_errors(opener, data):
    with pytest.raises(TipdropError):
        envelope.open_(data, opener, **CONTEXT)


@given(body=st.binary(max_size=400), kind=st.sampled_from(sorted(envelope.KINDS)))
@settings(max_examples=100, deadline=None)
def test_arbitrary_bodies_behind_a_valid_header_are_refused(recipient, opener, body, kind):
    header = bytes([envelope.VERSION, envelope.KINDS[kind]]) + recipient.key_id
    with pytest.raises(CryptoError):
        envelope.open_(header + body, opener, kind=kind, tip_id="T-0001")


@given(edits=st.lists(byte_edits, min_size=1, max_size=4))
@settings(max_examples=150, deadline=None)
def test_random_edits_of_a_real_envelope_are_refused(sealed, opener, edits):
    damaged = bytearray(sealed)
    for position, value in edits:
        damaged[position % len(damaged)] = value
    if bytes(damaged) == sealed:
        return
    with pytest.raises(CryptoError):
        envelope.open_(bytes(damaged), opener, **CONTEXT)
