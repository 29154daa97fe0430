"""Another copy of a held tip: kept sealed, as it came, and a tip forwarded away come back.

A tip's sealed report and its arrival record never change on the server,
so a bundle that carries a held tip again carries the same bytes
(bundlechecks.changed_copies). Two things make another copy:

- The server changed it, or a bug did (anyone can seal a report to the
  unit's key under a held tip id). The held copy stays the tip's; the copy
  that came is **kept** here, sealed, as received, in the import's own
  transaction, before anything acknowledges the tip: an acknowledgement
  lets the server purge its copy, and the purge must not take the only
  evidence that someone swapped a stored report (docs/threat-model.md).
- This workspace forwarded the tip to another unit (forwarding.py), and a
  unit forwarded it back: its report comes sealed again, to this unit's key
  (docs/protocol.md section 11a). That is no alarm. It is *returned* only
  when every mark of it holds: the workspace sent a forward of the tip; the
  server says ``transferred`` on or after the forward's day; the copy opens
  here; its arrival record is the held one's (its key id may be a newer key
  of the unit); and its report says exactly what the held one says, but for
  the bindings of its files, which a forward replaces. Then the forward is
  over here (replies and forwards of the tip may be queued again), the tip
  takes the server's status, day and reply number (the other unit's
  replies count), and the held report stays the tip's; the returned copy is
  kept too, so a later re-export carrying it is known and not named again.
  A copy that fails any of these is a changed copy like any other.

Another copy of a held follow-up or file: itemcopies.py.
"""

import json

from tipdrop.errors import DecryptionError, FormatError
from tipdrop.officer.unsealing import open_envelope
from tipdrop.protocol import binding, documents

#: Why a copy was kept: changed by the server (or a bug), or forwarded back.
CHANGED, RETURNED = "changed", "returned"
#: The columns of a kept copy taken from the carried tip record, as staging.py staged it.
RECORD = ("key_id", "server_region", "server_category", "received_day", "status",
          "status_day", "reply_public", "reply_seq", "encrypted_on", "damaged")
#: What of the arrival record a forward back leaves as it was (its key id is this unit's newest).
_RETURNED_SAME = ("server_region", "server_category", "received_day", "reply_public",
                  "encrypted_on")
#: What a returned copy carried again must say as it said when it was taken back.
_KNOWN_SAME = ("key_id", *_RETURNED_SAME)

SCHEMA = """
CREATE TABLE IF NOT EXISTS copies (
    tip_id TEXT NOT NULL REFERENCES tips(id), n INTEGER NOT NULL, why TEXT NOT NULL,
    day TEXT NOT NULL, export_seq INTEGER NOT NULL, key_id TEXT NOT NULL,
    server_region TEXT NOT NULL, server_category TEXT NOT NULL, received_day TEXT NOT NULL,
    status TEXT NOT NULL, status_day TEXT NOT NULL, reply_public BLOB NOT NULL,
    reply_seq INTEGER NOT NULL, encrypted_on TEXT, damaged TEXT, body BLOB NOT NULL,
    PRIMARY KEY (tip_id, n));
"""

def returned_tips(db):
    """The ids of tips a copy of which came back here from a forward (kept as returned)."""
    return {tip_id for (tip_id,) in db.execute(
        "SELECT DISTINCT tip_id FROM copies WHERE why = ?", [RETURNED])}


def known_returned(db, rows, body_of):
    """The ids of ``rows`` (carried copies of held tips) that are a returned copy kept here.

    A re-export made before the server purged it carries the returned copy
    again: it was taken in already, and is not a changed copy.
    """
    known = set()
    for row in rows:
        body = body_of(row["body"])
        record = [row[c] for c in _KNOWN_SAME]
        for kept, *kept_record in db.execute(
                f"SELECT body, {', '.join(_KNOWN_SAME)} FROM copies "  # noqa: S608 (constants)
                "WHERE tip_id = ? AND why = ?", [row["id"], RETURNED]):
            if kept == body and kept_record == record:
                known.add(row["id"])
    return known


def returned(db, keyring, rows, body_of):
    """{tip id: the unit it was forwarded to} of the ``rows`` that are forwarded back.

    ``rows`` are carried copies of held tips that differ from the held one
    (bundlechecks.changed_copies); see the module's docstring for the marks
    each must bear.
    """
    if not rows:
        return {}
    sent = {tip_id: (to_unit, day) for tip_id, to_unit, day in db.execute(
        "SELECT tip_id, to_unit, day FROM forwards WHERE sent_day IS NOT NULL AND tip_id IN "
        "(SELECT value FROM json_each(?))", [json.dumps([row["id"] for row in rows])])}
    back = {}
    for row in rows:
        tip_id = row["id"]
        if tip_id not in sent or row["damaged"] or row["status"] != "transferred":
            continue
        to_unit, day = sent[tip_id]
        if row["status_day"] < day:
            continue
        held = db.execute(f"SELECT body, {', '.join(_RETURNED_SAME)} FROM tips "  # noqa: S608
                          "WHERE id = ? AND damaged IS NULL", [tip_id]).fetchone()
        if held is None:
            continue
        record = list(held[1:])
        record[-1] = record[-1] or "server"  # imported before device sealing was recorded
        if [row[c] for c in _RETURNED_SAME] != record:
            continue
        try:
            same = _said(held[0], keyring, tip_id) == _said(body_of(row["body"]), keyring, tip_id)
        except (DecryptionError, FormatError):
            continue
        if same:
            back[tip_id] = to_unit
    return back


def _said(body, keyring, tip_id):
    """What a report says, but for the bindings of its files' ciphertexts (a forward replaces them)."""
    doc = documents.read_report(open_envelope(body, keyring, f"tip {tip_id[:8]}", kind="tip",
                                              tip_id=tip_id), tip_id)
    if binding.ATTACHMENT_DIGESTS in doc:
        doc[binding.ATTACHMENT_DIGESTS] = sorted(doc[binding.ATTACHMENT_DIGESTS])
    return doc


def keep(db, rows, why, export_seq, day, body_of):
    """Keep each of ``rows`` (carried tip copies) sealed, as received; inside the import's transaction.

    A copy kept already (the same sealed report and record: a later
    re-export of the same changed copy) is not kept twice.
    """
    for row in rows:
        body = body_of(row["body"])
        record = [row[c] for c in RECORD]
        same = db.execute(
            f"SELECT 1 FROM copies WHERE tip_id = ? AND why = ? AND body = ? AND "  # noqa: S608
            f"{' AND '.join(f'{c} IS ?' for c in RECORD)}",
            [row["id"], why, body, *record]).fetchone()
        if same:
            continue
        (n,) = db.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM copies WHERE tip_id = ?",
                          [row["id"]]).fetchone()
        db.execute(f"INSERT INTO copies (tip_id, n, why, day, export_seq, {', '.join(RECORD)}, "  # noqa: S608
                   f"body) VALUES ({', '.join('?' * (len(RECORD) + 6))})",
                   [row["id"], n, why, day, export_seq, *record, body])


def take_back(db, rows):
    """The forwards of ``rows`` (returned copies) are over; the tips take the server's status.

    Inside the import's transaction. The reply number only grows: the
    unit the tip was with may have replied (the server numbers every reply
    of a tip in one sequence, docs/protocol.md section 11).
    """
    for row in rows:
        db.execute("DELETE FROM forwards WHERE tip_id = ?", [row["id"]])
        db.execute("UPDATE tips SET status = ?, status_day = ?, reply_seq = MAX(reply_seq, ?) "
                   "WHERE id = ?", [row["status"], row["status_day"], row["reply_seq"],
                                    row["id"]])


def kept(db, tip_id):
    """The copies of ``tip_id`` kept here (no bodies), oldest first: for ``officer show``."""
    return [{"n": n, "why": why, "day": day, "export_seq": seq} for n, why, day, seq in db.execute(
        "SELECT n, why, day, export_seq FROM copies WHERE tip_id = ? ORDER BY n", [tip_id])]
