"""The only package that touches the database (SQLite through sqlite-utils).

Every connection gets the pragmas the security invariants rely on: WAL with
``synchronous=FULL`` so an acknowledged tip survives a crash (docs/design.md, invariant 7),
and ``secure_delete=ON`` so deleted rows are overwritten (docs/design.md, invariant 9).

What is stored in the clear is only what routing and the public figures
need: unit, key id, region, category, the day of arrival, the status. Report
text, follow-ups and attachments are ciphertext; a receipt is represented by
its locator, a salt, Argon2 parameters, a verifier and the public half of
the reporter's reply key. No address, user agent or precise time, ever.
"""

import datetime
import hashlib
import json
import os
import sqlite3
from pathlib import Path

from tipdrop.common import walscrub
from tipdrop.common.sqlite import connect, transaction

SCHEMA_VERSION = 12


def N_(text):
    """Mark ``text`` for the gettext catalogs; /privacy translates it when shown.

    Defined here rather than imported so this module stays free of Flask.
    """
    return text


#: Why the held_seq columns exist (one sentence for the three tables that have one).
_HELD = N_("which officer export the unit confirmed it holds (0: none yet); the encrypted "
           "copy on the server is then deleted, the rest kept for the reporter")

#: Every column, with the reason it exists. /privacy (issue #9) shows each
#: one, translated, and its test fails if a real column is missing here.
SCHEMA = {
    "tips": {
        "id": (str, N_("random tip id; names the report in officer bundles")),
        "unit": (str, N_("the police unit the report was routed to")),
        "key_id": (str, N_("which of the unit's keys the report is encrypted to")),
        "region": (str, N_("region chosen by the reporter, for routing and public figures")),
        "category": (str, N_("category chosen by the reporter, for triage and public figures")),
        "received_day": (str, N_("the day the report arrived (no time of day)")),
        "status": (str, N_("where the case stands (received, in review, confirmed, ...)")),
        "status_day": (str, N_("the day the status last changed")),
        "locator": (str, N_("the public first part of the receipt, to find the record")),
        "receipt_salt": (bytes, N_("random salt for the receipt's Argon2id hash")),
        "receipt_params": (str, N_("Argon2id cost parameters used for this receipt")),
        "verifier": (bytes, N_("Argon2id-derived value proving a receipt; not the receipt")),
        "reply_public": (bytes, N_("public key replies are encrypted to; only the receipt opens them")),
        "body": (bytes, N_("the report, encrypted to the unit")),
        "encrypted_on": (str, N_("'server' or 'device': where the report was encrypted")),
        "export_seq": (int, N_("export cursor: which officer export carried the report")),
        "receipt_used_day": (str, N_("the first day the receipt opened the report (none: never), so "
                                     "a closed report nobody comes back for is purged early")),
        "held_seq": (int, _HELD),
    },
    "attachments": {
        "tip_id": (str, N_("the report the file belongs to")),
        "part": (str, N_("its position among the report's files (a1, a2, ...)")),
        "info": (bytes, N_("file name, type and size, encrypted to the unit")),
        "blob": (str, N_("name of the file holding the encrypted bytes")),
        "size": (int, N_("size of the encrypted file (padded, so it hides the real size)")),
        "export_seq": (int, N_("export cursor")),
        "held_seq": (int, _HELD),
    },
    "replies": {
        "tip_id": (str, N_("the report the reply belongs to")),
        "seq": (int, N_("the unit's sequence number for this report (replays are refused)")),
        "day": (str, N_("the day the unit wrote it")),
        "status": (str, N_("the status the unit set with it")),
        "body": (bytes, N_("the officer's message, encrypted to the reporter's reply key")),
        "signature": (bytes, N_("the unit's signature over the reply")),
        "key_id": (str, N_("the unit key that signed it")),
    },
    "followups": {
        "tip_id": (str, N_("the report the message belongs to")),
        "seq": (int, N_("its number among the report's follow-ups")),
        "body": (bytes, N_("the reporter's message, encrypted to the unit")),
        "encrypted_on": (str, N_("'server' or 'device': where the message was encrypted")),
        "received_day": (str, N_("the day it arrived")),
        "export_seq": (int, N_("export cursor")),
        "held_seq": (int, _HELD),
    },
    "transfers": {
        "tip_id": (str, N_("the report that was forwarded to another unit")),
        "n": (int, N_("the number of this forward among the report's forwards")),
        "day": (str, N_("the day the unit forwarded it (no time of day)")),
        "from_unit": (str, N_("the unit that forwarded the report")),
        "to_unit": (str, N_("the unit the report was forwarded to")),
        "after_reply": (int, N_("how many replies the report had then, to show the forward "
                                "in its place among them")),
        "digest": (bytes, N_("SHA-256 of the signed forward, so the same forward sent "
                             "again changes nothing")),
    },
    "blobs": {
        "id": (str, N_("random name of one file's encrypted bytes")),
        "staged_day": (str, N_("while the file is still being uploaded, the day the upload began "
                               "(none once the report is stored), so that an upload cut off by a "
                               "failure is deleted two days later")),
    },
    "blob_chunks": {
        "blob": (str, N_("the file these encrypted bytes belong to")),
        "seq": (int, N_("the position of this piece in the file")),
        "data": (bytes, N_("a piece of the file's encrypted bytes (up to 1 MiB)")),
    },
    "meta": {
        "key": (str, N_("name of a fact about the database itself (only its format version)")),
        "value": (str, N_("the value of that fact")),
    },
    "spent_tip_ids": {
        "digest": (str, N_("SHA-256 of the random id of a report deleted from this server, so that "
                           "no new report can take that id; it says nothing about the report")),
    },
    "officer_nonces": {
        "nonce": (str, N_("random number of a signed officer request, so a replay of it is refused")),
        "expires_day": (str, N_("the day that request's time window closes (no time of day); "
                                "deleted after")),
    },
    "exports": {
        "unit": (str, N_("the police unit an officer export was made for")),
        "seq": (int, N_("the number of that export")),
        "export_id": (bytes, N_("a random number naming that export, so the unit's confirmation "
                                "of what it holds cannot be taken for another export's")),
        "chain": (bytes, N_("a checksum over the list of what this export carried and over the "
                            "unit's earlier exports, so a whole run of exports is checked at "
                            "once")),
    },
    "uploads": {
        "id": (str, N_("SHA-256 of the random key of a report being uploaded in pieces; only the "
                       "device that chose the key can add to it or learn how it ended")),
        "request": (bytes, N_("SHA-256 of what the device said it would send, so the same key "
                              "cannot start a different upload")),
        "fields": (str, N_("region, category, random report id and the sizes of the encrypted "
                           "parts the device will send; deleted when the report is stored")),
        "blob": (str, N_("the encrypted pieces received so far; deleted when the report is stored")),
        "day": (str, N_("the day the upload began (no time of day), so an unfinished one is "
                        "deleted a day or two later")),
        "pieces": (int, N_("how many pieces have arrived, so a cut-off upload resumes where it stopped")),
        "chain": (bytes, N_("a digest over the pieces received, in order, checked against the "
                            "device's at the end")),
        "state": (str, N_("'open', 'storing' or 'done'")),
        "answer": (bytes, N_("the answer to the finished upload, encrypted under a key only the "
                             "device holds, so a repeated request gets it again and never makes "
                             "a second report")),
    },
    "alerts_pending": {
        "unit": (str, N_("a police unit that asked to be alerted of new reports")),
        "target": (str, N_("how the alert goes out: 'email' or 'webhook'")),
        "new": (int, N_("how many reports arrived for the unit since its last alert")),
        "urgent": (int, N_("how many of them are in a category the unit counts as urgent")),
    },
    "spent_forms": {
        "digest": (bytes, N_("SHA-256 of the random number of a form that was sent, so that sending "
                             "it again cannot store a report or a message twice; or, for seven "
                             "days, of a report sent in pieces (over its encrypted bytes), so that "
                             "a device that lost the answer is told the report arrived")),
        "expires_day": (str, N_("the day that form stops being valid anyway (no time of day); "
                                "deleted after")),
    },
}


#: Connections held open by hold_wal, one per (process, database).
_HELD = {}


def hold_wal(path):
    """Keep one idle connection to ``path`` open in this process until it exits.

    SQLite deletes the -wal and -shm files when the last connection to a
    database closes, and makes them again at the next one: on a quiet
    server, their birth time (which cannot be set back) would be the moment
    of the next request, perhaps a report's. Held open by every server
    process, they are made when the server starts and say nothing about a
    report (docs/threat-model.md, "Times").
    """
    key = (os.getpid(), str(Path(path).resolve()))
    if key not in _HELD:
        conn = connect(path)
        conn.execute("SELECT COUNT(*) FROM meta").fetchall()  # all: no read left open
        _HELD[key] = conn
        # The last process to close it deletes the log: overwritten first.
        walscrub.close_at_exit(conn)


def open_database(path):
    """The server's database, made or upgraded to this version of the schema.

    The one way server commands and the web app open it: ``connect`` for the
    pragmas, then ``init`` so no command ever works on an old schema.
    """
    db = connect(path)
    init(db)
    return db


def close_database(db):
    """Close a connection that may be the last to the database (a command's).

    SQLite then deletes the log: it is overwritten first (common/walscrub.py).
    """
    return walscrub.close(db)


def init(db):
    """Create the schema if missing (idempotent)."""
    with transaction(db):
        if "meta" not in db.table_names():
            db["meta"].create({name: kind for name, (kind, _) in SCHEMA["meta"].items()},
                              pk="key")
            db["meta"].insert({"key": "schema_version", "value": str(SCHEMA_VERSION)})
        if "tips" not in db.table_names():
            db["tips"].create(
                {name: kind for name, (kind, _) in SCHEMA["tips"].items()},
                pk="id",
                not_null={"unit", "key_id", "region", "category", "received_day", "status",
                          "locator", "receipt_salt", "receipt_params", "verifier",
                          "reply_public", "body"},
                defaults={"export_seq": 0, "held_seq": 0},
            )
            db["tips"].create_index(["locator"], unique=True)
            db["tips"].create_index(["unit", "export_seq"])
        _migrate(db)
        for child, defaults in _CHILD_DEFAULTS.items():
            if child not in db.table_names():
                db[child].create(
                    {name: kind for name, (kind, _) in SCHEMA[child].items()},
                    foreign_keys=[("tip_id", "tips", "id")],
                    defaults=defaults,
                )
                db[child].create_index(["tip_id"])
        # Version 6: attachment ciphertext in the database (blobs.py), not in files.
        if "blobs" not in db.table_names():
            db["blobs"].create({"id": str, "staged_day": str}, pk="id")
        if "blob_chunks" not in db.table_names():
            db["blob_chunks"].create(
                {name: kind for name, (kind, _) in SCHEMA["blob_chunks"].items()},
                pk=("blob", "seq"), not_null={"data"},
                foreign_keys=[("blob", "blobs", "id")],
            )
        if "spent_tip_ids" not in db.table_names():
            db["spent_tip_ids"].create({"digest": str}, pk="digest")
        if "spent_forms" not in db.table_names():
            # Keyed by the digest, without rowid: rows are kept in digest
            # order, so nothing tells which form was sent before which.
            db.execute("CREATE TABLE spent_forms (digest BLOB PRIMARY KEY, "
                       "expires_day TEXT NOT NULL) WITHOUT ROWID")
        if "exports" not in db.table_names():
            # Version 7: compact acknowledgements name exports (protocol.md section 11).
            db.execute("CREATE TABLE exports (unit TEXT NOT NULL, seq INTEGER NOT NULL, "
                       "export_id BLOB NOT NULL, chain BLOB NOT NULL, PRIMARY KEY (unit, seq))")
        if "uploads" not in db.table_names():
            # Version 8: resumable uploads (store/uploads.py).
            db["uploads"].create(
                {name: kind for name, (kind, _) in SCHEMA["uploads"].items()},
                pk="id", not_null={"request", "day", "pieces", "state"},
            )
        if "alerts_pending" not in db.table_names():
            # Version 9: duty alerts (store/alerts.py). Counts only, one row per
            # unit and way of alerting; without rowid, like spent_forms.
            db.execute("CREATE TABLE alerts_pending (unit TEXT NOT NULL, target TEXT NOT NULL, "
                       "new INTEGER NOT NULL, urgent INTEGER NOT NULL, "
                       "PRIMARY KEY (unit, target)) WITHOUT ROWID")
        if "officer_nonces" not in db.table_names():
            db["officer_nonces"].create(
                {name: kind for name, (kind, _) in SCHEMA["officer_nonces"].items()},
                pk="nonce", not_null={"expires_day"},
            )


#: Column defaults of the tables that belong to a tip.
_CHILD_DEFAULTS = {
    "attachments": {"export_seq": 0, "held_seq": 0},
    "followups": {"export_seq": 0, "held_seq": 0, "encrypted_on": "server"},
    "replies": None,
    "transfers": None,  # version 10: forwards between units
}


def _migrate(db):
    """Bring a database made by an older tipdrop up to SCHEMA_VERSION (idempotent)."""
    if "receipt_used_day" not in db["tips"].columns_dict:
        db.execute("ALTER TABLE tips ADD COLUMN receipt_used_day TEXT")
        # Whether these receipts were ever used is unknown; count them as used on
        # the day they were shown, so none is purged early as "never used".
        db.execute("UPDATE tips SET receipt_used_day = received_day")
    for table in ("tips", "followups", "attachments"):
        # Version 3: what the unit acknowledged holding (nothing, in an older database).
        if table in db.table_names() and "held_seq" not in db[table].columns_dict:
            db.execute(f"ALTER TABLE {table} ADD COLUMN held_seq INTEGER DEFAULT 0")
    # Version 5: follow-ups sealed on the device; every earlier one was sealed here.
    if "followups" in db.table_names() and "encrypted_on" not in db["followups"].columns_dict:
        db.execute("ALTER TABLE followups ADD COLUMN encrypted_on TEXT DEFAULT 'server'")
    # Version 12: version 11 kept here the second an unfinished upload last
    # moved; that moment now lives in RAM only (tipdrop/server/upload_moves.py),
    # since the database's log kept it on the disk beside the tip id. The
    # column goes, its values overwritten (secure_delete); the log is
    # truncated at the next purge.
    if "uploads" in db.table_names() and "touched" in db["uploads"].columns_dict:
        db.execute("ALTER TABLE uploads DROP COLUMN touched")
    # Also version 12: a signed officer request's nonce is kept with the day its
    # window closes, no longer the second: the seconds of the officers' pulls,
    # left in the -wal, bounded when each report arrived (remember_nonce).
    if "officer_nonces" in db.table_names() and "expires" in db["officer_nonces"].columns_dict:
        db.execute("ALTER TABLE officer_nonces ADD COLUMN expires_day TEXT")
        db.execute("UPDATE officer_nonces SET expires_day = date(expires, 'unixepoch')")
        db.execute("ALTER TABLE officer_nonces DROP COLUMN expires")
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version' "
               "AND CAST(value AS INTEGER) < ?", [str(SCHEMA_VERSION), SCHEMA_VERSION])


def insert_tip(db, tip, attachments=(), followups=(), once=None, alert=None, also=None):
    """Insert a tip and its children in one durable transaction.

    The attachment rows' blobs, staged while they streamed in, are linked
    in the same transaction (blobs.link): all of the report or none of it.
    ``once``: the form token this submission spends (see spend_form); a
    token spent before raises its replay error and nothing is stored.
    ``alert``: (targets, urgent) when the tip's unit is alerted of new
    reports: its counts go up with the tip, or not at all (store/alerts.py).
    ``also(db)``: more writes that belong to the report, in its transaction
    (a resumable upload's answer, tipdrop/server/uploads.py).
    """
    from tipdrop.server.store.alerts import count_report
    from tipdrop.server.store.blobs import link

    with transaction(db):
        if once is not None:
            spend_form(db, once, tip["received_day"])
        db["tips"].insert(tip)
        if attachments:
            link(db, [row["blob"] for row in attachments if not is_legacy_blob(row["blob"])])
            db["attachments"].insert_all(attachments)
        if followups:
            db["followups"].insert_all(followups)
        if alert is not None:
            count_report(db, tip["unit"], *alert)
        if also is not None:
            also(db)


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


def add_followup(db, tip_id, make_body, day, encrypted_on="server", *, once=None,
                 per_day=None, too_many=None):
    """Append a follow-up with the next sequence number, atomically.

    ``make_body(seq)`` seals the message for that number (the number is
    bound into the ciphertext), inside the write transaction so two
    follow-ups arriving at once cannot take the same number; if it raises,
    nothing is stored. In the same transaction, ``once`` (a form token) is
    spent, and if the tip already has ``per_day`` follow-ups dated ``day``,
    ``too_many()`` is raised: counted under the write lock, so no number of
    workers or requests at once can go past it.
    """
    with transaction(db):
        if once is not None:
            spend_form(db, once, day)
        if per_day is not None:
            (today_count,) = db.execute(
                "SELECT COUNT(*) FROM followups WHERE tip_id = ? AND received_day = ?",
                [tip_id, day]).fetchone()
            if today_count >= per_day:
                raise too_many()
        (seq,) = db.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM followups WHERE tip_id = ?", [tip_id]
        ).fetchone()
        db["followups"].insert(
            {"tip_id": tip_id, "seq": seq, "body": make_body(seq), "encrypted_on": encrypted_on,
             "received_day": day, "export_seq": 0}
        )
    return seq


def count_followups(db, tip_id):
    return db.execute("SELECT COUNT(*) FROM followups WHERE tip_id = ?", [tip_id]).fetchone()[0]


def replies_for(db, tip_id):
    return list(db["replies"].rows_where("tip_id = ?", [tip_id], order_by="seq"))


def get_tip(db, tip_id):
    rows = list(db["tips"].rows_where("id = ?", [tip_id], limit=1))
    return rows[0] if rows else None


def _digest(tip_id):
    return hashlib.sha256(tip_id.encode("ascii")).hexdigest()


def tip_id_taken(db, tip_id):
    """True if ``tip_id`` names a stored tip or one deleted from this server.

    A device chooses its report's tip id (it is sealed into every
    ciphertext). Reusing the id of a purged tip would make the unit's
    workstation, which still has the old tip, take the new report for one it
    holds and acknowledge it unread; so spent ids are never accepted again.
    """
    return tip_exists(db, tip_id) or db.execute(
        "SELECT 1 FROM spent_tip_ids WHERE digest = ?", [_digest(tip_id)]).fetchone() is not None


def is_legacy_blob(name):
    """True for a blob stored by tipdrop before version 6: a file ``<hex>.bin`` in attachments/.

    Such files are moved into the database at server start (attachments.migrate_files);
    until then they are read and deleted where they are.
    """
    return name.endswith(".bin")


def referenced_blobs(db):
    return {row[0] for row in db.execute("SELECT blob FROM attachments WHERE blob IS NOT NULL")}


# --- officer exchange ------------------------------------------------------------


def next_export_seq(db, unit):
    (current,) = db.execute(
        "SELECT COALESCE(MAX(export_seq), 0) FROM tips WHERE unit = ?", [unit]
    ).fetchone()
    (recorded,) = db.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM exports WHERE unit = ?", [unit]).fetchone()
    (children,) = db.execute(
        "SELECT MAX(COALESCE((SELECT MAX(f.export_seq) FROM followups f JOIN tips t ON t.id = f.tip_id WHERE t.unit = ?), 0),"
        " COALESCE((SELECT MAX(a.export_seq) FROM attachments a JOIN tips t ON t.id = a.tip_id WHERE t.unit = ?), 0))",
        [unit, unit],
    ).fetchone()
    # An export whose rows were all deleted since still took its number.
    return max(current, children, recorded) + 1


def export_chain(db, unit, seq):
    """The chain value recorded for the unit's export ``seq``, or None (none, or made before)."""
    row = db.execute("SELECT chain FROM exports WHERE unit = ? AND seq = ?", [unit, seq]).fetchone()
    return bytes(row[0]) if row else None


def export_rows(db, unit, since_start):
    """Tips, follow-ups and attachments of ``unit`` not yet exported (or all)."""
    pending = "" if since_start else " AND {t}.export_seq = 0"
    tips = list(db.query(
        "SELECT * FROM tips WHERE unit = ?" + pending.format(t="tips") + " ORDER BY received_day, id",
        [unit]))
    # Follow-ups and files whose ciphertext was cleared (the unit holds them) have
    # nothing left to carry; a cleared tip still goes, with an empty body.
    followups = list(db.query(
        "SELECT f.* FROM followups f JOIN tips t ON t.id = f.tip_id WHERE t.unit = ?"
        " AND f.body IS NOT NULL" + pending.format(t="f") + " ORDER BY f.tip_id, f.seq", [unit]))
    attachments = list(db.query(
        "SELECT a.* FROM attachments a JOIN tips t ON t.id = a.tip_id WHERE t.unit = ?"
        " AND a.blob IS NOT NULL" + pending.format(t="a") + " ORDER BY a.tip_id, a.part", [unit]))
    # A new follow-up of a tip whose report was cleared goes with that tip's
    # bodiless record: a workstation that never had the tip (another one
    # acknowledged it) then knows to skip it, instead of waiting for an
    # earlier bundle that can no longer carry the report.
    stubs = sorted({f["tip_id"] for f in followups} - {t["id"] for t in tips})
    if stubs:
        tips = list(db.query(
            "SELECT * FROM tips WHERE id IN (SELECT value FROM json_each(?)) AND length(body) = 0"
            " ORDER BY received_day, id", [json.dumps(stubs)])) + tips
    for tip in tips:
        tip["reply_seq"] = db.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM replies WHERE tip_id = ?", [tip["id"]]).fetchone()[0]
    return tips, followups, attachments


def mark_exported(db, seq, tips, followups, attachments, *, unit, export_id, chain):
    """Advance the export cursor for exactly the rows written to a bundle; record the export.

    False, and nothing written, if another export of the unit took ``seq``
    since it was read: checked in the same write transaction, so two
    exports can never both stamp (exchange.export_unit builds its bundle again).
    """
    with transaction(db):
        if next_export_seq(db, unit) != seq:
            return False
        db.execute("INSERT INTO exports (unit, seq, export_id, chain) VALUES (?, ?, ?, ?)",
                   [unit, seq, export_id, chain])
        for tip in tips:
            db.execute("UPDATE tips SET export_seq = ? WHERE id = ? AND export_seq = 0",
                       [seq, tip["id"]])
        for row in followups:
            db.execute("UPDATE followups SET export_seq = ? WHERE tip_id = ? AND seq = ? "
                       "AND export_seq = 0", [seq, row["tip_id"], row["seq"]])
        for row in attachments:
            db.execute("UPDATE attachments SET export_seq = ? WHERE tip_id = ? AND part = ? "
                       "AND export_seq = 0", [seq, row["tip_id"], row["part"]])
    return True


#: How each acknowledged item is found, with the unit of its tip.
_HELD_ITEM = {
    "tips": "SELECT unit, export_seq, held_seq FROM tips WHERE id = ?",
    "followups": "SELECT t.unit, f.export_seq, f.held_seq FROM followups f"
                 " JOIN tips t ON t.id = f.tip_id WHERE f.tip_id = ? AND f.seq = ?",
    "attachments": "SELECT t.unit, a.export_seq, a.held_seq FROM attachments a"
                   " JOIN tips t ON t.id = a.tip_id WHERE a.tip_id = ? AND a.part = ?",
}
_HELD_KEY = {"tips": "id = ?", "followups": "tip_id = ? AND seq = ?",
             "attachments": "tip_id = ? AND part = ?"}


def held_item(db, table, key):
    """{"unit", "export_seq", "held_seq"} of one item named by an acknowledgement, or None."""
    row = db.execute(_HELD_ITEM[table], list(key)).fetchone()
    return dict(zip(("unit", "export_seq", "held_seq"), row, strict=True)) if row else None


def mark_held(db, table, key, export_seq):
    """Record that the unit holds this item since ``export_seq``; False if already recorded.

    The first acknowledgement to name an item stays: a replay changes nothing.
    Call inside a transaction with the checks that admit the item.
    """
    cursor = db.execute(f"UPDATE {table} SET held_seq = ? WHERE {_HELD_KEY[table]} "
                        "AND held_seq = 0", [export_seq, *key])
    return cursor.rowcount == 1


#: The rows of one unit's items first carried by exports first..last, not yet held.
_IN_RANGE = {
    "tips": "unit = ?1 AND export_seq BETWEEN ?2 AND ?3",
    "followups": "tip_id IN (SELECT id FROM tips WHERE unit = ?1) AND export_seq BETWEEN ?2 AND ?3",
    "attachments": "tip_id IN (SELECT id FROM tips WHERE unit = ?1) "
                   "AND export_seq BETWEEN ?2 AND ?3",
}
#: An item named in the JSON list ?4 of not-held items.
_EXCEPTED = {
    "tips": "id IN (SELECT value FROM json_each(?4))",
    "followups": "EXISTS (SELECT 1 FROM json_each(?4) AS j WHERE j.value ->> 0 = tip_id "
                 "AND j.value ->> 1 = seq)",
    "attachments": "EXISTS (SELECT 1 FROM json_each(?4) AS j WHERE j.value ->> 0 = tip_id "
                   "AND j.value ->> 1 = part)",
}


def mark_held_range(db, table, unit, first, last, excepted):
    """Record that the unit holds every item of ``table`` first carried by exports
    ``first``..``last``, except the keys in ``excepted``; (newly held, already held).

    Each item's held_seq becomes the export that first carried it. Call inside
    a transaction with the checks that admit the run of exports.
    """
    params = [unit, first, last, json.dumps([list(key) if len(key) > 1 else key[0]
                                             for key in excepted])]
    where = f"{_IN_RANGE[table]} AND NOT {_EXCEPTED[table]}"
    (already,) = db.execute(f"SELECT COUNT(*) FROM {table} WHERE {where} AND held_seq != 0",
                            params).fetchone()
    cursor = db.execute(f"UPDATE {table} SET held_seq = export_seq WHERE {where} "
                        "AND held_seq = 0", params)
    return cursor.rowcount, already


def spend_form(db, once, day):
    """Record that the form token ``once`` was used; raise ``once.replay_error`` if it was.

    ``once`` has ``digest`` (bytes) and ``expires_day``, the day after which
    the token is refused for its age anyway; rows of days before ``day`` are
    deleted first. Call inside the transaction that acts on the form, so the
    token is spent exactly when the action is stored.
    """
    db.execute("DELETE FROM spent_forms WHERE expires_day < ?", [day])
    try:
        db.execute("INSERT INTO spent_forms (digest, expires_day) VALUES (?, ?)",
                   [bytes(once.digest), once.expires_day])
    except sqlite3.IntegrityError:
        raise once.replay_error() from None


def forget_spent_forms(db, day):
    """Delete the spent-form rows of tokens no longer valid on ``day`` (tipdrop purge)."""
    with transaction(db):
        return db.execute("DELETE FROM spent_forms WHERE expires_day < ?", [day]).rowcount


def spend_form_now(db, once, day):
    """spend_form in a transaction of its own (a check spends its token up front)."""
    with transaction(db):
        spend_form(db, once, day)


def remember_nonce(db, nonce, expires, now):
    """Record a signed request's nonce; False if it is already recorded.

    ``expires`` (when the request's time window closes) and ``now`` are Unix
    seconds, but only their UTC days are stored and compared: the second of
    an officer's request, left in the database's log beside the export it
    made, would bound when the reports that export carried arrived
    (docs/threat-model.md, "Times"; the app pulls every few minutes). A
    nonce is kept until the day after its window closes, so every request
    its timestamp does not already refuse (officer_auth) still meets it.
    """
    with transaction(db):
        db.execute("DELETE FROM officer_nonces WHERE expires_day < ?", [_utc_day(now)])
        try:
            db.execute("INSERT INTO officer_nonces (nonce, expires_day) VALUES (?, ?)",
                       [nonce, _utc_day(expires)])
        except sqlite3.IntegrityError:
            return False
    return True


def _utc_day(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).date().isoformat()


def stored_reply(db, tip_id, seq):
    """A tip's stored reply number ``seq`` (day, status, body, signature), or None."""
    row = db.execute("SELECT day, status, body, signature FROM replies WHERE tip_id = ? "
                     "AND seq = ?", [tip_id, seq]).fetchone()
    return None if row is None else {"day": row[0], "status": row[1], "body": row[2] or b"",
                                     "signature": row[3]}


def last_reply_seq(db, tip_id):
    return db.execute("SELECT COALESCE(MAX(seq), 0) FROM replies WHERE tip_id = ?",
                      [tip_id]).fetchone()[0]


def insert_replies(db, rows, statuses):
    """Store verified replies and the resulting statuses; call inside a transaction."""
    db["replies"].insert_all(rows)
    for tip_id, (status, day) in statuses.items():
        db.execute("UPDATE tips SET status = ?, status_day = ? WHERE id = ?",
                   [status, day, tip_id])


# --- transfers between units (docs/protocol.md section 11a) ---------------------------


def transfers_of(db, tip_id):
    """A tip's transfers, oldest first: [{"n", "day", "from_unit", "to_unit", "after_reply",
    "digest"}]."""
    names = ("n", "day", "from_unit", "to_unit", "after_reply", "digest")
    return [dict(zip(names, row, strict=True))
            for row in db.execute(f"SELECT {', '.join(names)} FROM transfers "
                                  "WHERE tip_id = ? ORDER BY n", [tip_id])]


def child_keys(db, tip_id):
    """(follow-up numbers, attachment parts) the server holds for a tip, sorted."""
    seqs = [r[0] for r in db.execute("SELECT seq FROM followups WHERE tip_id = ? ORDER BY seq",
                                     [tip_id])]
    parts = [r[0] for r in db.execute("SELECT part FROM attachments WHERE tip_id = ? "
                                      "ORDER BY part", [tip_id])]
    return seqs, parts


def move_tip(db, *, tip_id, from_unit, to_unit, key_id, day, report, followups, attachments,
             digest):
    """Hand a tip to ``to_unit`` with its re-sealed ciphertext; call inside a transaction.

    The tip keeps its row, so its receipt (locator, verifier, reply key) and
    its replies stay one record. Every item is marked not exported and not
    held, so the new unit's next export carries all of it; the replaced
    attachment blobs are deleted (``attachments``: {part: (info, new blob)}).
    """
    old_blobs = [r[0] for r in db.execute(
        "SELECT blob FROM attachments WHERE tip_id = ? AND blob IS NOT NULL", [tip_id])]
    db.execute("UPDATE tips SET unit = ?, key_id = ?, body = ?, status = 'transferred', "
               "status_day = ?, export_seq = 0, held_seq = 0 WHERE id = ?",
               [to_unit, key_id, report, day, tip_id])
    for seq, body in followups.items():
        db.execute("UPDATE followups SET body = ?, export_seq = 0, held_seq = 0 "
                   "WHERE tip_id = ? AND seq = ?", [body, tip_id, seq])
    for part, (info, blob, size) in attachments.items():
        db.execute("UPDATE attachments SET info = ?, blob = ?, size = ?, export_seq = 0, "
                   "held_seq = 0 WHERE tip_id = ? AND part = ?", [info, blob, size, tip_id, part])
    from tipdrop.server.store.blobs import delete

    delete(db, [b for b in old_blobs if not is_legacy_blob(b)])
    (n,) = db.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM transfers WHERE tip_id = ?",
                      [tip_id]).fetchone()
    db["transfers"].insert({"tip_id": tip_id, "n": n, "day": day, "from_unit": from_unit,
                            "to_unit": to_unit, "after_reply": last_reply_seq(db, tip_id),
                            "digest": digest})


# --- retention (docs/design.md, invariant 9) ------------------------------------------


def mark_receipt_used(db, tip_id, day):
    """Record the first day the tip's receipt opened it; later uses leave no trace.

    Retention only needs "was it ever used"; keeping the first day rather
    than the last keeps no record of how often or when a reporter returns.
    """
    db.execute("UPDATE tips SET receipt_used_day = ? WHERE id = ? "
               "AND receipt_used_day IS NULL", [day, tip_id])


def checkpoint_truncate(db):
    """Copy the WAL into the database, overwrite it, and truncate it to zero bytes.

    With WAL, the page images a delete replaced stay in the -wal file,
    secure_delete or not; truncating it alone would leave them in the
    blocks it frees (common/walscrub.py). Returns False if a reader kept the
    log in use (after busy_timeout): then nothing was cut short.
    """
    return walscrub.empty_log(db)


# --- public figures ----------------------------------------------------------------


def stats_cells(db, first_day, last_day):
    """Tips received from ``first_day`` to ``last_day`` (inclusive), counted by
    month, region, category and the status each had at the end of ``last_day``.

    The status comes from the unit's signed replies dated up to ``last_day``
    (a tip without one was still "received"), so figures for a closed period
    do not move from day to day as tips change status afterwards.
    """
    return [tuple(row) for row in db.execute(
        "SELECT substr(t.received_day, 1, 7) AS month, t.region, t.category,"
        " COALESCE((SELECT r.status FROM replies r WHERE r.tip_id = t.id AND r.day <= :last"
        "           ORDER BY r.seq DESC LIMIT 1), 'received') AS status,"
        " COUNT(*) FROM tips t WHERE t.received_day BETWEEN :first AND :last"
        " GROUP BY month, t.region, t.category, status ORDER BY month, t.region, t.category, status",
        {"first": first_day, "last": last_day},
    )]
