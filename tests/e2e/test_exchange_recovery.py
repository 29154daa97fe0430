"""The officer exchange gets going again after ordinary mishaps: real CLI, real gunicorn.

A lost outbox file is written again (`officer outbox --resend`) and imported
once: the server skips the replies it holds byte for byte and refuses a
resend that was altered or forged.
"""

import json
import re
import urllib.parse

import pytest

from tipdrop import bundles
from tipdrop.crypto import keys

from ..serving import multipart
from .conftest import assert_clean_error

pytestmark = pytest.mark.e2e


def _submit(server, description):
    token = server.form_token("/submit?lang=ru")
    content_type, body = multipart({"token": token, "region": "almaty", "category": "theft",
                                    "description": description})
    status, _, page = server.request("POST", "/submit?lang=ru", body,
                                     {"Content-Type": content_type})
    assert status == 200, page[:300]
    return re.search(rb'id="receipt">([^<]+)<', page).group(1).decode()


def _status_seen_by(server, receipt):
    token = server.form_token("/check?lang=ru")
    form = urllib.parse.urlencode({"token": token, "receipt": receipt})
    status, _, page = server.request("POST", "/check?lang=ru", form,
                                     {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    return re.search(r'data-status="([a-z-]+)"', page.decode()).group(1)


@pytest.fixture
def officer(server, tmp_path):
    """The workstation of start_server's own unit key (cheap Argon2 parameters)."""
    return {"TIPDROP_PASSPHRASE": "officer pass", "TIPDROP_WORKDIR": str(tmp_path / "cases"),
            "TIPDROP_KEY": str(server.key_file)}


@pytest.fixture
def two_tips(server, officer, run_cli, tmp_path):
    """Two tips opened on the workstation; reply 1 of the first one imported on the server,
    reply 1 of the second one written to an outbox file that was then lost."""
    receipts = [_submit(server, "first"), _submit(server, "second")]
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e.tdx", env=server.env(),
            check=True)
    run_cli("officer", "open", tmp_path / "e.tdx", env=officer, check=True)
    listed = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    by_id = {}
    for tip in listed:
        run_cli("officer", "show", tip["id"], env=officer, check=True)
        shown = json.loads(run_cli("officer", "show", tip["id"], "--json", env=officer,
                                   check=True).stdout)
        by_id[shown["report"]["description"]] = tip["id"]
    first, second = by_id["first"], by_id["second"]
    run_cli("officer", "reply", first, "--status", "in-review", env=officer, check=True)
    run_cli("officer", "outbox", "--out", tmp_path / "r1.json", env=officer, check=True)
    run_cli("import-replies", tmp_path / "r1.json", env=server.env(), check=True)
    run_cli("officer", "reply", second, "--status", "closed", "--message", "Спасибо",
            env=officer, check=True)
    run_cli("officer", "outbox", "--out", tmp_path / "lost.json", env=officer, check=True)
    (tmp_path / "lost.json").unlink()
    return receipts, first, second


def test_a_lost_outbox_is_written_again_and_imported_once(server, officer, two_tips, run_cli,
                                                          tmp_path):
    (first_receipt, second_receipt), first, second = two_tips
    assert _status_seen_by(server, second_receipt) == "received"
    # Given a plain outbox has nothing left to send
    empty = run_cli("officer", "outbox", "--out", tmp_path / "none.json", env=officer)
    assert_clean_error(empty, "outbox is empty")

    # When the officer writes every sent reply again and the operator imports it
    resent = run_cli("officer", "outbox", "--resend", "--out", tmp_path / "again.json",
                     env=officer, check=True)
    assert "2 replies already sent written again" in resent.stdout
    imported = run_cli("import-replies", tmp_path / "again.json", env=server.env(), check=True)

    # Then the one the server held is skipped, the lost one is imported
    assert "1 replies already held, 1 new" in imported.stdout
    assert _status_seen_by(server, second_receipt) == "closed"
    assert _status_seen_by(server, first_receipt) == "in-review"
    # And importing it once more is a no-op, reported as such
    twice = run_cli("import-replies", tmp_path / "again.json", env=server.env(), check=True)
    assert "2 replies already held, 0 new" in twice.stdout
    # And --resend with TIP or --since picks replies
    one = run_cli("officer", "outbox", "--resend", second[:8], "--out", tmp_path / "one.json",
                  env=officer, check=True)
    assert "1 replies already sent" in one.stdout
    assert [r["tip_id"] for r in json.loads((tmp_path / "one.json").read_text())["replies"]] \
        == [second]
    later = run_cli("officer", "outbox", "--resend", "--since", "2999-01-01",
                    "--out", tmp_path / "later.json", env=officer)
    assert_clean_error(later, "no sent replies match")
    # And a new reply after the resend is numbered after the others and imported
    run_cli("officer", "reply", second, "--status", "in-review", env=officer, check=True)
    run_cli("officer", "outbox", "--out", tmp_path / "r3.json", env=officer, check=True)
    third = run_cli("import-replies", tmp_path / "r3.json", env=server.env(), check=True)
    assert "0 replies already held, 1 new" in third.stdout


def test_an_altered_or_forged_resend_is_refused_whole(server, officer, two_tips, run_cli,
                                                      tmp_path):
    (first_receipt, second_receipt), first, second = two_tips
    run_cli("officer", "outbox", "--resend", "--out", tmp_path / "again.json", env=officer,
            check=True)
    doc = json.loads((tmp_path / "again.json").read_text())

    # When a byte of the held reply is changed in the file (its signature no longer holds)
    altered = json.loads(json.dumps(doc))
    altered["replies"][0]["status"] = "closed"
    (tmp_path / "altered.json").write_text(json.dumps(altered))
    refused = run_cli("import-replies", tmp_path / "altered.json", env=server.env())
    assert_clean_error(refused, "signature")

    # When a bundle signed by another key claims the unit
    stranger = keys.generate("demo")
    replies = [bundles.sign_reply(stranger.ed25519, "demo", stranger.key_id, tip_id=r["tip_id"],
                                  seq=r["seq"], day=r["day"], status=r["status"],
                                  body=bundles.unb64(r["body"])) for r in doc["replies"]]
    (tmp_path / "forged.json").write_bytes(bundles.make_reply_bundle(
        stranger.ed25519, "demo", stranger.key_id, doc["created_day"], replies))
    forged = run_cli("import-replies", tmp_path / "forged.json", env=server.env())
    assert_clean_error(forged, "not installed")

    # When the unit's own key signs a different reply under a number the server holds
    unit = server.unit_key
    held = next(r for r in doc["replies"] if r["tip_id"] == first)
    other = bundles.sign_reply(unit.ed25519, "demo", unit.key_id, tip_id=first, seq=held["seq"],
                               day=held["day"], status="closed", body=b"")
    (tmp_path / "differs.json").write_bytes(bundles.make_reply_bundle(
        unit.ed25519, "demo", unit.key_id, doc["created_day"], [other]))
    differs = run_cli("import-replies", tmp_path / "differs.json", env=server.env())
    assert_clean_error(differs, "differs from the one already imported")

    # Then nothing of any of them was imported: the lost reply is still missing
    assert _status_seen_by(server, first_receipt) == "in-review"
    assert _status_seen_by(server, second_receipt) == "received"
