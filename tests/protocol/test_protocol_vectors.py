"""receipt_keys.json and records.json, checked the way a second implementation would use them.

Where it can, each check recomputes a value from the formulas of
docs/protocol.md with primitives taken straight from pyca/cryptography (its
own Argon2id, HKDFExpand, X25519, Ed25519), not through tipdrop's helpers,
so a vector that only agrees with tipdrop's code would fail here.
"""

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from tipdrop.crypto import canonical, envelope, kdf, keys
from tipdrop.protocol import bundles, receipts

HERE = Path(__file__).parents[1] / "vectors"
RECEIPT_KEYS = json.loads((HERE / "receipt_keys.json").read_text(encoding="utf-8"))
RECORDS = json.loads((HERE / "records.json").read_text(encoding="utf-8"))


def _field(item):
    (kind, value), = item.items()
    return bytes.fromhex(value) if kind == "bytes" else value


def _expand(master, label):
    return HKDFExpand(hashes.SHA256(), 32, label.encode("ascii")).derive(master)


@pytest.mark.parametrize("vector", RECEIPT_KEYS["vectors"], ids=lambda v: v["comment"])
def test_typed_receipt_leads_to_its_verifier_and_reply_key(vector):
    # Section 7: the typed text normalises to one code; its secret symbols are the input.
    receipt = receipts.parse(vector["typed"])
    assert receipt.formatted == vector["formatted"]
    assert (receipt.locator, receipt.secret) == (vector["locator"], vector["secret_ascii"])
    code = vector["formatted"].replace("-", "")
    assert vector["secret_ascii"] == code[5:23]
    # Section 8, from pyca's own Argon2id (version 0x13, no secret, no associated data).
    params, salt = vector["params"], bytes.fromhex(vector["salt"])
    master = Argon2id(salt=salt, length=32, iterations=params["time_cost"],
                      lanes=params["parallelism"],
                      memory_cost=params["memory_cost_kib"]).derive(
        vector["secret_ascii"].encode("ascii"))
    assert master.hex() == vector["argon2id"]
    assert _expand(master, "tipdrop/v1/receipt/verifier").hex() == vector["verifier"]
    seed = _expand(master, "tipdrop/v1/receipt/reply-key")
    assert seed.hex() == vector["reply_private"]
    public = X25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    assert public.hex() == vector["reply_public"]
    # Section 6: a reply key's id, from its public key alone.
    fingerprint = keys.fingerprint("", public, b"")
    assert fingerprint[:16].hex() == vector["reply_key_id"]
    # And tipdrop's own derivation agrees.
    derived = kdf.receipt_keys(receipt.secret_bytes, salt, kdf.Argon2Params(**params))
    assert derived.verifier.hex() == vector["verifier"]


def test_receipt_key_vectors_cover_the_servers_profile():
    assert any(v["params"] == kdf.RECEIPT_PARAMS.as_dict() for v in RECEIPT_KEYS["vectors"])


def test_argon2_version_is_0x13_as_documented():
    vector = RECEIPT_KEYS["vectors"][0]
    import argon2.low_level

    params = vector["params"]
    raw = argon2.low_level.hash_secret_raw(
        vector["secret_ascii"].encode(), bytes.fromhex(vector["salt"]), params["time_cost"],
        params["memory_cost_kib"], params["parallelism"], 32, argon2.low_level.Type.ID,
        version=0x13)
    assert raw.hex() == vector["argon2id"]
    older = argon2.low_level.hash_secret_raw(
        vector["secret_ascii"].encode(), bytes.fromhex(vector["salt"]), params["time_cost"],
        params["memory_cost_kib"], params["parallelism"], 32, argon2.low_level.Type.ID,
        version=0x10)
    assert older.hex() != vector["argon2id"]


UNIT = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(RECORDS["ed25519_private"]))


@pytest.mark.parametrize("vector", RECORDS["vectors"], ids=lambda v: f"{v['record']}-{v['label']}")
def test_record_encodings_and_signatures_match(vector):
    fields = [_field(f) for f in vector["fields"]]
    encoding = canonical.encode(vector["label"], *fields)
    assert encoding.hex() == vector["encoding"]
    # Ed25519 from the 32-byte seed (RFC 8032 section 5.1.5) is deterministic.
    assert UNIT.sign(encoding).hex() == vector["signature"]
    assert UNIT.public_key().public_bytes_raw().hex() == RECORDS["ed25519_public"]


def test_reply_fields_are_what_section_11_lists():
    key_id = bytes.fromhex(RECORDS["key_id"])
    for vector in RECORDS["vectors"]:
        if vector["record"] != "reply":
            continue
        doc = vector["json"]
        # u64(1), unit, key_id (16 raw bytes), tip_id, u64(seq), day, status, body (raw)
        assert [_field(f) for f in vector["fields"]] == [
            1, RECORDS["unit"], key_id, doc["tip_id"], doc["seq"], doc["day"], doc["status"],
            base64.b64decode(doc["body"])]
        assert base64.b64decode(doc["signature"]).hex() == vector["signature"]


def test_the_reply_bundle_file_carries_exactly_these_records():
    replies = [v for v in RECORDS["vectors"] if v["record"] == "reply"]
    [bundle] = [v for v in RECORDS["vectors"] if v["record"] == "reply bundle"]
    parsed = bundles.parse_reply_bundle(bundle["file"].encode("ascii"))
    doc = json.loads(bundle["file"])
    assert doc["key_id"] == RECORDS["key_id"] and parsed.key_id.hex() == RECORDS["key_id"]
    assert doc["replies"] == [v["json"] for v in replies]
    # u64(1), unit, key_id (16 bytes), created_day, u64(count), each reply's 64 raw bytes
    assert [_field(f) for f in bundle["fields"]] == [
        1, RECORDS["unit"], bytes.fromhex(RECORDS["key_id"]), doc["created_day"], len(replies),
        *(bytes.fromhex(v["signature"]) for v in replies)]
    assert base64.b64decode(doc["signature"]).hex() == bundle["signature"]
    bundles.verify_reply_bundle(parsed, UNIT.public_key())
    again = bundles.make_reply_bundle(UNIT, RECORDS["unit"], parsed.key_id, parsed.created_day,
                                      list(parsed.replies))
    assert again.decode("ascii") == bundle["file"]


def test_the_reply_opens_with_the_reporters_key_to_the_message():
    reply = next(v for v in RECORDS["vectors"] if v["record"] == "reply" and v["json"]["body"])
    opener = keys.reply_opener(X25519PrivateKey.from_private_bytes(
        bytes.fromhex(RECORDS["reply_key_private"])))
    text = envelope.open_(base64.b64decode(reply["json"]["body"]), opener, kind="reply",
                          tip_id=RECORDS["tip_id"], part=f"r{reply['json']['seq']}")
    assert text.decode("utf-8") == RECORDS["message"]
