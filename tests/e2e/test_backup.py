"""Backups the server cannot read, restored all or nothing: the whole loop, real processes.

Reports with files, follow-ups, a reply, an export and an acknowledgement →
`tipdrop backup` while submits keep arriving → the data folder wiped →
wrong-key, changed and cut-short backups refused with nothing written →
`tipdrop restore` → every earlier receipt checks and shows its reply, the
acknowledgement and retention state are as they were, follow-ups arrive,
and the next export carries exactly what no export carried yet. No canary
of any report, nor the database in clear, is in the backup file.
"""

import json
import os
import shutil
import sqlite3
import threading
from contextlib import closing

import pytest

from tests.e2e.conftest import assert_clean_error
from tests.serving import multipart
from tipdrop.common import sqlite

pytestmark = pytest.mark.e2e

BACKUP_PASS = {"TIPDROP_PASSPHRASE": "backup passphrase kept offline"}
CANARY = "BACKUP-CANARY"


def _json(server, path, doc):
    status, _, body = server.request("POST", path, json.dumps(doc).encode(),
                                     {"Content-Type": "application/json"})
    return status, json.loads(body)


def _submit(server, text, attachment=None):
    files = [("files", "clip.mp4", "video/mp4", attachment)] if attachment else []
    content_type, data = multipart({"region": "almaty", "category": "corruption",
                                    "description": text}, files)
    status, _, raw = server.request("POST", "/api/v1/tips", data, {"Content-Type": content_type})
    assert status == 201, raw
    return json.loads(raw)["receipt"]


def _check(server, receipt):
    return _json(server, "/api/v1/check", {"receipt": receipt})


def _follow_up(server, receipt, text):
    token = _check(server, receipt)[1]["followup_token"]
    status, added = _json(server, "/api/v1/followups", {"token": token, "text": text})
    assert status == 201, added


def _exported(result):
    assert result.returncode == 0, result.stderr
    return result.stdout.split(" to ")[0]


def _rows(database, tip_ids):
    """Every row that belongs to the tips ``tip_ids``, and the tables without a tip."""
    with closing(sqlite3.connect(database)) as conn:
        ids = json.dumps(sorted(tip_ids))
        where = "IN (SELECT value FROM json_each(?))"
        found = {
            "tips": conn.execute(f"SELECT * FROM tips WHERE id {where} ORDER BY id", [ids]).fetchall()}
        for table in ("followups", "replies", "attachments"):
            found[table] = conn.execute(
                f"SELECT * FROM {table} WHERE tip_id {where} ORDER BY tip_id, 2", [ids]).fetchall()
        found["blob_chunks"] = conn.execute(
            f"SELECT c.* FROM blob_chunks c JOIN attachments a ON a.blob = c.blob "
            f"WHERE a.tip_id {where} ORDER BY c.blob, c.seq", [ids]).fetchall()
        for table in ("meta", "spent_tip_ids"):
            found[table] = conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
    return found


def _tip_ids(database):
    with closing(sqlite3.connect(database)) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM tips")}


def test_a_backup_taken_under_load_restores_everything_the_server_cannot_read_it(
        ceremony, run_cli, tmp_path):
    server, officer = ceremony
    database = server.data_dir / "tipdrop.db"
    env = server.env() | {"TIPDROP_BACKUP_KEY": str(tmp_path / "offline" / "backup.pub")}
    made = run_cli("backup-keygen", "--out", tmp_path / "offline", env=BACKUP_PASS)
    assert made.returncode == 0, made.stderr

    # Given a report with a file and a follow-up, exported, opened, answered and acknowledged
    clip = b"\x00\x00\x00\x18ftypmp42" + os.urandom(300 * 1024)
    first = _submit(server, f"{CANARY} one: the inspector asks for a bribe", clip)
    _follow_up(server, first, f"{CANARY} follow-up: he wore a blue uniform")
    assert _exported(run_cli("export", "--unit", "demo", "--out", tmp_path / "e1.tdx",
                             env=env)) == "exported 1 tips, 1 follow-ups, 1 attachments"
    run_cli("officer", "open", tmp_path / "e1.tdx", env=officer, check=True)
    [tip] = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    run_cli("officer", "reply", tip["id"][:8], "--status", "need-info", "--message",
            "Which office was it?", env=officer, check=True)
    run_cli("officer", "outbox", "--out", tmp_path / "replies.json", env=officer, check=True)
    run_cli("import-replies", tmp_path / "replies.json", env=env, check=True)
    run_cli("officer", "ack", "--out", tmp_path / "ack.json", env=officer, check=True)
    run_cli("import-ack", tmp_path / "ack.json", env=env, check=True)
    # And what no export carried yet: a second report with a file, a later follow-up
    second = _submit(server, f"{CANARY} two: a stolen car in the yard", os.urandom(70 * 1024))
    _follow_up(server, first, f"{CANARY} later: it was office No. 2")

    # When a backup is taken while reporters keep submitting
    during, stop = [], threading.Event()

    def keep_submitting():
        # At most 12: with the 2 before, under TIPDROP_SUBMITS_PER_HOUR (20) for this client.
        while not stop.is_set() and len(during) < 12:
            during.append(_submit(server, f"{CANARY} during the backup"))

    (tmp_path / "backups").mkdir()
    submitter = threading.Thread(target=keep_submitting)
    submitter.start()
    try:
        while len(during) < 2:
            stop.wait(0.05)
        backed = run_cli("backup", "--out", tmp_path / "backups", env=env)
        submitted_while = len(during)
    finally:
        stop.set()
        submitter.join()
    assert backed.returncode == 0, backed.stderr
    assert submitted_while >= 2
    [backup_file] = (tmp_path / "backups").iterdir()
    assert backed.stdout.strip() == f"backup written: {backup_file}"
    assert oct(backup_file.stat().st_mode & 0o777) == "0o600"

    # Then nothing of the data folder is in it in clear
    sealed = backup_file.read_bytes()
    secret = (server.data_dir / "token-secret").read_bytes()
    for clear in (CANARY.encode(), b"SQLite format 3", secret, clip[100:164], b"need-info",
                  tip["id"].encode()):
        assert clear not in sealed

    # When the server dies with its disk, and the data folder is gone
    server.stop()
    before = _rows(database, _tip_ids(database))
    all_before = _tip_ids(database)
    shutil.rmtree(server.data_dir)

    # Then damaged, cut-short and wrong-key backups are refused, and nothing is written
    other = run_cli("backup-keygen", "--out", tmp_path / "other", env=BACKUP_PASS)
    assert other.returncode == 0, other.stderr
    changed = bytearray(sealed)
    changed[len(changed) // 2] ^= 1
    (tmp_path / "changed.tdbackup").write_bytes(changed)
    (tmp_path / "cut.tdbackup").write_bytes(sealed[:-100])
    (tmp_path / "cut-at-chunk.tdbackup").write_bytes(sealed[:28 + 98 + 65552])
    (tmp_path / "not-a-backup").write_bytes(b"hello")
    key = tmp_path / "offline" / "backup.key"
    refusals = [
        (("restore", backup_file, "--key", tmp_path / "other" / "backup.key"), BACKUP_PASS,
         "different key"),
        (("restore", backup_file, "--key", key), {"TIPDROP_PASSPHRASE": "wrong"}, "passphrase"),
        (("restore", tmp_path / "changed.tdbackup", "--key", key), BACKUP_PASS, "tampered"),
        (("restore", tmp_path / "cut.tdbackup", "--key", key), BACKUP_PASS, "damaged"),
        (("restore", tmp_path / "cut-at-chunk.tdbackup", "--key", key), BACKUP_PASS, "cut short"),
        (("restore", tmp_path / "not-a-backup", "--key", key), BACKUP_PASS, "not a tipdrop backup"),
    ]
    for args, passphrase, fragment in refusals:
        assert_clean_error(run_cli(*args, env=env | passphrase), fragment)
        assert not server.data_dir.exists()
        assert [p.name for p in server.data_dir.parent.iterdir()
                if p.name.startswith(".instance")] == []

    # When the genuine backup is restored
    restored = run_cli("restore", backup_file, "--key", key, env=env | BACKUP_PASS)
    assert restored.returncode == 0, restored.stderr
    assert "2 follow-ups, 1 replies" in restored.stdout
    # Then a folder that is no longer empty is refused
    assert_clean_error(run_cli("restore", backup_file, "--key", key, env=env | BACKUP_PASS),
                       "not empty")

    # And every row of every report in the backup is as it was: acknowledgements,
    # export cursors, receipt use, retention days, the files' ciphertext
    kept = _tip_ids(database)
    assert kept <= all_before and len(all_before - kept) < len(during) + 1
    assert _rows(database, kept) == {name: [row for row in rows if _row_kept(name, row, kept)]
                                     for name, rows in before.items()}
    assert oct(server.data_dir.stat().st_mode & 0o777) == "0o700"
    assert (server.data_dir / "token-secret").read_bytes() == secret
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    # When the server starts again on the restored folder
    server.start()
    # Then every earlier receipt checks and shows its reply; follow-ups arrive
    status, checked = _check(server, first)
    assert status == 200 and checked["status"] == "need-info"
    assert [r["message"] for r in checked["replies"]] == ["Which office was it?"]
    assert _check(server, second)[0] == 200
    in_backup = [r for r in during if _check(server, r)[0] == 200]
    assert len(in_backup) == len(kept) - 2
    _follow_up(server, second, f"{CANARY} after the restore")
    # And the next export carries exactly what no export carried before the backup
    assert _exported(run_cli("export", "--unit", "demo", "--out", tmp_path / "e2.tdx", env=env)) \
        == f"exported {1 + len(in_backup)} tips, 2 follow-ups, 1 attachments"
    opened = run_cli("officer", "open", tmp_path / "e2.tdx", env=officer)
    assert opened.returncode == 0, opened.stderr
    listed = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    assert len(listed) == len(kept)


def _row_kept(table, row, kept):
    if table in ("meta", "spent_tip_ids"):
        return True
    if table == "tips":
        return row[0] in kept
    if table == "blob_chunks":
        return True  # compared through the attachments that name them, below
    return row[0] in kept


def test_prune_through_the_command_removes_only_backups_past_the_kept_days(run_cli, tmp_path):
    import datetime

    from tipdrop.crypto import backupkey
    from tipdrop.server import backup, store

    data = tmp_path / "instance"
    store.init(sqlite.connect(data / "tipdrop.db"))
    key = backupkey.generate()
    folder = tmp_path / "backups"
    folder.mkdir()
    now = datetime.datetime.now(datetime.UTC)
    for days in (30, 8, 6, 0):
        backup.write_backup(data, key.public, folder, now=now - datetime.timedelta(days=days))
    (folder / "README").write_text("not a backup")
    env = {"TIPDROP_DATA_DIR": str(data), "TIPDROP_BACKUP_DAYS": "7"}

    pruned = run_cli("backup", "--prune", folder, env=env)
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.strip() == f"pruned 2 backup(s) older than 7 days from {folder}"
    assert sorted(b.created.date() for b in backup.find_backups(folder)) == sorted(
        (now - datetime.timedelta(days=d)).date() for d in (6, 0))
    assert (folder / "README").exists()


def test_backup_refuses_without_a_key_or_a_database_with_one_line(run_cli, tmp_path):
    from tipdrop.server import store

    store.init(sqlite.connect(tmp_path / "instance" / "tipdrop.db"))
    env = {"TIPDROP_DATA_DIR": str(tmp_path / "instance")}
    assert_clean_error(run_cli("backup", "--out", tmp_path / "b.tdbackup", env=env),
                       "TIPDROP_BACKUP_KEY")
    (tmp_path / "bad.pub").write_text("{}")
    assert_clean_error(run_cli("backup", "--out", tmp_path / "b.tdbackup",
                               env=env | {"TIPDROP_BACKUP_KEY": str(tmp_path / "bad.pub")}),
                       "bad.pub")
    made = run_cli("backup-keygen", "--out", tmp_path / "k", env=BACKUP_PASS)
    assert made.returncode == 0, made.stderr
    assert_clean_error(run_cli("backup-keygen", "--out", tmp_path / "k", env=BACKUP_PASS),
                       "already exists")
    keyed = {"TIPDROP_BACKUP_KEY": str(tmp_path / "k" / "backup.pub")}
    assert_clean_error(run_cli("backup", "--out", tmp_path / "b.tdbackup",
                               env={"TIPDROP_DATA_DIR": str(tmp_path / "none")} | keyed),
                       "no tipdrop database")
    assert_clean_error(run_cli("backup", env=env | keyed), "--out")
    assert not (tmp_path / "b.tdbackup").exists() and not (tmp_path / "none").exists()
