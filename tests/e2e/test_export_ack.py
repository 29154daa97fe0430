"""The unit says what it holds; the server deletes its copy: the whole loop, real processes.

submit (with a file and a follow-up) → `tipdrop export` → `tipdrop officer
open` → reply → `tipdrop officer ack` → `tipdrop import-ack` (a tampered one
refused first, a replay harmless) → the reporter adds information →
`tipdrop purge --dry-run`, `tipdrop purge` → not one 64-byte slice of the
acknowledged ciphertext is left in any file of the data folder (WAL
included), its attachment file is gone, the later follow-up is kept, the
reporter's check still shows the status and the reply →
`tipdrop export --since-start` + `tipdrop officer open` still work and the
workstation still has everything. Then the same over the officer API:
`tipdrop officer pull --ack` sends the acknowledgement of earlier pulls.
"""

import json
import os
import sqlite3
from contextlib import closing

import pytest

from tests.e2e.conftest import assert_clean_error, assert_nothing_left
from tests.serving import multipart
from tests.stored import blob_exists

pytestmark = pytest.mark.e2e

REPORT = "ACK-CANARY: the inspector asks for a bribe"
VIDEO = b"\x00\x00\x00\x18ftypmp42" + os.urandom(150 * 1024)


def _json(server, path, doc):
    status, _, body = server.request("POST", path, json.dumps(doc).encode(),
                                     {"Content-Type": "application/json"})
    return status, json.loads(body)


def _submit(server, description, attachment):
    content_type, data = multipart({"region": "almaty", "category": "corruption",
                                    "description": description},
                                   [("files", "clip.mp4", "video/mp4", attachment)])
    status, _, raw = server.request("POST", "/api/v1/tips", data, {"Content-Type": content_type})
    assert status == 201, raw
    return json.loads(raw)["receipt"]


def _follow_up(server, receipt, text):
    token = _json(server, "/api/v1/check", {"receipt": receipt})[1]["followup_token"]
    status, added = _json(server, "/api/v1/followups", {"token": token, "text": text})
    assert status == 201, added


def _slices(data):
    middle = len(data) // 2
    return [data[middle:middle + 64], data[-64:]]


def _ciphertext(database, attachments_dir):
    """{name: slices} of every stored ciphertext of the (only) tip."""
    with closing(sqlite3.connect(database)) as conn:
        (body,), = conn.execute("SELECT body FROM tips")
        found = {"report": _slices(body)}
        for seq, message in conn.execute("SELECT seq, body FROM followups"):
            found[f"follow-up {seq}"] = _slices(message)
        for part, info, blob in conn.execute("SELECT part, info, blob FROM attachments"):
            found[f"{part} info"] = _slices(info)
            found[f"{part} file"] = _slices(b"".join(row[0] for row in conn.execute(
                "SELECT data FROM blob_chunks WHERE blob = ? ORDER BY seq", [blob])))
        blobs = [row[0] for row in conn.execute("SELECT blob FROM attachments")]
    return found, blobs


def _raw_bytes(folder):
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def _held_rows(database):
    with closing(sqlite3.connect(database)) as conn:
        return {table: conn.execute(f"SELECT held_seq FROM {table} ORDER BY 1").fetchall()
                for table in ("tips", "followups", "attachments")}


def test_acknowledged_ciphertext_is_purged_and_the_reporter_still_reads_replies(
        ceremony, run_cli, tmp_path):
    server, officer = ceremony
    database = server.data_dir / "tipdrop.db"
    attachments_dir = server.data_dir / "attachments"

    # Given a report with a file and a follow-up, exported and opened on the workstation
    receipt = _submit(server, REPORT, VIDEO)
    _follow_up(server, receipt, "ACK-CANARY follow-up: he wore a blue uniform")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "export1.tdx", env=server.env(),
            check=True)
    run_cli("officer", "open", tmp_path / "export1.tdx", env=officer, check=True)
    [tip] = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    # And the officer asked a question, which the server imported
    run_cli("officer", "reply", tip["id"][:8], "--status", "need-info", "--message",
            "Which office was it?", env=officer, check=True)
    run_cli("officer", "outbox", "--out", tmp_path / "replies.json", env=officer, check=True)
    run_cli("import-replies", tmp_path / "replies.json", env=server.env(), check=True)
    acknowledged, blobs = _ciphertext(database, attachments_dir)

    # When the workstation writes its acknowledgement
    acked = run_cli("officer", "ack", "--out", tmp_path / "ack.json", env=officer)
    assert acked.returncode == 0, acked.stderr
    assert "acknowledged export(s) 1" in acked.stdout

    # Then a tampered copy is refused with one line, and nothing is recorded
    doc = json.loads((tmp_path / "ack.json").read_text())
    doc["exports"][0][1] += 1  # a compact acknowledgement: "exports 1 to 2"
    (tmp_path / "tampered.json").write_text(json.dumps(doc))
    before = _held_rows(database)
    assert_clean_error(run_cli("import-ack", tmp_path / "tampered.json", env=server.env()),
                       "signature")
    assert _held_rows(database) == before

    # And the genuine one is recorded; importing it again changes nothing
    imported = run_cli("import-ack", tmp_path / "ack.json", env=server.env())
    assert imported.returncode == 0, imported.stderr
    assert "1 tips, 1 follow-ups, 1 attachments (0 already recorded" in imported.stdout
    recorded = _held_rows(database)
    again = run_cli("import-ack", tmp_path / "ack.json", env=server.env(), check=True)
    assert "0 tips, 0 follow-ups, 0 attachments (3 already recorded" in again.stdout
    assert _held_rows(database) == recorded

    # When the reporter adds information after the acknowledgement
    _follow_up(server, receipt, "ACK-CANARY later: it was office No. 2")
    later, _ = _ciphertext(database, attachments_dir)
    later = later["follow-up 2"]

    # Then a dry run counts what would go and changes nothing
    dry = run_cli("purge", "--dry-run", env=server.env())
    assert dry.returncode == 0, dry.stderr
    assert ("would purge 0 tips (0 closed 90+ days, 0 with a receipt never used) and delete the "
            "ciphertext the unit holds of 1 reports, 1 follow-ups, 1 attachments; "
            "nothing was changed") in dry.stdout
    assert tip["id"][:8] not in dry.stdout
    assert all(blob_exists(database, blob) for blob in blobs)

    # When purge runs while the server runs and a connection stays open
    with closing(sqlite3.connect(database)) as idle:
        idle.execute("SELECT COUNT(*) FROM tips").fetchone()
        purged = run_cli("purge", env=server.env())
        assert purged.returncode == 0, purged.stderr
        assert ("deleted the ciphertext the unit holds of 1 reports, 1 follow-ups, "
                "1 attachments; files removed: 1 attachments") in purged.stdout
        everything = _raw_bytes(server.data_dir)

    # Then no slice of the acknowledged ciphertext is left in any file, the WAL is empty
    assert_nothing_left(everything, acknowledged, server.data_dir, "acknowledged ciphertext")
    assert everything[database.with_name("tipdrop.db-wal")] == b""
    assert not any(blob_exists(database, blob) for blob in blobs)
    # And the follow-up that came after the acknowledgement is still there
    assert all(any(piece in data for data in everything.values()) for piece in later)
    # And the reporter's check still works, with the status and the reply
    status, checked = _json(server, "/api/v1/check", {"receipt": receipt})
    assert status == 200, checked
    assert checked["status"] == "need-info" and checked["followups"] == 2
    assert [r["message"] for r in checked["replies"]] == ["Which office was it?"]
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    # When the unit asks for everything again and opens it
    run_cli("export", "--unit", "demo", "--since-start", "--out", tmp_path / "export2.tdx",
            env=server.env(), check=True)
    opened = run_cli("officer", "open", tmp_path / "export2.tdx", env=officer)

    # Then it opens; only the later follow-up is new, and nothing the workstation held is lost
    assert opened.returncode == 0, opened.stderr
    assert "opened: 0 new tips, 1 follow-ups, 0 attachments" in opened.stdout
    shown = run_cli("officer", "show", tip["id"][:8], "--save-attachments", tmp_path / "saved",
                    env=officer, check=True)
    assert REPORT in shown.stdout
    assert "he wore a blue uniform" in shown.stdout and "office No. 2" in shown.stdout
    [saved] = (tmp_path / "saved").iterdir()
    assert saved.read_bytes() == VIDEO


def test_pull_acks_only_earlier_pulls_when_asked_and_purge_then_clears_them(
        ceremony, run_cli, tmp_path):
    server, officer = ceremony
    database = server.data_dir / "tipdrop.db"
    receipt = _submit(server, REPORT, VIDEO)
    acknowledged, blobs = _ciphertext(database, server.data_dir / "attachments")
    url = f"http://127.0.0.1:{server.port}"

    # When the officer pulls over the officer API
    pulled = run_cli("officer", "pull", "--server", url, env=officer)

    # Then nothing is acknowledged: the officer has not backed up what came
    assert pulled.returncode == 0, pulled.stderr
    assert "acknowledged" not in pulled.stdout
    assert _held_rows(database) == {"tips": [(0,)], "followups": [], "attachments": [(0,)]}
    # And the next pull with --ack acknowledges what the first one brought
    acked = run_cli("officer", "pull", "--ack", "--server", url, env=officer, check=True)
    assert "acknowledged to the server: 1 tips, 0 follow-ups, 1 attachments" in acked.stdout
    assert _held_rows(database) == {"tips": [(1,)], "followups": [], "attachments": [(1,)]}
    # And once everything is acknowledged, --ack has nothing more to send
    quiet = run_cli("officer", "pull", "--ack", "--server", url, env=officer, check=True)
    assert "nothing to acknowledge" in quiet.stdout
    # And purge then deletes the server's copy; the reporter's check still answers
    run_cli("purge", env=server.env(), check=True)
    everything = b"".join(_raw_bytes(server.data_dir).values())
    assert not any(piece in everything for pieces in acknowledged.values() for piece in pieces)
    assert not blob_exists(server.data_dir, blobs[0])
    status, checked = _json(server, "/api/v1/check", {"receipt": receipt})
    assert (status, checked["status"]) == (200, "received")
    # And pulling everything again still works
    again = run_cli("officer", "pull", "--since-start", "--server", url, env=officer)
    assert again.returncode == 0, again.stderr
    assert "nothing new on the server" in again.stdout
