"""Retention: which tips are purged, and purging them so nothing of them is left.

A tip is purged when its case is closed (confirmed, unfounded, duplicate,
referred, closed) and either

- its status was set ``closed_days`` or more days ago ("expired"), or
- the unit holds all of it (tip, files and follow-ups exported) and its
  receipt was never used: nobody is coming back to read a reply ("unused").

Whatever the status, the *ciphertext* of items the unit acknowledged
holding (a signed export acknowledgement, acks.py) is deleted from tips that
stay: report, follow-ups, file descriptions and files. What the reporter
still needs stays: the tip row with its status, receipt verifier and reply
key, the replies, and the numbered rows of follow-ups and files.

Deleted means gone (docs/design.md, invariant 9): rows are deleted with ``secure_delete`` on,
so SQLite overwrites them with zeros (attachments' bytes too: they are rows,
store/blobs.py); the indexes that name tips are rebuilt, since their interior
pages keep copies of deleted keys (a receipt's locator); attachment files an older tipdrop left are overwritten,
then unlinked; and the WAL, which still holds the pages as they were before the
delete, is checkpointed, overwritten with zeros and truncated to zero bytes
(common/walscrub.py: truncated alone, its freed blocks keep those pages).

No click, no Flask: ``tipdrop purge`` calls :func:`plan`, then :func:`purge`.
"""

import datetime
from collections import Counter
from dataclasses import dataclass, field

from tipdrop.common import sqlite
from tipdrop.errors import InputError, TipdropError
from tipdrop.server import attachments, store
from tipdrop.server.store import deletion

#: Statuses that end a case; the retention time runs from the day one was set.
CLOSED_STATUSES = ("confirmed", "unfounded", "duplicate", "referred", "closed")
MAX_DAYS = 36500
#: Tips deleted per transaction, and bytes of their attachments: short write
#: locks while the server runs (a batch of 1,000 tips without files takes
#: about 0.1 s on a 2-core machine; bench/growth.py).
BATCH = 1000
BATCH_BYTES = 64 * 1024 * 1024
#: Tips whose held ciphertext is cleared per transaction (their files' sizes
#: are not looked at first, so fewer).
HELD_BATCH = 100
#: SQLite's page cache while purging, in KiB. Its default, 2 MiB, is 31 of
#: the database's 64 KiB pages: fewer than the index pages one batch
#: changes in a database of 100,000 tips, so SQLite wrote changed pages out
#: to the WAL before the commit and read them back, several times per
#: batch (bench/RESULTS.md, "How the costs grow").
PURGE_CACHE_KIB = 64 * 1024


class RetentionDaysError(InputError):
    """The retention time must be a whole number of days, from 1 to 36500."""

    detail_is_message = False


class SecureDeleteOffError(TipdropError):
    """secure_delete is off for this database: refusing to purge, the deleted data would remain."""


class WalBusyError(TipdropError):
    """The database was busy and its log still holds purged data: run tipdrop purge again."""


@dataclass(frozen=True)
class Candidate:
    """A tip due for purging, and which rule makes it due."""

    tip_id: str
    status: str
    status_day: str
    rule: str  # "expired" or "unused"


@dataclass(frozen=True)
class Plan:
    """What a purge on ``today`` with ``closed_days`` removes."""

    today: str
    closed_days: int
    cutoff: str
    tips: tuple
    #: Held items of the tips that stay whose ciphertext goes: {"tips", "followups", "attachments"}.
    held: dict = field(default_factory=lambda: {"tips": 0, "followups": 0, "attachments": 0})

    def reason(self, candidate):
        if candidate.rule == "expired":
            return f"closed {self.closed_days}+ days"
        return "closed, exported, receipt never used"

    def counts(self):
        """How many tips each rule selects: {"expired": n, "unused": m}."""
        return {"expired": 0, "unused": 0} | dict(Counter(c.rule for c in self.tips))


@dataclass(frozen=True)
class Result:
    tips: int
    files: int
    orphans: int
    wal_truncated: bool
    #: Held items whose ciphertext was deleted: {"tips", "followups", "attachments"}.
    cleared: dict = field(default_factory=lambda: {"tips": 0, "followups": 0, "attachments": 0})


def plan(db, *, today, closed_days):
    """Which tips a purge on ``today`` (a date or YYYY-MM-DD) would delete; reads only."""
    if isinstance(closed_days, bool) or not isinstance(closed_days, int) \
            or not 1 <= closed_days <= MAX_DAYS:
        raise RetentionDaysError()
    day = today if isinstance(today, datetime.date) else datetime.date.fromisoformat(today)
    cutoff = (day - datetime.timedelta(days=closed_days)).isoformat()
    rows = deletion.purgeable_tips(db, closed=CLOSED_STATUSES, cutoff=cutoff)
    held = deletion.held_ciphertext(db, exclude=[row["id"] for row in rows])
    return Plan(day.isoformat(), closed_days, cutoff, tuple(
        Candidate(row["id"], row["status"], row["status_day"], row["rule"]) for row in rows),
        held)


def purge(db, attachments_dir, plan, batch=BATCH, batch_bytes=BATCH_BYTES):
    """Delete the plan's tips for good; return what was removed.

    Each batch (at most ``batch`` tips and ``batch_bytes`` of their
    attachments, one tip at least) is one transaction, attachments' bytes
    included, taken in the order the tips are stored; legacy
    files are removed only after their rows are committed away, so a crash
    between leaves unreferenced files, which the orphan sweep here (and at
    server start) removes. Then the
    ciphertext the unit holds is cleared from the tips that stay, in
    batches too, and its files removed the same way. The WAL is truncated
    last, even when there was nothing to delete.
    """
    # Checked here, not assumed: without it the deleted bytes stay in the file.
    if sqlite.pragma_report(db)["secure_delete"] != 1:
        raise SecureDeleteOffError()
    (cache,) = db.execute("PRAGMA cache_size").fetchone()
    db.execute(f"PRAGMA cache_size=-{PURGE_CACHE_KIB}")
    try:
        return _purge(db, attachments_dir, plan, batch, batch_bytes)
    finally:
        db.execute(f"PRAGMA cache_size={int(cache)}")


def _purge(db, attachments_dir, plan, batch, batch_bytes):
    ids = [candidate.tip_id for candidate in plan.tips]
    deleted = files = 0
    for chunk in deletion.batches(db, ids, tips=batch, size=batch_bytes):
        gone, blobs = deletion.purge_tips(db, chunk, closed=CLOSED_STATUSES, cutoff=plan.cutoff)
        _remove_files(attachments_dir, blobs)
        deleted += len(gone)
        files += len(blobs)
    if deleted:
        deletion.rebuild_tip_indexes(db)
    cleared = {"tips": 0, "followups": 0, "attachments": 0}
    while True:
        counts, blobs = deletion.clear_held(db, min(batch, HELD_BATCH))
        _remove_files(attachments_dir, blobs)
        files += len(blobs)
        cleared = {table: cleared[table] + counts[table] for table in cleared}
        if not any(counts.values()):
            break
    orphans = attachments.sweep_orphans(db, attachments_dir, plan.today)
    # Also when no form was sent for days (a sent form deletes them too).
    store.forget_spent_forms(db, plan.today)
    return Result(deleted, files, orphans, store.checkpoint_truncate(db), cleared)


def _remove_files(attachments_dir, names):
    """Overwrite and unlink the legacy files among ``names`` (the rest went with their rows)."""
    for name in names:
        if store.is_legacy_blob(name):
            attachments.remove_blob(attachments_dir, name)
