"""The officer API (/officer/v1) through Flask's test client.

Only requests signed by an installed unit key get anything; every refused
request is a 401 in JSON and leaves the export cursor, the replies and the
nonce table as they were.
"""

import base64
import time

import pytest

from tests.server.web.conftest import find
from tipdrop.common import sqlite
from tipdrop.crypto import keys
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol import bundles, officer_auth
from tipdrop.server import store

EXPORT = "/officer/v1/export?since_start=0"
REPLIES = "/officer/v1/replies"


def sign(unit_key, method, target, body=b"", timestamp=None, nonce=None):
    if timestamp is None and nonce is None:
        return officer_auth.sign_request(unit_key, method, target, body)
    return officer_auth._sign_request_at(
        unit_key.ed25519, unit_key.unit, unit_key.key_id, method, target, body,
        timestamp=int(time.time()) if timestamp is None else timestamp,
        nonce=nonce or b"\x05" * 16)


def export(client, unit_key, target=EXPORT):
    return client.get(target, headers=sign(unit_key, "GET", target))


def post_replies(client, unit_key, data):
    return client.post(REPLIES, data=data, headers=sign(unit_key, "POST", REPLIES, data))


@pytest.fixture
def db(app, data_dir):
    connection = sqlite.connect(data_dir / "tipdrop.db")
    yield connection
    connection.close()


@pytest.fixture
def receipt(submit):
    page = submit(description="Stolen bicycles behind the depot.").text
    return find(r'id="receipt">([^<]+)<', page)


@pytest.fixture
def workspace(tmp_path):
    ws = Workspace(tmp_path / "workstation")
    yield ws
    ws.close()


def _open(workspace, unit_key, response, tmp_path, name="pulled.tdx"):
    path = tmp_path / name
    path.write_bytes(response.data)
    return workspace.open_bundle(path, Keyring.of(unit_key))


def _state(db):
    """What a refused request must not change."""
    return {
        "exported": db.execute("SELECT COUNT(*) FROM tips WHERE export_seq != 0").fetchone()[0],
        "replies": db.execute("SELECT COUNT(*) FROM replies").fetchone()[0],
        "nonces": db.execute("SELECT COUNT(*) FROM officer_nonces").fetchone()[0],
    }


# --- export -----------------------------------------------------------------------


def test_a_signed_export_is_a_bundle_the_workstation_opens(client, unit_key, receipt, workspace,
                                                           tmp_path, data_dir):
    response = export(client, unit_key)
    assert response.status_code == 200
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Cache-Control"] == "no-store"
    assert int(response.headers["Content-Length"]) == len(response.data)
    assert "Set-Cookie" not in response.headers
    counts = _open(workspace, unit_key, response, tmp_path)
    assert counts["tips"] == 1
    # Nothing of the export stays in the data folder
    assert list((data_dir / "exports").iterdir()) == []


def test_the_export_cursor_moves_and_since_start_exports_again(client, unit_key, receipt,
                                                              workspace, tmp_path):
    _open(workspace, unit_key, export(client, unit_key), tmp_path, "first.tdx")
    again = export(client, unit_key)
    assert _open(workspace, unit_key, again, tmp_path, "second.tdx")["tips"] == 0
    everything = export(client, unit_key, "/officer/v1/export?since_start=1")
    assert b"Stolen" not in everything.data  # ciphertext only
    fresh = Workspace(tmp_path / "new-laptop")
    try:
        assert _open(fresh, unit_key, everything, tmp_path, "third.tdx")["tips"] == 1
    finally:
        fresh.close()


def test_exports_a_crash_left_behind_are_swept_but_fresh_ones_kept(client, unit_key, data_dir):
    import os

    folder = data_dir / "exports"
    folder.mkdir()
    stale, fresh = folder / ".old.tdx.x.tmp", folder / ".busy.tdx.y.tmp"
    stale.write_bytes(b"ciphertext of a purged tip")
    fresh.write_bytes(b"being written by another worker")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    assert export(client, unit_key).status_code == 200
    assert sorted(folder.iterdir()) == [fresh]


def test_a_head_request_does_not_move_the_cursor(client, unit_key, receipt, db):
    response = client.head(EXPORT, headers=sign(unit_key, "HEAD", EXPORT))
    assert response.status_code == 405
    assert _state(db)["exported"] == 0


def test_since_start_must_be_0_or_1(client, unit_key):
    response = export(client, unit_key, "/officer/v1/export?since_start=yes")
    assert response.status_code == 400 and "since_start" in response.json["detail"]


def test_a_request_behind_a_mount_point_signs_the_full_path(client, unit_key, receipt):
    target = "/tipdrop" + EXPORT
    response = client.get(EXPORT, headers=sign(unit_key, "GET", target),
                          environ_overrides={"SCRIPT_NAME": "/tipdrop"})
    assert response.status_code == 200
    unsigned_prefix = client.get(EXPORT, headers=sign(unit_key, "GET", EXPORT),
                                 environ_overrides={"SCRIPT_NAME": "/tipdrop"})
    assert unsigned_prefix.status_code == 401


# --- refusals -------------------------------------------------------------------------


def _other_key():
    return keys.generate("demo")


ATTACKS = {
    "no-headers": lambda k: ("GET", EXPORT, {}, b""),
    "forged-signature": lambda k: ("GET", EXPORT, sign(k, "GET", EXPORT) | {
        officer_auth.SIGNATURE: base64.b64encode(bytes(64)).decode()}, b""),
    "key-not-installed": lambda k: ("GET", EXPORT, sign(_other_key(), "GET", EXPORT), b""),
    "expired": lambda k: ("GET", EXPORT, sign(k, "GET", EXPORT,
                                              timestamp=int(time.time()) - 301), b""),
    "from-the-future": lambda k: ("GET", EXPORT, sign(k, "GET", EXPORT,
                                                      timestamp=int(time.time()) + 301), b""),
    "wrong-unit-header": lambda k: ("GET", EXPORT, sign(k, "GET", EXPORT) | {
        officer_auth.UNIT: "other-unit"}, b""),
    "signed-for-another-path": lambda k: ("GET", EXPORT, sign(
        k, "GET", "/officer/v1/export?since_start=1"), b""),
    "signed-as-post": lambda k: ("GET", EXPORT, sign(k, "POST", EXPORT), b""),
    "body-mismatch": lambda k: ("POST", REPLIES, sign(k, "POST", REPLIES, b'{"a": 1}'),
                                b'{"a": 2}'),
    "body-unsigned": lambda k: ("POST", REPLIES, sign(k, "POST", REPLIES), b'{"a": 2}'),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_unsigned_or_forged_requests_get_401_and_change_nothing(client, unit_key, receipt, db,
                                                                attack):
    before = _state(db)
    method, target, headers, body = ATTACKS[attack](unit_key)
    response = client.open(target, method=method, headers=headers, data=body)
    assert response.status_code == 401
    assert response.json["error"] == "RequestAuthError"
    assert set(response.json) == {"error", "message", "detail"}
    assert response.headers["WWW-Authenticate"] == "Tipdrop-Signature"
    assert _state(db) == before


def test_a_replayed_request_gets_401_and_changes_nothing(client, unit_key, receipt, db):
    headers = sign(unit_key, "GET", EXPORT)
    assert client.get(EXPORT, headers=headers).status_code == 200
    before = _state(db)
    replay = client.get(EXPORT, headers=headers)
    assert replay.status_code == 401
    assert "already received" in replay.json["detail"]
    assert _state(db) == before


def test_an_expired_request_says_to_check_the_clock(client, unit_key):
    headers = sign(unit_key, "GET", EXPORT, timestamp=int(time.time()) - 3600)
    response = client.get(EXPORT, headers=headers)
    assert response.status_code == 401 and "clock" in response.json["detail"]


def test_refusals_are_in_the_requested_language(client, unit_key):
    response = client.get(EXPORT, headers={"Accept-Language": "kk"})
    assert response.status_code == 401
    assert "қолтаңба" in response.json["message"]


@pytest.mark.parametrize("header", ["*", "de-DE", None])
def test_refusals_without_a_language_of_ours_are_in_russian(header, client):
    response = client.get(EXPORT, headers={"Accept-Language": header} if header else {})
    assert response.status_code == 401
    assert "Подпись запроса" in response.json["message"], response.json["message"]


def test_unknown_officer_paths_answer_in_json(client):
    response = client.get("/officer/v1/nothing-here")
    assert response.status_code == 404 and response.json["error"] == "http-404"


def test_a_body_on_export_is_refused_as_too_large(client, unit_key):
    headers = sign(unit_key, "GET", EXPORT, b"x")
    response = client.get(EXPORT, headers=headers, data=b"x")
    assert response.status_code == 413 and response.json["error"] == "RequestTooLargeError"


def test_a_reply_bundle_over_the_limit_is_refused_before_reading(client, unit_key, db):
    body = b" " * (bundles.MAX_REPLY_BUNDLE + 1)
    response = client.post(REPLIES, data=body, headers=sign(unit_key, "POST", REPLIES, body))
    assert response.status_code == 413
    assert _state(db)["nonces"] == 0


def test_nonces_are_forgotten_the_day_after_their_window_has_closed_and_keep_no_time(db):
    day = 86400
    store.remember_nonce(db, "aa" * 16, expires=1000, now=700)
    assert store.remember_nonce(db, "aa" * 16, expires=1000, now=1000) is False
    # Still held the same day, after its window closed (only the day is stored)
    assert store.remember_nonce(db, "bb" * 16, expires=5000, now=4700) is True
    assert store.remember_nonce(db, "aa" * 16, expires=5000, now=4800) is False
    assert sorted(db.execute("SELECT nonce, expires_day FROM officer_nonces")) == [
        ("aa" * 16, "1970-01-01"), ("bb" * 16, "1970-01-01")]
    # And gone the next day
    assert store.remember_nonce(db, "cc" * 16, expires=day + 300, now=day + 1) is True
    assert [r[0] for r in db.execute("SELECT nonce FROM officer_nonces")] == ["cc" * 16]


# --- replies ----------------------------------------------------------------------------


@pytest.fixture
def queued_reply(client, unit_key, receipt, workspace, tmp_path):
    """The tip exported and opened on a workstation, with one reply queued."""
    _open(workspace, unit_key, export(client, unit_key), tmp_path)
    [tip] = workspace.list()
    workspace.reply(tip["id"], Keyring.of(unit_key), message="Which day was it?", status="need-info")
    return workspace.pending_bundle(Keyring.of(unit_key))


def test_a_signed_reply_bundle_is_imported_and_the_reporter_sees_it(client, unit_key, receipt,
                                                                   queued_reply, check):
    data, _ = queued_reply
    response = post_replies(client, unit_key, data)
    assert response.status_code == 201
    assert response.json == {"replies": 1, "tips": 1, "already_imported": 0}
    page = check(receipt).text
    assert "Which day was it?" in page and 'data-status="need-info"' in page


def test_sending_the_same_bundle_again_imports_nothing_new(client, unit_key, queued_reply, db):
    # A push whose answer was lost is repeated: the server already holds it
    data, _ = queued_reply
    assert post_replies(client, unit_key, data).status_code == 201
    again = post_replies(client, unit_key, data)
    assert again.status_code == 201
    assert again.json == {"replies": 0, "tips": 0, "already_imported": 1}
    assert _state(db)["replies"] == 1


def test_a_changed_reply_with_a_used_number_is_still_refused(client, unit_key, queued_reply, db):
    # Given the reply was delivered, and the workstation signs another reply 1
    data, rows = queued_reply
    assert post_replies(client, unit_key, data).status_code == 201
    forged = bundles.sign_reply(unit_key.ed25519, unit_key.unit, unit_key.key_id,
                                tip_id=rows[0]["tip_id"], seq=1, day=rows[0]["day"],
                                status="closed", body=b"")
    bundle = bundles.make_reply_bundle(unit_key.ed25519, unit_key.unit, unit_key.key_id,
                                       rows[0]["day"], [forged])
    response = post_replies(client, unit_key, bundle)
    assert response.status_code == 201 and response.json["replies"] == 0
    assert "differs from the one already imported" in \
        response.json["refused"][rows[0]["tip_id"]]
    assert _state(db)["replies"] == 1


def test_a_bundle_of_another_unit_is_refused(app_config, keys_dir, unit_key):
    from tipdrop.server.web import create_app

    other = keys.generate("other-unit")
    (keys_dir / "other-unit.pub").write_bytes(other.public.to_json())
    client = create_app(app_config).test_client()
    bundle = bundles.make_reply_bundle(other.ed25519, other.unit, other.key_id, "2026-11-28", [])
    response = post_replies(client, unit_key, bundle)
    assert response.status_code == 403 and response.json["error"] == "NotYourBundleError"


def test_a_damaged_reply_bundle_is_a_clear_400(client, unit_key):
    response = post_replies(client, unit_key, b"not json")
    assert response.status_code == 400 and response.json["error"] == "BundleError"
