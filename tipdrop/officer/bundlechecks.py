"""What a bundle must be and say before anything of it is believed.

The server is untrusted by the workstation (docs/threat-model.md), and so is
whoever can edit the file on its way: a bundle's checksum has no key. These
checks refuse what such a server or editor could do to a bundle as a whole:
a file that is not a bundle (``officer open /dev/zero`` is refused before it
is read further, see open_checked), a header for another unit or dated in the
future, a record dated after the day its bundle was made (docs/protocol.md
section 10), items that are not the ones its server chained, an export
that drops the chain or does not link to the exports held here
(check_history), an item named twice, a changed copy of an export the
workspace opened before; and it
names the tips held here that a bundle carries changed (changed_copies),
which are not taken but do not refuse the bundle. Each item's own
authenticity is checked as it is staged (staging.py).
"""

import datetime
import hashlib
import hmac
import json
import os
import stat
from pathlib import Path

from tipdrop.common.days import today
from tipdrop.errors import WrongKeyError
from tipdrop.protocol import acks, bundles, fields

#: The bundle file's read buffer (one, whatever the bundle's size).
READ_BUFFER = 1024 * 1024
#: What of a tip's record the server never changes once it arrived: a copy carried
#: again must say the same (changed_copies); status and replies do change.
SAME_RECORD = ("key_id", "server_region", "server_category", "received_day",
               "reply_public", "encrypted_on")
_DEVICE_COLUMN = SAME_RECORD.index("encrypted_on")
_HELD_RECORDS = (f"SELECT id, body, {', '.join(SAME_RECORD)} FROM tips "  # noqa: S608 (constants)
                 "WHERE id IN (SELECT value FROM json_each(?))")


class ChangedBundleError(bundles.BundleError):
    """This bundle differs from the copy of it opened here before: it was changed on the server or on the way, so nothing of it was imported."""


class UnchainedBundleError(bundles.BundleError):
    """This bundle's header lacks the export chain that the exports opened here carried: it was altered on the way (or its server replaced by an older version), so nothing of it was imported."""

    detail_is_message = False


class HistoryDiffersError(bundles.BundleError):
    """This export does not follow the exports opened here: one of them was altered on the way (an item dropped or changed), or the server was restored from a backup, so nothing of it was imported."""

    detail_is_message = False


def open_checked(path):
    """The bundle file, open at its start, once it is a regular file that begins like a bundle.

    A device (``/dev/zero``), a pipe or a folder is refused before it is
    read (reading it first would never end, or block), and so is a file
    without the bundle's magic, before the rest of it is read.
    """
    # O_NONBLOCK: opening a pipe must not wait for a writer (reads of a file are unaffected).
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    # The reader asks for each record's head, then its payload: a buffer of
    # READ_BUFFER spares most of the system calls an 8 KiB one makes.
    f = os.fdopen(fd, "rb", buffering=READ_BUFFER)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise bundles.BundleError(f"{Path(path).name} is not a regular file, so not a bundle")
        if f.read(len(bundles.EXPORT_MAGIC)) != bundles.EXPORT_MAGIC:
            raise bundles.BundleError("not a tipdrop export bundle")
        f.seek(0)
    except BaseException:
        f.close()
        raise
    return f


def fingerprint(path):
    """The SHA-256 of the bundle file (hex), once open_checked accepts it.

    An import learns it from its one pass over the file
    (bundles.ExportReader.file_sha256); this second pass is for a bundle
    refused on the way, which may still be one the workspace opened before.
    """
    with open_checked(path) as f:
        digest = hashlib.sha256()
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_header(record, unit):
    """The header's fields, once it is a header of this version, for ``unit``, made by now."""
    doc = record.doc
    if record.kind != bundles.HEADER or doc.get("format") != bundles.EXPORT_FORMAT:
        raise bundles.BundleError("the bundle has no header")
    if doc.get("version") != 1:
        raise bundles.BundleError(f"unsupported bundle version {doc.get('version')!r}")
    if doc.get("unit") != unit:
        raise WrongKeyError(f"the bundle is for unit {doc.get('unit')!r}, "
                            f"this key is for unit {unit!r}")
    doc = fields.check(doc, fields.EXPORT_HEADER, "the header", bundles.BundleError)
    if doc["created_day"] > _tomorrow():  # a day of slack for clocks and time zones
        raise bundles.BundleError(f"its header says it was made on {doc['created_day']}, "
                                  "a day still to come: it was altered or its server's "
                                  "clock is wrong")
    return doc


def check_days(what, doc, created_day, *names):
    """No day of a record may come after the day its bundle was made (its header's).

    fields.py checks each is a real day; a server (or whoever edits the
    file) could still date a tip 9999-12-31, shown with a negative age
    and sorted first. Old days are kept: a legitimate tip may be years
    old when it is first exported, and a forwarded tip is sealed again
    to a key perhaps made long after it was received (protocol.md
    section 10).
    """
    for name in names:
        if doc[name] > created_day:
            raise bundles.BundleError(
                f"{what}: its {name.replace('_', ' ')} {doc[name]} is after the day the "
                f"bundle was made ({created_day}): it was altered")


def check_chain(staged):
    """The items read must be the ones the server chained (acking.py acknowledges by it).

    The checksum at the end of a bundle has no key, so whoever rewrote a
    bundle could drop a report and fix it; the chain value still names the
    server's own list, and a compact acknowledgement is checked against it.
    """
    if staged.chain is None:
        return
    carried = staged.carried
    items = acks.items_digest(carried["tips"], carried["followups"], carried["attachments"])
    expected = acks.chain_link(staged.previous_chain, staged.unit, staged.export_seq,
                               staged.export_id, items)
    if not hmac.compare_digest(expected, staged.chain):
        raise bundles.BundleError("its items are not the ones its server listed in its "
                                  "header: it was altered")


def check_history(db, staged):
    """The export must continue the chain of the exports this workspace opened.

    Once a workspace holds a chained export, a header without the chain is
    refused: stripping it (an "older server") would otherwise turn off every
    check that needs it, here and at the acknowledgement. And the export
    must link to what is held around it: its ``previous_chain`` must be the
    chain held for the export numbered one less, and, for a number opened
    here for the first time, its ``chain`` must be the ``previous_chain``
    held for the one after (opened first). The chain has no key, so an
    editor who drops an item and chains the bundle again passes
    check_chain; what such an edit cannot do is keep the server's next
    export linking to it, so it is caught when that export is opened here
    (unless the same editor rewrites every export after it: only the
    server's check of the acknowledgement catches that, docs/threat-model.md).
    A number held under another export id passes when it links: a server
    restored from a backup makes its exports again (acking.record_held).
    """
    if staged.chain is None:
        row = db.execute("SELECT MIN(export_seq) FROM held WHERE chain IS NOT NULL").fetchone()
        if row[0] is not None:
            raise UnchainedBundleError(f"export {staged.export_seq}; chained since export "
                                       f"{row[0]}")
        return
    seq = staged.export_seq
    before = _held_chain(db, "chain", seq - 1)
    if before and not hmac.compare_digest(bytes.fromhex(before[0]), staged.previous_chain):
        raise HistoryDiffersError(f"export {seq} follows another export {seq - 1} than the "
                                  f"one opened here on {before[1]}")
    if db.execute("SELECT 1 FROM held WHERE export_seq = ?", [seq]).fetchone() is None:
        after = _held_chain(db, "previous_chain", seq + 1)
        if after and not hmac.compare_digest(bytes.fromhex(after[0]), staged.chain):
            raise HistoryDiffersError(f"export {seq + 1}, opened here on {after[1]}, follows "
                                      f"another export {seq} than this one")


def _held_chain(db, column, export_seq):
    """(hex value of ``column``, day opened) of a chained export held here, or None."""
    return db.execute(f"SELECT {column}, day FROM held WHERE export_seq = ? "  # noqa: S608
                      "AND chain IS NOT NULL", [export_seq]).fetchone()


def refuse_changed_copy(db, staged):
    """A bundle whose export was opened here before must be that very file.

    An export's id is 16 random bytes the server draws for each export it
    writes (docs/protocol.md section 11), so an honest server never writes
    two different files under one export number and id; opening.py lets the
    same file through as already opened (by its SHA-256). Any other file
    naming them was altered after it was written, even if every item in it
    still opens: its clear fields (a status, a region) are the sender's word.
    Skipping what is already held would report it as "nothing new" and hide
    that the server or the medium is tampering. A bundle from an older server
    has no export id, so no identity to compare.
    """
    if staged.export_id is None:
        return
    row = db.execute("SELECT day FROM held WHERE export_seq = ? AND export_id = ?",
                     [staged.export_seq, staged.export_id.hex()]).fetchone()
    if row:
        raise ChangedBundleError(f"export {staged.export_seq}, opened on {row[0]}")


def carry_once(carried, key):
    """Note ``key``, an item the bundle names, in ``carried`` (its list's keys so far).

    A bundle names each item once; a repeated one means a faulty or hostile
    server. Held items too: each copy of a held follow-up or file is compared
    (itemcopies.py), and one that differs is kept and warned about, so a
    server repeating one would otherwise have the workspace keep, and the
    officer read, as many copies as it cares to write. Refused on the
    second, before the rest of the bundle is read.
    """
    if key in carried:
        raise bundles.BundleError("the same item appears twice in the bundle")
    carried.add(key)


def _tomorrow():
    return (datetime.date.fromisoformat(today()) + datetime.timedelta(days=1)).isoformat()


def changed_copies(db, resent, body_of):
    """The ids (sorted) of held tips that ``resent`` (staged rows) carries changed.

    A tip's sealed report and its arrival record (SAME_RECORD) never change
    on the server, so a re-export carries them byte for byte (an intact copy
    of a tip held damaged is the one exception: it replaces the held one,
    and is not passed here). Another copy is authentic too (anyone can seal
    to the unit's public key): the server's tampering or a bug. The held
    copy stays; the officer is told (docs/threat-model.md, a compromised
    server). One query reads the held rows of the tips carried again, and
    each body (``body_of(ref)``, from the spill) is compared as it comes,
    none kept: a first import, which holds nothing, pays nothing.
    """
    if not resent:
        return []
    carried = {row["id"]: row for row in resent}
    changed = []
    for tip_id, body, *record in db.execute(_HELD_RECORDS, [json.dumps(list(carried))]):
        row = carried[tip_id]
        if record[_DEVICE_COLUMN] is None:  # imported before device sealing was recorded
            record[_DEVICE_COLUMN] = "server"
        if [row[c] for c in SAME_RECORD] != record or body_of(row["body"]) != body:
            changed.append(tip_id)
    return sorted(changed)
