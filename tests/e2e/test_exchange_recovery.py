"""The officer exchange gets going again after ordinary mishaps: real CLI, real gunicorn.

Acknowledgements stay small however much the workspace holds (one run of
exports for 10,000 items), and one the server refuses is set aside. A lost
outbox file is written again (`officer outbox --resend`) and imported
once: the server skips the replies it holds byte for byte and refuses a
resend that was altered or forged. A tip the workspace holds damaged is
replaced by the intact copy a later export brings, at `officer open` or
with `officer reopen`, only once that copy passed every check.
"""

import json
import re
import sqlite3
from contextlib import closing

import pytest

from tests.acked import acknowledged
from tests.e2e.conftest import assert_clean_error
from tests.web_forms import check_on_web, submit_on_web
from tipdrop.common import sqlite as sqlite_helpers
from tipdrop.crypto import kdf, keys
from tipdrop.protocol import bundles
from tipdrop.protocol.report import Report
from tipdrop.protocol.routing import Routing
from tipdrop.server.locators import Locators
from tipdrop.server.tips import Tips
from tipdrop.server.unitkeys import UnitKeys
from tipdrop.server.web.ratelimit import SharedCounts

pytestmark = pytest.mark.e2e


def _submit(server, description):
    return submit_on_web(server, {"region": "almaty", "category": "theft",
                                  "description": description})


def _status_seen_by(server, receipt):
    return re.search(r'data-status="([a-z-]+)"', check_on_web(server, receipt)).group(1)


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
    held = altered["replies"][0]
    held["status"] = "unfounded" if held["status"] != "unfounded" else "closed"  # a real change
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
    assert differs.returncode == 0, differs.stderr  # that tip's replies only are left out
    assert f"tip {first[:8]}: reply {held['seq']} differs from the one already imported" \
        in differs.stdout and "0 new" in differs.stdout

    # Then nothing of any of them was imported: the lost reply is still missing
    assert _status_seen_by(server, first_receipt) == "in-review"
    assert _status_seen_by(server, second_receipt) == "received"


REPORT = "DEVICE-CANARY: the night guard sells the seized fuel"


@pytest.fixture
def damaged_tip(server, officer, run_cli, tmp_path):
    """A report sealed on the reporter's device, whose server copy was damaged before the
    first export (a disk fault, then restored from a backup): the workspace holds it
    marked DAMAGED. Returns the tip id and a function that mends the server's copy."""
    pinned = tmp_path / "pinned.pub"
    pinned.write_bytes((server.keys_dir / "demo.pub").read_bytes())
    (tmp_path / "report.txt").write_text(REPORT, encoding="utf-8")
    run_cli("submit", "--server", f"http://127.0.0.1:{server.port}", "--region", "almaty",
            "--category", "theft", "--text-file", tmp_path / "report.txt",
            "--unit-key", pinned, check=True)
    database = server.data_dir / "tipdrop.db"
    with closing(sqlite3.connect(database)) as conn, conn:
        (tip_id, body), = conn.execute("SELECT id, body FROM tips")
        conn.execute("UPDATE tips SET body = ? WHERE id = ?",
                     [body[:-20] + bytes(b ^ 0x55 for b in body[-20:]), tip_id])
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e1.tdx", env=server.env(),
            check=True)
    opened = run_cli("officer", "open", tmp_path / "e1.tdx", env=officer, check=True)
    assert "1 items sealed on reporters' devices could not be read" in opened.stdout
    [listed] = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    assert listed["damaged"]

    def mend():
        with closing(sqlite3.connect(database)) as conn, conn:
            conn.execute("UPDATE tips SET body = ? WHERE id = ?", [body, tip_id])

    return tip_id, mend


def test_a_damaged_tip_is_replaced_by_the_intact_copy_a_later_export_brings(
        server, officer, damaged_tip, run_cli, tmp_path):
    tip_id, mend = damaged_tip
    run_cli("officer", "reply", tip_id, "--status", "in-review", env=officer, check=True)
    # When the server's copy is mended and everything is exported again
    mend()
    run_cli("export", "--unit", "demo", "--since-start", "--out", tmp_path / "e2.tdx",
            env=server.env(), check=True)
    opened = run_cli("officer", "open", tmp_path / "e2.tdx", env=officer, check=True)

    # Then opening it replaces the damaged copy, and the report reads
    assert f"replaced 1 damaged items with intact copies (tips {tip_id[:12]})" in opened.stdout
    [listed] = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    assert not listed["damaged"]
    shown = run_cli("officer", "show", tip_id, env=officer, check=True)
    assert REPORT in shown.stdout and "DAMAGED" not in shown.stdout
    # And what the officer did with the tip stays: its status and its reply
    assert listed["status"] == "in-review" and "reply 1" in shown.stdout
    # And the acknowledgement now names it: the server may delete its copy
    acked = run_cli("officer", "ack", "--out", tmp_path / "ack.json", env=officer, check=True)
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as conn:
        named = acknowledged((tmp_path / "ack.json").read_bytes(), conn)
    assert tip_id in named["tips"], acked.stdout


def test_reopen_replaces_a_damaged_tip_only_with_a_copy_that_passes_the_checks(
        server, officer, damaged_tip, run_cli, tmp_path):
    tip_id, mend = damaged_tip
    # When the officer reopens it from the same damaged bundle, nothing changes
    same = run_cli("officer", "reopen", tip_id[:8], tmp_path / "e1.tdx", env=officer)
    assert_clean_error(same, "is still damaged")
    # When the bundle's copy was altered on the way, the bundle is refused whole
    mend()
    run_cli("export", "--unit", "demo", "--since-start", "--out", tmp_path / "e2.tdx",
            env=server.env(), check=True)
    data = bytearray((tmp_path / "e2.tdx").read_bytes())
    data[len(data) // 2] ^= 1
    (tmp_path / "altered.tdx").write_bytes(bytes(data))
    altered = run_cli("officer", "reopen", tip_id[:8], tmp_path / "altered.tdx", env=officer)
    assert_clean_error(altered)
    [listed] = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    assert listed["damaged"]

    # When it reopens the tip from an export holding an intact copy
    reopened = run_cli("officer", "reopen", tip_id[:8], tmp_path / "e2.tdx", env=officer,
                       check=True)

    # Then the tip is intact; reopening it again has nothing to do
    assert f"tip {tip_id[:12]} is intact now" in reopened.stdout
    assert REPORT in run_cli("officer", "show", tip_id, env=officer, check=True).stdout
    again = run_cli("officer", "reopen", tip_id[:8], tmp_path / "e2.tdx", env=officer)
    assert_clean_error(again, "holds nothing damaged")


def _backup(database, to):
    with closing(sqlite3.connect(database)) as live, closing(sqlite3.connect(to)) as copy:
        live.backup(copy)


def _restore(server, backup):
    """Restore the server's database from ``backup`` the way an operator does: stopped."""
    server.stop()
    database = server.data_dir / "tipdrop.db"
    for suffix in ("-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    database.write_bytes(backup.read_bytes())
    server.start()


def test_a_refused_acknowledgement_is_set_aside_and_the_pull_goes_on(server, officer, run_cli,
                                                                     tmp_path):
    url = f"http://127.0.0.1:{server.port}"
    _submit(server, "before the backup")
    _backup(server.data_dir / "tipdrop.db", tmp_path / "backup.db")
    run_cli("officer", "pull", "--server", url, env=officer, check=True)
    # Given the server is restored from a backup older than that pull
    _restore(server, tmp_path / "backup.db")
    _submit(server, "after the restore")

    # When the officer pulls with --ack: the server never made the export acknowledged
    pulled = run_cli("officer", "pull", "--ack", "--server", url, env=officer)

    # Then the refusal is reported and set aside, and the pull still brings the new tip
    assert pulled.returncode == 0, pulled.stderr
    assert "the server refused the acknowledgement of export(s) 1" in pulled.stdout
    assert "did not make" in pulled.stdout
    assert "pulled: 1 new tips" in pulled.stdout
    # And the next pull acknowledges what the restored server did export: both tips
    again = run_cli("officer", "pull", "--ack", "--server", url, env=officer, check=True)
    assert "acknowledged to the server: 2 tips" in again.stdout, again.stdout
    assert "refused" not in again.stdout
    quiet = run_cli("officer", "pull", "--ack", "--server", url, env=officer, check=True)
    assert "nothing to acknowledge" in quiet.stdout


def _many_tips(server, tmp_path, tips, followups_each):
    """``tips`` reports with ``followups_each`` follow-ups each, written straight into the
    running server's database by the library (HTTP and real Argon2 would take an hour)."""
    db = sqlite_helpers.connect(server.data_dir / "tipdrop.db")
    db.execute("PRAGMA synchronous = OFF")  # a test filling the database, not a server
    store = Tips(db, UnitKeys.load(server.keys_dir), Routing.load(server.keys_dir / "routing.json"),
                 server.data_dir / "attachments", receipt_params=kdf.TEST_PARAMS,
                 locators=Locators(SharedCounts(tmp_path / "runtime")),
                 followups_per_day=followups_each)
    try:
        for n in range(tips):
            draft = store.start(region="almaty")
            store.submit(draft, Report.build(region="almaty", category="theft",
                                             description=f"report {n}"))
            for _ in range(followups_each):
                store.add_followup(tip_id=draft.tip_id, text="more")
    finally:
        db.close()


def test_ten_thousand_held_items_acknowledge_in_a_small_bounded_file(server, officer, run_cli,
                                                                    tmp_path):
    # Given 10,000 items (1,000 reports with 9 follow-ups each) in ten exports, all opened
    for n in range(10):
        _many_tips(server, tmp_path, 100, 9)
        run_cli("export", "--unit", "demo", "--out", tmp_path / f"e{n}.tdx", env=server.env(),
                check=True)
        run_cli("officer", "open", tmp_path / f"e{n}.tdx", env=officer, check=True)
    # When the officer writes the acknowledgement
    run_cli("officer", "ack", "--out", tmp_path / "ack.json", env=officer, check=True)
    # Then it is one run of exports, a few hundred bytes
    data = (tmp_path / "ack.json").read_bytes()
    doc = json.loads(data)
    assert doc["version"] == 2 and [run[:2] for run in doc["exports"]] == [[1, 10]]
    assert len(data) < 512, len(data)
    # And the server records every one of the 10,000 items as held
    imported = run_cli("import-ack", tmp_path / "ack.json", env=server.env(), check=True)
    assert "1000 tips, 9000 follow-ups" in imported.stdout, imported.stdout
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as conn:
        not_held = conn.execute("SELECT (SELECT COUNT(*) FROM tips WHERE held_seq = 0) + "
                                "(SELECT COUNT(*) FROM followups WHERE held_seq = 0)").fetchone()
    assert not_held == (0,)
    # And --all, which names everything again, is just as small
    run_cli("officer", "ack", "--all", "--out", tmp_path / "again.json", env=officer, check=True)
    assert len((tmp_path / "again.json").read_bytes()) < 512
