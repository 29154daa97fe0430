"""The export's clear reply key and sealer label cannot override the sealed report's.

Real gunicorn, the reference client and the no-JavaScript form, the real CLI.
Whoever edits an export (a compromised server, or whoever carries the
stick, which also carries the reply bundle back) swaps a tip's clear
``reply_public`` or relabels a server-sealed item "device"; the workstation
takes the values the sealed documents bind (docs/protocol.md section 14).
"""

import base64
import json
import re
import sqlite3
import urllib.parse

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tests.e2e.test_reference_client import setup  # noqa: F401 (a fixture)
from tests.protocol.test_binding import read_records, write_records
from tests.web_forms import check_on_web, submit_on_web
from tipdrop.crypto import envelope, keys
from tipdrop.errors import TipdropError
from tipdrop.protocol import bundles, documents

pytestmark = pytest.mark.e2e


def _receipt_of(result):
    return next(line.split(": ", 1)[1] for line in result.stdout.splitlines()
                if line.startswith("receipt: "))


def _edit(path, kind, change):
    """Rewrite the export at ``path`` with ``change(doc)`` applied to each record of ``kind``."""
    records = []
    for k, payload in read_records(path.read_bytes()):
        if k == kind:
            doc = json.loads(payload)
            change(doc)
            payload = json.dumps(doc).encode()
        records.append((k, payload))
    path.write_bytes(write_records(records))


def test_a_swapped_clear_reply_key_never_gets_a_reply_and_the_receipt_still_reads_it(
        setup, run_cli, tmp_path):  # noqa: F811
    server, pinned, officer = setup
    url = f"http://127.0.0.1:{server.port}"
    (tmp_path / "report.txt").write_text("Someone sells stolen phones at the bazaar.",
                                         encoding="utf-8")
    sent = run_cli("submit", "--server", url, "--region", "almaty", "--category", "theft",
                   "--text-file", tmp_path / "report.txt", "--unit-key", pinned, check=True)
    receipt = _receipt_of(sent)

    # When whoever carries the export swaps the tip's clear reply key for their own
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e.tdx", env=server.env(), check=True)
    attacker = X25519PrivateKey.generate()
    planted = base64.b64encode(attacker.public_key().public_bytes_raw()).decode()
    _edit(tmp_path / "e.tdx", bundles.TIP, lambda doc: doc.update(reply_public=planted))
    opened = run_cli("officer", "open", tmp_path / "e.tdx", env=officer, check=True)

    # Then opening says so, and show says the reply key is bound
    assert "WARNING: 1 tips came with a reply key other than the one their sealed report" \
        in opened.stdout
    [tip] = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    shown = run_cli("officer", "show", tip["id"], env=officer, check=True).stdout
    assert "reply key not bound" not in shown

    # And the reply is sealed to the report's key: the planted key opens none of it
    message = "Please come to the station on Friday."
    run_cli("officer", "reply", tip["id"], "--status", "need-info", "--message", message,
            env=officer, check=True)
    run_cli("officer", "outbox", "--out", tmp_path / "replies.json", env=officer, check=True)
    [reply] = json.loads((tmp_path / "replies.json").read_text())["replies"]
    with pytest.raises(TipdropError):
        envelope.open_(base64.b64decode(reply["body"]), keys.reply_opener(attacker),
                       kind="reply", tip_id=tip["id"], part="r1")

    # And the reporter's receipt reads it
    run_cli("import-replies", tmp_path / "replies.json", env=server.env(), check=True)
    checked = run_cli("check", "--server", url, "--unit-key", pinned, input=receipt + "\n",
                      check=True)
    assert message in checked.stdout


def test_a_server_sealed_report_and_follow_up_relabelled_device_are_shown_server_sealed(
        setup, run_cli, tmp_path):  # noqa: F811
    server, _, officer = setup
    # Given a report and a follow-up typed without JavaScript (the server sealed both)
    receipt = submit_on_web(server, {"region": "almaty", "category": "theft",
                                     "description": "Stolen cars are kept in a garage."})
    page = check_on_web(server, receipt)
    token = re.search(r'action="/followup[^"]*"[^>]*>\s*<input type="hidden" name="token" '
                      r'value="([^"]+)"', page).group(1)
    status, _, _ = server.request(
        "POST", "/followup?lang=ru",
        urllib.parse.urlencode({"token": token, "text": "The garage is blue."}),
        {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    with sqlite3.connect(server.data_dir / "tipdrop.db") as db:
        [(tip_id,)] = db.execute("SELECT id FROM tips").fetchall()

    # When the export labels both "sealed on the device"
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e.tdx", env=server.env(), check=True)
    for kind in (bundles.TIP, bundles.FOLLOWUP):
        _edit(tmp_path / "e.tdx", kind, lambda doc: doc.update(encrypted_on="device"))
    opened = run_cli("officer", "open", tmp_path / "e.tdx", env=officer, check=True)

    # Then opening warns of both, and show says the server sealed them
    assert "WARNING: 2 reports or follow-ups were labelled in the export as sealed elsewhere" \
        in opened.stdout
    assert f"tip {tip_id[:12]} report" in opened.stdout and f"tip {tip_id[:12]} f1" in opened.stdout
    shown = run_cli("officer", "show", tip_id, env=officer, check=True).stdout
    assert "encrypted on: server" in shown and "encrypted on: device" not in shown
    assert "follow-up 1 (" in shown
    assert "sealed by the server" in shown.split("follow-up 1 (")[1]
    # (the no-JS report binds its reply key too: the server made the receipt first)
    assert "reply key not bound" not in shown

    # And the audit log names what the export contradicted
    audit = (tmp_path / "cases" / "audit.log").read_text().splitlines()
    [entry] = [json.loads(line) for line in audit if '"clear-differs"' in line]
    assert entry["tip"] == tip_id and entry["info"] == {"sealed_by": ["f1", "report"]}


def test_a_report_sealed_before_binding_opens_and_show_says_reply_key_not_bound(
        setup, run_cli, tmp_path):  # noqa: F811
    server, _, officer = setup
    submit_on_web(server, {"region": "almaty", "category": "theft",
                           "description": "placeholder, replaced below"})
    # Given a report as a server sealed it before reply keys were bound (no reply_public,
    # no sealed_by), in place of the one the server sealed now
    public = keys.parse_public((server.keys_dir / "demo.pub").read_bytes())
    with sqlite3.connect(server.data_dir / "tipdrop.db") as db:
        [(tip_id,)] = db.execute("SELECT id FROM tips").fetchall()
        old = documents.report_document(tip_id=tip_id, region="almaty", category="theft",
                                        description="A report from last year.", digests={})
        db.execute("UPDATE tips SET body = ? WHERE id = ?",
                   [envelope.seal(old, public.recipient, kind="tip", tip_id=tip_id), tip_id])

    # When the officer opens and shows it
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e.tdx", env=server.env(), check=True)
    opened = run_cli("officer", "open", tmp_path / "e.tdx", env=officer, check=True)
    shown = run_cli("officer", "show", tip_id, env=officer, check=True).stdout

    # Then it opens without warnings, and show says what it cannot vouch for
    assert "WARNING" not in opened.stdout and "A report from last year." in shown
    assert "reply key not bound" in shown
    assert "encrypted on: server (the export's word: not bound)" in shown
    # And a reply can still be sealed to the export's key
    run_cli("officer", "reply", tip_id, "--status", "need-info", "--message", "Call us.",
            env=officer, check=True)
