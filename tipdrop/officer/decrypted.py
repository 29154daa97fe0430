"""Every tip of the workspace decrypted in one pass: what the search index is built from.

Workspace.show opens one tip with several queries; unlocking the app
(search.py) needs every tip at once, so this reads each table of the
workspace once and decrypts as it goes, and unlocking thousands of tips
costs about their decryption. What it yields stays in memory: the index
holds it in SQLite's in-memory databases, never on disk.
"""

import json

from tipdrop.officer.unsealing import open_envelope


def decrypted_tips(workspace, keyring, tip_ids=None):
    """Every tip's list row and decrypted words, for the index.

    A few queries for the whole workspace instead of Workspace.show's per
    tip, so unlocking thousands of tips costs about their decryption. It
    reads; it marks nothing read. ``tip_ids`` limits it to those tips.
    """
    where, args = "", []
    if tip_ids is not None:
        where = f" WHERE tip_id IN ({', '.join('?' * len(tip_ids))})"
        args = list(tip_ids)
    conn = workspace.db.conn

    def grouped(sql):
        found = {}
        for row in conn.execute(sql + where + " ORDER BY 1, 2", args):
            found.setdefault(row[0], []).append(row)
        return found

    followups = grouped("SELECT tip_id, seq, body, read, damaged FROM followups")
    notes = grouped("SELECT tip_id, n, body FROM notes")
    replies = grouped("SELECT tip_id, seq, copy FROM outbox")
    files = grouped("SELECT tip_id, part, info, damaged FROM attachments")
    # where holds placeholders only (above); the ids are bound parameters.
    tips = conn.execute("SELECT id, status, category, region, received_day, body, damaged, "  # noqa: S608
                        "reply_seq FROM tips" + where.replace("tip_id", "id"), args)
    for tip_id, status, category, region, received, body, damaged, reply_seq in tips:
        what = f"tip {tip_id[:8]}"
        report = {} if damaged else json.loads(open_envelope(
            body, keyring, what, kind="tip", tip_id=tip_id))
        texts = [report.get(k) or "" for k in ("what", "where", "when", "description",
                                               "contact")]
        report_parts = sum(1 for t in texts if t)
        for _, seq, fbody, _, fdamaged in followups.get(tip_id, []):
            if not fdamaged:
                texts.append(json.loads(open_envelope(
                    fbody, keyring, f"follow-up {seq} of {what}", kind="followup",
                    tip_id=tip_id, part=f"f{seq}")).get("text") or "")
        for _, n, nbody in notes.get(tip_id, []):
            texts.append(open_envelope(nbody, keyring, f"note {n} of {what}", kind="note",
                                       tip_id=tip_id, part=f"n{n}").decode())
        for _, seq, copy in replies.get(tip_id, []):
            if copy:
                texts.append(open_envelope(copy, keyring, f"reply {seq} of {what}",
                                           kind="note", tip_id=tip_id,
                                           part=f"r{seq}").decode())
        for _, part, info, adamaged in files.get(tip_id, []):
            if not adamaged:
                texts.append(json.loads(open_envelope(
                    info, keyring, f"attachment {part} of {what}", kind="attachment-info",
                    tip_id=tip_id, part=part)).get("name") or "")
        yield {
            "id": tip_id, "status": status, "category": category, "region": region,
            "received": received,
            "unread_followups": sum(1 for f in followups.get(tip_id, []) if not f[3]),
            "attachments": len(files.get(tip_id, [])),
            "damaged": bool(damaged or any(f[4] for f in followups.get(tip_id, []))
                            or any(a[3] for a in files.get(tip_id, []))),
            "language": report.get("language") or "",
            # Answered: a reply or a status change queued here, or one the server had
            # (another workstation's), or a status other than the first.
            "answered": bool(replies.get(tip_id) or reply_seq or status != "received"),
            # The first words only: splitting all 2 KB of a report costs more than its unseal.
            "summary": " ".join((report.get("description") or report.get("what")
                                 or "")[:600].split())[:120],
            "texts": [t for t in texts if t],
            "report_parts": report_parts,
        }
