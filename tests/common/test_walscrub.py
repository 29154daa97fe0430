"""Emptying a database's log without leaving its old bytes (tipdrop/common/walscrub.py).

These tests look at the files; tests/server/test_seized_disk.py looks at the
raw disk under them, free blocks included, after a real purge.
"""

import os
import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest

from tipdrop.common import sqlite, walscrub


def _with_deleted_rows(tmp_path, rows=2000, page_size=None):
    """A database whose log holds ``rows`` rows marked CANARY, deleted since (secure_delete).

    ``page_size``: that of a database made by an older tipdrop (4096), not 64 KiB.
    """
    if page_size is not None:
        with closing(sqlite3.connect(tmp_path / "t.db")) as old:
            old.execute(f"PRAGMA page_size={int(page_size)}")
            old.execute("VACUUM")
    db = sqlite.connect(tmp_path / "t.db")
    db.execute("CREATE TABLE t (b BLOB)")
    db.execute("BEGIN")
    for i in range(rows):
        db.execute("INSERT INTO t VALUES (?)", [b"CANARY%06d" % i + os.urandom(3000)])
    db.execute("COMMIT")
    db.execute("DELETE FROM t")
    return db, tmp_path / "t.db-wal"


@pytest.mark.parametrize("page_size", [None, 4096], ids=["64k-pages", "4k-pages"])
def test_the_log_is_written_over_with_zeros_up_to_past_its_old_end(tmp_path, page_size):
    # The step before the truncation: what the freed blocks will hold.
    db, log = _with_deleted_rows(tmp_path, page_size=page_size)
    before = log.stat().st_size
    assert log.read_bytes().count(b"CANARY") == 2000
    (page,) = db.execute("PRAGMA page_size").fetchone()
    assert page == (page_size or 65536)
    zeroed = walscrub._overwrite(db, str(log), 24 + page, page)
    data = log.read_bytes()
    assert zeroed == len(data)
    assert b"CANARY" not in data and len(data) > before
    db.close()


def test_emptying_the_log_leaves_the_database_as_it_was_and_the_log_empty(tmp_path):
    db, log = _with_deleted_rows(tmp_path)
    db.execute("INSERT INTO t VALUES (x'4b455054')")  # KEPT
    (pages,) = db.execute("PRAGMA page_count").fetchone()
    assert walscrub.empty_log(db)
    assert log.stat().st_size == 0
    assert db.execute("PRAGMA page_count").fetchone() == (pages,)
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("t",)]
    assert db.execute("SELECT b FROM t").fetchall() == [(b"KEPT",)]
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    data = (tmp_path / "t.db").read_bytes()
    assert b"CANARY" not in data and b"KEPT" in data
    db.close()


def test_a_reader_in_the_log_keeps_it_whole_and_the_next_try_empties_it(tmp_path):
    db, log = _with_deleted_rows(tmp_path, rows=200)
    db.execute("PRAGMA busy_timeout=100")
    size = log.stat().st_size
    with closing(sqlite3.connect(tmp_path / "t.db", isolation_level=None)) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM t").fetchone()
        assert not walscrub.empty_log(db)
        assert log.stat().st_size >= size  # not cut short
        reader.execute("COMMIT")
    assert walscrub.empty_log(db)
    assert log.stat().st_size == 0
    db.close()


_WRITER = """
import sys
from tipdrop.common import sqlite
db = sqlite.connect(sys.argv[1])
for i in range(400):
    db.execute("INSERT INTO t VALUES (randomblob(20000))")
print("ok")
"""


def test_a_writer_in_another_process_loses_nothing_while_the_log_is_emptied(tmp_path):
    # Given another process committing rows one by one
    db, _ = _with_deleted_rows(tmp_path, rows=500)
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path / "t.db")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # When the log is emptied again and again meanwhile
    emptied = 0
    while writer.poll() is None:
        emptied += walscrub.empty_log(db)
    out, err = writer.communicate(timeout=60)
    # Then every row it wrote is there, the database is whole, and the log emptied
    assert (writer.returncode, out.strip(), err) == (0, "ok", "")
    assert emptied > 0
    assert db.execute("SELECT COUNT(*) FROM t").fetchone() == (400,)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()


_BURST = """
import sys
from tipdrop.common import sqlite
db = sqlite.connect(sys.argv[1])
sys.stdin.readline()
db.execute("BEGIN IMMEDIATE")
print("writing", flush=True)
for i in range(60):
    db.execute("INSERT INTO t VALUES (?)", [b"UPLOADED" * 12500])
db.execute("COMMIT")
print("ok")
"""


@pytest.mark.parametrize("when", ["as-it-starts", "after-the-zeros"])
def test_frames_another_process_adds_while_the_log_is_emptied_are_written_over_too(tmp_path,
                                                                                   when):
    # Given another process that commits a large upload (6 MB, in one
    # transaction) as the log's emptying starts (its first statement), or
    # once the zeros were written and rolled back (the next statement)
    db, log = _with_deleted_rows(tmp_path, rows=200)
    writer = subprocess.Popen([sys.executable, "-c", _BURST, str(tmp_path / "t.db")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    seen, said = [], []

    def at_statement(sql):
        if not said and (not seen if when == "as-it-starts" else seen[-1:] == ["ROLLBACK"]):
            writer.stdin.write("go\n")
            writer.stdin.flush()
            said.append(writer.stdout.readline())  # it holds the write lock
            if when == "after-the-zeros":
                said.append(writer.stdout.readline())  # it committed
        if "TRUNCATE" in sql:  # what the blocks it frees hold
            seen.append(log.read_bytes().count(b"UPLOADED"))
        seen.append(sql)

    db.conn.set_trace_callback(at_statement)
    # When it is emptied
    emptied = walscrub.empty_log(db)
    db.conn.set_trace_callback(None)
    out, err = writer.communicate(timeout=30)
    assert (writer.returncode, "".join(said) + out, err) == (0, "writing\nok\n", "")
    # Then none of the upload's frames was left in the log past the zeros
    # when it was cut short
    copies = [n for n in seen if isinstance(n, int)]
    assert (emptied, copies) == (True, [0])
    assert log.stat().st_size == 0
    assert db.execute("SELECT COUNT(*) FROM t").fetchone() == (60,)  # the others were deleted
    db.close()


def test_closing_through_close_empties_the_log_first_and_a_closed_one_is_left_alone(tmp_path):
    db, log = _with_deleted_rows(tmp_path, rows=200)
    other = sqlite.connect(tmp_path / "t.db")  # so the log outlives the close
    assert walscrub.close(db) is True
    assert log.stat().st_size == 0
    assert walscrub.close(db) is False
    other.close()
