"""Deleted means gone (docs/design.md, invariant 9), through the real ``tipdrop purge``.

Tips are submitted to a real ``tipdrop serve`` (JSON and multipart with an
attachment, a follow-up through the receipt), exported, then closed by
setting their status and status day in SQL. ``tipdrop purge --dry-run``
lists exactly the tips due and changes nothing; ``tipdrop purge`` removes
them while the server runs: their receipts are no longer recognised, their
files are gone, and not one 64-byte slice of their ciphertext (report,
attachment info, follow-up, attachment file) or of their receipt verifier
is left in ``tipdrop.db``, ``tipdrop.db-wal`` or any file of the data folder.

That last check is what secure_delete and the WAL truncation are for: with
either one missing the deleted bytes stay in the database or in the WAL.
The purge runs while another connection stays open (as the server's
workers do), so SQLite's checkpoint when the last connection closes does
not hide a missing truncation.

A purge killed -9 at random moments leaves a sound database in which every
tip is either whole or entirely gone; the next purge finishes the job.
"""

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import pytest

from tests.e2e.conftest import assert_nothing_left
from tests.serving import TIPDROP, multipart, start_server
from tipdrop.common import sqlite
from tipdrop.server import attachments

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("TIPDROP_CRASH_SEED") or random.SystemRandom().randrange(2**32))
NO_LIMITS = {"TIPDROP_SUBMITS_PER_HOUR": "1000000", "TIPDROP_CHECKS_PER_HOUR": "1000000"}
LONG_AGO = "2020-01-01"


def _json(server, path, doc):
    status, _, body = server.request("POST", path, json.dumps(doc).encode(),
                                     {"Content-Type": "application/json"})
    return status, json.loads(body)


def _submit(server, description, attachment=None):
    fields = {"region": "almaty", "category": "corruption", "description": description}
    if attachment is None:
        status, body = _json(server, "/api/v1/tips", fields)
    else:
        content_type, data = multipart(fields, [("files", "clip.mp4", "video/mp4", attachment)])
        status, _, raw = server.request("POST", "/api/v1/tips", data,
                                        {"Content-Type": content_type})
        body = json.loads(raw)
    assert status == 201, body
    return body["receipt"]


def _check(server, receipt):
    return _json(server, "/api/v1/check", {"receipt": receipt})


def _tips_by_description(server, database):
    """tip id for each description: the unit's key opens each report."""
    from tipdrop.crypto import envelope

    with closing(sqlite3.connect(database)) as conn:
        rows = conn.execute("SELECT id, body FROM tips").fetchall()
    found = {}
    for tip_id, body in rows:
        report = json.loads(envelope.open_(body, server.unit_key.opener, kind="tip",
                                           tip_id=tip_id))
        found[report["description"]] = tip_id
    return found


def _slices(data):
    """Two 64-byte slices of a ciphertext that no other ciphertext shares (no headers)."""
    middle = len(data) // 2
    return [data[middle:middle + 64], data[-64:]]


def _blob(conn, name):
    """The bytes of an attachment, from the database that holds them (store/blobs.py)."""
    return b"".join(row[0] for row in conn.execute(
        "SELECT data FROM blob_chunks WHERE blob = ? ORDER BY seq", [name]))


def _has_blob(database, name):
    with closing(sqlite3.connect(database)) as conn:
        return conn.execute("SELECT 1 FROM blobs WHERE id = ?", [name]).fetchone() is not None


def _secret_slices(conn, attachments_dir, tip_id):
    """Every stored secret of one tip, as slices to look for in raw file bytes."""
    found = []
    (body, verifier), = conn.execute("SELECT body, verifier FROM tips WHERE id = ?", [tip_id])
    found += _slices(body) + [verifier]
    for info, blob in conn.execute("SELECT info, blob FROM attachments WHERE tip_id = ?",
                                   [tip_id]):
        found += _slices(info) + _slices(_blob(conn, blob))
    for (message,) in conn.execute("SELECT body FROM followups WHERE tip_id = ?", [tip_id]):
        found += _slices(message)
    return found


def _raw_bytes(folder):
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def _close(database, tip_id, status, day):
    with closing(sqlite3.connect(database, isolation_level=None)) as conn:
        conn.execute("UPDATE tips SET status = ?, status_day = ? WHERE id = ?",
                     [status, day, tip_id])


def test_purge_removes_every_byte_of_closed_tips_and_nothing_else(tmp_path, run_cli):
    server = start_server(tmp_path, extra_env=NO_LIMITS)
    database = server.data_dir / "tipdrop.db"
    attachments_dir = server.data_dir / "attachments"
    try:
        # Given four tips: two with an attachment, two whose reporter came back
        video = b"\x00\x00\x00\x18ftypmp42" + os.urandom(200 * 1024)
        receipts = {
            "old-closed": _submit(server, "PURGE-CANARY old closed case", video),
            "never-checked": _submit(server, "PURGE-CANARY nobody came back"),
            "old-open": _submit(server, "KEEP-CANARY old open case", os.urandom(90 * 1024)),
            "checked-closed": _submit(server, "KEEP-CANARY closed yesterday"),
        }
        for name in ("old-closed", "old-open", "checked-closed"):
            status, checked = _check(server, receipts[name])
            assert status == 200, checked
        status, added = _json(server, "/api/v1/followups", {
            "token": _check(server, receipts["old-closed"])[1]["followup_token"],
            "text": "PURGE-CANARY follow-up: it happened again"})
        assert status == 201, added
        # And the unit has all of it
        run_cli("export", "--unit", "demo", "--out", tmp_path / "export.tdx", env=server.env(),
                check=True)
        # And the unit closed two cases long ago, one today; one case is open since long ago
        ids = {name: _tips_by_description(server, database)[description] for name, description in {
            "old-closed": "PURGE-CANARY old closed case",
            "never-checked": "PURGE-CANARY nobody came back",
            "old-open": "KEEP-CANARY old open case",
            "checked-closed": "KEEP-CANARY closed yesterday"}.items()}
        today = _check(server, receipts["old-open"])[1]["received_day"]
        _close(database, ids["old-closed"], "unfounded", LONG_AGO)
        _close(database, ids["never-checked"], "duplicate", today)
        _close(database, ids["old-open"], "in-review", LONG_AGO)
        _close(database, ids["checked-closed"], "confirmed", today)
        with closing(sqlite3.connect(database)) as conn:
            doomed = {name: _secret_slices(conn, attachments_dir, ids[name])
                      for name in ("old-closed", "never-checked")}
            kept = {name: _secret_slices(conn, attachments_dir, ids[name])
                    for name in ("old-open", "checked-closed")}
            blobs = dict(conn.execute("SELECT tip_id, blob FROM attachments"))
        assert all(s in b"".join(_raw_bytes(server.data_dir).values())
                   for slices in doomed.values() for s in slices), "test set-up: canaries not found"

        # When the operator asks for a dry run
        dry = run_cli("purge", "--dry-run", env=server.env())
        rows_before = _rows(database)

        # Then it lists exactly the two tips due, with their reasons, and changes nothing
        assert dry.returncode == 0, dry.stderr
        listed = [line.split()[0] for line in dry.stdout.splitlines()[:-1]]
        assert sorted(listed) == sorted(ids[n][:12] for n in ("old-closed", "never-checked"))
        assert f"{ids['old-closed'][:12]}  unfounded  {LONG_AGO}  closed 90+ days" in dry.stdout
        assert "receipt never used" in dry.stdout
        assert "would purge 2 tips (1 closed 90+ days, 1 with a receipt never used)" in dry.stdout
        assert _check(server, receipts["old-closed"])[0] == 200
        assert _rows(database) == rows_before

        # When it purges for real while the server runs and a connection stays open
        with closing(sqlite3.connect(database)) as idle:
            idle.execute("SELECT COUNT(*) FROM tips").fetchone()
            purged = run_cli("purge", env=server.env())
            assert purged.returncode == 0, purged.stderr
            assert "purged 2 of 2 tips" in purged.stdout
            assert "files removed: 1 attachments, 0 orphaned" in purged.stdout
            everything = _raw_bytes(server.data_dir)

            # Then no slice of a purged tip's secrets is left in any file of the data folder
            assert_nothing_left(everything, doomed, server.data_dir)
            wal = database.with_name("tipdrop.db-wal")
            assert wal in everything and everything[wal] == b"", "the WAL was not truncated"
            # And the tips that stay are all there
            for slices in kept.values():
                assert all(any(piece in data for data in everything.values()) for piece in slices)

        # And the purged receipts are not recognised; the others still open their tips
        assert _check(server, receipts["old-closed"])[0] == 404
        assert _check(server, receipts["never-checked"])[0] == 404
        assert _check(server, receipts["old-open"])[1]["status"] == "in-review"
        assert _check(server, receipts["checked-closed"])[1]["status"] == "confirmed"
        # And the purged tip's file is gone, the kept tip's file is there
        assert not _has_blob(database, blobs[ids["old-closed"]])
        assert _has_blob(database, blobs[ids["old-open"]])
        assert not attachments_dir.exists()
        with closing(sqlite3.connect(database)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert {row[0] for row in conn.execute("SELECT id FROM tips")} == {
                ids["old-open"], ids["checked-closed"]}
    finally:
        server.stop()


def _rows(database):
    with closing(sqlite3.connect(database)) as conn:
        return {table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall())
                for table in ("tips", "attachments", "followups", "replies")}


def test_purge_answers_bad_input_with_one_line(run_cli, tmp_path):
    from tests.e2e.conftest import assert_clean_error
    from tipdrop.server import store

    env = {"TIPDROP_DATA_DIR": str(tmp_path / "instance")}
    assert_clean_error(run_cli("purge", env=env), "no tipdrop database at")
    assert not (tmp_path / "instance").exists()
    with closing(sqlite.connect(tmp_path / "instance" / "tipdrop.db")) as db:
        store.init(db)
    assert_clean_error(run_cli("purge", "--older-than", "0", env=env), "retention time")
    assert_clean_error(run_cli("purge", "--older-than", "soon", env=env), "--older-than")
    assert_clean_error(run_cli("purge", env=env | {"TIPDROP_RETENTION_DAYS": "x"}),
                       "retention_days")


# --- purge killed midway ---------------------------------------------------------------

CRASH_TIPS = 240
CRASH_KILLS = 10


def _state(database, attachments_dir):
    """{tip id: (blobs it names, whether each is stored)}; asserts the database is sound."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        tips = {row[0]: [] for row in conn.execute("SELECT id FROM tips")}
        stored = {row[0] for row in conn.execute("SELECT id FROM blobs")}
        for tip, blob in conn.execute("SELECT tip_id, blob FROM attachments"):
            tips[tip].append((blob, blob in stored or (attachments_dir / blob).exists()))
        # Pieces of no blob, or blobs of no file row, are what a half-done purge would leave
        assert conn.execute("SELECT COUNT(*) FROM blob_chunks WHERE blob NOT IN "
                            "(SELECT id FROM blobs)").fetchone() == (0,)
        assert stored <= {row[0] for row in conn.execute("SELECT blob FROM attachments")}
    return tips


def test_a_purge_killed_midway_leaves_each_tip_whole_or_gone(tmp_path, run_cli):
    print(f"crash seed {SEED} (TIPDROP_CRASH_SEED={SEED} replays the kill times)")
    rng = random.Random(SEED)
    # Given many closed tips, some with a file, on a real server (several purge batches)
    server = start_server(tmp_path, extra_env=NO_LIMITS)
    try:
        def submit(n):
            attachment = os.urandom(20 * 1024) if n % 4 == 0 else None
            return _submit(server, f"crash purge {n}", attachment)

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(submit, range(CRASH_TIPS)))
    finally:
        server.stop()
    database = server.data_dir / "tipdrop.db"
    with closing(sqlite3.connect(database, isolation_level=None)) as conn:
        conn.execute("UPDATE tips SET status = 'closed', status_day = ?", [LONG_AGO])
    before = _state(database, server.data_dir / "attachments")
    assert all(exists for files in before.values() for _, exists in files)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}

    def attempt(name, kill_after):
        # Each attempt purges its own copy of the data
        data_dir = tmp_path / name
        shutil.copytree(server.data_dir, data_dir)
        started = time.monotonic()
        process = subprocess.Popen([str(TIPDROP), "purge", "--data-dir", str(data_dir)], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
        if kill_after is not None:
            time.sleep(kill_after)
            process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate(timeout=60)
        took = time.monotonic() - started
        assert process.returncode in (0, -signal.SIGKILL), f"{name}: {stderr.decode()}"
        # Then every tip is whole (row, file rows, files) or has no row at all
        after = _state(data_dir / "tipdrop.db", data_dir / "attachments")
        for tip, files in after.items():
            assert files == before[tip], f"{name}: tip {tip[:8]} is half-purged"
        # And the next purge, once files a kill left behind are old enough not to be
        # mistaken for uploads in flight, finishes the job: no tip, no file
        then = time.time() - 2 * attachments.STALE_BLOB_SECONDS
        for path in (data_dir / "attachments").glob("*.bin"):
            os.utime(path, (then, then))
        again = run_cli("purge", "--data-dir", data_dir)
        assert again.returncode == 0, again.stderr
        assert _state(data_dir / "tipdrop.db", data_dir / "attachments") == {}
        assert list((data_dir / "attachments").glob("*.bin")) == []
        with closing(sqlite3.connect(data_dir / "tipdrop.db")) as conn:
            assert conn.execute("SELECT COUNT(*) FROM blob_chunks").fetchone() == (0,)
        print(f"{name}: killed after {kill_after} s, exit {process.returncode}, "
              f"{len(before) - len(after)} of {len(before)} tips purged")
        return took, len(before) - len(after)

    # When purge runs to the end once (which says how long it takes)
    took, purged = attempt("uninterrupted", None)
    assert purged == CRASH_TIPS
    # And is killed -9 at random moments up to that long (most of them late: it
    # deletes in its last moments, after Python has started)
    delays = [rng.uniform(0.0, took) for _ in range(2)]
    delays += [rng.uniform(0.5 * took, 0.95 * took) for _ in range(CRASH_KILLS - len(delays))]
    results = [attempt(f"killed{i}", round(delay, 3)) for i, delay in enumerate(delays)]
    print(f"uninterrupted purge took {took:.2f} s; tips purged before the kill: "
          f"{[n for _, n in results]}")
