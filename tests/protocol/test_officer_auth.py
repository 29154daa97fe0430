"""Signed officer API requests: known answers, round trip, and every tampering refused."""

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tipdrop.crypto import canonical, keys
from tipdrop.protocol import officer_auth
from tipdrop.protocol.officer_auth import (
    KEY_ID,
    NONCE,
    SIGNATURE,
    TIMESTAMP,
    UNIT,
    WINDOW,
    RequestAuthError,
)
from tipdrop.server.unitkeys import UnitKeys

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "officer_request.json").read_text(encoding="utf-8")
)
VECTOR_KEY = keys.UnitPrivateKey(
    VECTORS["unit"],
    X25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["x25519_private"])),
    Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["ed25519_private"])),
    VECTORS["created"],
)

NOW = 1_764_345_600
TARGET = "/officer/v1/replies"
BODY = b'{"format": "tipdrop-replies"}'


class Nonces:
    """What the server's nonce table does, in memory."""

    def __init__(self):
        self.seen = {}

    def __call__(self, nonce, expires):
        if nonce in self.seen:
            return False
        self.seen[nonce] = expires
        return True


@pytest.fixture
def installed(unit_key, other_unit_key):
    return UnitKeys([unit_key.public, other_unit_key.public])


def _signed(unit_key, method="POST", target=TARGET, body=BODY, timestamp=NOW, nonce=b"\x07" * 16):
    return officer_auth._sign_request_at(unit_key.ed25519, unit_key.unit, unit_key.key_id,
                                         method, target, body, timestamp=timestamp, nonce=nonce)


def _verify(headers, installed, method="POST", target=TARGET, body=BODY, now=NOW, nonces=None):
    return officer_auth.verify_request(headers, installed, method=method, target=target, body=body,
                                       now=now, remember_nonce=nonces or Nonces())


# --- known answers ----------------------------------------------------------------


def test_the_vector_key_is_the_one_the_file_names():
    assert VECTOR_KEY.key_id.hex() == VECTORS["key_id"]
    assert VECTOR_KEY.ed25519.public_key().public_bytes_raw().hex() == VECTORS["ed25519_public"]
    assert VECTORS["window_seconds"] == WINDOW


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: f"{v['method']} {v['target']}")
def test_requests_are_signed_exactly_as_the_vectors_say(vector):
    body = bytes.fromhex(vector["body"])
    nonce = bytes.fromhex(vector["nonce"])
    headers = officer_auth._sign_request_at(
        VECTOR_KEY.ed25519, VECTOR_KEY.unit, VECTOR_KEY.key_id, vector["method"],
        vector["target"], body, timestamp=vector["timestamp"], nonce=nonce)
    assert headers == vector["headers"]
    fields = officer_auth.request_fields(VECTOR_KEY.unit, VECTOR_KEY.key_id, vector["method"],
                                         vector["target"], vector["timestamp"], nonce,
                                         hashlib.sha256(body).digest())
    assert canonical.encode("tipdrop/v1/request", *fields).hex() == vector["encoding"]
    assert base64.b64decode(headers[SIGNATURE]).hex() == vector["signature"]
    assert hashlib.sha256(body).hexdigest() == vector["body_sha256"]


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: f"{v['method']} {v['target']}")
def test_the_vectors_verify(vector):
    public = officer_auth.verify_request(
        vector["headers"], UnitKeys([VECTOR_KEY.public]), method=vector["method"],
        target=vector["target"], body=bytes.fromhex(vector["body"]), now=vector["timestamp"],
        remember_nonce=Nonces())
    assert public.unit == VECTORS["unit"]


# --- round trip ---------------------------------------------------------------------


def test_a_fresh_request_verifies_and_names_its_unit(unit_key, installed):
    import time

    headers = officer_auth.sign_request(unit_key, "GET", "/officer/v1/export?since_start=0")
    nonces = Nonces()
    public = _verify(headers, installed, method="GET", target="/officer/v1/export?since_start=0",
                     body=b"", now=int(time.time()), nonces=nonces)
    assert public.key_id == unit_key.key_id and public.unit == unit_key.unit
    [(nonce, expires)] = nonces.seen.items()
    assert nonce == headers[NONCE] and expires == int(headers[TIMESTAMP]) + WINDOW


def test_every_request_gets_a_new_nonce(unit_key):
    first = officer_auth.sign_request(unit_key, "GET", "/x")
    second = officer_auth.sign_request(unit_key, "GET", "/x")
    assert first[NONCE] != second[NONCE] and first[SIGNATURE] != second[SIGNATURE]


# --- tampering ----------------------------------------------------------------------


def _flip_hex(text):
    return text[:-1] + ("0" if text[-1] != "0" else "1")


def _flip_b64(text):
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("header,change", [
    (UNIT, lambda v: "other-unit"),
    (UNIT, lambda v: v + "x"),
    (KEY_ID, _flip_hex),
    (TIMESTAMP, lambda v: str(int(v) + 1)),
    (NONCE, _flip_hex),
    (SIGNATURE, _flip_b64),
], ids=["unit-other", "unit-renamed", "key-id", "timestamp", "nonce", "signature"])
def test_changing_any_header_is_refused(unit_key, installed, header, change):
    headers = _signed(unit_key)
    headers[header] = change(headers[header])
    with pytest.raises(RequestAuthError):
        _verify(headers, installed)


@pytest.mark.parametrize("changes", [
    {"method": "PUT"},
    {"target": "/officer/v1/replies?x=1"},
    {"target": "/officer/v1/export"},
    {"body": BODY + b" "},
    {"body": b""},
], ids=["method", "query-added", "path", "body-extended", "body-dropped"])
def test_a_signature_for_one_request_does_not_cover_another(unit_key, installed, changes):
    with pytest.raises(RequestAuthError, match="signature does not match"):
        _verify(_signed(unit_key), installed, **changes)


@pytest.mark.parametrize("header", [UNIT, KEY_ID, TIMESTAMP, NONCE, SIGNATURE])
def test_a_missing_header_is_refused(unit_key, installed, header):
    headers = _signed(unit_key)
    del headers[header]
    with pytest.raises(RequestAuthError, match=f"{header} is missing"):
        _verify(headers, installed)


@pytest.mark.parametrize("header,value", [
    (UNIT, "Test-unit"), (UNIT, "test-unit\n"), (UNIT, " test-unit"),
    (KEY_ID, "AB" * 16), (KEY_ID, "ab" * 15),
    (TIMESTAMP, "-5"), (TIMESTAMP, "1e9"), (TIMESTAMP, "1" * 13), (TIMESTAMP, "١٢٣"),
    (NONCE, "zz" * 16), (SIGNATURE, "not base64!"),
])
def test_malformed_headers_are_refused(unit_key, installed, header, value):
    headers = _signed(unit_key)
    headers[header] = value
    with pytest.raises(RequestAuthError, match=f"the header {header} is not"):
        _verify(headers, installed)


def test_a_signature_of_the_wrong_length_is_refused(unit_key, installed):
    headers = _signed(unit_key)
    headers[SIGNATURE] = base64.b64encode(base64.b64decode(headers[SIGNATURE])[:-1]).decode()
    with pytest.raises(RequestAuthError, match="signature does not match"):
        _verify(headers, installed)


def test_a_key_that_is_not_installed_is_refused(installed):
    stranger = keys.generate("demo")
    with pytest.raises(RequestAuthError, match="not installed"):
        _verify(_signed(stranger), installed)


def test_a_unit_cannot_speak_for_another_unit(unit_key, other_unit_key, installed):
    # Given a request honestly signed by the other unit, but naming this unit
    headers = officer_auth._sign_request_at(other_unit_key.ed25519, unit_key.unit,
                                            other_unit_key.key_id, "POST", TARGET, BODY,
                                            timestamp=NOW, nonce=b"\x01" * 16)
    with pytest.raises(RequestAuthError, match="not a key of unit"):
        _verify(headers, installed)


def test_another_units_key_id_with_this_units_signature_is_refused(unit_key, other_unit_key,
                                                                     installed):
    headers = _signed(unit_key)
    headers[KEY_ID] = other_unit_key.key_id.hex()
    headers[UNIT] = other_unit_key.unit
    with pytest.raises(RequestAuthError, match="signature does not match"):
        _verify(headers, installed)


# --- time window and replay ---------------------------------------------------------


@pytest.mark.parametrize("offset", [-WINDOW, -1, 0, 1, WINDOW])
def test_requests_within_the_window_are_accepted(unit_key, installed, offset):
    nonces = Nonces()
    headers = _signed(unit_key)
    public = _verify(headers, installed, now=NOW + offset, nonces=nonces)
    assert (public.unit, public.key_id) == (unit_key.unit, unit_key.key_id)
    assert headers[NONCE] in nonces.seen


@pytest.mark.parametrize("offset", [-WINDOW - 1, WINDOW + 1, 86400, -86400])
def test_requests_outside_the_window_are_refused(unit_key, installed, offset):
    with pytest.raises(RequestAuthError, match="clock"):
        _verify(_signed(unit_key), installed, now=NOW + offset)


def test_a_replayed_request_is_refused(unit_key, installed):
    nonces = Nonces()
    headers = _signed(unit_key)
    assert _verify(headers, installed, nonces=nonces).unit == unit_key.unit
    with pytest.raises(RequestAuthError, match="already received"):
        _verify(dict(headers), installed, nonces=nonces, now=NOW + 10)


def test_a_refused_request_does_not_use_up_its_nonce(unit_key, installed):
    # Given a forged request carrying the nonce of a genuine one
    nonces = Nonces()
    genuine = _signed(unit_key)
    forged = dict(genuine, **{SIGNATURE: _flip_b64(genuine[SIGNATURE])})
    with pytest.raises(RequestAuthError):
        _verify(forged, installed, nonces=nonces)
    # Then the nonce is not recorded, and the genuine request still goes through
    assert nonces.seen == {}
    assert _verify(genuine, installed, nonces=nonces).key_id == unit_key.key_id
    assert genuine[NONCE] in nonces.seen


def test_signing_needs_a_16_byte_nonce(unit_key):
    with pytest.raises(ValueError):
        _signed(unit_key, nonce=b"\x00" * 15)
