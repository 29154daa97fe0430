"""Files and follow-ups nobody can pass off as the reporter's, through the real CLI.

`tipdrop submit` (files bound, receipt made on this computer) → real gunicorn →
`tipdrop followup` (signed with the receipt's key) → a compromised server
writes a follow-up of its own → export → someone adds a file on the transfer
stick → `tipdrop officer open/show` flags both and shows the reporter's own
items as such (docs/protocol.md section 14).
"""

import json
import sqlite3

import pytest

from tests.browser.recording_proxy import RecordingProxy
from tests.e2e.conftest import assert_clean_error
from tests.e2e.test_reference_client import setup  # noqa: F401 (a fixture)
from tests.protocol.test_binding import forged_attachment, read_records, write_records
from tests.serving import multipart
from tipdrop.crypto import keys
from tipdrop.protocol import device, documents

pytestmark = pytest.mark.e2e


def _receipt_of(result):
    return next(line.split(": ", 1)[1] for line in result.stdout.splitlines()
                if line.startswith("receipt: "))


def _forge_followup(server, tip_id, seq, text):
    """What a compromised server can do: seal to the unit's public key, store as 'device'."""
    public = keys.parse_public((server.keys_dir / "demo.pub").read_bytes())
    body = device.seal_followup(documents.followup_document(text), public.recipient, tip_id, seq)
    with sqlite3.connect(server.data_dir / "tipdrop.db") as db:
        db.execute("INSERT INTO followups (tip_id, seq, body, received_day, encrypted_on, "
                   "export_seq, held_seq) VALUES (?, ?, ?, '2026-12-01', 'device', 0, 0)",
                   [tip_id, seq, body])


def test_a_planted_file_and_a_forged_follow_up_are_flagged_the_reporters_are_verified(
        setup, run_cli, tmp_path):  # noqa: F811
    server, pinned, officer = setup
    url = f"http://127.0.0.1:{server.port}"
    (tmp_path / "report.txt").write_text("A car parks at the school every night.",
                                         encoding="utf-8")
    (tmp_path / "plate.bin").write_bytes(b"\x00plate photo bytes" * 100)

    # Given a report sealed by the reference client with one file, and a signed follow-up
    sent = run_cli("submit", "--server", url, "--region", "almaty", "--category", "corruption",
                   "--text-file", tmp_path / "report.txt", "--attach", tmp_path / "plate.bin",
                   "--unit-key", pinned, check=True)
    receipt = _receipt_of(sent)
    (tmp_path / "more.txt").write_text("It is a white Lada.", encoding="utf-8")
    run_cli("followup", "--server", url, "--text-file", tmp_path / "more.txt",
            "--unit-key", pinned, input=receipt + "\n", check=True)
    with sqlite3.connect(server.data_dir / "tipdrop.db") as db:
        [(tip_id,)] = db.execute("SELECT id FROM tips").fetchall()

    # When the server forges a follow-up, and someone adds a file to the export on the stick
    _forge_followup(server, tip_id, 2, "Forget it, I made it all up.")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e.tdx", env=server.env(), check=True)
    records = read_records((tmp_path / "e.tdx").read_bytes())
    public = keys.parse_public((server.keys_dir / "demo.pub").read_bytes())
    planted = forged_attachment(public, tip_id, "a2")
    (tmp_path / "e.tdx").write_bytes(write_records(records + planted))

    # Then opening warns about both, and imports the planted file marked
    opened = run_cli("officer", "open", tmp_path / "e.tdx", env=officer, check=True)
    assert "WARNING: 1 attachments are not the ones their sealed reports list" in opened.stdout
    assert "WARNING: 1 follow-ups are not signed by the holder" in opened.stdout

    # And show tells the reporter's items from the others
    shown = run_cli("officer", "show", tip_id[:8], "--save-attachments", tmp_path / "saved",
                    env=officer, check=True).stdout
    assert "attachment a1: plate.bin" in shown
    assert "attachment a2: DAMAGED, not shown (NOT THE REPORTER'S" in shown
    assert ("follow-up 1 (" in shown and "signed by the receipt holder:\nIt is a white Lada."
            in shown)
    assert "NOT SIGNED by the receipt holder" in shown.split("follow-up 2 (")[1]
    assert [p.name.split("-")[1] for p in (tmp_path / "saved").iterdir()] == ["a1"]
    detail = json.loads(run_cli("officer", "show", tip_id[:8], "--json", env=officer,
                                check=True).stdout)
    assert [(f["seq"], f["origin"]) for f in detail["followups"]] == [(1, "signed"),
                                                                     (2, "unsigned")]
    assert [(f["part"], f["binding"]) for f in detail["attachments"]] == [
        ("a1", "bound"), ("a2", "not-listed")]


def test_the_reference_client_never_sends_the_receipt_it_made(
        setup, run_cli, tmp_path):  # noqa: F811
    server, pinned, officer = setup
    proxy = RecordingProxy(server.port)
    try:
        url = f"http://127.0.0.1:{proxy.port}"
        (tmp_path / "report.txt").write_text("A report.", encoding="utf-8")
        sent = run_cli("submit", "--server", url, "--region", "almaty", "--category",
                       "corruption", "--text-file", tmp_path / "report.txt", "--unit-key",
                       pinned, check=True)
        wire = proxy.sent
    finally:
        proxy.close()
    receipt = _receipt_of(sent)
    # Neither the code nor its secret went over the wire: only the locator and derived values
    secret = receipt.replace("-", "")[5:23]
    assert b'name="receipt"' in wire and secret.encode() not in wire
    assert receipt.encode() not in wire
    # Yet the server stored what it needs to check the code later
    status, _, body = server.request("POST", "/api/v1/check",
                                     json.dumps({"receipt": receipt}).encode(),
                                     {"Content-Type": "application/json"})
    assert status == 200 and json.loads(body)["status"] == "received"
    with sqlite3.connect(server.data_dir / "tipdrop.db") as db:
        assert db.execute("SELECT locator FROM tips").fetchall() == [(receipt[:4] + receipt[5],)]


def test_a_file_added_to_a_server_sealed_report_on_the_stick_refuses_the_bundle(
        setup, run_cli, tmp_path):  # noqa: F811
    server, _, officer = setup
    # Given a report sent without JavaScript (sealed by the server) with one file
    content_type, body = multipart({"region": "almaty", "category": "corruption",
                                    "description": "Sent from a plain form."},
                                   [("files", "a.bin", "application/octet-stream", b"x" * 500)])
    status, _, _ = server.request("POST", "/api/v1/tips", body, {"Content-Type": content_type})
    assert status == 201
    with sqlite3.connect(server.data_dir / "tipdrop.db") as db:
        [(tip_id,)] = db.execute("SELECT id FROM tips").fetchall()
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e.tdx", env=server.env(), check=True)
    records = read_records((tmp_path / "e.tdx").read_bytes())
    public = keys.parse_public((server.keys_dir / "demo.pub").read_bytes())
    # When a file is added on the way (the bundle's checksum fixed, it has no key)
    planted = forged_attachment(public, tip_id, "a2")
    (tmp_path / "e.tdx").write_bytes(write_records(records + planted))
    # Then the officer's tool refuses the bundle, saying why, and imports nothing
    assert_clean_error(run_cli("officer", "open", tmp_path / "e.tdx", env=officer),
                       "does not list this file", "altered")
    assert json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout) == []
