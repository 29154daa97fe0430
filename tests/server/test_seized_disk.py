"""A seized disk (docs/threat-model.md, "Deleted means gone"): purged reports are not in its free blocks.

The data folder lives on a real ext4 file system, made in an image file and
mounted through a loop device (CI runs as root; so must this test); after a
real server has stopped and a real ``tipdrop purge`` has run, the file
system is unmounted and the raw image, free blocks included, is searched
the way a carving tool would.
"""

import os
import subprocess
from contextlib import contextmanager

import pytest

from tests.server.test_retention import _closed_tips, _hex_words
from tests.serving import TIPDROP, start_server
from tipdrop.common import sqlite

IMAGE_MIB = 160


@contextmanager
def _mounted_ext4(tmp_path):
    """An empty ext4 file system in ``tmp_path``/disk.img, mounted; yields (image, mount point)."""
    image, mount = tmp_path / "disk.img", tmp_path / "mnt"
    mount.mkdir()
    with open(image, "wb") as f:
        f.truncate(IMAGE_MIB * 1024 * 1024)
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", str(image)], check=True,
                   capture_output=True)
    done = subprocess.run(["mount", "-o", "loop", str(image), str(mount)], capture_output=True,
                          text=True)
    assert done.returncode == 0, f"this test mounts an ext4 image as root: {done.stderr}"
    try:
        yield image, mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("purge_while", ["server-runs", "server-stopped"])
def test_no_id_or_locator_of_a_purged_tip_is_left_in_the_free_blocks_of_the_disk(
        tmp_path, purge_while):
    # Truncating the WAL after a purge, or deleting it when the last
    # connection closed, gave its blocks back to the file system with their
    # bytes in them: the pages as they were when the reports were written.
    # Seen before the fix: every one of these purged ids and locators in the
    # raw image, none in any file (the review: 8,998 of 10,000 ids).
    with _mounted_ext4(tmp_path) as (image, mount):
        # Given a server whose data folder is on ext4, and 10,000 tips written
        # while it runs (straight into its database: Argon2 is not the point),
        # every other one due
        server = start_server(mount)
        try:
            database = sqlite.connect(server.data_dir / "tipdrop.db")
            _closed_tips(database, 10_000)
            database.execute("UPDATE tips SET status = 'in-review' WHERE rowid % 2 = 0")
            database.execute("UPDATE tips SET status_day = '2020-01-01'")
            purged = database.execute(
                "SELECT id, locator FROM tips WHERE status = 'closed'").fetchall()
            kept = database.execute(
                "SELECT id, locator FROM tips WHERE status != 'closed'").fetchall()
            database.close()
            # When a real `tipdrop purge` deletes them, while the server runs
            # or once it has stopped as an operator stops it (SIGTERM)
            if purge_while == "server-stopped":
                server.stop()
            _purge(server.data_dir, expected=5000)
        finally:
            server.stop()
    # Then the raw disk, free blocks and all, holds none of their ids or locators
    raw = _hex_words(image.read_bytes())
    assert [value for row in purged for value in row if value in raw] == []
    # (and the search does see what is stored: every tip that stays is found)
    assert all(value in raw for row in kept for value in row)


def _purge(folder, expected):
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIPDROP_")}
    env |= {"TIPDROP_DATA_DIR": str(folder)}
    result = subprocess.run([str(TIPDROP), "purge"], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"purged {expected} of")


def test_the_log_is_not_cut_short_after_a_checkpoint(tmp_path):
    # SQLite's journal_size_limit trims the -wal file back to the limit at the
    # first commit after a checkpoint: the trimmed blocks go back to the file
    # system unwritten, with reports' pages in them that a later purge
    # cannot reach. The log is reused in place instead.
    db = sqlite.connect(tmp_path / "tipdrop.db")
    assert db.execute("PRAGMA journal_size_limit").fetchone() == (-1,)
    db.execute("CREATE TABLE t (b BLOB)")
    db.execute("INSERT INTO t VALUES (zeroblob(72 * 1024 * 1024))")  # past the old 64 MiB
    grown = (tmp_path / "tipdrop.db-wal").stat().st_size
    db.execute("PRAGMA wal_checkpoint(RESTART)")
    db.execute("INSERT INTO t VALUES (1)")
    assert (tmp_path / "tipdrop.db-wal").stat().st_size == grown
    db.close()

