"""The SQL of deleting for good (docs/design.md, invariant 9): which tips are due, and deleting them.

tipdrop.server.retention decides and reports; these functions run the statements,
each batch in one transaction, with the connection's secure_delete on, so
the freed pages are zeroed (the WAL is overwritten and emptied by checkpoint_truncate).
"""

import json

from tipdrop.common.sqlite import transaction
from tipdrop.server.store import _digest, blobs, is_legacy_blob

_PURGEABLE = """
SELECT id, status, status_day,
       CASE WHEN status_day <= :cutoff THEN 'expired' ELSE 'unused' END AS rule
FROM tips
WHERE status IN (SELECT value FROM json_each(:closed)) {only} AND (
    status_day <= :cutoff
    OR (receipt_used_day IS NULL AND export_seq > 0
        AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.tip_id = tips.id AND a.export_seq = 0)
        AND NOT EXISTS (SELECT 1 FROM followups f WHERE f.tip_id = tips.id AND f.export_seq = 0)))
ORDER BY status_day, id
"""


def purgeable_tips(db, *, closed, cutoff, ids=None):
    """Tips with a status in ``closed`` that are due for purging, oldest first.

    Due: the status was set on ``cutoff`` or before ("expired"), or the unit
    has everything of the tip and its receipt was never used ("unused").
    """
    params = {"closed": json.dumps(list(closed)), "cutoff": cutoff}
    only = ""
    if ids is not None:
        only = "AND id IN (SELECT value FROM json_each(:ids))"
        params["ids"] = json.dumps(list(ids))
    return [dict(zip(("id", "status", "status_day", "rule"), row, strict=True))
            for row in db.execute(_PURGEABLE.format(only=only), params)]


def batches(db, tip_ids, *, tips, size):
    """``tip_ids`` in the order their rows are stored, cut into lists for :func:`purge_tips`.

    Each list holds at most ``tips`` tips and, unless it is a single tip,
    at most ``size`` bytes of attachment ciphertext still here: the write
    lock of a batch stays short whether its tips carry files or not.

    Storage (rowid) order, not the plan's oldest-first order: with
    secure_delete every page a transaction changes is zeroed or rewritten
    and copied into the WAL, page by page. Tips taken in the order they
    were stored share their table pages (and those of the index on unit
    and export number) with the rest of their batch; taken in any other
    order, each tip of a batch changes a page of its own once the table
    outgrows the batch, and a purge of 100,000 tips wrote a 64 KiB page
    per tip (bench/RESULTS.md, "How the costs grow").
    """
    rows = db.execute(
        "SELECT t.id, (SELECT COALESCE(SUM(a.size), 0) FROM attachments a"
        " WHERE a.tip_id = t.id AND a.blob IS NOT NULL)"
        " FROM tips t WHERE t.id IN (SELECT value FROM json_each(?)) ORDER BY t.rowid",
        [json.dumps(list(tip_ids))])
    out, batch, batch_size = [], [], 0
    for tip_id, files in rows:
        if batch and (len(batch) >= tips or batch_size + files > size):
            out.append(batch)
            batch, batch_size = [], 0
        batch.append(tip_id)
        batch_size += files
    if batch:
        out.append(batch)
    return out


def purge_tips(db, tip_ids, *, closed, cutoff):
    """Delete those of ``tip_ids`` still due, with everything that hangs off them.

    One transaction: a tip is gone with its follow-ups, replies and file rows,
    or all of it is still there. Eligibility is checked again inside it, so a
    tip re-opened since the plan was made is kept. Their attachments' bytes
    (store/blobs.py) go in the same transaction. Returns the deleted ids and
    the names of their blobs: the caller removes those that are legacy files.
    """
    with transaction(db):
        due = [row["id"] for row in purgeable_tips(db, closed=closed, cutoff=cutoff, ids=tip_ids)]
        if not due:
            return [], []
        ids = json.dumps(due)
        # A blob is NULL once the unit acknowledged holding the file (clear_held).
        names = [row[0] for row in db.execute(
            "SELECT blob FROM attachments WHERE blob IS NOT NULL"
            " AND tip_id IN (SELECT value FROM json_each(?))", [ids])]
        for table in ("followups", "replies", "attachments", "transfers"):
            db.execute(f"DELETE FROM {table} WHERE tip_id IN (SELECT value FROM json_each(?))",
                       [ids])
        db.execute("DELETE FROM tips WHERE id IN (SELECT value FROM json_each(?))", [ids])
        db.conn.executemany("INSERT OR IGNORE INTO spent_tip_ids (digest) VALUES (?)",
                            [(_digest(tip_id),) for tip_id in due])
        legacy = _delete_blobs(db, names)
    return due, legacy


#: Tables whose indexes hold a tip's id or receipt locator as a key.
_TIP_KEYED = ("tips", "attachments", "followups", "replies", "transfers")


def rebuild_tip_indexes(db):
    """Rebuild every index that names tips, so no key of a deleted tip is left in its pages.

    An index b-tree copies some of its keys into its interior pages, as
    dividers between leaves, and deleting the entry leaves that copy where
    it is, secure_delete or not: purged reports' receipt locators and ids
    stayed in the file. REINDEX builds each index anew and frees its old
    pages, which secure_delete zeroes. One transaction; the WAL holds the
    old pages until checkpoint_truncate.
    """
    with transaction(db):
        for table in _TIP_KEYED:
            db.execute(f"REINDEX {table}")


#: Items the unit holds whose ciphertext is still on the server.
_HELD_CIPHERTEXT = {
    "tips": "SELECT id AS tip_id FROM tips WHERE held_seq > 0 AND length(body) > 0",
    "followups": "SELECT tip_id FROM followups WHERE held_seq > 0 AND body IS NOT NULL",
    "attachments": "SELECT tip_id FROM attachments WHERE held_seq > 0 AND blob IS NOT NULL",
}


def held_ciphertext(db, *, exclude=()):
    """How many held items still have ciphertext here: {"tips", "followups", "attachments"}.

    Items of the tips in ``exclude`` (due for purging whole) are not counted.
    """
    skip = json.dumps(list(exclude))
    return {table: db.execute(f"SELECT COUNT(*) FROM ({sql}) WHERE tip_id NOT IN "
                              "(SELECT value FROM json_each(?))", [skip]).fetchone()[0]
            for table, sql in _HELD_CIPHERTEXT.items()}


def clear_held(db, limit):
    """Delete the ciphertext the unit holds, for up to ``limit`` tips, in one transaction.

    Kept: the tip row (status, receipt verifier, reply key), replies, and the
    rows of follow-ups and files with their numbers, so the reporter's check
    page and the numbering of later follow-ups go on as before. The report
    body becomes empty (the column is NOT NULL); a follow-up's body and a
    file's description and name become NULL, its bytes are deleted in the
    same transaction. Returns (counts, blob names): the caller removes
    those that are legacy files once this is committed.
    """
    with transaction(db):
        union = " UNION ".join(_HELD_CIPHERTEXT.values())
        ids = json.dumps([row[0] for row in db.execute(
            f"SELECT tip_id FROM ({union}) ORDER BY tip_id LIMIT ?", [limit])])
        within = "tip_id IN (SELECT value FROM json_each(?))"
        names = [row[0] for row in db.execute(
            f"SELECT blob FROM attachments WHERE {within} AND held_seq > 0 AND blob IS NOT NULL",
            [ids])]
        counts = {
            "tips": db.execute("UPDATE tips SET body = X'' WHERE id IN (SELECT value FROM "
                               "json_each(?)) AND held_seq > 0 AND length(body) > 0",
                               [ids]).rowcount,
            "followups": db.execute(f"UPDATE followups SET body = NULL WHERE {within} "
                                    "AND held_seq > 0 AND body IS NOT NULL", [ids]).rowcount,
            "attachments": db.execute(f"UPDATE attachments SET info = NULL, blob = NULL WHERE "
                                      f"{within} AND held_seq > 0 AND blob IS NOT NULL",
                                      [ids]).rowcount,
        }
        legacy = _delete_blobs(db, names)
    return counts, legacy


def _delete_blobs(db, names):
    """Delete the blobs kept in the database; return ``names`` (legacy files among them)."""
    blobs.delete(db, [name for name in names if not is_legacy_blob(name)])
    return names
