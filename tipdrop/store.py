"""The only module that touches the database (SQLite through sqlite-utils).

Every connection gets the pragmas the security invariants rely on: WAL with
``synchronous=FULL`` so an acknowledged tip survives a crash (DESIGN 4.7),
and ``secure_delete=ON`` so deleted rows are overwritten (DESIGN 4.9).

What is stored in the clear is only what routing and the public figures
need: unit, key id, region, category, the day of arrival, the status. Report
text, follow-ups and attachments are ciphertext; a receipt is represented by
its locator, a salt, Argon2 parameters, a verifier and the public half of
the reporter's reply key. No address, user agent or precise time, ever.
"""

import json
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

SCHEMA_VERSION = 1

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA secure_delete=ON",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
)

#: Every column, with the reason it exists. /privacy (issue #9) reads this.
SCHEMA = {
    "tips": {
        "id": (str, "random tip id; names the report in officer bundles"),
        "unit": (str, "the police unit the report was routed to"),
        "key_id": (str, "which of the unit's keys the report is encrypted to"),
        "region": (str, "region chosen by the reporter, for routing and public figures"),
        "category": (str, "category chosen by the reporter, for triage and public figures"),
        "received_day": (str, "the day the report arrived (no time of day)"),
        "status": (str, "where the case stands (received, in review, confirmed, ...)"),
        "status_day": (str, "the day the status last changed"),
        "locator": (str, "the public first part of the receipt, to find the record"),
        "receipt_salt": (bytes, "random salt for the receipt's Argon2id hash"),
        "receipt_params": (str, "Argon2id cost parameters used for this receipt"),
        "verifier": (bytes, "Argon2id-derived value proving a receipt; not the receipt"),
        "reply_public": (bytes, "public key replies are encrypted to; only the receipt opens them"),
        "body": (bytes, "the report, encrypted to the unit"),
        "encrypted_on": (str, "'server' or 'device': where the report was encrypted"),
        "export_seq": (int, "export cursor: which officer export carried the report"),
    },
    "attachments": {
        "tip_id": (str, "the report the file belongs to"),
        "part": (str, "its position among the report's files (a1, a2, ...)"),
        "info": (bytes, "file name, type and size, encrypted to the unit"),
        "blob": (str, "name of the file holding the encrypted bytes"),
        "size": (int, "size of the encrypted file (padded, so it hides the real size)"),
        "export_seq": (int, "export cursor"),
    },
    "replies": {
        "tip_id": (str, "the report the reply belongs to"),
        "seq": (int, "the unit's sequence number for this report (replays are refused)"),
        "day": (str, "the day the unit wrote it"),
        "status": (str, "the status the unit set with it"),
        "body": (bytes, "the officer's message, encrypted to the reporter's reply key"),
        "signature": (bytes, "the unit's signature over the reply"),
        "key_id": (str, "the unit key that signed it"),
    },
    "followups": {
        "tip_id": (str, "the report the message belongs to"),
        "seq": (int, "its number among the report's follow-ups"),
        "body": (bytes, "the reporter's message, encrypted to the unit"),
        "received_day": (str, "the day it arrived"),
        "export_seq": (int, "export cursor"),
    },
    "officer_nonces": {
        "nonce": (str, "random number of a signed officer request, so a replay of it is refused"),
        "expires": (int, "when that request's time window closes (Unix seconds); deleted after"),
    },
}


def connect(path):
    """Open ``path`` with tipdrop's pragmas; the folder is created private (0700)."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        # Created 0600 here; SQLite gives the -wal and -shm files the same mode.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return sqlite_utils.Database(conn)


def pragma_report(db):
    """The pragmas actually in effect, for self-checks and tests."""
    return {
        name: db.execute(f"PRAGMA {name}").fetchone()[0]
        for name in ("journal_mode", "synchronous", "secure_delete", "foreign_keys")
    }


def init(db):
    """Create the schema if missing (idempotent)."""
    with transaction(db):
        if "meta" not in db.table_names():
            db["meta"].create({"key": str, "value": str}, pk="key")
            db["meta"].insert({"key": "schema_version", "value": str(SCHEMA_VERSION)})
        if "tips" not in db.table_names():
            db["tips"].create(
                {name: kind for name, (kind, _) in SCHEMA["tips"].items()},
                pk="id",
                not_null={"unit", "key_id", "region", "category", "received_day", "status",
                          "locator", "receipt_salt", "receipt_params", "verifier",
                          "reply_public", "body"},
                defaults={"export_seq": 0},
            )
            db["tips"].create_index(["locator"], unique=True)
            db["tips"].create_index(["unit", "export_seq"])
        for child in ("attachments", "followups", "replies"):
            if child not in db.table_names():
                columns = SCHEMA[child]
                db[child].create(
                    {name: kind for name, (kind, _) in columns.items()},
                    foreign_keys=[("tip_id", "tips", "id")],
                    defaults={"export_seq": 0} if "export_seq" in columns else None,
                )
                db[child].create_index(["tip_id"])
        if "officer_nonces" not in db.table_names():
            db["officer_nonces"].create(
                {name: kind for name, (kind, _) in SCHEMA["officer_nonces"].items()},
                pk="nonce", not_null={"expires"},
            )


@contextmanager
def transaction(db):
    """BEGIN IMMEDIATE ... COMMIT: all of it or none of it (DESIGN 4.7)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def insert_tip(db, tip, attachments=(), followups=()):
    """Insert a tip and its children in one durable transaction."""
    with transaction(db):
        db["tips"].insert(tip)
        if attachments:
            db["attachments"].insert_all(attachments)
        if followups:
            db["followups"].insert_all(followups)


def find_by_locator(db, locator):
    rows = list(db["tips"].rows_where("locator = ?", [locator], limit=1))
    if not rows:
        return None
    row = rows[0]
    row["receipt_params"] = json.loads(row["receipt_params"])
    return row


def locator_taken(db, locator):
    return db.execute("SELECT 1 FROM tips WHERE locator = ?", [locator]).fetchone() is not None


def tip_exists(db, tip_id):
    return db.execute("SELECT 1 FROM tips WHERE id = ?", [tip_id]).fetchone() is not None


def add_followup(db, tip_id, make_body, day):
    """Append a follow-up with the next sequence number, atomically.

    ``make_body(seq)`` seals the message for that number (the number is
    bound into the ciphertext), inside the write transaction so two
    follow-ups arriving at once cannot take the same number.
    """
    with transaction(db):
        (seq,) = db.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM followups WHERE tip_id = ?", [tip_id]
        ).fetchone()
        db["followups"].insert(
            {"tip_id": tip_id, "seq": seq, "body": make_body(seq), "received_day": day,
             "export_seq": 0}
        )
    return seq


def count_followups(db, tip_id):
    return db.execute("SELECT COUNT(*) FROM followups WHERE tip_id = ?", [tip_id]).fetchone()[0]


def replies_for(db, tip_id):
    return list(db["replies"].rows_where("tip_id = ?", [tip_id], order_by="seq"))


def get_tip(db, tip_id):
    rows = list(db["tips"].rows_where("id = ?", [tip_id], limit=1))
    return rows[0] if rows else None


def referenced_blobs(db):
    return {row[0] for row in db.execute("SELECT blob FROM attachments")}


# --- officer exchange ------------------------------------------------------------


def next_export_seq(db, unit):
    (current,) = db.execute(
        "SELECT COALESCE(MAX(export_seq), 0) FROM tips WHERE unit = ?", [unit]
    ).fetchone()
    (children,) = db.execute(
        "SELECT MAX(COALESCE((SELECT MAX(f.export_seq) FROM followups f JOIN tips t ON t.id = f.tip_id WHERE t.unit = ?), 0),"
        " COALESCE((SELECT MAX(a.export_seq) FROM attachments a JOIN tips t ON t.id = a.tip_id WHERE t.unit = ?), 0))",
        [unit, unit],
    ).fetchone()
    return max(current, children) + 1


def export_rows(db, unit, since_start):
    """Tips, follow-ups and attachments of ``unit`` not yet exported (or all)."""
    pending = "" if since_start else " AND {t}.export_seq = 0"
    tips = list(db.query(
        "SELECT * FROM tips WHERE unit = ?" + pending.format(t="tips") + " ORDER BY received_day, id",
        [unit]))
    for tip in tips:
        tip["reply_seq"] = db.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM replies WHERE tip_id = ?", [tip["id"]]).fetchone()[0]
    followups = list(db.query(
        "SELECT f.* FROM followups f JOIN tips t ON t.id = f.tip_id WHERE t.unit = ?"
        + pending.format(t="f") + " ORDER BY f.tip_id, f.seq", [unit]))
    attachments = list(db.query(
        "SELECT a.* FROM attachments a JOIN tips t ON t.id = a.tip_id WHERE t.unit = ?"
        + pending.format(t="a") + " ORDER BY a.tip_id, a.part", [unit]))
    return tips, followups, attachments


def mark_exported(db, seq, tips, followups, attachments):
    """Advance the export cursor for exactly the rows written to a bundle."""
    with transaction(db):
        for tip in tips:
            db.execute("UPDATE tips SET export_seq = ? WHERE id = ? AND export_seq = 0",
                       [seq, tip["id"]])
        for row in followups:
            db.execute("UPDATE followups SET export_seq = ? WHERE tip_id = ? AND seq = ? "
                       "AND export_seq = 0", [seq, row["tip_id"], row["seq"]])
        for row in attachments:
            db.execute("UPDATE attachments SET export_seq = ? WHERE tip_id = ? AND part = ? "
                       "AND export_seq = 0", [seq, row["tip_id"], row["part"]])


def remember_nonce(db, nonce, expires, now):
    """Record a signed request's nonce; False if it is already recorded.

    Rows whose window has closed are deleted first: such a request would be
    refused for its timestamp anyway, so the table stays a few minutes long.
    """
    with transaction(db):
        db.execute("DELETE FROM officer_nonces WHERE expires < ?", [now])
        try:
            db.execute("INSERT INTO officer_nonces (nonce, expires) VALUES (?, ?)",
                       [nonce, expires])
        except sqlite3.IntegrityError:
            return False
    return True


def reply_signature(db, tip_id, seq):
    """The stored signature of a tip's reply number ``seq``, or None."""
    row = db.execute("SELECT signature FROM replies WHERE tip_id = ? AND seq = ?",
                     [tip_id, seq]).fetchone()
    return row[0] if row else None


def last_reply_seq(db, tip_id):
    return db.execute("SELECT COALESCE(MAX(seq), 0) FROM replies WHERE tip_id = ?",
                      [tip_id]).fetchone()[0]


def insert_replies(db, rows, statuses):
    """Store verified replies and the resulting statuses, all or nothing."""
    with transaction(db):
        db["replies"].insert_all(rows)
        for tip_id, (status, day) in statuses.items():
            db.execute("UPDATE tips SET status = ?, status_day = ? WHERE id = ?",
                       [status, day, tip_id])
