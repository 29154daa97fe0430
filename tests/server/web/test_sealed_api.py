"""The API for reports sealed on the reporter's device: structure checks, storage, receipt."""

import io
import json
import os

import pytest

from tests.stored import all_blobs, blob_bytes, staged_blobs
from tipdrop.common import sqlite
from tipdrop.crypto import keys
from tipdrop.protocol import device, documents

FIELDS = {"region": "astana", "category": "other"}


def sealed_form(unit_key, *, tip_id=None, files=(), recipient=None):
    """A multipart form as a device sends it, sealed with tipdrop.protocol.device."""
    tip_id = tip_id or device.new_tip_id()
    recipient = recipient or unit_key.public.recipient
    parts = [f"a{n}" for n in range(1, len(files) + 1)]
    doc = documents.report_document(tip_id=tip_id, region="astana", category="other",
                                 description="sealed on the device", parts=parts)
    data = {**FIELDS, "tip_id": tip_id,
            "tip": (io.BytesIO(device.seal_report(doc, recipient, tip_id)), "tip")}
    for part, content in zip(parts, files, strict=False):
        info = documents.attachment_info_document(name="x.bin", content_type="", size=len(content))
        data[f"{part}-info"] = (
            io.BytesIO(device.seal_attachment_info(info, recipient, tip_id, part)), "info")
        out = io.BytesIO()
        device.encrypt_attachment(io.BytesIO(content), out, recipient, tip_id, part)
        data[part] = (io.BytesIO(out.getvalue()), "stream")
    return tip_id, data


def raw(data, name):
    return data[name][0].getvalue()


def replace(data, name, content):
    data[name] = (io.BytesIO(content), "x")


def post(client, data):
    return client.post("/api/v1/sealed-tips", data=data, content_type="multipart/form-data")


@pytest.fixture
def db(app):
    connection = sqlite.connect(app.config["TIPDROP"].database_path)
    yield connection
    connection.close()


def blobs(app):
    """Blobs stored with a report (no file is written: store/blobs.py)."""
    assert not app.config["TIPDROP"].attachments_dir.exists()
    stored = all_blobs(app.config["TIPDROP"].database_path)
    return sorted(name for name, staged in stored.items() if staged is None)


def leftover_parts(app):
    """Blobs of uploads that were never stored with a report."""
    return staged_blobs(app.config["TIPDROP"].database_path)


def test_device_sealed_tip_is_stored_byte_for_byte_and_gets_a_receipt(client, app, db, unit_key):
    tip_id, data = sealed_form(unit_key, files=[os.urandom(150_000), b""])
    sent = {name: raw(data, name) for name in ("tip", "a1-info", "a1", "a2-info", "a2")}
    answer = post(client, data)
    assert answer.status_code == 201, answer.text
    assert answer.json["encrypted_on"] == "device"
    tip = db["tips"].get(tip_id)
    assert tip["encrypted_on"] == "device" and tip["body"] == sent["tip"]
    assert tip["key_id"] == unit_key.public.key_id.hex()
    rows = {a["part"]: a for a in db["attachments"].rows_where("tip_id = ?", [tip_id])}
    for part in ("a1", "a2"):
        assert rows[part]["info"] == sent[f"{part}-info"]
        assert blob_bytes(app.config["TIPDROP"].database_path, rows[part]["blob"]) == sent[part]
    check = client.post("/api/v1/check", json={"receipt": answer.json["receipt"]})
    assert check.status_code == 200 and check.json["status"] == "received"


def test_keys_document_names_each_regions_unit_and_parses_as_a_public_key(client, unit_key):
    doc = client.get("/api/v1/keys").json
    assert doc["regions"]["astana"] == "demo"
    parsed = keys.parse_public(json.dumps(doc["units"]["demo"]).encode())
    assert parsed.key_id == unit_key.public.key_id


def test_a_key_that_is_not_installed_is_refused_with_409_and_nothing_stored(
        client, app, db, unit_key):
    other = keys.generate("demo")
    tip_id, data = sealed_form(unit_key, files=[b"abc"], recipient=other.public.recipient)
    answer = client.post("/api/v1/sealed-tips?lang=en", data=data,
                         content_type="multipart/form-data")
    assert answer.status_code == 409
    assert answer.json["error"] == "StaleKeyError" and "reload" in answer.json["message"]
    assert db["tips"].count == 0 and blobs(app) == [] and leftover_parts(app) == []


@pytest.mark.parametrize("damage", [
    "truncated stream", "stream cut inside a chunk", "envelope not padme length",
    "wrong kind", "wrong version", "info missing", "gap in parts", "bad tip id", "repeated tip",
    "stream shorter than its header", "oversized attachment info",
])
def test_malformed_sealed_uploads_are_refused_and_leave_nothing(client, app, db, unit_key, damage):
    tip_id, data = sealed_form(unit_key, files=[os.urandom(200_000), b"x"])
    if damage == "truncated stream":
        replace(data, "a1", raw(data, "a1")[:-1])
    elif damage == "stream cut inside a chunk":
        # (A cut exactly at a chunk boundary leaves a length an honest sealer
        # could produce; only the officer's tool, which opens the last chunk,
        # can tell. See docs/protocol.md section 5.)
        replace(data, "a1", raw(data, "a1")[:98 + 65_552 + 1000])
    elif damage == "envelope not padme length":
        replace(data, "tip", raw(data, "tip") + b"\0")
    elif damage == "wrong kind":
        body = bytearray(raw(data, "tip"))
        body[1] = 2
        replace(data, "tip", bytes(body))
    elif damage == "wrong version":
        replace(data, "a2", b"\x02" + raw(data, "a2")[1:])
    elif damage == "info missing":
        del data["a2-info"]
    elif damage == "gap in parts":
        data["a3"], data["a3-info"] = data.pop("a2"), data.pop("a2-info")
    elif damage == "bad tip id":
        data["tip_id"] = tip_id.upper()
    elif damage == "stream shorter than its header":
        replace(data, "a1", raw(data, "a1")[:50])
    elif damage == "oversized attachment info":
        replace(data, "a1-info", raw(data, "a1-info") + bytes(20_000))
    elif damage == "repeated tip":
        first = post(client, sealed_form(unit_key, tip_id=tip_id)[1])
        assert first.status_code == 201
    answer = post(client, data)
    assert answer.status_code == 400, (damage, answer.text)
    assert answer.json["error"] == "SealedFormatError", (damage, answer.json)
    assert db["tips"].count == (1 if damage == "repeated tip" else 0)
    assert len(blobs(app)) == 0 and leftover_parts(app) == []


def test_sealed_check_returns_what_a_device_needs_to_decrypt_replies_itself(client, unit_key):
    tip_id, data = sealed_form(unit_key)
    receipt = post(client, data).json["receipt"]
    answer = client.post("/api/v1/check", json={"receipt": receipt, "sealed_replies": True})
    assert answer.status_code == 200
    doc = answer.json
    assert doc["tip_id"] == tip_id and doc["replies"] == []
    assert set(doc["receipt_kdf"]) == {"salt", "time_cost", "memory_cost_kib", "parallelism"}
