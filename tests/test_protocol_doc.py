"""docs/protocol.md says what the code does, where a second implementer had to guess.

Each check reads a statement of the document and tests it against the code
or the vectors, with pyca/cryptography primitives used directly where the
statement is about bytes.
"""

import base64
import json
import re
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from tipdrop.crypto import canonical, keys
from tipdrop.protocol import acks, bundles, fields
from tipdrop.server.web import i18n

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
VECTORS = ROOT / "tests" / "vectors"


def _section(title):
    start = PROTOCOL.index(title)
    end = PROTOCOL.index("\n## ", start + 1)
    return PROTOCOL[start:end]


def _rules_table():
    """field name -> the rule text of its row in section 10's table of field rules."""
    text = _section("## 10. Export bundles")
    table = text[text.index("**The fields of a record.**"):]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 2 and line.startswith("| ") and not line.startswith("| rule"):
            for name in re.findall(r"`([a-z_]+)`", cells[1]):
                rows[name] = cells[0]
    return rows


@pytest.mark.parametrize("record", sorted(fields.RECORDS))
def test_every_checked_field_has_its_rule_in_section_10(record):
    rows = _rules_table()
    for name in fields.RECORDS[record]:
        if name in ("format", "version"):
            continue
        assert name in rows, f"{record}: {name!r} is not in protocol.md's table of field rules"


def test_the_documented_rules_are_the_ones_the_code_applies():
    rows = _rules_table()
    assert "2^53-1" in rows["seq"] and fields.MAX_NUMBER == 2**53 - 1
    assert "2^53-2" in rows["reply_seq"]
    assert fields.EXPORT_TIP["reply_seq"].check(2**53 - 2) == 2**53 - 2
    assert "real calendar day" in rows["received_day"]
    assert "16 GiB" in rows["size"] and fields.MAX_SIZE == 16 * 1024**3
    assert fields.UNIT.check("a" * 32) and fields.CODE_RULE.check("a" * 64)
    for name, rule in fields.EXPORT_TIP.items():
        documented_optional = "missing means" in rows.get(name, "")
        assert documented_optional == (not rule.required), name


def test_section_11_says_key_ids_and_signatures_are_bytes_when_signed_and_text_in_files():
    records = json.loads((VECTORS / "records.json").read_text(encoding="utf-8"))
    bundle = next(v for v in records["vectors"] if v["record"] == "reply bundle")
    doc = json.loads(bundle["file"])
    assert re.fullmatch(r"[0-9a-f]{32}", doc["key_id"])
    assert len(base64.b64decode(doc["signature"], validate=True)) == 64
    assert len(doc["signature"]) == 88 and "88 characters" in _section("## 11.")
    encoding = bytes.fromhex(bundle["encoding"])
    # key_id enters the signed encoding as its 16 bytes, preceded by u32(16).
    assert (16).to_bytes(4, "big") + bytes.fromhex(doc["key_id"]) in encoding
    for reply in doc["replies"]:
        assert (64).to_bytes(4, "big") + base64.b64decode(reply["signature"]) in encoding


def test_section_6_key_file_aad_takes_the_key_id_as_its_hex_text():
    vector = json.loads((VECTORS / "keyfile.json").read_text(encoding="utf-8"))["vectors"][0]
    doc = json.loads(vector["private_file"])
    kdf_doc = doc["kdf"]

    def aad(key_id):
        return canonical.encode(
            "tipdrop/v1/private-key", doc["version"], doc["unit"], doc["created"], key_id,
            doc["public"]["x25519"], doc["public"]["ed25519"], kdf_doc["name"],
            kdf_doc["salt"], kdf_doc["time_cost"], kdf_doc["memory_cost_kib"],
            kdf_doc["parallelism"], doc["aead"], doc["nonce"])

    aead = AESGCM(bytes.fromhex(vector["wrapping_key"]))
    nonce, sealed = base64.b64decode(doc["nonce"]), base64.b64decode(doc["ciphertext"])
    secret = aead.decrypt(nonce, sealed, aad(doc["key_id"]))  # the text, as documented
    with pytest.raises(InvalidTag):
        aead.decrypt(nonce, sealed, aad(bytes.fromhex(doc["key_id"])))
    # x25519 private key || the 32-byte Ed25519 seed, as section 6 says.
    assert secret[:32].hex() == vector["x25519_private"]
    assert secret[32:].hex() == vector["ed25519_private"] and len(secret) == 64
    seed_key = Ed25519PrivateKey.from_private_bytes(secret[32:])
    assert base64.b64encode(seed_key.public_key().public_bytes_raw()).decode() == \
        doc["public"]["ed25519"]
    x_key = X25519PrivateKey.from_private_bytes(secret[:32])
    assert base64.b64encode(x_key.public_key().public_bytes_raw()).decode() == \
        doc["public"]["x25519"]
    assert "32 lower-case hex digits (32 bytes of ASCII" in _section("## 6.")


def test_the_json_serialisation_is_what_the_conventions_say():
    unit = keys.generate("demo")
    reply = bundles.sign_reply(unit.ed25519, "demo", unit.key_id, tip_id="ab" * 16, seq=1,
                               day="2026-01-10", status="closed", body=b"")
    data = bundles.make_reply_bundle(unit.ed25519, "demo", unit.key_id, "2026-01-10", [reply])
    assert data.isascii() and data.endswith(b"}\n") and b'\n "format"' in data  # indent 1
    ack = acks.dumps(acks.sign_ack(unit.ed25519, "demo", unit.key_id, export_seq=1))
    assert ack.isascii() and ack.endswith(b"}\n") and b", " not in ack  # compact
    # Another serialisation of the same values reads the same (nothing signs the text).
    pretty = json.dumps(json.loads(data), indent=4, sort_keys=True).encode()
    assert bundles.parse_reply_bundle(pretty) == bundles.parse_reply_bundle(data)


def test_section_12_default_language_is_the_one_the_code_uses():
    answers = _section("### Answers")
    assert "`*`, no header or no match gives the default `ru`" in answers
    assert i18n.DEFAULT_LANGUAGE == "ru"


def test_section_9_names_the_reserved_label_and_where_the_real_records_are():
    text = _section("## 9. Signatures")
    assert "`tipdrop/v1/status` is reserved" in text
    for name in ("records.json", "export_ack.json", "officer_request.json"):
        assert name in text and (VECTORS / name).exists()
    signing = json.loads((VECTORS / "signing.json").read_text(encoding="utf-8"))
    assert any(v["label"] == "tipdrop/v1/status" for v in signing["vectors"])


def test_every_vector_file_is_named_in_the_protocol():
    for path in VECTORS.glob("*.json"):
        assert path.name in PROTOCOL, path.name


def test_section_14_bound_reply_key_is_section_8s_reply_key_as_its_example_says():
    """Recomputed with pyca/cryptography alone from section 8 and the binding vectors."""
    vectors = json.loads((VECTORS / "binding.json").read_text(encoding="utf-8"))
    master = bytes.fromhex(vectors["followup_keys"][0]["argon2id"])
    seed = HKDFExpand(hashes.SHA256(), 32, b"tipdrop/v1/receipt/reply-key").derive(master)
    public = X25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    section = _section("### The reply key and who sealed")
    example = re.search(r'`"reply_public": "([A-Za-z0-9+/=]+)"`, hex\s+`([0-9a-f]{64})`',
                        section)
    assert example and base64.b64decode(example[1]) == public == bytes.fromhex(example[2])
    report = vectors["report"]
    assert base64.b64decode(report["reply_public"]) == public
    assert report["sealed_by"] == "device"
    assert all(case["document"]["sealed_by"] == "device"
               for case in vectors["followup_signatures"])
