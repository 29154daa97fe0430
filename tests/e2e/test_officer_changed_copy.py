"""`tipdrop officer open` of a re-export that carries a held tip changed: one warning line.

A real server (gunicorn) takes two reports on the web and exports them; the
officer opens the export with the real CLI. Then the server's database is
changed as a compromised server would change it: one tip gets a new,
authentic report sealed to the unit's key under its id. A third report
arrives, and `tipdrop export --since-start` carries all three. Opening it
imports the new tip, keeps the held one as it was, and says so in one line
naming the tip by its short id, never its words; the audit log records it
and still verifies (docs/officer-guide.md, docs/threat-model.md).
"""

import json

import pytest

from tests.e2e.test_officer_loop import _submit
from tests.protocol.test_bundles import Server
from tests.serving import start_server
from tipdrop.common import sqlite
from tipdrop.crypto import envelope, kdf
from tipdrop.officer import keyfiles
from tipdrop.protocol import documents
from tipdrop.server import exchange

pytestmark = pytest.mark.e2e

FORGED = "Подменённый текст: никакой взятки не было."


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path)
    yield running
    running.stop()


def test_a_held_tip_carried_with_another_sealed_report_is_said_in_one_line(
        server, run_cli, tmp_path):
    officer = {"TIPDROP_PASSPHRASE": "officer pass", "TIPDROP_WORKDIR": str(tmp_path / "cases"),
               "TIPDROP_KEY": str(server.key_file)}
    _submit(server, "Инспектор требует взятку за справку.")
    _submit(server, "Продают справки у входа в ЦОН.")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "first.tdx", env=server.env(),
            check=True)
    run_cli("officer", "open", tmp_path / "first.tdx", env=officer, check=True)
    listed = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    tip_id = sorted(t["id"] for t in listed)[0]
    shown_before = run_cli("officer", "show", tip_id, env=officer, check=True).stdout

    # Given a server that put another authentic report under a tip the unit holds
    db = sqlite.connect(server.data_dir / "tipdrop.db")
    forged = envelope.seal(documents.report_document(
        tip_id=tip_id, region="shymkent", category="corruption", description=FORGED),
        server.unit_key.public.recipient, kind="tip", tip_id=tip_id)
    db.execute("UPDATE tips SET body = ? WHERE id = ?", [forged, tip_id])
    db.close()
    _submit(server, "Третье сообщение: поборы на посту.")
    run_cli("export", "--unit", "demo", "--since-start", "--out", tmp_path / "second.tdx",
            env=server.env(), check=True)

    # When the officer opens the re-export
    opened = run_cli("officer", "open", tmp_path / "second.tdx", env=officer)

    # Then the rest is imported, and one line names the changed tip, never its words
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.startswith("opened: 1 new tips,"), opened.stdout
    warnings = [line for line in opened.stdout.splitlines() if tip_id[:12] in line]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING: 1 tips already held"), \
        opened.stdout
    assert "kept" in warnings[0] and tip_id not in warnings[0]
    assert FORGED not in opened.stdout + opened.stderr and "Traceback" not in opened.stderr
    # and the held copy is the one the officer reads, unchanged, told of the other one
    shown = run_cli("officer", "show", tip_id, env=officer, check=True).stdout.splitlines()
    [told] = [line for line in shown if line.startswith("WARNING: export")]
    assert "another sealed copy" in told and FORGED not in told
    assert [line for line in shown if line != told] == shown_before.splitlines()
    # and the audit log records it, and verifies
    trail = run_cli("officer", "audit", "--verify", env=officer, check=True).stdout
    assert "held-differs" in trail and tip_id in trail and FORGED not in trail
    # and opening the same file again says only that it was opened before
    again = run_cli("officer", "open", tmp_path / "second.tdx", env=officer, check=True)
    assert again.stdout.strip() == "this bundle was already opened; nothing new"

    # When the unit acknowledges what it holds and the server purges its copies
    run_cli("officer", "ack", "--out", tmp_path / "ack.json", env=officer, check=True)
    run_cli("import-ack", tmp_path / "ack.json", env=server.env(), check=True)
    run_cli("purge", env=server.env(), check=True)
    db = sqlite.connect(server.data_dir / "tipdrop.db")
    [(left,)] = db.execute("SELECT body FROM tips WHERE id = ?", [tip_id]).fetchall()
    db.close()
    assert not left  # the server's changed copy is gone
    # Then the workspace still has it, sealed, byte for byte as the server sent it
    workspace = sqlite.connect(tmp_path / "cases" / "workspace.db")
    kept = workspace.execute("SELECT why, body FROM copies WHERE tip_id = ?", [tip_id]).fetchall()
    workspace.close()
    assert kept == [("changed", forged)]


def test_a_held_follow_up_carried_changed_is_said_in_one_line_and_shown(run_cli, tmp_path):
    """The same for a follow-up of a held tip; the bundles are the server library's own."""
    made = keyfiles.create_unit_key("demo", tmp_path / "keys", "officer pass",
                                    params=kdf.TEST_PARAMS)
    officer = {"TIPDROP_PASSPHRASE": "officer pass", "TIPDROP_WORKDIR": str(tmp_path / "cases"),
               "TIPDROP_KEY": str(made.private_path)}
    server = Server(tmp_path / "server", keyfiles.unlock(made.private_path, "officer pass"))
    tip, _ = server.submit("almaty", "Инспектор требует взятку за справку.")
    server.tips.add_followup(tip_id=tip["id"], text="Он снова там сегодня.")
    server.export("demo", tmp_path / "first.tdx")
    run_cli("officer", "open", tmp_path / "first.tdx", env=officer, check=True)
    # Given a server that put another authentic follow-up under one the unit holds
    server.db.execute("UPDATE followups SET body = ? WHERE tip_id = ?", [envelope.seal(
        documents.followup_document(FORGED), server.unit_keys.current("demo").recipient,
        kind="followup", tip_id=tip["id"], part="f1"), tip["id"]])
    exchange.export_unit(server.db, server.attachments, unit="demo",
                         out=tmp_path / "second.tdx", since_start=True)
    server.db.close()

    # When the officer opens the re-export
    opened = run_cli("officer", "open", tmp_path / "second.tdx", env=officer)

    # Then one line names the tip and the follow-up, never its words
    assert opened.returncode == 0, opened.stderr
    warnings = [line for line in opened.stdout.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, opened.stdout
    assert warnings[0].startswith("WARNING: 1 follow-ups or attachments already held here "
                                  f"came changed (tip {tip['id'][:12]} follow-up 1)")
    assert FORGED not in opened.stdout + opened.stderr and "Traceback" not in opened.stderr
    # and `officer show` gives the held follow-up and says another copy is kept
    shown = run_cli("officer", "show", tip["id"], env=officer, check=True).stdout
    assert "Он снова там сегодня." in shown and FORGED not in shown
    assert "WARNING: export 2 carried another sealed copy of follow-up 1" in shown
    trail = run_cli("officer", "audit", "--verify", env=officer, check=True).stdout
    assert "held-item-differs" in trail and FORGED not in trail
