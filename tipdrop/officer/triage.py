"""Duplicates: a tip marked as a duplicate of another, linked both ways, and undone.

The same event is often reported many times; officers work on one tip and
mark the others as its duplicates, so each page leads to the other. A link
is the officer's work, like a note, so it is kept like a note: two rows of
the workspace's ``links`` table, one on each tip, each sealed to the unit's
newest key (kind ``note``, part ``dN``: JSON ``{"duplicate_of": ID}`` on the
duplicate, ``{"duplicated_by": ID}`` on the other; docs/protocol.md section
13). A lost laptop shows that a tip has links, not which. Both rows are
written, or removed by the undo, in one transaction, and each is recorded in
the audit log (``duplicate``, ``duplicate-undone``).

A link is not a status: the reporter learns of it only from a reply or a
status change (*Already reported*) the officer sends as usual.
"""

import json

from tipdrop.common import sqlite
from tipdrop.common.days import today
from tipdrop.crypto import envelope
from tipdrop.errors import InputError
from tipdrop.officer.unsealing import open_envelope

DUPLICATE_OF, DUPLICATED_BY = "duplicate_of", "duplicated_by"
#: Links followed at most when looking for a circle (a chain longer than this is refused).
MAX_CHAIN = 1000


class SelfDuplicateError(InputError):
    """A tip cannot be a duplicate of itself."""

    detail_is_message = False


class AlreadyDuplicateError(InputError):
    """This tip is already marked as a duplicate of another tip: undo that first."""

    detail_is_message = False


class DuplicateCircleError(InputError):
    """The other tip is already a duplicate of this one (directly or through other tips)."""

    detail_is_message = False


class NotDuplicateError(InputError):
    """This tip is not marked as a duplicate of another tip."""

    detail_is_message = False


def _rows(workspace, keyring, tip_id):
    """The tip's links, opened: [(n, document)]."""
    found = []
    for n, body in workspace.db.execute("SELECT n, body FROM links WHERE tip_id = ? ORDER BY n",
                                        [tip_id]):
        found.append((n, json.loads(open_envelope(body, keyring, f"link {n} of tip {tip_id[:8]}",
                                                  kind="note", tip_id=tip_id, part=f"d{n}"))))
    return found


def links(workspace, tip_id: str, keyring) -> dict:
    """``{"duplicate_of": the tip this one duplicates or None, "duplicates": [tips]}``."""
    rows = [doc for _, doc in _rows(workspace, keyring, tip_id)]
    return {"duplicate_of": next((d[DUPLICATE_OF] for d in rows if DUPLICATE_OF in d), None),
            "duplicates": sorted(d[DUPLICATED_BY] for d in rows if DUPLICATED_BY in d)}


def mark_duplicate(workspace, tip_id: str, of: str, keyring) -> None:
    """Mark ``tip_id`` as a duplicate of ``of`` (both resolved ids), on both tips."""
    if tip_id == of:
        raise SelfDuplicateError()
    if links(workspace, tip_id, keyring)["duplicate_of"] is not None:
        raise AlreadyDuplicateError()
    current, steps = of, 0
    while current is not None:  # of, what of duplicates, and so on: never back to tip_id
        if current == tip_id or steps > MAX_CHAIN:
            raise DuplicateCircleError()
        current, steps = links(workspace, current, keyring)["duplicate_of"], steps + 1
    with sqlite.transaction(workspace.db):
        _add(workspace, keyring, tip_id, {DUPLICATE_OF: of})
        _add(workspace, keyring, of, {DUPLICATED_BY: tip_id})
    workspace.audit.record(keyring, "duplicate", tip_id, of=of)


def _add(workspace, keyring, tip_id, document):
    (n,) = workspace.db.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM links WHERE tip_id = ?",
                                [tip_id]).fetchone()
    body = envelope.seal(json.dumps(document).encode(), keyring.newest_public.recipient,
                         kind="note", tip_id=tip_id, part=f"d{n}")
    workspace.db.execute("INSERT INTO links (tip_id, n, day, body) VALUES (?, ?, ?, ?)",
                         [tip_id, n, today(), body])


def undo_duplicate(workspace, tip_id: str, keyring) -> str:
    """Remove the link of the duplicate ``tip_id`` from both tips; return the other tip."""
    mine = [(n, d[DUPLICATE_OF]) for n, d in _rows(workspace, keyring, tip_id)
            if DUPLICATE_OF in d]
    if not mine:
        raise NotDuplicateError()
    [(n, of)] = mine[:1]
    theirs = [m for m, d in _rows(workspace, keyring, of) if d.get(DUPLICATED_BY) == tip_id]
    with sqlite.transaction(workspace.db):
        workspace.db.execute("DELETE FROM links WHERE tip_id = ? AND n = ?", [tip_id, n])
        for m in theirs:
            workspace.db.execute("DELETE FROM links WHERE tip_id = ? AND n = ?", [of, m])
    workspace.audit.record(keyring, "duplicate-undone", tip_id, of=of)
    return of
