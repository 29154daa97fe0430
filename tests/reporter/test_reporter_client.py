"""The reference client's parts: streamed multipart bodies, sealing, pinning, reply checks."""

import base64
import io
import json
import os

import pytest
from PIL import Image
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from tipdrop.common.multipart import COPY_CHUNK, MultipartBody, Part
from tipdrop.common.photos import PhotoError
from tipdrop.common.remote import ServerRefusedError
from tipdrop.crypto import envelope, kdf, keys, stream
from tipdrop.errors import InputError, KeyFileError, UsageError
from tipdrop.protocol import binding, bundles, device, receipts
from tipdrop.protocol.report import Report
from tipdrop.reporter import client as reporter_client
from tipdrop.reporter.client import (
    PinnedKeyMismatchError,
    ReporterAnswerError,
    ServerKeys,
    UnsafeKdfParamsError,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL")


def _decode(body):
    """Parse ``body`` back with werkzeug, in odd-sized pieces: {name: (filename, data)}."""
    raw = b"".join(body.chunks())
    decoder = MultipartDecoder(body.boundary.encode())
    parts, current = {}, None
    for start in range(0, len(raw) + 1, 7919):
        decoder.receive_data(raw[start:start + 7919] or None)
        event = decoder.next_event()
        while not isinstance(event, (NeedData, Epilogue)):
            if isinstance(event, (Field, File)):
                current = event.name
                parts[current] = (getattr(event, "filename", None), bytearray())
            elif isinstance(event, Data):
                parts[current][1].extend(event.data)
            event = decoder.next_event()
    return raw, {name: (filename, bytes(data)) for name, (filename, data) in parts.items()}


def test_multipart_body_parses_back_to_the_same_parts_with_an_exact_length(tmp_path):
    big = os.urandom(3 * COPY_CHUNK + 12345)
    (tmp_path / "a1.stream").write_bytes(big)
    body = MultipartBody([
        Part("region", "шымкент".encode()), Part("tip_id", b"0" * 32),
        Part("tip", b"\r\n--sealed\r\n", filename="tip"),
        Part("a1", path=tmp_path / "a1.stream", filename="a1"),
        Part("a2", b"", filename="a2"),
    ])
    raw, parts = _decode(body)
    assert body.length == len(raw)
    assert list(parts) == ["region", "tip_id", "tip", "a1", "a2"]
    assert parts["region"] == (None, "шымкент".encode())
    assert parts["tip"] == ("tip", b"\r\n--sealed\r\n")
    assert parts["a1"] == ("a1", big) and parts["a2"] == ("a2", b"")


def test_multipart_body_streams_files_in_bounded_pieces(tmp_path):
    (tmp_path / "big").write_bytes(os.urandom(5 * COPY_CHUNK))
    body = MultipartBody([Part("a1", path=tmp_path / "big", filename="a1")])
    assert max(len(chunk) for chunk in body.chunks()) == COPY_CHUNK


@pytest.mark.parametrize("change", [b"", b"x" * 2000])
def test_a_file_that_changes_size_after_the_length_was_computed_is_refused(tmp_path, change):
    path = tmp_path / "a1"
    path.write_bytes(b"y" * 1000)
    body = MultipartBody([Part("a1", path=path, filename="a1")])
    path.write_bytes(change)
    with pytest.raises(UsageError):
        b"".join(body.chunks())


def test_multipart_names_with_quotes_or_newlines_are_refused():
    with pytest.raises(ValueError):
        MultipartBody([Part('a"\r\nx', b"")])


# --- sealing --------------------------------------------------------------------


def _report():
    return Report.build(region="almaty", category="corruption", description="sealed here",
                        where="ЦОН №2")


def _open_stream(path, unit_key, tip_id, part):
    out = io.BytesIO()
    with open(path, "rb") as f:
        stream.decrypt_stream(f, out, unit_key.opener, kind="attachment", tip_id=tip_id,
                              part=part)
    return out.getvalue()


def _jpeg():
    exif = Image.Exif()
    exif[0x010F] = "CanaryMake"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (43.0, 15.0, 0.0)
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 200, 10)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_upload_sends_fields_first_then_report_then_each_files_info_and_stream(tmp_path,
                                                                                unit_key):
    data = os.urandom(100_000)
    (tmp_path / "clip.mp4").write_bytes(data)
    work = tmp_path / "work"
    work.mkdir()
    tip_id, body, sealed = reporter_client.seal_upload(
        _report(), [tmp_path / "clip.mp4"], unit_key.public.recipient, work)
    _, parts = _decode(body)
    assert list(parts) == ["region", "category", "tip_id", "tip", "a1-info", "a1"]
    assert parts["tip_id"][1] == tip_id.encode() and parts["region"][1] == b"almaty"
    report = json.loads(envelope.open_(parts["tip"][1], unit_key.opener, kind="tip",
                                       tip_id=tip_id))
    assert report["where"] == "ЦОН №2" and report["attachments"] == ["a1"]
    info = json.loads(envelope.open_(parts["a1-info"][1], unit_key.opener,
                                     kind="attachment-info", tip_id=tip_id, part="a1"))
    assert info == {"name": "clip.mp4", "type": "video/mp4", "size": len(data)}
    assert _open_stream(sealed[0].stream_path, unit_key, tip_id, "a1") == data
    assert parts["a1"][0] == "a1", "the real file name travels only inside the envelope"


@pytest.mark.parametrize("keep", [False, True])
def test_photos_are_cleaned_before_they_are_encrypted(tmp_path, unit_key, keep):
    (tmp_path / "IMG.jpg").write_bytes(_jpeg())
    sealed = reporter_client.seal_attachment(tmp_path / "IMG.jpg", unit_key.public.recipient,
                                             "ab" * 16, "a1", tmp_path, keep_location=keep)
    cleaned = _open_stream(sealed.stream_path, unit_key, "ab" * 16, "a1")
    assert b"CanaryMake" not in cleaned
    assert bool(Image.open(io.BytesIO(cleaned)).getexif().get_ifd(0x8825)) is keep
    assert sealed.info["photo"] == "jpeg" and sealed.info["kept_location_and_time"] is keep
    assert "exif:Make" in sealed.info["metadata_removed"]
    assert sealed.info["size"] == len(cleaned)


def test_a_photo_that_cannot_be_cleaned_is_refused_and_nothing_is_written(tmp_path, unit_key):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe1\xff\xff" + b"junk" * 10)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(PhotoError):
        reporter_client.seal_attachment(tmp_path / "bad.jpg", unit_key.public.recipient,
                                        "ab" * 16, "a1", work)
    assert list(work.iterdir()) == []


# --- pinning --------------------------------------------------------------------


@pytest.fixture
def server_keys(unit_key):
    return ServerKeys({"almaty": unit_key.unit}, {unit_key.unit: unit_key.public})


def test_the_pinned_key_is_used_when_the_server_offers_it(server_keys, unit_key):
    assert server_keys.key_for("almaty", pinned=(unit_key.public,)) == unit_key.public


def test_a_server_offering_another_key_than_the_pinned_one_is_refused(server_keys, unit_key):
    rotated = keys.generate(unit_key.unit).public
    with pytest.raises(PinnedKeyMismatchError, match="pinned"):
        server_keys.key_for("almaty", pinned=(rotated,))


def test_an_unknown_region_is_a_usage_error(server_keys):
    with pytest.raises(UsageError, match="almaty"):
        server_keys.key_for("atlantis")


def _serve(monkeypatch, doc, status=200):
    monkeypatch.setattr(reporter_client, "_call",
                        lambda *a, **k: (status, {}, json.dumps(doc).encode()))


def test_fetched_keys_are_checked_like_key_files(monkeypatch, unit_key):
    doc = unit_key.public.as_document()
    _serve(monkeypatch, {"regions": {"almaty": doc["unit"]}, "units": {doc["unit"]: doc}})
    fetched = reporter_client.fetch_keys("http://127.0.0.1:1")
    assert fetched.units[doc["unit"]].key_id == unit_key.public.key_id
    swapped = doc | {"ed25519": keys.generate("x").public.as_document()["ed25519"]}
    _serve(monkeypatch, {"regions": {"almaty": doc["unit"]}, "units": {doc["unit"]: swapped}})
    with pytest.raises(KeyFileError):
        reporter_client.fetch_keys("http://127.0.0.1:1")
    _serve(monkeypatch, {"regions": {"almaty": "other"}, "units": {"other": doc}})
    with pytest.raises(ReporterAnswerError):
        reporter_client.fetch_keys("http://127.0.0.1:1")


# --- checking -------------------------------------------------------------------


def _b64(data):
    return base64.b64encode(data).decode()


@pytest.fixture
def answer(unit_key):
    """A sealed_replies check answer holding one reply signed by ``unit_key``."""
    receipt = receipts.generate()
    record, derived = receipts.protect(receipt, kdf.TEST_PARAMS)
    tip_id = device.new_tip_id()
    body = envelope.seal("В какой день?".encode(),
                         keys.reply_recipient(derived.reply_public),
                         kind="reply", tip_id=tip_id, part="r1")
    reply = bundles.sign_reply(unit_key.ed25519, unit_key.unit, unit_key.key_id, tip_id=tip_id,
                               seq=1, day="2026-11-28", status="need-info", body=body)
    doc = {"tip_id": tip_id, "status": "need-info", "status_day": "2026-11-28",
           "received_day": "2026-11-27", "followups": 0, "followup_token": "TOKEN-VALUE",
           "receipt_kdf": {"salt": _b64(record.salt), **kdf.TEST_PARAMS.as_dict()},
           "replies": [{"seq": 1, "day": reply.day, "status": reply.status, "body": _b64(body),
                        "signature": _b64(reply.signature),
                        "signer": unit_key.public.as_document()}]}
    return receipt, doc


def test_the_reply_key_is_derived_from_the_receipt_secret_as_the_server_does():
    receipt = receipts.generate()
    record, derived = receipts.protect(receipt, kdf.TEST_PARAMS)
    mine = reporter_client.reply_keys(
        receipt, {"salt": _b64(record.salt), **kdf.TEST_PARAMS.as_dict()})
    assert mine.reply_public == derived.reply_public and mine.verifier == record.verifier


@pytest.mark.parametrize("costs", [
    {"time_cost": 1, "memory_cost_kib": 4 * 1024 * 1024, "parallelism": 1},
    {"time_cost": 11, "memory_cost_kib": 1024, "parallelism": 1},
    {"time_cost": 1, "memory_cost_kib": 1024, "parallelism": 64},
])
def test_argon2_costs_above_the_clients_limits_are_refused_before_running(costs):
    with pytest.raises(UnsafeKdfParamsError):
        reporter_client.reply_keys(receipts.generate(), {"salt": _b64(bytes(16)), **costs})


@pytest.mark.parametrize("kdf_doc", [
    None, {"salt": "!!", "time_cost": 1, "memory_cost_kib": 64, "parallelism": 1},
    {"salt": _b64(bytes(16)), "time_cost": "1", "memory_cost_kib": 64, "parallelism": 1},
    {"salt": _b64(bytes(16)), "time_cost": True, "memory_cost_kib": 64, "parallelism": 1},
])
def test_malformed_kdf_settings_are_refused(kdf_doc):
    with pytest.raises(ReporterAnswerError):
        reporter_client.reply_keys(receipts.generate(), kdf_doc)


def test_a_reply_signed_by_the_pinned_key_is_verified_and_decrypted(answer, unit_key):
    receipt, doc = answer
    result = reporter_client.read_check_answer(doc, receipt, pinned=(unit_key.public,))
    [reply] = result.replies
    assert reply.verified and reply.pinned and reply.message == "В какой день?"
    assert result.status == "need-info" and "TOKEN-VALUE" not in repr(result)


def test_a_reply_signed_by_another_than_the_pinned_key_is_not_shown(answer, unit_key):
    receipt, doc = answer
    other = keys.generate(unit_key.unit).public
    [reply] = reporter_client.read_check_answer(doc, receipt, pinned=(other,)).replies
    assert not reply.verified and reply.message == "" and "pinned" in reply.problem


def test_a_reply_whose_signature_does_not_match_is_not_shown(answer, unit_key):
    receipt, doc = answer
    doc["replies"][0]["status"] = "closed"
    [reply] = reporter_client.read_check_answer(doc, receipt, pinned=(unit_key.public,)).replies
    assert not reply.verified and reply.message == "" and "signature" in reply.problem


def test_a_reply_for_another_receipt_is_verified_but_cannot_be_read(answer, unit_key):
    _, doc = answer
    [reply] = reporter_client.read_check_answer(doc, receipts.generate()).replies
    assert reply.verified and not reply.pinned and reply.message == ""
    assert "cannot be decrypted" in reply.problem


def test_the_transfers_of_an_answer_are_read_and_an_older_servers_lack_of_them_is_none(
        answer, unit_key):
    receipt, doc = answer
    assert reporter_client.read_check_answer(doc, receipt).transfers == ()
    doc["transfers"] = [{"day": "2026-01-12", "after_reply": 1}]
    assert reporter_client.read_check_answer(doc, receipt).transfers == (("2026-01-12", 1),)


@pytest.mark.parametrize("transfers", [
    {"day": "2026-01-12"}, [{"day": "12.01.2026", "after_reply": 0}],
    [{"day": "2026-01-12", "after_reply": 2}], [{"day": "2026-01-12", "after_reply": True}],
    ["2026-01-12"],
])
def test_malformed_transfers_are_refused(answer, transfers):
    receipt, doc = answer
    doc["transfers"] = transfers
    with pytest.raises(ReporterAnswerError):
        reporter_client.read_check_answer(doc, receipt)


# --- answers --------------------------------------------------------------------


def test_a_key_change_during_the_upload_is_sealed_again_once_with_a_new_tip_id(
        monkeypatch, unit_key):
    keys_doc = {"regions": {"almaty": unit_key.unit},
                "units": {unit_key.unit: unit_key.public.as_document()}}
    receipt = receipts.generate().formatted
    uploads = []

    def fake_call(server, method, path, body=(), headers=None, timeout=None):
        if method == "GET" and path == "/categories":  # "other" asks no questions
            return 200, {}, json.dumps({"version": 1, "items": {}}).encode()
        if method == "GET":
            return 200, {}, json.dumps(keys_doc).encode()
        raw = b"".join(body)
        assert len(raw) == int(headers["Content-Length"])
        uploads.append(raw)
        if len(uploads) == 1:
            return 409, {}, json.dumps({"error": "StaleKeyError", "message": "reload"}).encode()
        return 201, {}, json.dumps({"receipt": receipt, "encrypted_on": "device"}).encode()

    monkeypatch.setattr(reporter_client, "_call_once", fake_call)  # below the puzzle loop
    sent = reporter_client.submit("http://127.0.0.1:1", region="almaty", category="other",
                                  description="x", pinned=(unit_key.public,))
    assert sent.receipt.formatted == receipt and sent.pinned
    first, second = (raw.split(b'name="tip_id"\r\n\r\n')[1][:32] for raw in uploads)
    assert first != second


def test_a_receipt_is_made_on_a_reserved_locator_and_made_again_if_the_reservation_is_gone(
        monkeypatch, unit_key):
    # Given a server that offers its receipt costs and hands out locators,
    # and whose first reservation is gone by the time the report arrives (a restart)
    keys_doc = {"regions": {"almaty": unit_key.unit},
                "units": {unit_key.unit: unit_key.public.as_document()},
                "receipt_kdf": kdf.TEST_PARAMS.as_dict()}
    handed = iter([("AAAAA", "t" * 43), ("BBBBB", "u" * 43)])
    uploads = []

    def fake_call(server, method, path, body=(), headers=None, timeout=None):
        if path == "/categories":  # a server without questions
            return 404, {}, b"{}"
        if method == "GET":
            return 200, {}, json.dumps(keys_doc).encode()
        if path == "/locators":
            locator, token = next(handed)
            return 201, {}, json.dumps({"locator": locator, "reservation": token,
                                        "expires_in": 3600}).encode()
        raw = b"".join(body)
        uploads.append(json.loads(raw.split(b'name="receipt"\r\n\r\n')[1].split(b"\r\n")[0]))
        if len(uploads) == 1:
            return 409, {}, json.dumps({"error": "LocatorNotReservedError",
                                        "message": "send it again"}).encode()
        return 201, {}, json.dumps({"receipt": None, "encrypted_on": "device"}).encode()

    monkeypatch.setattr(reporter_client, "_call_once", fake_call)  # below the puzzle loop
    # When the reference client sends a report
    sent = reporter_client.submit("http://127.0.0.1:1", region="almaty", category="other",
                                  description="x")
    # Then it made the receipt again on a new locator, and sent each with its token
    assert [(u["locator"], u["reservation"]) for u in uploads] == [("AAAAA", "t" * 43),
                                                                   ("BBBBB", "u" * 43)]
    assert sent.receipt.locator == "BBBBB"
    assert sent.receipt.secret not in json.dumps(uploads)


@pytest.mark.parametrize("doc", [
    {"locator": "AAAA", "reservation": "t" * 43},
    {"locator": "ILOU0", "reservation": "t" * 43},
    {"locator": "AAAAA", "reservation": ""},
    {"locator": "AAAAA", "reservation": "t\r\nX"},
    {"locator": "AAAAA"},
])
def test_a_malformed_locator_answer_is_refused(monkeypatch, doc):
    _serve(monkeypatch, doc, status=201)
    with pytest.raises(ReporterAnswerError):
        reporter_client.reserve_locator("http://127.0.0.1:1")


def test_a_busy_server_is_reported_with_its_message_and_when_to_retry(monkeypatch):
    answer = {"error": "BusyError", "message": "The service is busy right now."}
    monkeypatch.setattr(reporter_client, "_call", lambda *a, **k: (
        503, {"retry-after": "30"}, json.dumps(answer).encode()))
    with pytest.raises(ServerRefusedError,
                       match=r"busy right now \(HTTP 503\); try again in 30 seconds"):
        reporter_client.fetch_keys("http://127.0.0.1:1")


# --- following up ---------------------------------------------------------------


def _followup_server(unit_key, refusals):
    """A fake API: each check counts one more follow-up; the first ``refusals`` sends get 409."""
    keys_doc = {"regions": {"almaty": unit_key.unit},
                "units": {unit_key.unit: unit_key.public.as_document()}}
    tip_id, sent, checks = device.new_tip_id(), [], []

    def fake_call(server, method, path, body=(), headers=None, timeout=None):
        if method == "GET":
            return 200, {}, json.dumps(keys_doc).encode()
        doc = json.loads(b"".join(body))
        if path == "/check":
            checks.append(doc)
            return 200, {}, json.dumps({"tip_id": tip_id, "unit": unit_key.unit,
                                        "followups": len(checks) - 1,
                                        "receipt_kdf": {"salt": "AAAAAAAAAAAAAAAAAAAAAA==",
                                                        **kdf.TEST_PARAMS.as_dict()},
                                        "followup_token": "TOKEN"}).encode()
        sent.append(doc)
        if len(sent) <= refusals:
            return 409, {}, json.dumps({"error": "FollowupNumberTakenError",
                                        "message": "Another message was added"}).encode()
        return 201, {}, json.dumps({"added": True, "seq": int(doc["part"][1:])}).encode()

    return tip_id, sent, checks, fake_call


def test_a_follow_up_that_lost_its_number_is_sealed_again_for_the_next_one(
        monkeypatch, unit_key):
    tip_id, sent, checks, fake_call = _followup_server(unit_key, refusals=1)
    monkeypatch.setattr(reporter_client, "_call", fake_call)
    receipt = receipts.generate()
    added = reporter_client.add_followup("http://127.0.0.1:1", receipt,
                                         "  The plate ends in 017.\r\n", (unit_key.public,))
    assert (added.seq, added.unit, added.pinned) == (2, unit_key.unit, True)
    assert [doc["part"] for doc in sent] == ["f1", "f2"] and len(checks) == 2
    assert all(doc["sealed_replies"] is True for doc in checks)
    opened = json.loads(envelope.open_(base64.b64decode(sent[1]["body"]), unit_key.opener,
                                       kind="followup", tip_id=tip_id, part="f2"))
    signature = opened.pop("signature")
    assert opened == {"format": "tipdrop-followup", "version": 1,
                      "text": "The plate ends in 017.", "sealed_by": "device"}
    # Signed for the number it went out under, with the receipt's follow-up key.
    signer = kdf.receipt_keys(receipt.secret_bytes, bytes(16), kdf.TEST_PARAMS, followup=True)
    binding.verify_followup(signer.followup_public, signature, tip_id=tip_id, seq=2,
                            text="The plate ends in 017.")


def test_a_follow_up_refused_twice_is_reported_not_retried_forever(monkeypatch, unit_key):
    _, sent, _, fake_call = _followup_server(unit_key, refusals=2)
    monkeypatch.setattr(reporter_client, "_call", fake_call)
    with pytest.raises(ServerRefusedError, match="HTTP 409"):
        reporter_client.add_followup("http://127.0.0.1:1", receipts.generate(), "x")
    assert len(sent) == 2


def test_a_follow_up_is_not_sealed_to_a_key_other_than_the_pinned_one(monkeypatch, unit_key):
    _, sent, _, fake_call = _followup_server(unit_key, refusals=0)
    monkeypatch.setattr(reporter_client, "_call", fake_call)
    with pytest.raises(PinnedKeyMismatchError, match="pinned"):
        reporter_client.add_followup("http://127.0.0.1:1", receipts.generate(), "x",
                                     (keys.generate(unit_key.unit).public,))
    assert sent == []


@pytest.mark.parametrize("text", ["", "   \n"])
def test_an_empty_follow_up_is_refused_before_anything_is_sent(monkeypatch, text):
    monkeypatch.setattr(reporter_client, "_call", lambda *a, **k: pytest.fail("sent"))
    with pytest.raises(InputError):
        reporter_client.add_followup("http://127.0.0.1:1", receipts.generate(), text)
