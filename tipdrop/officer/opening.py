"""Opening an export bundle into the workspace: authenticate everything, then write it at once.

All or nothing: every envelope and stream is decrypted once to prove it
authentic before one row is written (staging.py; content sealed on the
reporter's device is the one exception, imported marked damaged), and
everything is written in one transaction, which also records what of that
export the workspace now holds (for the acknowledgement, see
Workspace.pending_ack). A bundle a server damaged or forged is refused whole
(bundlechecks.py).

What a hostile server controls is bounded (docs/threat-model.md): the file
must be a regular file that begins like a bundle before it is read further
(bundlechecks.open_checked); every envelope waits for the transaction on disk
(spill.py), not in memory, so an import's memory does not grow with the
bundle's contents; no day a record carries may come after the day its
bundle says it was made (docs/protocol.md section 10); and a changed copy
of an export opened before is refused, not reported as "nothing new"
(bundlechecks.refuse_changed_copy), and so is an export that does not
continue the chain of those opened here, or lacks it once they had one
(bundlechecks.check_history). A tip held here that a bundle carries
with another sealed report is not taken, but named (``differs``), its copy
kept sealed as it came (so is another copy of a held follow-up or file,
``differs_items``), and the rest of the bundle opens, as with the other
items one tip can spoil; a tip forwarded from here that came back is taken
back (``returned``, copies.py).
"""

import fcntl
import os
import re
from contextlib import contextmanager
from pathlib import Path

from tipdrop.common import sqlite
from tipdrop.common.days import today
from tipdrop.common.files import fsync_dir
from tipdrop.errors import InputError
from tipdrop.officer import copies, itemcopies
from tipdrop.officer import replacing as replacing_mod
from tipdrop.officer import spill as spill_mod
from tipdrop.officer.acking import ITEM_LISTS
from tipdrop.officer.bundlechecks import (
    check_history,
    fingerprint,
    open_checked,
    refuse_changed_copy,
)
from tipdrop.officer.scratch import Scratch
from tipdrop.officer.scratch import clean as clean_scratch
from tipdrop.officer.spill import Spill
from tipdrop.officer.staging import Reading, Staged

#: The file whose lock the one import a workspace runs at a time holds (one_import).
LOCK_NAME = ".import.lock"


class ImportRunningError(InputError):
    """Another import into this workspace is running (the officer app or another command): try again once it has finished."""

    detail_is_message = False


@contextmanager
def one_import(workspace):
    """Hold the workspace's import lock for the block, after sweeping what a killed import left.

    Imports of one workspace run one at a time: two at once (the app's
    automatic pull and ``officer open`` of the same export) each staged
    against the workspace as it was, and the second's transaction ended in
    an internal error on the rows the first had written. The one holding
    the lock owns every file under ``attachments/tmp``, so anything there is
    a leftover of an import that was killed (a spill as large as a bundle's
    envelopes, its files), and so is a file in ``attachments`` that no row
    names (moved there by a transaction that never committed): swept here,
    or a killed import's gigabytes would stay for good.
    """
    fd = os.open(workspace.dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ImportRunningError() from None
        _sweep(workspace)
        yield
    finally:
        os.close(fd)  # releases the lock


#: The names an import gives its files: a staged or stored stream, and the spill (spill.py).
_BLOB = re.compile(r"[0-9a-f]{32}\.bin")
_SCRATCH = re.compile(r"[0-9a-f]{32}\.bin|import-[0-9a-f]{32}\.spill")


def _sweep(workspace):
    """Only files named as an import names its own: nothing an officer put there is touched."""
    for leftover in (workspace.blobs / "tmp").iterdir():
        if _SCRATCH.fullmatch(leftover.name) and leftover.is_file() \
                and not leftover.is_symlink():
            leftover.unlink(missing_ok=True)
    named = {blob for (blob,) in workspace.db.execute("SELECT blob FROM attachments")}
    for path in workspace.blobs.iterdir():
        if _BLOB.fullmatch(path.name) and path.name not in named and path.is_file() \
                and not path.is_symlink():
            path.unlink(missing_ok=True)


def open_bundle(workspace, path, keyring, progress=lambda n: None, again=False):
    """Import an export bundle after proving every item authentic, one import at a time.

    Returns the counts, the ids of the tips it added (for the audit log) and the ids of
    every tip it added or changed (a follow-up, a file, a damaged item replaced, a
    forwarded tip back): what the officer app indexes again.

    An intact copy of an item the workspace holds damaged replaces it, in
    the same transaction (counted as ``replaced``). ``again`` opens a bundle
    opened before (``officer reopen``: e.g. once the keyring has the key a
    damaged item needed).
    """
    with one_import(workspace):
        return _open_bundle(workspace, path, keyring, progress, again)


def _open_bundle(workspace, path, keyring, progress, again):
    db = workspace.db
    staged = Staged()
    with open_checked(path) as f:
        scratch = Scratch(workspace.blobs / "tmp")  # locked while it runs (scratch.py)
        # What killed imports left since the workspace was opened (the officer
        # app keeps it open for days); never a running import's, this one's included.
        clean_scratch(workspace.blobs / "tmp")
        try:
            spill = Spill(scratch.folder)
        except BaseException:
            scratch.close()
            raise
        try:
            # One pass reads, checks and hashes the file; a bundle opened before is
            # known by that hash at its end, and nothing of it is stored. One refused
            # on the way is hashed again whole: it may be one opened before (with a
            # key since lost, say), which is said as it always was.
            try:
                Reading(workspace, keyring, staged, spill).read(_Counting(f, progress))
            except Exception:
                if not again and _opened_before(db, fingerprint(path)):
                    return dict(_ALREADY_OPENED), [], set()
                raise
            opened_before = _opened_before(db, staged.sha256)
            if opened_before and not again:
                return dict(_ALREADY_OPENED), [], set()
            if not opened_before:  # another file naming an export held here: altered
                refuse_changed_copy(db, staged)
                check_history(db, staged)  # (the very file opened before passed it then)
            replacing, old_blobs = _store(workspace, staged, spill, opened_before)
        finally:
            spill.close()
            for tmp, _ in staged.files:
                Path(tmp).unlink(missing_ok=True)
            scratch.close()
    for name in old_blobs:  # the damaged copies' files, once the intact ones are committed
        (workspace.blobs / name).unlink(missing_ok=True)
    touched = {row["id"] for row in staged.tips}
    touched.update(row["tip_id"] for row in staged.followups + staged.attachments)
    touched.update(row.get("tip_id") or row.get("id") for rows in replacing.values()
                   for row in rows)
    touched.update(staged.returned)
    # The replacing copies were taken out of staged's lists: new tips are new.
    return _counts(staged, replacing), [row["id"] for row in staged.tips], touched


#: What opening a bundle the workspace opened before gives back (nothing stored).
_ALREADY_OPENED = {"tips": 0, "followups": 0, "attachments": 0, "already_opened": True}


def _opened_before(db, sha256):
    return db.execute("SELECT 1 FROM bundles WHERE sha256 = ?", [sha256]).fetchone() is not None


def _store(workspace, staged, spill, opened_before):
    """Write everything staged in one transaction.

    Returns the damaged copies replaced ({list: rows}) and their files, to
    remove once the intact copies are committed.
    """
    db = workspace.db
    replacing = replacing_mod.take_replacements(staged, ITEM_LISTS)
    with sqlite.transaction(db):
        for table, rows in (("tips", staged.tips), ("followups", staged.followups),
                            ("attachments", staged.attachments)):
            if rows:
                spill_mod.insert(db, table, rows, spill)
        old_blobs = replacing_mod.replace_damaged(db, replacing, spill.get)
        # Before anything can acknowledge them: the server's purge must not take
        # the only copy of what it carried changed (copies.py).
        copies.keep(db, staged.kept, copies.CHANGED, staged.export_seq, today(), spill.get)
        itemcopies.keep(db, staged.kept_items, staged.export_seq, today(), spill.get)
        back = [row for _, row in staged.returned.values()]
        copies.keep(db, back, copies.RETURNED, staged.export_seq, today(), spill.get)
        copies.take_back(db, back)
        if not opened_before:
            db["bundles"].insert({"sha256": staged.sha256, "day": today()})
        workspace.record_held(staged.export_seq, staged.held,
                              export_id=staged.export_id,
                              previous_chain=staged.previous_chain, chain=staged.chain,
                              carried=staged.carried)
        for tmp, final in staged.files:
            os.rename(tmp, final)
    fsync_dir(workspace.blobs)
    return replacing, old_blobs


def _counts(staged, replacing):
    counts = {"tips": len(staged.tips), "followups": len(staged.followups),
              "attachments": len(staged.attachments), "already_opened": False,
              "unavailable": len(staged.gone), "damaged": staged.damaged}
    replaced = sum(map(len, replacing.values()))
    if replaced:  # only when there is something to say, like the counts below
        counts |= {"replaced": replaced,
                   "replaced_tips": sorted({row.get("tip_id") or row.get("id")
                                            for rows in replacing.values() for row in rows})}
    if staged.differs:  # held tips carried changed: kept as held, named (staging.py)
        counts |= {"differs": len(staged.differs), "differs_tips": list(staged.differs)}
    if staged.differs_items:  # held follow-ups and files carried changed: kept the same way
        counts |= {"differs_items": list(staged.differs_items)}
    if staged.returned:  # tips forwarded from here, come back (copies.py)
        counts |= {"returned": len(staged.returned),
                   "returned_to": {tip_id: unit for tip_id, (unit, _) in
                                   sorted(staged.returned.items())}}
    # Only when there is something to say: items not the reporter's (section 14).
    counts |= {name: n for name, n in (("not_bound", staged.not_bound),
                                        ("not_signed", staged.not_signed)) if n}
    if staged.relabelled:  # the export's clear sealer label contradicted the sealed one
        counts |= {"relabelled": sorted(staged.relabelled)}
    if staged.rekeyed:  # the export's clear reply key was not the one the report binds
        counts |= {"rekeyed": sorted(staged.rekeyed)}
    return counts


class _Counting:
    """A read-through file wrapper that reports progress in bytes."""

    def __init__(self, f, progress):
        self._f = f
        self._progress = progress

    def read(self, n=-1):
        data = self._f.read(n)
        self._progress(len(data))
        return data
