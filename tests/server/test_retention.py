"""Retention (docs/design.md, invariant 9): the plan picks exactly the tips due, and purging leaves nothing.

Tips are written straight into a real database file through tipdrop.server.store
(their bodies are random bytes standing in for ciphertext); the receipt rule
is exercised through tips.Tips.check, which records the day a receipt was used.
"""

import datetime
import os
import re
import secrets
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from tipdrop.common import sqlite
from tipdrop.crypto import kdf
from tipdrop.protocol.fields import STATUSES
from tipdrop.protocol.report import Report
from tipdrop.protocol.routing import Routing
from tipdrop.server import attachments, retention, store
from tipdrop.server.store import deletion
from tipdrop.server.tips import Tips
from tipdrop.server.unitkeys import UnitKeys

TODAY = "2024-06-30"
DAYS = 90
CUTOFF = "2024-04-01"  # TODAY - 90 days: closed on this day or before is due
OPEN_STATUSES = [s for s in STATUSES if s not in retention.CLOSED_STATUSES]


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "instance"
    (path / "attachments").mkdir(parents=True)
    return path


@pytest.fixture
def db(data_dir):
    database = sqlite.connect(data_dir / "tipdrop.db")
    store.init(database)
    yield database
    database.close()


def add_tip(db, data_dir, *, status, status_day, used=TODAY, exported=True, files=0,
            followups=0, unexported_child=None, legacy_files=False):
    """Store a tip with random 'ciphertext'; returns (tip id, every secret byte string).

    Its files are blobs in the database, or with ``legacy_files`` files in
    attachments/ as tipdrop stored them before version 6.
    """
    tip_id = secrets.token_hex(16)
    body = b"TIP-BODY" + os.urandom(600)
    secret_bytes = [body]
    tip = {
        "id": tip_id, "unit": "demo", "key_id": "00" * 8, "region": "astana",
        "category": "theft", "received_day": "2024-01-01", "status": status,
        "status_day": status_day, "locator": secrets.token_hex(4), "receipt_salt": os.urandom(16),
        "receipt_params": "{}", "verifier": os.urandom(32), "reply_public": os.urandom(32),
        "body": body, "encrypted_on": "server", "export_seq": 1 if exported else 0,
        "receipt_used_day": used,
    }
    rows = []
    for n in range(1, files + 1):
        content = b"BLOB" + os.urandom(5000)
        if legacy_files:
            blob = secrets.token_hex(16) + ".bin"
            (data_dir / "attachments" / blob).write_bytes(content)
        else:
            writer = attachments.BlobWriter(db, "2024-01-01")
            writer.write(content)
            writer.close()
            blob = writer.blob
        info = os.urandom(80)
        secret_bytes += [content[:64], info]
        rows.append({"tip_id": tip_id, "part": f"a{n}", "info": info, "blob": blob,
                     "size": len(content), "export_seq": 0 if unexported_child == "file" else 1})
    store.insert_tip(db, tip, rows)
    for n in range(1, followups + 1):
        message = os.urandom(300)
        secret_bytes.append(message)
        db["followups"].insert({"tip_id": tip_id, "seq": n, "body": message,
                                "received_day": "2024-01-02",
                                "export_seq": 0 if unexported_child == "followup" else 1})
    reply = os.urandom(200)
    secret_bytes.append(reply)
    db["replies"].insert({"tip_id": tip_id, "seq": 1, "day": status_day, "status": status,
                          "body": reply, "signature": os.urandom(64), "key_id": "00" * 8})
    return tip_id, secret_bytes


def planned(db, days=DAYS):
    return {c.tip_id: c.rule for c in retention.plan(db, today=TODAY, closed_days=days).tips}


def day_before(day, n=1):
    return (datetime.date.fromisoformat(day) - datetime.timedelta(days=n)).isoformat()


@pytest.mark.parametrize("status", retention.CLOSED_STATUSES)
def test_plan_takes_tips_closed_on_the_cutoff_day_or_before_and_not_a_day_later(
        db, data_dir, status):
    on_cutoff, _ = add_tip(db, data_dir, status=status, status_day=CUTOFF)
    before, _ = add_tip(db, data_dir, status=status, status_day=day_before(CUTOFF))
    after, _ = add_tip(db, data_dir, status=status, status_day="2024-04-02")
    assert planned(db) == {on_cutoff: "expired", before: "expired"}
    assert after not in planned(db)


def test_the_retention_time_moves_the_cutoff(db, data_dir):
    tip, _ = add_tip(db, data_dir, status="closed", status_day="2024-06-20")
    # (closed 10 days before TODAY)
    assert planned(db, days=11) == {}
    assert planned(db, days=10) == {tip: "expired"}
    assert planned(db, days=1) == {tip: "expired"}


@pytest.mark.parametrize("status", OPEN_STATUSES)
def test_tips_never_closed_are_never_purged(db, data_dir, status):
    # Ancient, exported, receipt never used: everything but a closing status
    add_tip(db, data_dir, status=status, status_day="2001-01-01", used=None, files=1)
    assert planned(db, days=1) == {}


def test_closed_exported_tip_whose_receipt_was_never_used_goes_at_once(db, data_dir):
    tip, _ = add_tip(db, data_dir, status="unfounded", status_day=TODAY, used=None, files=1,
                     followups=1)
    assert planned(db) == {tip: "unused"}


@pytest.mark.parametrize("case", ["receipt used", "tip not exported", "file not exported",
                                  "follow-up not exported"])
def test_unused_receipt_rule_needs_all_of_it_exported_and_the_receipt_unused(
        db, data_dir, case):
    add_tip(db, data_dir, status="closed", status_day=TODAY, files=1, followups=1,
            used=TODAY if case == "receipt used" else None,
            exported=case != "tip not exported",
            unexported_child={"file not exported": "file",
                              "follow-up not exported": "followup"}.get(case))
    assert planned(db) == {}


@pytest.mark.parametrize("days", [0, -1, 36501, "90", True])
def test_a_retention_time_out_of_range_is_refused(db, days):
    with pytest.raises(retention.RetentionDaysError):
        retention.plan(db, today=TODAY, closed_days=days)


def _snapshot(db, data_dir):
    tables = {name: sorted(map(repr, db.execute(f"SELECT * FROM {name}").fetchall()))
              for name in db.table_names()}
    files = {p.relative_to(data_dir): p.read_bytes() for p in data_dir.rglob("*") if p.is_file()}
    return tables, files


def test_a_dry_run_changes_nothing(db, data_dir):
    # Given tips due for both rules, and tips that stay
    add_tip(db, data_dir, status="closed", status_day="2023-01-01", files=2, followups=1)
    add_tip(db, data_dir, status="duplicate", status_day=TODAY, used=None, files=1)
    add_tip(db, data_dir, status="received", status_day=TODAY)
    before = _snapshot(db, data_dir)
    # When the plan is made (what `tipdrop purge --dry-run` prints)
    found = retention.plan(db, today=TODAY, closed_days=DAYS)
    # Then it lists two tips, and no row and no byte of any file changed
    assert found.counts() == {"expired": 1, "unused": 1}
    assert _snapshot(db, data_dir) == before


@pytest.mark.parametrize("legacy", [False, True], ids=["files-in-database", "legacy-files"])
def test_purge_leaves_no_byte_of_a_purged_tip_in_the_database_or_the_folder(db, data_dir, legacy):
    # Given a tip due for purging, with files, follow-ups and a reply, and one that stays
    gone, secret_bytes = add_tip(db, data_dir, status="confirmed", status_day="2023-12-01",
                                 files=2, followups=2, legacy_files=legacy)
    kept, kept_bytes = add_tip(db, data_dir, status="in-review", status_day="2023-12-01",
                               files=1, legacy_files=legacy)
    # (its pages also reach the main file, not only the WAL)
    assert store.checkpoint_truncate(db)
    blobs = sorted(p.name for p in (data_dir / "attachments").glob("*.bin"))
    # When it is purged
    result = retention.purge(db, data_dir / "attachments",
                             retention.plan(db, today=TODAY, closed_days=DAYS))
    # Then its rows and files are gone, the other tip is whole, the WAL is empty
    assert (result.tips, result.files, result.wal_truncated) == (1, 2, True)
    assert store.get_tip(db, gone) is None and store.get_tip(db, kept) is not None
    for table in ("attachments", "followups", "replies"):
        assert db.execute(f"SELECT tip_id FROM {table} WHERE tip_id = ?", [gone]).fetchall() == []
    if legacy:
        assert len(list((data_dir / "attachments").glob("*.bin"))) == 1 < len(blobs)
    else:
        assert blobs == [] and db["blobs"].count == 1 and db["blob_chunks"].count == 1
    # And not one of its secret byte strings is left in any file
    everything = b"".join(p.read_bytes() for p in data_dir.rglob("*") if p.is_file())
    for secret in secret_bytes:
        assert secret[:32] not in everything
    assert (data_dir / "tipdrop.db-wal").stat().st_size == 0
    assert all(secret[:32] in everything for secret in kept_bytes)
    with closing(sqlite3.connect(data_dir / "tipdrop.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_tip_reopened_after_the_plan_was_made_is_kept(db, data_dir):
    tip, _ = add_tip(db, data_dir, status="closed", status_day="2023-01-01")
    found = retention.plan(db, today=TODAY, closed_days=DAYS)
    db.execute("UPDATE tips SET status = 'in-review', status_day = ? WHERE id = ?", [TODAY, tip])
    assert retention.purge(db, data_dir / "attachments", found).tips == 0
    assert store.get_tip(db, tip) is not None


def test_purge_refuses_to_run_with_secure_delete_off(db, data_dir):
    tip, _ = add_tip(db, data_dir, status="closed", status_day="2023-01-01")
    db.execute("PRAGMA secure_delete=OFF")
    with pytest.raises(retention.SecureDeleteOffError):
        retention.purge(db, data_dir / "attachments",
                        retention.plan(db, today=TODAY, closed_days=DAYS))
    assert store.get_tip(db, tip) is not None


def test_a_reader_holding_the_wal_is_reported_and_the_next_run_truncates_it(db, data_dir):
    add_tip(db, data_dir, status="closed", status_day="2023-01-01")
    db.execute("PRAGMA busy_timeout=100")
    with closing(sqlite3.connect(data_dir / "tipdrop.db", isolation_level=None)) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM tips").fetchone()
        result = retention.purge(db, data_dir / "attachments",
                                 retention.plan(db, today=TODAY, closed_days=DAYS))
        assert (result.tips, result.wal_truncated) == (1, False)
        reader.execute("COMMIT")
    again = retention.purge(db, data_dir / "attachments",
                            retention.plan(db, today=TODAY, closed_days=DAYS))
    assert (again.tips, again.wal_truncated) == (0, True)
    assert (data_dir / "tipdrop.db-wal").stat().st_size == 0


def test_purge_in_small_batches_deletes_everything_due(db, data_dir):
    due = {add_tip(db, data_dir, status="closed", status_day="2023-01-01", files=1)[0]
           for _ in range(7)}
    result = retention.purge(db, data_dir / "attachments",
                             retention.plan(db, today=TODAY, closed_days=DAYS), batch=3)
    assert (result.tips, result.files) == (7, 7)
    assert not any(store.get_tip(db, tip) for tip in due)


def test_a_batch_holds_at_most_its_bytes_of_files_and_a_larger_tip_goes_alone(db, data_dir):
    # Given five tips due, each with a 5 KiB file, stored in this order
    tips = [add_tip(db, data_dir, status="closed", status_day="2023-01-01", files=1)[0]
            for _ in range(5)]
    # When they are cut into batches of at most 4 tips and 11,000 bytes of files,
    # named in another order than they were stored
    chunks = deletion.batches(db, sorted(tips), tips=4, size=11_000)
    # Then each batch holds two files' worth, in the order the tips were stored
    assert chunks == [tips[0:2], tips[2:4], tips[4:5]]
    # And a tip whose files alone pass the limit still goes, in a batch of its own
    assert deletion.batches(db, tips, tips=4, size=100) == [[tip] for tip in tips]
    assert deletion.batches(db, tips[:3], tips=2, size=10**9) == [tips[0:2], tips[2:3]]


def _closed_tips(db, count):
    """``count`` closed tips past the retention time, written in bulk (2 KB bodies)."""
    rows = [(secrets.token_hex(16), "demo", "00" * 8, "astana", "theft", "2023-01-01",
             "closed", "2023-01-01", secrets.token_hex(8), os.urandom(16), "{}",
             os.urandom(32), os.urandom(32), os.urandom(2048), "server")
            for _ in range(count)]
    db.execute("PRAGMA synchronous=OFF")
    with sqlite.transaction(db):
        db.conn.executemany(
            "INSERT INTO tips (id, unit, key_id, region, category, received_day, status,"
            " status_day, locator, receipt_salt, receipt_params, verifier, reply_public, body,"
            " encrypted_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.execute("PRAGMA synchronous=FULL")


def _bytes_written_per_tip(tmp_path, count):
    folder = tmp_path / str(count)
    (folder / "attachments").mkdir(parents=True)
    database = sqlite.connect(folder / "tipdrop.db")
    store.init(database)
    _closed_tips(database, count)
    found = retention.plan(database, today=TODAY, closed_days=DAYS)

    def written():
        return int(dict(line.split(": ") for line in
                        Path("/proc/self/io").read_text().splitlines())["wchar"])

    before = written()
    assert retention.purge(database, folder / "attachments", found).tips == count
    per_tip = (written() - before) / count
    database.close()
    return per_tip


def test_a_purge_writes_as_much_per_tip_for_ten_thousand_tips_as_for_a_thousand(tmp_path):
    # Every page a delete changes is copied whole (64 KiB) into the WAL: taken
    # in their plan's order, each tip of a large purge changed pages of its own
    # (and the page cache spilled them), so the bytes written per tip grew
    # with the number of tips (5.5 times from 1,000 to 10,000 tips).
    small = _bytes_written_per_tip(tmp_path, 1_000)
    large = _bytes_written_per_tip(tmp_path, 10_000)
    assert large < 2 * small


# --- the receipt-used day, and the migration that adds it ------------------------


def test_an_older_database_gets_the_column_and_its_receipts_count_as_used(db, data_dir):
    # Given a version-1 database (no receipt_used_day) holding a tip
    tip, _ = add_tip(db, data_dir, status="closed", status_day=TODAY, used=None)
    db.execute("ALTER TABLE tips DROP COLUMN receipt_used_day")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    # When it is opened by this version, twice
    store.init(db)
    store.init(db)
    # Then the column is there and the old tip is not taken for one nobody came back to
    assert db.execute("SELECT receipt_used_day FROM tips WHERE id = ?", [tip]).fetchone() == (
        "2024-01-01",)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(store.SCHEMA_VERSION),)
    assert planned(db) == {}


def test_a_successful_check_records_only_the_first_day_of_use(db, data_dir, unit_key):
    day = {"now": "2024-05-30"}
    tips = Tips(db, UnitKeys([unit_key.public]), Routing({"astana": "test-unit"}),
                data_dir / "attachments", receipt_params=kdf.TEST_PARAMS,
                clock=lambda: day["now"])
    draft = tips.start(region="astana")
    receipt = tips.submit(draft, Report.build(region="astana", category="traffic",
                                              description="A car ran a red light."))

    def used_day():
        return db.execute("SELECT receipt_used_day FROM tips WHERE id = ?",
                          [draft.tip_id]).fetchone()[0]

    assert used_day() is None
    for today in ["2024-06-01", "2024-06-01", "2024-06-02"]:
        day["now"] = today
        tips.check(receipt=receipt.formatted)
        # Later visits leave no trace: nothing records when a reporter returns.
        assert used_day() == "2024-06-01"


def test_purge_deletes_the_records_of_forms_that_have_expired(db, data_dir):
    from tipdrop.errors import ReportAlreadySentError
    from tipdrop.server.web.tokens import FormUse

    for digest, day in ((b"\x01" * 32, "2024-01-09"), (b"\x02" * 32, "2024-01-10")):
        store.spend_form_now(db, FormUse(digest, day, ReportAlreadySentError), "2024-01-09")
    retention.purge(db, data_dir / "attachments",
                    retention.plan(db, today="2024-01-10", closed_days=90))
    assert [row[0] for row in db.execute("SELECT digest FROM spent_forms")] == [b"\x02" * 32]


def test_no_locator_or_id_of_a_purged_tip_is_left_in_the_index_pages(tmp_path):
    # An index b-tree keeps a copy of some of its keys in its interior pages,
    # as dividers between leaves, and deleting the row (secure_delete or not)
    # leaves that copy there: a purged report's receipt locator stayed in the
    # file, for whoever holds the receipt on paper to find, and its tip id
    # (seen: 17 ids and 33 locators of these 10,000 purged tips).
    # Given a data folder with 20,000 tips, every other one due
    folder, database = _half_due(tmp_path)
    purged = database.execute("SELECT id, locator FROM tips WHERE status = 'closed'").fetchall()
    # When they are purged
    found = retention.plan(database, today=TODAY, closed_days=DAYS)
    assert retention.purge(database, folder / "attachments", found).tips == len(purged) == 10_000
    database.close()
    # Then neither their ids nor their locators are anywhere in the folder's files
    left = _hex_words(b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file()))
    assert [value for row in purged for value in row if value in left] == []


def _half_due(tmp_path):
    """A data folder (and its database, open) of 20,000 closed tips, every other one back in review."""
    folder = tmp_path / "instance"
    (folder / "attachments").mkdir(parents=True)
    database = sqlite.connect(folder / "tipdrop.db")
    store.init(database)
    _closed_tips(database, 20_000)
    database.execute("UPDATE tips SET status = 'in-review' WHERE rowid % 2 = 0")
    return folder, database


def _hex_words(data):
    """Every run of 16 or 32 hex digits in ``data`` (ids and locators are such runs)."""
    found = set()
    for run in re.finditer(rb"[0-9a-f]{16,}", data):
        text = run.group().decode()
        found.update(text[i:i + n] for n in (16, 32) for i in range(len(text) - n + 1))
    return found


class _CreatedFiles:
    """Names of the files made in a folder, seen by inotify even if they are unlinked at once."""

    def __init__(self, folder):
        import ctypes

        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK)
        assert self._fd >= 0
        assert self._libc.inotify_add_watch(self._fd, str(folder).encode(), 0x100) >= 0  # CREATE

    def names(self):
        import struct

        found, data = [], b""
        while True:
            try:
                data += os.read(self._fd, 65536)
            except BlockingIOError:
                break
        while data:
            _, _, _, length = struct.unpack_from("iIII", data)
            found.append(data[16:16 + length].rstrip(b"\0").decode())
            data = data[16 + length:]
        os.close(self._fd)
        return found


def test_a_purge_writes_no_temporary_file_outside_the_database(tmp_path):
    # SQLite keeps a statement's undo pages and its sorts in temporary files,
    # by default on the disk (/var/tmp), unlinked as soon as made: a real
    # purge of 10,000 tips wrote eleven of about 6 MB each, holding the ids,
    # locators and ciphertext of the tips it deleted (seen by keeping them
    # from being unlinked). Unlinked, their blocks stay on the disk, outside
    # any file, for whoever images it. temp_store=MEMORY keeps them in RAM.
    from tests.serving import TIPDROP

    # Given a data folder with 20,000 tips, every other one due
    folder, database = _half_due(tmp_path)
    database.execute("UPDATE tips SET status_day = '2020-01-01'")
    database.close()
    # When a real `tipdrop purge` runs with SQLite's temporary folder watched
    scratch = tmp_path / "sqlite-tmp"
    scratch.mkdir()
    watch = _CreatedFiles(scratch)
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIPDROP_")}
    env |= {"SQLITE_TMPDIR": str(scratch), "TMPDIR": str(scratch),
            "TIPDROP_DATA_DIR": str(folder)}
    result = subprocess.run([str(TIPDROP), "purge"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("purged 10000 of")
    # Then SQLite made no file there
    assert watch.names() == []
