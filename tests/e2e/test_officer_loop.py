"""The whole loop through the real CLI and the real web app.

keygen → submit on the web with an attachment → export → open → list/show
(attachment bytes identical) → reply need-info → outbox → import-replies →
the reporter's check shows the reply and status → the reporter answers →
the next export carries only the answer.
"""

import json
import re
import urllib.parse

import pytest

from tests.e2e.conftest import assert_clean_error
from tests.web_forms import check_on_web, submit_on_web

pytestmark = pytest.mark.e2e




def _submit(server, description, files=()):
    return submit_on_web(server, {"region": "shymkent", "category": "corruption",
                                  "description": description, "where": "ЦОН №2"}, files)


def _answer(server, page, text):
    token = re.search(r'action="/followup[^"]*"[^>]*>\s*<input type="hidden" name="token" value="([^"]+)"',
                      page).group(1)
    form = urllib.parse.urlencode({"token": token, "text": text})
    status, _, _ = server.request("POST", "/followup?lang=ru", form,
                                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200


def test_report_reply_and_answer_make_the_full_loop(ceremony, run_cli, tmp_path):
    server, officer = ceremony
    evidence = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 3000

    # When a reporter submits on the web with an attachment
    receipt = _submit(server, "Инспектор требует взятку за справку.",
                      [("files", "video.mp4", "video/mp4", evidence)])

    # And the operator exports and the officer opens it on the workstation
    exported = run_cli("export", "--unit", "demo", "--out", tmp_path / "export1.tdx", env=server.env())
    assert exported.returncode == 0, exported.stderr
    assert "1 tips" in exported.stdout and "1 attachments" in exported.stdout
    opened = run_cli("officer", "open", tmp_path / "export1.tdx", env=officer)
    assert opened.returncode == 0, opened.stderr
    listed = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    [tip] = listed
    assert {"id", "status", "category", "region", "received"} <= set(tip)
    assert tip["status"] == "received" and tip["category"] == "corruption"
    assert tip["region"] == "shymkent"

    # Then show decrypts the report, and the saved attachment is byte for byte the upload
    shown = run_cli("officer", "show", tip["id"][:6], "--save-attachments", tmp_path / "evidence",
                    env=officer, check=True)
    assert "Инспектор требует взятку за справку." in shown.stdout
    assert "ЦОН №2" in shown.stdout
    [saved] = list((tmp_path / "evidence").iterdir())
    assert saved.read_bytes() == evidence and saved.name.endswith("video.mp4")

    # When the officer asks a question and hands the outbox to the server
    run_cli("officer", "note", tip["id"][:6], "Checked the CON-2 duty roster.", env=officer, check=True)
    run_cli("officer", "reply", tip["id"][:6], "--status", "need-info", "--message",
            "В какой день это было?", env=officer, check=True)
    run_cli("officer", "outbox", "--out", tmp_path / "replies.json", env=officer, check=True)
    imported = run_cli("import-replies", tmp_path / "replies.json", env=server.env())
    assert imported.returncode == 0, imported.stderr

    # Then the reporter's check shows the question and the status
    page = check_on_web(server, receipt)
    assert 'data-status="need-info"' in page
    assert re.search(r'class="[^"]*\breply\b[^"]*".*В какой день это было\?', page, re.S)

    # When the reporter answers, the next export carries only the answer
    _answer(server, page, "Во вторник, около 11 утра.")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "export2.tdx", env=server.env(), check=True)
    opened = run_cli("officer", "open", tmp_path / "export2.tdx", env=officer, check=True)
    assert "0 new tips, 1 follow-ups, 0 attachments" in opened.stdout
    listed = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    assert listed[0]["unread_followups"] == 1
    shown = run_cli("officer", "show", tip["id"], env=officer, check=True)
    assert "Во вторник, около 11 утра." in shown.stdout
    assert "Checked the CON-2 duty roster." in shown.stdout
    assert json.loads(run_cli("officer", "list", "--json", env=officer).stdout)[0]["unread_followups"] == 0


def test_a_reply_bundle_imported_again_changes_nothing(ceremony, run_cli, tmp_path):
    server, officer = ceremony
    _submit(server, "first")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e.tdx", env=server.env(), check=True)
    run_cli("officer", "open", tmp_path / "e.tdx", env=officer, check=True)
    tip = json.loads(run_cli("officer", "list", "--json", env=officer).stdout)[0]["id"]
    run_cli("officer", "reply", tip, "--status", "in-review", env=officer, check=True)
    run_cli("officer", "outbox", "--out", tmp_path / "r.json", env=officer, check=True)
    run_cli("import-replies", tmp_path / "r.json", env=server.env(), check=True)
    again = run_cli("import-replies", tmp_path / "r.json", env=server.env(), check=True)
    assert "1 replies already held, 0 new" in again.stdout


def test_wrong_passphrase_is_a_clear_error(ceremony, run_cli, tmp_path):
    server, officer = ceremony
    _submit(server, "x")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e.tdx", env=server.env(), check=True)
    result = run_cli("officer", "open", tmp_path / "e.tdx", env=officer | {"TIPDROP_PASSPHRASE": "nope"})
    assert_clean_error(result, "passphrase")
    assert json.loads(run_cli("officer", "list", "--json", env=officer).stdout) == []


def test_officer_commands_read_the_passphrase_from_a_file(ceremony, run_cli, tmp_path):
    server, officer = ceremony
    _submit(server, "Инспектор требует взятку за справку.")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e.tdx", env=server.env(), check=True)
    # Given an officer whose passphrase is in a file, not in the environment
    officer = {name: value for name, value in officer.items() if name != "TIPDROP_PASSPHRASE"}
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text("ceremony passphrase\n", encoding="utf-8")
    passphrase_file.chmod(0o600)
    given = ("--passphrase-file", passphrase_file)

    # When every command that decrypts or signs gets --passphrase-file, with no terminal
    opened = run_cli("officer", "open", tmp_path / "e.tdx", *given, env=officer, input="")
    assert opened.returncode == 0, opened.stderr
    tip = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)[0]["id"]
    shown = run_cli("officer", "show", tip, *given, env=officer, input="", check=True)
    run_cli("officer", "reply", tip, "--status", "in-review", *given, env=officer, input="",
            check=True)
    run_cli("officer", "outbox", "--out", tmp_path / "r.json", *given, env=officer, input="",
            check=True)

    # Then the report opens and the signed replies import on the server
    assert "Инспектор требует взятку за справку." in shown.stdout
    run_cli("import-replies", tmp_path / "r.json", env=server.env(), check=True)

    # And a file with another passphrase is one clear error
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n", encoding="utf-8")
    assert_clean_error(run_cli("officer", "show", tip, "--passphrase-file", wrong, env=officer,
                               input=""), "passphrase")
    # And with neither a file nor TIPDROP_PASSPHRASE nor a terminal, the error says what to give
    assert_clean_error(run_cli("officer", "show", tip, env=officer, input=""), "--passphrase-file")
    # And a file that cannot be read is named as such
    assert_clean_error(run_cli("officer", "show", tip, "--passphrase-file", tmp_path / "missing",
                               env=officer, input=""), "cannot read passphrase file")
