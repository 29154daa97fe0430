"""Crash safety (docs/design.md, invariant 7): a kill -9 at any moment loses nothing acknowledged.

A real ``tipdrop serve`` (gunicorn master and two workers) takes concurrent
submissions — JSON, and multipart with a 300 KB attachment through the API
and the web form — and is killed with SIGKILL, master and workers at once,
at a random moment, then restarted on the same folders, round after round.
After every crash the database passes ``PRAGMA integrity_check`` and holds
only whole tips; at the end every receipt a client was given still opens its
tip, whose report and files the unit's key decrypts to exactly what was sent.
``tipdrop import-replies`` killed at random moments stores all of a bundle or
none of it.

The kills are drawn from a seed printed at the start (set TIPDROP_CRASH_SEED
to replay them); thread timing, and so exactly which request a kill hits,
cannot be replayed.

What this can detect: a receipt given before COMMIT, a tip and its
attachment rows committed separately, a row naming a blob that is not
stored (or still staged), a half-imported reply bundle, a start-up sweep
that deletes a linked blob, a database left corrupt. What it cannot: a kill -9 leaves
the operating system's page cache intact, so a missing fsync (synchronous=OFF,
a blob or folder never synced) loses nothing here; only a power cut shows it.
"""

import http.client
import io
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from functools import partial

import pytest

from tests.serving import TIPDROP, multipart, start_server
from tipdrop.crypto import envelope, stream
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol import bundles, receipts

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SEED = int(os.environ.get("TIPDROP_CRASH_SEED") or random.SystemRandom().randrange(2**32))

#: Rate limits out of the way: every client here is 127.0.0.1.
NO_LIMITS = {"TIPDROP_SUBMITS_PER_HOUR": "1000000", "TIPDROP_CHECKS_PER_HOUR": "1000000"}

ROUNDS = 12
CLIENTS = 6
ATTACHMENT_BYTES = 300 * 1024


@dataclass(frozen=True)
class Sent:
    """What one client sent; the description is unique and names the tip."""

    description: str
    attachment: bytes | None


def _submit(server, kind, description, attachment):
    """One submission: (receipt or None, what happened).

    A receipt counts only if a complete 200/201 response carried it.
    """
    fields = {"region": "almaty", "category": "corruption", "description": description}
    files = [("files", "clip.mp4", "video/mp4", attachment)] if attachment else []
    try:
        if kind == "form":
            status, _, page = server.request("GET", "/submit", timeout=20)
            if status != 203:  # the form page (reporter.NOT_FOR_BACK)
                return None, status
            token = re.search(rb'name="token" value="([^"]+)"', page).group(1).decode()
            content_type, body = multipart({"token": token} | fields, files)
            status, _, page = server.request("POST", "/submit", body,
                                             {"Content-Type": content_type}, timeout=20)
            if status != 200:
                return None, status
            return re.search(rb'id="receipt">([^<]+)<', page).group(1).decode(), status
        if kind == "json":
            content_type, body = "application/json", json.dumps(fields).encode()
        else:
            content_type, body = multipart(fields, files)
        status, _, body = server.request("POST", "/api/v1/tips", body,
                                         {"Content-Type": content_type}, timeout=20)
        return (json.loads(body)["receipt"] if status == 201 else None), status
    except (OSError, http.client.HTTPException):
        # Refused, reset or cut short by the kill: no receipt reached the client.
        return None, "cut"


def _client(server, stop, name, rng, sent, acknowledged, outcomes, lock):
    """Submit until ``stop``; record what was sent and every receipt received."""
    n = 0
    while not stop.is_set() and n < 200:
        n += 1
        kind = rng.choice(("json", "api", "api", "form"))
        description = f"crash-test {name} n{n}"
        attachment = None
        if kind != "json":
            attachment = b"\x00\x00\x00\x18ftypmp42" + os.urandom(ATTACHMENT_BYTES)
        with lock:
            sent[description] = Sent(description, attachment)
        receipt, outcome = _submit(server, kind, description, attachment)
        with lock:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if receipt is not None:
                acknowledged[receipt] = description


def _read_only(path):
    """Open the database without checkpointing it, so the restart sees the crash as left."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def _assert_sound(conn):
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    orphans = conn.execute("SELECT COUNT(*) FROM attachments a "
                           "LEFT JOIN tips t ON t.id = a.tip_id WHERE t.id IS NULL").fetchone()
    assert orphans == (0,), "attachment rows without their tip"


def _tips(conn):
    conn.row_factory = sqlite3.Row
    tips = {row["id"]: dict(row) for row in conn.execute("SELECT * FROM tips")}
    files = {}
    for row in conn.execute("SELECT * FROM attachments ORDER BY part"):
        files.setdefault(row["tip_id"], []).append(dict(row))
    conn.row_factory = None
    return tips, files


def _linked_blobs(conn):
    """Ids of the blobs stored with a report (not staged by an unfinished upload)."""
    return {row[0] for row in conn.execute("SELECT id FROM blobs WHERE staged_day IS NULL")}


def _blob(conn, name):
    return b"".join(row[0] for row in conn.execute(
        "SELECT data FROM blob_chunks WHERE blob = ? ORDER BY seq", [name]))


def _assert_whole(server, tip, files, sent, linked, conn=None):
    """The tip opens with the unit's key, and each file its report lists is stored and opens
    (decrypted too when ``conn`` is given, from the database's pieces)."""
    opener = server.unit_key.opener
    report = json.loads(envelope.open_(tip["body"], opener, kind="tip", tip_id=tip["id"]))
    original = sent.get(report["description"])
    assert original is not None, f"tip {tip['id']} was never sent: {report['description']!r}"
    expected_parts = ["a1"] if original.attachment else []
    assert report["attachments"] == expected_parts
    assert [row["part"] for row in files] == expected_parts, (
        f"tip {tip['id']} ({original.description}) is half-written: files {files}")
    for row in files:
        assert row["blob"] in linked, f"tip {tip['id']} names a blob not stored: {row['blob']}"
        info = json.loads(envelope.open_(row["info"], opener, kind="attachment-info",
                                         tip_id=tip["id"], part=row["part"]))
        assert info["size"] == len(original.attachment)
        if conn is not None:
            plain = io.BytesIO()
            stream.decrypt_stream(io.BytesIO(_blob(conn, row["blob"])), plain, opener,
                                  kind="attachment", tip_id=tip["id"], part=row["part"])
            assert plain.getvalue() == original.attachment
    return report["description"]


def _age_staged(database):
    """Make every blob an unfinished upload staged look two days old to the start-up sweep."""
    with closing(sqlite3.connect(database, isolation_level=None)) as conn:
        conn.execute("UPDATE blobs SET staged_day = '2000-01-01' WHERE staged_day IS NOT NULL")


def _crash_round(server, rng, number, sent, acknowledged):
    """Run CLIENTS submitting clients, SIGKILL the server at a random moment; return
    (delay, outcomes): how long it ran, and how the requests ended."""
    stop, lock, outcomes = threading.Event(), threading.Lock(), {}
    clients = [
        threading.Thread(target=_client, daemon=True, args=(
            server, stop, f"r{number}c{i}", random.Random(rng.random()), sent, acknowledged,
            outcomes, lock))
        for i in range(CLIENTS)
    ]
    delay = rng.uniform(0.05, 1.5)
    for thread in clients:
        thread.start()
    time.sleep(delay)
    stop.set()
    server.kill()
    for thread in clients:
        thread.join(timeout=30)
        assert not thread.is_alive(), "a client hung after the kill"
    return delay, outcomes


def _check_receipt(server, receipt):
    for _ in range(20):
        status, _, body = server.request("POST", "/api/v1/check",
                                         json.dumps({"receipt": receipt}).encode(),
                                         {"Content-Type": "application/json"})
        if status != 503:  # Argon2 slots busy: ask again
            return status, json.loads(body)
        time.sleep(0.2)
    return status, None


def test_kill_9_while_submitting_loses_no_acknowledged_tip(tmp_path):
    print(f"crash seed {SEED} (TIPDROP_CRASH_SEED={SEED} replays the kill times)")
    rng = random.Random(SEED)
    sent, acknowledged = {}, {}
    server = start_server(tmp_path, extra_env=NO_LIMITS)
    database = server.data_dir / "tipdrop.db"
    blob_dir = server.data_dir / "attachments"
    try:
        for number in range(ROUNDS):
            # Given clients submitting at once
            # When the server is killed -9 at a random moment
            delay, outcomes = _crash_round(server, rng, number, sent, acknowledged)

            # Then the database is sound and holds only whole tips, their files in place
            with closing(_read_only(database)) as conn:
                _assert_sound(conn)
                tips, files = _tips(conn)
                linked = _linked_blobs(conn)
                staged = conn.execute("SELECT COUNT(*) FROM blobs WHERE staged_day IS NOT NULL"
                                      ).fetchone()[0]
            for tip in tips.values():
                _assert_whole(server, tip, files.get(tip["id"], []), sent, linked)
            assert len(tips) >= len(acknowledged)
            assert not blob_dir.exists(), "an attachment was written to a file"
            wal = database.with_name("tipdrop.db-wal")
            print(f"round {number}: killed after {delay:.2f} s; requests ended {outcomes}; "
                  f"WAL left {wal.stat().st_size if wal.exists() else 0} bytes; "
                  f"{staged} unfinished uploads")

            # And the server starts again on what the crash left, its start-up sweep
            # seeing every staged upload as long stale (a linked blob must survive that)
            _age_staged(database)
            server.start()

        # Then every receipt a client was given still checks
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            checked = pool.map(partial(_check_receipt, server), acknowledged)
            for receipt, (status, body) in zip(acknowledged, checked, strict=False):
                assert status == 200 and body["status"] == "received", (receipt, status, body)
        print(f"checked {len(acknowledged)} receipts in {time.monotonic() - started:.1f} s")
    finally:
        server.stop()
    assert len(acknowledged) >= ROUNDS, "too few receipts to prove anything"

    # And the last start-up swept exactly the blobs no tip refers to
    with closing(sqlite3.connect(database)) as conn:
        _assert_sound(conn)
        tips, files = _tips(conn)
        referenced = {row["blob"] for rows in files.values() for row in rows}
        assert {row[0] for row in conn.execute("SELECT id FROM blobs")} == referenced
        assert conn.execute("SELECT COUNT(*) FROM blob_chunks WHERE blob NOT IN "
                            "(SELECT id FROM blobs)").fetchone() == (0,)
        linked = _linked_blobs(conn)

        # And each acknowledged receipt finds its own tip, whole, decrypting to what was sent
        by_locator = {tip["locator"]: tip for tip in tips.values()}
        for receipt, description in acknowledged.items():
            tip = by_locator.get(receipts.parse(receipt).locator)
            assert tip is not None, f"receipt for {description!r} lost"
            found = _assert_whole(server, tip, files.get(tip["id"], []), sent, linked, conn)
            assert found == description
    print(f"{len(acknowledged)} receipts given, {len(tips)} tips stored, "
          f"{len(sent)} submissions tried")


# --- import-replies killed midway ---------------------------------------------------

REPLY_TIPS = 30
REPLY_KILLS = 13


def _replies_and_statuses(database):
    with closing(sqlite3.connect(database)) as conn:
        _assert_sound(conn)
        replies = set(conn.execute("SELECT tip_id, seq FROM replies"))
        statuses = {tip: (status, day) for tip, status, day
                    in conn.execute("SELECT id, status, status_day FROM tips")}
    return replies, statuses


def _import(bundle, data_dir, env, kill_after=None):
    """Run ``tipdrop import-replies``; SIGKILL it ``kill_after`` seconds in (None: let it end)."""
    started = time.monotonic()
    process = subprocess.Popen(
        [str(TIPDROP), "import-replies", str(bundle), "--data-dir", str(data_dir)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=data_dir.parent)
    if kill_after is not None:
        time.sleep(kill_after)
        process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    return process.returncode, time.monotonic() - started, stderr.decode(errors="replace")


def test_import_replies_killed_midway_stores_all_or_nothing(tmp_path, run_cli):
    print(f"crash seed {SEED} (TIPDROP_CRASH_SEED={SEED} replays the kill times)")
    rng = random.Random(SEED)
    # Given 30 tips on a real server, exported and opened on the officer's workstation
    server = start_server(tmp_path, extra_env=NO_LIMITS)
    try:
        def submit(n):
            receipt, status = _submit(server, "json", f"reply test {n}", None)
            assert receipt, status
            return receipt

        with ThreadPoolExecutor(3) as pool:
            given = list(pool.map(submit, range(REPLY_TIPS)))
        export = tmp_path / "export.tdx"
        run_cli("export", "--unit", "demo", "--out", export, env=server.env(), check=True)
    finally:
        server.stop()
    unit_key = Keyring.of(server.unit_key)
    workspace = Workspace(tmp_path / "workstation")
    try:
        workspace.open_bundle(export, unit_key)
        # And a reply bundle answering each of them twice, with a status change
        for tip in workspace.list():
            workspace.reply(tip["id"], unit_key, message="Thank you, we are looking into it.",
                            status="in-review")
            workspace.reply(tip["id"], unit_key, message="Which day was it?", status="need-info")
        reply_bundle = tmp_path / "replies.json"
        workspace.outbox(unit_key, reply_bundle)
    finally:
        workspace.close()
    parsed = bundles.parse_reply_bundle(reply_bundle.read_bytes())
    all_replies = {(r.tip_id, r.seq) for r in parsed.replies}
    final_status = {r.tip_id: (r.status, r.day) for r in parsed.replies}
    assert len(all_replies) == 2 * REPLY_TIPS
    _, before = _replies_and_statuses(server.data_dir / "tipdrop.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")} | server.env()

    def attempt(name, kill_after):
        # Each attempt gets its own copy of the server's data: none of the replies yet
        data_dir = tmp_path / name
        shutil.copytree(server.data_dir, data_dir)
        code, took, stderr = _import(reply_bundle, data_dir, env, kill_after)
        assert code in (0, -signal.SIGKILL), f"{name}: exit {code}: {stderr}"
        replies, statuses = _replies_and_statuses(data_dir / "tipdrop.db")
        # Then the database holds all of the bundle or none of it, statuses to match
        if replies:
            assert replies == all_replies, f"{name}: {len(replies)} of {len(all_replies)} replies"
            assert statuses == final_status, f"{name}: replies stored, statuses not set"
        else:
            assert statuses == before, f"{name}: statuses changed without the replies"
        print(f"{name}: killed after {kill_after} s, exit {code}, "
              f"{'all' if replies else 'no'} replies stored")
        return code, took, bool(replies)

    # When import-replies runs to the end once (which says how long it takes)
    code, took, stored = attempt("uninterrupted", None)
    assert code == 0 and stored
    # And is killed -9 at once, and at random moments up to that long
    # (most of them late: the import writes in its last moments, after Python starts)
    delays = [0.0] + [rng.uniform(0.0, took) for _ in range(3)]
    delays += [rng.uniform(0.5 * took, 1.0 * took) for _ in range(REPLY_KILLS - len(delays))]
    results = [attempt(f"killed{i}", round(delay, 3)) for i, delay in enumerate(delays)]
    print(f"uninterrupted import took {took:.2f} s; "
          f"{sum(stored for _, _, stored in results)} of {len(results)} killed imports "
          "had committed")

    # Then on the server's own data a normal import succeeds, exactly once
    first = run_cli("import-replies", reply_bundle, env=server.env())
    assert first.returncode == 0, first.stderr
    assert f"0 replies already held, {2 * REPLY_TIPS} new" in first.stdout
    again = run_cli("import-replies", reply_bundle, env=server.env())
    assert again.returncode == 0, again.stderr
    assert f"{2 * REPLY_TIPS} replies already held, 0 new" in again.stdout
    replies, statuses = _replies_and_statuses(server.data_dir / "tipdrop.db")
    assert replies == all_replies and statuses == final_status

    # And the reporter sees the replies after a restart
    server.start()
    try:
        status, _, body = server.request("POST", "/api/v1/check",
                                         json.dumps({"receipt": given[0]}).encode(),
                                         {"Content-Type": "application/json"})
    finally:
        server.stop()
    checked = json.loads(body)
    assert status == 200 and checked["status"] == "need-info"
    assert [r["message"] for r in checked["replies"]] == [
        "Thank you, we are looking into it.", "Which day was it?"]
