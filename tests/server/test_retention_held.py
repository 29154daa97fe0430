"""Retention of what the unit holds: ciphertext it acknowledged goes, the reporter's side stays.

The loop runs in process: a real server database and attachment folder
(tests/protocol/test_bundles.Server), a real workspace opening the real export,
a signed reply and a signed acknowledgement imported through tipdrop.server.exchange,
then tipdrop.server.retention's plan and purge.
"""

from contextlib import closing

import pytest

from tests.protocol.test_bundles import Server
from tests.stored import blob_bytes, blob_exists
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.server import exchange, retention, store

TODAY = "2026-01-10"
EVIDENCE = b"dashcam frame " * 400


@pytest.fixture
def loop(tmp_path, demo_key, astana_key):
    """A demo tip (file, follow-up, a reply) exported, opened, acknowledged; an astana tip not."""
    server = Server(tmp_path / "server", demo_key, astana_key)
    tip, receipt = server.submit("almaty", "Drunk driver outside the school.",
                                 files=[("dashcam.bin", EVIDENCE)])
    server.tips.add_followup(tip_id=tip["id"], text="The plate ended in 017.")
    other, _ = server.submit("astana", "Stolen bicycle.", files=[("bike.bin", EVIDENCE)])
    workspace = Workspace(tmp_path / "cases")
    keyring = Keyring.of(demo_key)
    server.export("demo", tmp_path / "export-1.tdx")
    workspace.open_bundle(tmp_path / "export-1.tdx", keyring)
    workspace.reply(tip["id"], keyring, message="Which school?", status="need-info")
    exchange.import_replies(server.db, server.unit_keys, workspace.pending_bundle(keyring)[0])
    yield server, workspace, keyring, tip["id"], receipt, other["id"], tmp_path
    workspace.close()
    server.db.close()


def acknowledge(server, workspace, keyring, out):
    workspace.write_ack(keyring, out)
    return exchange.import_ack(server.db, server.unit_keys, out.read_bytes())


def ciphertexts(server, tip_id):
    """Every stored ciphertext of one tip: report, follow-ups, file descriptions, files."""
    found = [server.db.execute("SELECT body FROM tips WHERE id = ?", [tip_id]).fetchone()[0]]
    found += [row[0] for row in server.db.execute(
        "SELECT body FROM followups WHERE tip_id = ? AND body IS NOT NULL", [tip_id])]
    for info, blob in server.db.execute(
            "SELECT info, blob FROM attachments WHERE tip_id = ? AND blob IS NOT NULL", [tip_id]):
        found += [info, blob_bytes(server.attachments.parent, blob)]
    return [bytes(c) for c in found]


def slices(data):
    middle = len(data) // 2
    return [data[middle:middle + 32], data[-32:]]


def purge(server, **kwargs):
    return retention.purge(server.db, server.attachments,
                           retention.plan(server.db, today=TODAY, closed_days=90), **kwargs)


def server_files(server):
    folder = server.attachments.parent
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_purge_deletes_acknowledged_ciphertext_and_keeps_what_the_reporter_needs(loop):
    server, workspace, keyring, tip_id, receipt, other, tmp_path = loop
    # Given the unit acknowledged holding the demo tip, and the database file has its pages
    held = ciphertexts(server, tip_id)
    kept = ciphertexts(server, other)
    [blob] = [row[0] for row in server.db.execute(
        "SELECT blob FROM attachments WHERE tip_id = ?", [tip_id])]
    acknowledge(server, workspace, keyring, tmp_path / "ack.json")
    assert store.checkpoint_truncate(server.db)
    assert all(piece in server_files(server) for c in held for piece in slices(c))

    # When purge runs
    result = purge(server)

    # Then the ciphertext the unit holds is gone: rows emptied, the file unlinked
    assert result.tips == 0
    assert result.cleared == {"tips": 1, "followups": 1, "attachments": 1}
    assert result.files == 1 and result.wal_truncated
    assert not blob_exists(server.attachments.parent, blob)
    assert ciphertexts(server, tip_id) == [b""]
    # And no byte of it is left in the database, its log or any other file
    everything = server_files(server)
    for c in held:
        for piece in slices(c):
            assert piece not in everything
    assert (server.attachments.parent / "tipdrop.db-wal").stat().st_size == 0
    # And the unacknowledged tip is whole
    assert ciphertexts(server, other) == kept
    # And the reporter's check still shows the status, the reply and the follow-up count
    checked = server.tips.check(receipt=receipt.formatted)
    assert checked.status == "need-info"
    assert [(r.seq, r.message) for r in checked.replies] == [(1, "Which school?")]
    assert checked.followups == 1
    with closing(server.db.conn.cursor()) as cursor:
        assert cursor.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_followups_after_the_ack_stay_until_a_later_ack_covers_them(loop):
    server, workspace, keyring, tip_id, receipt, _, tmp_path = loop
    acknowledge(server, workspace, keyring, tmp_path / "ack-1.json")
    purge(server)
    # Given the reporter answers after the acknowledgement
    server.tips.add_followup(tip_id=tip_id, text="It was School No. 12.")
    [answer] = [c for c in ciphertexts(server, tip_id) if c]
    # When purge runs again, the answer stays: the unit does not have it yet
    assert purge(server).cleared == {"tips": 0, "followups": 0, "attachments": 0}
    assert answer in ciphertexts(server, tip_id)
    # And once exported, opened and acknowledged, it goes too
    server.export("demo", tmp_path / "export-2.tdx")
    workspace.open_bundle(tmp_path / "export-2.tdx", keyring)
    counts = acknowledge(server, workspace, keyring, tmp_path / "ack-2.json")
    assert counts["followups"] == 1
    assert purge(server).cleared == {"tips": 0, "followups": 1, "attachments": 0}
    assert ciphertexts(server, tip_id) == [b""]
    # And the follow-ups keep their numbers: the next one is number 3
    assert server.tips.add_followup(tip_id=tip_id, text="One more thing.") == 3


def test_the_plan_counts_the_held_ciphertext_and_changes_nothing(loop):
    server, workspace, keyring, tip_id, _, other, tmp_path = loop
    acknowledge(server, workspace, keyring, tmp_path / "ack.json")
    before = ciphertexts(server, tip_id)
    found = retention.plan(server.db, today=TODAY, closed_days=90)
    assert found.held == {"tips": 1, "followups": 1, "attachments": 1}
    assert found.tips == ()
    assert ciphertexts(server, tip_id) == before


def test_a_tip_purged_whole_is_not_counted_as_held_ciphertext(loop):
    server, workspace, keyring, tip_id, _, _, tmp_path = loop
    acknowledge(server, workspace, keyring, tmp_path / "ack.json")
    server.db.execute("UPDATE tips SET status = 'closed', status_day = '2020-01-01' "
                      "WHERE id = ?", [tip_id])
    found = retention.plan(server.db, today=TODAY, closed_days=90)
    assert [c.tip_id for c in found.tips] == [tip_id]
    assert found.held == {"tips": 0, "followups": 0, "attachments": 0}
    result = retention.purge(server.db, server.attachments, found)
    assert (result.tips, result.files) == (1, 1)


def test_a_since_start_export_after_the_purge_opens_and_loses_nothing(loop, demo_key):
    server, workspace, keyring, tip_id, _, _, tmp_path = loop
    acknowledge(server, workspace, keyring, tmp_path / "ack.json")
    purge(server)
    before = workspace.show(tip_id, keyring)
    server.tips.add_followup(tip_id=tip_id, text="Later: it was School No. 12.")
    # When the unit asks for everything again
    exchange.export_unit(server.db, server.attachments, unit="demo",
                         out=tmp_path / "again.tdx", since_start=True)
    counts = workspace.open_bundle(tmp_path / "again.tdx", keyring)
    # Then it opens: only the later follow-up is new, nothing lost, everything still decrypts
    assert counts == {"tips": 0, "followups": 1, "attachments": 0, "already_opened": False,
                      "unavailable": 0, "damaged": 0}
    after = workspace.show(tip_id, keyring, save_to=tmp_path / "evidence")
    assert after["report"] == before["report"]
    assert [f["text"] for f in after["followups"]] == [
        f["text"] for f in before["followups"]] + ["Later: it was School No. 12."]
    assert [p.read_bytes() for p in (tmp_path / "evidence").iterdir()] == [EVIDENCE]
    # And a new workspace, which never had the tip, skips it (and its later follow-up)
    # and still opens the bundle
    fresh = Workspace(tmp_path / "new-cases")
    try:
        counts = fresh.open_bundle(tmp_path / "again.tdx", keyring)
        assert (counts["tips"], counts["followups"], counts["unavailable"]) == (0, 0, 1)
        assert fresh.list() == []
    finally:
        fresh.close()


def test_a_tip_whose_held_ciphertext_was_cleared_is_later_purged_whole(loop):
    server, workspace, keyring, tip_id, _, _, tmp_path = loop
    # Given an acknowledged tip whose ciphertext a first purge already cleared
    acknowledge(server, workspace, keyring, tmp_path / "ack.json")
    purge(server)
    assert server.db.execute("SELECT blob FROM attachments WHERE tip_id = ?",
                             [tip_id]).fetchone()[0] is None
    # When the officer closes it and its time is up
    server.db.execute("UPDATE tips SET status = 'closed', status_day = '2020-01-01' "
                      "WHERE id = ?", [tip_id])
    result = purge(server)
    # Then the rest of it goes too, with no file left to remove, and the WAL is emptied
    assert (result.tips, result.files) == (1, 0)
    assert server.db["tips"].count_where("id = ?", [tip_id]) == 0
    wal = server.attachments.parent / "tipdrop.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_the_id_of_a_purged_tip_can_never_be_taken_again(loop):
    from tipdrop.server import sealed
    from tipdrop.server.sealed import SealedFormatError

    server, workspace, keyring, tip_id, _, _, tmp_path = loop
    server.db.execute("UPDATE tips SET status = 'closed', status_day = '2020-01-01' "
                      "WHERE id = ?", [tip_id])
    assert purge(server).tips == 1
    # A device that knows the old id (its reporter had the receipt) tries to reuse it
    with pytest.raises(SealedFormatError, match="already used"):
        sealed.start(server.tips, fields={"region": "almaty", "tip_id": tip_id}, max_stream=1024)
    # And the tombstone is a digest: the id itself is not kept
    assert tip_id.encode() not in server_files(server)


def test_a_second_workspace_skips_news_of_a_tip_another_one_acknowledged(loop, tmp_path):
    server, workspace, keyring, tip_id, _, _, _ = loop
    # Given the first workspace acknowledged the tip and the server cleared it
    acknowledge(server, workspace, keyring, tmp_path / "ack.json")
    purge(server)
    # And a second workspace opens everything there is
    second = Workspace(tmp_path / "second")
    try:
        exchange.export_unit(server.db, server.attachments, unit="demo",
                             out=tmp_path / "since-start.tdx", since_start=True)
        assert second.open_bundle(tmp_path / "since-start.tdx", keyring)["unavailable"] == 1
        # When the reporter adds something and the next regular export carries it
        server.tips.add_followup(tip_id=tip_id, text="One more detail.")
        server.export("demo", tmp_path / "export-2.tdx")
        # Then the second workspace opens it, skipping what it cannot have
        counts = second.open_bundle(tmp_path / "export-2.tdx", keyring)
        assert (counts["followups"], counts["unavailable"]) == (0, 1)
        # And the first one, which holds the tip, gets the follow-up
        assert workspace.open_bundle(tmp_path / "export-2.tdx", keyring)["followups"] == 1
    finally:
        second.close()
