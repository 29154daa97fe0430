"""Duty alert webhooks (docs/protocol.md section 20): known answers, round trip, tampering.

The known-answer check recomputes each vector from the section's formula with
pyca/cryptography's HMAC and a hand-written length prefix, not through
tipdrop's helpers, as a receiver written elsewhere would.
"""

import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, hmac

from tipdrop.crypto import canonical
from tipdrop.errors import SignatureError
from tipdrop.protocol import alerts
from tipdrop.protocol.alerts import Alert, AlertFormatError, AlertTimeError

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "alerts.json")
                     .read_text(encoding="utf-8"))
SECRET = VECTORS["secret"].encode("ascii")
PROTOCOL = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")


def _signed(timestamp, body):
    label = b"tipdrop/v1/alert"
    stamp = timestamp.to_bytes(8, "big")
    return (struct.pack(">H", len(label)) + label + struct.pack(">I", 8) + stamp
            + struct.pack(">I", len(body)) + body)


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["comment"])
def test_each_vector_recomputes_from_the_documented_formula(vector):
    body = bytes.fromhex(vector["body_hex"])
    assert body.decode("ascii") == vector["body"] and len(body) == 256
    doc = json.loads(body)
    assert doc == {"version": 1, "unit": vector["unit"], "new": vector["new"],
                   "urgent": vector["urgent"], "nonce": vector["nonce"]}
    assert body == body.rstrip(b" ") + b" " * (256 - len(body.rstrip(b" ")))
    signed = _signed(vector["timestamp"], body)
    assert signed.hex() == vector["signed"]
    mac = hmac.HMAC(SECRET, hashes.SHA256())
    mac.update(signed)
    assert vector["signature_header"] == "v1=" + mac.finalize().hex()


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["comment"])
def test_tipdrop_writes_each_vector_and_the_reference_receiver_accepts_it(vector):
    alert = Alert(vector["unit"], vector["new"], vector["urgent"])
    body = alerts.webhook_body(alert, bytes.fromhex(vector["nonce"]))
    assert body.hex() == vector["body_hex"]
    assert alerts.signature(SECRET, vector["timestamp"], body) == vector["signature_header"]
    assert canonical.encode(alerts.LABEL, vector["timestamp"], body).hex() == vector["signed"]
    assert alerts.verify_webhook(SECRET, str(vector["timestamp"]), vector["signature_header"],
                                 body, now=vector["timestamp"] + 299) == (alert, vector["nonce"])


def test_every_body_has_the_same_length_whatever_the_counts():
    lengths = {len(alerts.webhook_body(Alert("demo", new, min(new, 3)), bytes(16)))
               for new in (0, 1, 9, 10, 999, 50_000, alerts.MAX_COUNT)}
    assert lengths == {alerts.BODY_SIZE}


def _one():
    vector = VECTORS["vectors"][0]
    return (str(vector["timestamp"]), vector["signature_header"],
            bytes.fromhex(vector["body_hex"]), vector["timestamp"])


def test_a_changed_byte_of_the_body_fails_the_signature():
    stamp, signature, body, now = _one()
    for i in (0, 20, 60, 255):
        tampered = bytearray(body)
        tampered[i] ^= 0x01
        with pytest.raises(SignatureError):
            alerts.verify_webhook(SECRET, stamp, signature, bytes(tampered), now=now)


def test_a_changed_timestamp_or_another_secret_fails_the_signature():
    stamp, signature, body, now = _one()
    with pytest.raises(SignatureError):
        alerts.verify_webhook(SECRET, str(int(stamp) + 1), signature, body, now=now)
    with pytest.raises(SignatureError):
        alerts.verify_webhook(SECRET + b"x", stamp, signature, body, now=now)


@pytest.mark.parametrize("offset", [-301, 301, 86400])
def test_an_alert_older_or_newer_than_the_window_is_refused_even_if_signed(offset):
    stamp, signature, body, now = _one()
    with pytest.raises(AlertTimeError):
        alerts.verify_webhook(SECRET, stamp, signature, body, now=now + offset)


@pytest.mark.parametrize(("stamp", "signature"), [
    ("", None), ("12a", None), ("-5", None), ("1" * 13, None),
    (None, ""), (None, "v2=" + "0" * 64), (None, "v1=" + "0" * 63), (None, "v1=" + "A" * 64),
])
def test_malformed_headers_are_refused_before_anything_is_computed(stamp, signature):
    good_stamp, good_signature, body, now = _one()
    with pytest.raises(AlertFormatError):
        alerts.verify_webhook(SECRET, good_stamp if stamp is None else stamp,
                              good_signature if signature is None else signature, body, now=now)


@pytest.mark.parametrize("doc", [
    {"version": 2, "unit": "demo", "new": 1, "urgent": 0, "nonce": "00" * 16},
    {"version": 1, "unit": "demo", "new": 1, "urgent": 2, "nonce": "00" * 16},
    {"version": 1, "unit": "Demo!", "new": 1, "urgent": 0, "nonce": "00" * 16},
    {"version": 1, "unit": "demo", "new": -1, "urgent": 0, "nonce": "00" * 16},
    {"version": 1, "unit": "demo", "new": True, "urgent": 0, "nonce": "00" * 16},
    {"version": 1, "unit": "demo", "new": 1, "urgent": 0, "nonce": "00" * 15},
    {"version": 1, "unit": "demo", "new": 1, "urgent": 0, "nonce": "00" * 16, "tip": "x"},
])
def test_a_signed_body_that_is_not_an_alert_is_refused(doc):
    text = json.dumps(doc, separators=(",", ":")).encode()
    body = text + b" " * (alerts.BODY_SIZE - len(text))
    with pytest.raises(AlertFormatError):
        alerts.verify_webhook(SECRET, "100", alerts.signature(SECRET, 100, body), body, now=100)


def test_an_alert_counts_at_most_max_count_and_never_more_urgent_than_new():
    with pytest.raises(AlertFormatError):
        Alert("demo", alerts.MAX_COUNT + 1, 0)
    with pytest.raises(AlertFormatError):
        Alert("demo", 1, 2)


def test_section_19_states_the_format_the_code_writes():
    start = PROTOCOL.index("## 20. Duty alert webhooks")
    section = PROTOCOL[start:]
    for fact in ("X-Tipdrop-Timestamp", "X-Tipdrop-Signature", "tipdrop/v1/alert", "256 bytes",
                 "300 seconds", "tests/vectors/alerts.json", "u64(timestamp)"):
        assert fact in section, fact
    assert alerts.BODY_SIZE == 256 and alerts.WINDOW == 300
