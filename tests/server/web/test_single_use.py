"""Every reporter form token does one thing once; follow-ups are limited like the rest.

A replayed token (Reload re-posting a form, a double click, a script) gets a
clear "already sent" answer, 409, in the reporter's language, and nothing is
stored a second time. Limits across real gunicorn workers: tests/e2e/test_limits_e2e.py.
"""

import json
import re

import pytest

from tests.server.web.conftest import find, form_token, refused
from tests.server.web.test_sealed_api import post, sealed_form
from tests.server.web.test_sealed_followups import sealed_followup, send
from tipdrop.common import sqlite
from tipdrop.server import store

MULTIPART = "multipart/form-data"


def _db(app):
    return sqlite.connect(app.config["TIPDROP"].database_path)


def _count(app, table):
    db = _db(app)
    try:
        return db[table].count
    finally:
        db.close()


def _blobs(app):
    return sorted(app.config["TIPDROP"].attachments_dir.glob("**/*.*"))


def _form(token, **fields):
    return {"token": token, "region": "astana", "category": "theft",
            "description": "A bicycle was stolen.", "website": ""} | fields


def _followup_token(page):
    return find(r'action="/followup[^"]*"[^>]*>\s*<input type="hidden" name="token" value="([^"]+)"',
                page)


@pytest.mark.parametrize("lang,words", [("en", "already sent"), ("ru", "уже"), ("kk", "бұрын")])
def test_a_replayed_submit_says_already_sent_and_stores_no_second_report(
        app, client, lang, words):
    # Given a report sent through the page without JavaScript (answered with a
    # redirect to the receipt page, so the browser's Reload never re-posts it)
    token = form_token(client, f"/submit?lang={lang}")
    first = client.post(f"/submit?lang={lang}", data=_form(token), content_type=MULTIPART,
                        follow_redirects=True)
    assert 'id="receipt"' in first.text

    # When the same form is posted again (a double click, a script)
    again = client.post(f"/submit?lang={lang}", data=_form(token), content_type=MULTIPART)

    # Then it says so in the reporter's language, shows no receipt, and stores nothing more
    assert again.status_code == 409
    assert 'id="already-sent"' in again.text and words in again.text.lower()
    assert 'id="receipt"' not in again.text
    assert _count(app, "tips") == 1


def test_a_replayed_submit_with_files_leaves_no_file_behind(app, client):
    token = form_token(client, "/submit")
    photo = ("files", "note.txt", "text/plain")

    def send_with_file():
        import io

        data = _form(token, files=[(io.BytesIO(b"some bytes" * 1000), photo[1], photo[2])])
        return client.post("/submit", data=data, content_type=MULTIPART)

    assert send_with_file().status_code == 303
    blobs = _blobs(app)
    assert send_with_file().status_code == 409
    assert _count(app, "tips") == 1 and _count(app, "attachments") == 1
    assert _blobs(app) == blobs


def test_a_submission_that_failed_leaves_its_token_usable(app, client):
    token = form_token(client, "/submit")
    refused = client.post("/submit", data=_form(token, description=""), content_type=MULTIPART)
    assert refused.status_code == 400
    sent = client.post("/submit", data=_form(token), content_type=MULTIPART)
    assert sent.status_code == 303 and sent.location.startswith("/receipt/")


def test_a_check_form_is_used_once_and_a_replay_does_no_argon2_work(app, client, submit):
    code = find(r'id="receipt">([^<]+)<', submit().text)
    token = form_token(client, "/check")
    assert client.post("/check", data={"token": token, "receipt": code}).status_code == 303

    argon2 = app.extensions["tipdrop"]["argon2_slots"]
    with argon2():  # a replay that ran Argon2 would now wait for the only slots and fail 503
        with argon2():
            for receipt in (code, "NG9Q-QN1E-K73T-PK5B-71CM-0FKW"):
                again = refused(client, client.post("/check?lang=en",
                                                    data={"token": token, "receipt": receipt}),
                                receipt)
                assert again.status_code == 409, again.status_code
                assert "already used" in again.text and "History of your report" not in again.text


def test_a_wrong_receipt_also_spends_the_check_form(client, submit):
    submit()
    token = form_token(client, "/check")
    wrong = client.post("/check", data={"token": token, "receipt": "NG9Q-QN1E-K73T-PK5B-71CM-0FKW"})
    assert wrong.status_code == 303
    assert refused(client, client.post("/check", data={"token": token, "receipt": "x"}),
                   ).status_code == 409


def test_a_followup_form_adds_one_message_and_a_replay_adds_none(app, client, submit, check):
    code = find(r'id="receipt">([^<]+)<', submit().text)
    token = _followup_token(check(code).text)
    first = client.post("/followup?lang=ru", data={"token": token, "text": "A white Lada."})
    assert first.status_code == 303
    again = refused(client, client.post("/followup?lang=ru",
                                        data={"token": token, "text": "A white Lada."}), "Lada")
    assert again.status_code == 409 and 'id="already-sent"' in again.text
    assert "уже" in again.text
    assert _count(app, "followups") == 1


def test_the_api_followup_token_is_good_for_one_followup(app, client, submit, check):
    code = find(r'id="receipt">([^<]+)<', submit().text)
    answer = client.post("/api/v1/check", json={"receipt": code})
    token = answer.json["followup_token"]
    first = client.post("/api/v1/followups", json={"token": token, "text": "one"})
    assert first.status_code == 201
    again = client.post("/api/v1/followups?lang=en", json={"token": token, "text": "two"})
    assert again.status_code == 409
    assert again.json["error"] == "FollowupAlreadySentError"
    assert "already sent" in again.json["message"]
    assert _count(app, "followups") == 1


def test_a_sealed_followup_token_is_spent_only_when_stored(app, client, unit_key):
    tip_id, data = sealed_form(unit_key)
    receipt = post(client, data).json["receipt"]
    token = client.post("/api/v1/check",
                        json={"receipt": receipt, "sealed_replies": True}).json["followup_token"]
    # A follow-up sealed for the wrong number is refused and leaves the token usable ...
    taken = send(client, token, "f2", sealed_followup(unit_key, tip_id, 2))
    assert taken.status_code == 409 and taken.json["error"] == "FollowupNumberTakenError"
    # ... the right one is stored, and the same token cannot store another
    assert send(client, token, "f1", sealed_followup(unit_key, tip_id, 1)).status_code == 201
    replay = send(client, token, "f2", sealed_followup(unit_key, tip_id, 2))
    assert replay.status_code == 409 and replay.json["error"] == "FollowupAlreadySentError"
    assert _count(app, "followups") == 1


def test_spent_tokens_are_kept_as_a_digest_and_a_day_only(app, client, submit):
    token = form_token(client, "/submit")
    client.post("/submit", data=_form(token), content_type=MULTIPART)
    db = _db(app)
    rows = db.execute("SELECT digest, expires_day FROM spent_forms").fetchall()
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'spent_forms'").fetchone()[0]
    db.close()
    [(digest, day)] = rows
    assert len(digest) == 32 and re.fullmatch(r"\d{4}-\d\d-\d\d", day)
    nonce = json.loads(_payload(token))["n"]
    assert nonce.encode() not in digest and token.encode() not in digest
    assert "WITHOUT ROWID" in sql  # no insertion order to line up with the tips


def _payload(token):
    import base64

    part = token.split(".")[0]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_expired_spent_tokens_are_deleted(app):
    from tipdrop.errors import ReportAlreadySentError
    from tipdrop.server.web.tokens import FormUse

    db = _db(app)
    store.spend_form_now(db, FormUse(b"\x01" * 32, "2024-01-01", ReportAlreadySentError),
                         "2024-01-01")
    store.spend_form_now(db, FormUse(b"\x02" * 32, "2024-01-02", ReportAlreadySentError),
                         "2024-01-02")
    assert [row[0] for row in db.execute("SELECT digest FROM spent_forms")] == [b"\x02" * 32]
    db.close()


# --- follow-up limits -------------------------------------------------------------------


def _receipt(client, submit):
    return find(r'id="receipt">([^<]+)<', submit().text)


def _api_followup(client, receipt, text="more"):
    token = client.post("/api/v1/check", json={"receipt": receipt}).json["followup_token"]
    return client.post("/api/v1/followups", json={"token": token, "text": text})


def test_a_reports_followups_per_day_are_capped(app_config):
    from tipdrop.server.web import create_app

    app = create_app(app_config | {"followups_per_day": 3, "followups_per_hour": 1000})
    client = app.test_client()
    receipt = client.post("/api/v1/tips", json={"region": "astana", "category": "theft",
                                                "description": "d"}).json["receipt"]
    codes = [_api_followup(client, receipt).status_code for _ in range(5)]
    assert codes == [201, 201, 201, 429, 429]
    refused = _api_followup(client, receipt)
    assert refused.json["error"] == "FollowupLimitError"
    assert _count(app, "followups") == 3


def test_followups_from_one_client_are_rate_limited(app_config):
    from tipdrop.server.web import create_app

    app = create_app(app_config | {"followups_per_hour": 2, "followups_per_day": 1000})
    client = app.test_client()
    receipt = client.post("/api/v1/tips", json={"region": "astana", "category": "theft",
                                                "description": "d"}).json["receipt"]
    codes = [_api_followup(client, receipt).status_code for _ in range(3)]
    assert codes == [201, 201, 429]


@pytest.mark.parametrize("path", ["/api/v1/followups", "/followup"])
def test_an_oversized_followup_is_refused_and_stores_nothing(app, client, submit, path):
    receipt = _receipt(client, submit)
    token = client.post("/api/v1/check", json={"receipt": receipt}).json["followup_token"]
    text = "x" * 20_001
    if path == "/followup":
        answer = refused(client, client.post(path, data={"token": token, "text": text}), text)
    else:
        answer = client.post(path, json={"token": token, "text": text})
    assert answer.status_code == 413
    assert _count(app, "followups") == 0


def test_followups_with_forged_tokens_count_against_the_limit_too(app_config):
    from tipdrop.server.web import create_app

    app = create_app(app_config | {"followups_per_hour": 3})
    client = app.test_client()
    codes = [client.post("/api/v1/followups", json={"token": "forged", "text": "x"}).status_code
             for _ in range(4)]
    codes += [refused(client, client.post("/followup", data={"token": "forged", "text": "x"}),
                      ).status_code]
    assert codes == [403, 403, 403, 429, 429]
