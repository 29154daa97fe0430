"""Follow-ups sealed on the reporter's device: structure checks, the number, storage."""

import base64
import json
import time

import pytest
from itsdangerous.timed import TimestampSigner

from tests.server.web.conftest import find, refused
from tests.server.web.test_sealed_api import post, sealed_form
from tipdrop.common import sqlite
from tipdrop.crypto import envelope, keys
from tipdrop.protocol import device, documents
from tipdrop.server import sealed


def _post(client, path, doc):
    return client.post(path, data=json.dumps(doc), content_type="application/json")


@pytest.fixture
def db(app):
    connection = sqlite.connect(app.config["TIPDROP"].database_path)
    yield connection
    connection.close()


@pytest.fixture
def report(client, unit_key):
    """A device-sealed report and its sealed check answer."""
    tip_id, data = sealed_form(unit_key)
    receipt = post(client, data).json["receipt"]

    def check():
        answer = _post(client, "/api/v1/check", {"receipt": receipt, "sealed_replies": True})
        assert answer.status_code == 200
        return answer.json

    return tip_id, check


def sealed_followup(unit_key, tip_id, seq, text="He drives a red car.", recipient=None):
    return device.seal_followup(documents.followup_document(text),
                                recipient or unit_key.public.recipient, tip_id, seq)


def send(client, token, part, body, lang="en"):
    return _post(client, f"/api/v1/sealed-followups?lang={lang}",
                 {"token": token, "part": part, "body": base64.b64encode(body).decode()})


def test_the_sealed_check_names_the_unit_to_seal_follow_ups_to(report):
    _, check = report
    doc = check()
    assert doc["unit"] == "demo" and doc["followups"] == 0 and doc["followup_token"]


def test_device_sealed_followup_is_stored_byte_for_byte_as_sealed_on_the_device(
        client, db, unit_key, report):
    tip_id, check = report
    body = sealed_followup(unit_key, tip_id, 1)

    answer = send(client, check()["followup_token"], "f1", body)

    assert answer.status_code == 201, answer.text
    assert answer.json == {"added": True, "seq": 1}
    [row] = list(db["followups"].rows)
    assert row["tip_id"] == tip_id and row["seq"] == 1
    assert row["body"] == body and row["encrypted_on"] == "device"
    opened = envelope.open_(row["body"], unit_key.opener, kind="followup", tip_id=tip_id,
                            part="f1")
    assert json.loads(opened)["text"] == "He drives a red car."
    assert check()["followups"] == 1


def test_follow_ups_sealed_on_the_server_say_so(client, db, report):
    _, check = report
    added = _post(client, "/api/v1/followups",
                  {"token": check()["followup_token"], "text": "Typed on the page."})
    assert added.status_code == 201
    assert [row["encrypted_on"] for row in db["followups"].rows] == ["server"]


@pytest.mark.parametrize("part", ["f2", "f3"])
def test_a_number_already_taken_or_skipped_is_refused_with_409_and_nothing_stored(
        client, db, unit_key, report, part):
    # Given a report with no follow-up yet, so the next number is 1
    tip_id, check = report
    token = check()["followup_token"]

    # When a device sends one sealed for another number
    answer = send(client, token, part, sealed_followup(unit_key, tip_id, int(part[1:])))

    # Then it is refused, saying to send again, and nothing is stored
    assert answer.status_code == 409
    assert answer.json["error"] == "FollowupNumberTakenError"
    assert "send yours again" in answer.json["message"]
    assert db["followups"].count == 0


def test_a_follow_up_that_lost_the_race_is_refused_and_the_next_number_works(
        client, db, unit_key, report):
    tip_id, check = report
    token = check()["followup_token"]
    assert send(client, token, "f1", sealed_followup(unit_key, tip_id, 1, "first")).status_code == 201
    late = send(client, token, "f1", sealed_followup(unit_key, tip_id, 1, "second"))
    assert late.status_code == 409 and db["followups"].count == 1
    again = send(client, check()["followup_token"], "f2",
                 sealed_followup(unit_key, tip_id, 2, "second"))
    assert again.status_code == 201 and again.json["seq"] == 2


def _wrong_kind(unit_key, tip_id):
    return device.seal_report(documents.followup_document("x"), unit_key.public.recipient, tip_id)


@pytest.mark.parametrize("damage,status,error", [
    ("wrong kind", 400, "SealedFormatError"),
    ("not a padme length", 400, "SealedFormatError"),
    ("too large", 400, "SealedFormatError"),
    ("truncated header", 400, "SealedFormatError"),
    ("not base64", 400, "SealedFormatError"),
    ("part without number", 400, "SealedFormatError"),
    ("part f0", 400, "SealedFormatError"),
    ("attachment part", 400, "SealedFormatError"),
    ("key not installed", 409, "StaleKeyError"),
    ("body not a string", 400, "InputError"),
])
def test_malformed_sealed_followups_are_refused_and_store_nothing(
        client, db, unit_key, report, damage, status, error):
    tip_id, check = report
    token = check()["followup_token"]
    body, part = sealed_followup(unit_key, tip_id, 1), "f1"
    doc = None
    if damage == "wrong kind":
        body = _wrong_kind(unit_key, tip_id)
    elif damage == "not a padme length":
        body += b"\0"
    elif damage == "too large":
        body = sealed_followup(unit_key, tip_id, 1, "x" * 170_000)
        assert len(body) > sealed.MAX_FOLLOWUP_ENVELOPE
    elif damage == "truncated header":
        body = body[:20]
    elif damage == "not base64":
        doc = {"token": token, "part": part, "body": "not base64!"}
    elif damage == "part without number":
        part = "f"
    elif damage == "part f0":
        part = "f0"
    elif damage == "attachment part":
        part = "a1"
    elif damage == "key not installed":
        body = sealed_followup(unit_key, tip_id, 1, recipient=keys.generate("demo").public.recipient)
    elif damage == "body not a string":
        doc = {"token": token, "part": part, "body": 12}
    if doc is None:
        answer = send(client, token, part, body)
    else:
        answer = _post(client, "/api/v1/sealed-followups?lang=en", doc)
    assert answer.status_code == status, (damage, answer.text)
    assert answer.json["error"] == error, (damage, answer.json)
    assert db["followups"].count == 0


def test_a_follow_up_sealed_to_another_units_key_is_refused(client, db, app, unit_key, report):
    # The astana unit's key is installed, but the report went to demo.
    tip_id, check = report
    other = keys.generate("astana")
    keys_dir = app.config["TIPDROP"].keys_dir
    (keys_dir / "astana.pub").write_bytes(other.public.to_json())
    answer = send(client, check()["followup_token"], "f1",
                  sealed_followup(unit_key, tip_id, 1, recipient=other.public.recipient))
    assert answer.status_code == 409 and answer.json["error"] == "StaleKeyError"
    assert db["followups"].count == 0


def _expired_token(app, tip_id, monkeypatch):
    then = int(time.time()) - 31 * 60
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: then)
        return app.extensions["tipdrop"]["tokens"].followup(tip_id)


@pytest.mark.parametrize("token", ["expired", "forged", "form token", "missing"])
def test_an_expired_or_forged_token_is_refused_with_403(
        client, app, db, unit_key, report, monkeypatch, token):
    tip_id, check = report
    good = check()["followup_token"]
    value = {
        "expired": lambda: _expired_token(app, tip_id, monkeypatch),
        "forged": lambda: good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),
        "form token": lambda: app.extensions["tipdrop"]["tokens"].form("followup"),
        "missing": lambda: "",
    }[token]()
    answer = send(client, value, "f1", sealed_followup(unit_key, tip_id, 1))
    assert answer.status_code == 403, answer.text
    assert answer.json["error"] == "FormExpiredError"
    assert db["followups"].count == 0


def test_follow_ups_sealed_on_the_device_are_exported_saying_so(app, client, db, unit_key,
                                                                 report, tmp_path):
    from tipdrop.protocol import bundles
    from tipdrop.server import exchange

    tip_id, check = report
    assert send(client, check()["followup_token"], "f1",
                sealed_followup(unit_key, tip_id, 1)).status_code == 201
    _post(client, "/api/v1/followups", {"token": check()["followup_token"], "text": "typed"})
    exchange.export_unit(db, app.config["TIPDROP"].attachments_dir, unit="demo",
                         out=tmp_path / "e.tdx")
    with open(tmp_path / "e.tdx", "rb") as f:
        records = [r.doc for r in bundles.ExportReader(f) if r.kind == bundles.FOLLOWUP]
    assert [(r["seq"], r["encrypted_on"]) for r in records] == [(1, "device"), (2, "server")]


# --- the status page's form, with JavaScript sealing on the device (issue 14 item 4) ----


def _status_page(check_page, receipt):
    page = check_page(receipt)
    assert page.status_code == 203
    return page.text


def test_the_status_page_carries_the_unit_key_and_next_number_never_the_receipt(
        client, check, submit, unit_key):
    receipt = find(r'id="receipt"[^>]*>([0-9A-Z-]{29})<', submit().text)
    text = _status_page(check, receipt)
    assert 'data-part="f1"' in text and unit_key.public.key_id.hex() in text
    assert receipt not in text and receipt.replace("-", "") not in text
    assert "js/followup." in text


def test_a_follow_up_sealed_by_the_page_is_stored_as_sealed_on_the_device(
        client, db, check, submit, unit_key):
    receipt = find(r'id="receipt"[^>]*>([0-9A-Z-]{29})<', submit().text)
    text = _status_page(check, receipt)
    token = find(r'name="token" value="([^"]+)"', text.split('id="followup-form"')[1])
    tip_id = find(r'data-tip-id="([0-9a-f]{32})"', text)
    body = sealed_followup(unit_key, tip_id, 1, "typed on the status page")

    answer = client.post("/followup?lang=ru", data={
        "token": token, "part": "f1", "sealed": base64.b64encode(body).decode()})

    # POST-redirect-GET: the confirmation it leads to says where it was encrypted
    assert answer.status_code == 303 and "on=device" in answer.headers["Location"]
    done = client.get(answer.headers["Location"])
    assert done.status_code == 200 and 'data-encrypted-on="device"' in done.text
    [row] = list(db["followups"].rows)
    assert (row["seq"], row["encrypted_on"], row["body"]) == (1, "device", body)


@pytest.mark.parametrize("fields, status", [
    ({"part": "f1", "sealed": "not base64!"}, 400),
    ({"part": "f2", "sealed": None}, 409),   # sealed for a number that is not the next
    ({"part": "x1", "sealed": None}, 400),
])
def test_a_bad_sealed_follow_up_from_the_page_is_refused_and_nothing_stored(
        client, db, check, submit, unit_key, fields, status):
    receipt = find(r'id="receipt"[^>]*>([0-9A-Z-]{29})<', submit().text)
    text = _status_page(check, receipt)
    token = find(r'name="token" value="([^"]+)"', text.split('id="followup-form"')[1])
    tip_id = find(r'data-tip-id="([0-9a-f]{32})"', text)
    if fields["sealed"] is None:
        fields = fields | {"sealed": base64.b64encode(
            sealed_followup(unit_key, tip_id, int(fields["part"][1:]))).decode()}
    answer = refused(client, client.post("/followup?lang=kk", data={"token": token, **fields}))
    assert answer.status_code == status
    assert list(db["followups"].rows) == []
