"""`tipdrop officer backup`: a whole, consistent copy of a workspace in use (backing.py).

Real workspaces opened from real exports, with a note, a reply and the
audit log; the workspace's connection stays open with its last
transactions still in ``workspace.db-wal``, as the officer app keeps it.
"""

import shutil
import sqlite3
import stat

import pytest

from tests.protocol.test_bundles import Server
from tipdrop.officer.backing import BackupFolderError, BackupWaitsError, back_up
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.opening import one_import
from tipdrop.officer.workspace import Workspace


@pytest.fixture
def workspace(tmp_path, demo_key, astana_key):
    """A workspace in use: a tip with a file, a note and a reply, the connection open."""
    server = Server(tmp_path / "server", demo_key, astana_key)
    tip, _ = server.submit("almaty", "Copper cable cut at the depot.",
                           files=[("cable.bin", b"\x00cable" * 4000)])
    server.export("demo", tmp_path / "demo.tdx")
    server.db.close()
    opened = Workspace(tmp_path / "cases")
    keyring = Keyring.of(demo_key)
    opened.open_bundle(tmp_path / "demo.tdx", keyring)
    opened.add_note(tip["id"], "Called the depot's guard.", keyring)
    opened.reply(tip["id"], keyring, message="Thank you, we are checking.")
    (opened.dir / "reply-templates.json").write_text('{"version": 1, "templates": {}}')
    yield opened, tip["id"], keyring
    opened.close()


def _what_it_shows(workspace, tip_id, keyring):
    shown = workspace.show(tip_id, keyring, mark_read=False)
    return {k: shown[k] for k in ("tip", "report", "notes", "replies", "attachments")}


def test_a_backup_of_a_workspace_in_use_opens_as_the_same_workspace(workspace, tmp_path):
    source, tip_id, keyring = workspace
    # The last writes are still in the log file (-wal): a copy of workspace.db alone lacks them.
    assert (source.dir / "workspace.db-wal").stat().st_size > 0
    shutil.copy(source.dir / "workspace.db", tmp_path / "naive.db")

    # When the workspace is backed up while its connection is open
    done = back_up(source, tmp_path / "backup")

    # Then every file is the officer's alone, the database one file with no log beside it
    assert (done["tips"], done["attachments"]) == (1, 1)
    for path in (tmp_path / "backup").rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    assert not list((tmp_path / "backup").glob("workspace.db-*"))
    # and the copy opens as a workspace showing the same tip, note, reply and file
    copy = Workspace(tmp_path / "backup")
    try:
        assert _what_it_shows(copy, tip_id, keyring) == _what_it_shows(source, tip_id, keyring)
        out = tmp_path / "saved"
        [file] = copy.show(tip_id, keyring, save_to=out, mark_read=False)["attachments"]
        assert (out / file["saved_to"].rsplit("/", 1)[1]).read_bytes() == b"\x00cable" * 4000
        # and its audit log verifies, with every entry of the workspace's
        assert [e["hash"] for e in copy.audit.verify(keyring)] == \
            [e["hash"] for e in source.audit.entries()]
    finally:
        copy.close()
    assert (tmp_path / "backup" / "reply-templates.json").exists()
    # (the premise: the database file copied on its own had not the last writes)
    naive = sqlite3.connect(tmp_path / "naive.db")
    tables = {name for (name,) in naive.execute("SELECT name FROM sqlite_master")}
    assert "notes" not in tables or naive.execute("SELECT COUNT(*) FROM notes").fetchone() == (0,)
    naive.close()


def test_a_backup_never_writes_into_a_folder_that_holds_files_or_into_the_workspace(
        workspace, tmp_path):
    source, _, _ = workspace
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    for out in (taken, source.dir, source.dir / "inside"):
        with pytest.raises(BackupFolderError):
            back_up(source, out)
    assert [p.name for p in taken.iterdir()] == ["keep.txt"]
    assert not (source.dir / "inside").exists()


def test_a_backup_waits_for_no_import_it_is_refused_while_one_runs(workspace, tmp_path):
    source, _, _ = workspace
    other = Workspace(source.dir)
    try:
        with one_import(other):  # a bundle being opened by the app
            with pytest.raises(BackupWaitsError):
                back_up(source, tmp_path / "backup")
    finally:
        other.close()
    assert not (tmp_path / "backup").exists()
    assert back_up(source, tmp_path / "backup")["tips"] == 1
