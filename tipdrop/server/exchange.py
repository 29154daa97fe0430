"""Server side of the officer exchange: export bundles out, reply bundles in.

The server holds only ciphertext, so exporting is copying: every tip,
follow-up and attachment of a unit that no earlier export carried goes into
one bundle file, and the export cursor moves only once the file is complete
and synced. Importing replies trusts nothing but the unit's signature: the
whole bundle is refused if any part of it is forged, modified, replayed,
out of order or meant for another unit's tips. Export acknowledgements
(acks.py) come back the same way: signed by the unit, checked whole, and
recorded so that ``tipdrop purge`` can delete the ciphertext the unit holds.
"""

import hmac
import secrets
from pathlib import Path

from tipdrop.common import sqlite
from tipdrop.common.days import today
from tipdrop.common.files import atomic_file
from tipdrop.crypto import canonical
from tipdrop.errors import InputError, SignatureError, TipdropError, UnknownUnitError
from tipdrop.protocol import acks, bundles
from tipdrop.protocol.fields import MAX_REPLIES, REPLY_STATUSES
from tipdrop.server import attachments, forwarding, store

#: Only a comparison of two replies, never signed or stored.
_HELD = "tipdrop/v1/held-reply"


class ReplayError(TipdropError):
    """These replies were already imported, or are out of order: nothing was imported."""


class WrongUnitError(TipdropError):
    """The bundle contains replies to tips of another unit: nothing was imported."""


class NotYourBundleError(TipdropError):
    """This reply bundle was made by another unit than the one sending it: nothing was imported."""

    http_status = 403


class AckItemsError(TipdropError):
    """The acknowledgement names items this server never exported to that unit: nothing was recorded."""


class AckHistoryError(AckItemsError):
    """The acknowledgement names exports this server did not make: they were altered on the way to the workstation (a report dropped or changed), or this server was restored from a backup older than them. Nothing was recorded."""


class NotYourAckError(TipdropError):
    """This acknowledgement was made by another unit than the one sending it: nothing was recorded."""

    http_status = 403


#: How many times an export is built again when another export of the same
#: unit finished while it was being written (see export_unit).
EXPORT_ATTEMPTS = 5


class ExportBusyError(TipdropError):
    """Other exports of this unit kept finishing first: nothing was exported. Try again."""

    http_status = 503


def export_unit(db, attachments_dir, *, unit, out, since_start=False, clock=today):
    """Write the unit's new ciphertext to the file ``out``; return counts.

    The file appears only when complete (temporary file, fsync, rename), and
    only then does the cursor move, so an interrupted export is simply
    repeated next time. Rows and attachment bytes are read in one read
    transaction: a purge running meanwhile cannot take bytes from under it.

    Two exports of one unit may run at once (``tipdrop export`` and an
    online pull): both read the same rows and take the same number. Only one
    can stamp it; the other finds, in the write transaction that would
    stamp, that its number is taken, removes its file and builds the bundle
    again from what is left. So both succeed, with consecutive numbers, and
    no item is in both bundles, while the database is never locked for the
    time a bundle takes to write.
    """
    out = Path(out)
    if out.exists():
        raise InputError(f"{out} already exists; refusing to overwrite it")
    for _ in range(EXPORT_ATTEMPTS):
        counts = _export_once(db, attachments_dir, unit, out, since_start, clock)
        if counts is not None:
            return counts
    raise ExportBusyError(f"unit {unit!r}")


def _export_once(db, attachments_dir, unit, out, since_start, clock):
    """One try of export_unit: its counts, or None (file removed) if the number was taken."""
    # A random id per export, chained to the unit's earlier exports: a compact
    # acknowledgement names runs of exports by it (protocol.md section 11).
    export_id = secrets.token_bytes(16)
    with sqlite.snapshot(db):
        seq = store.next_export_seq(db, unit)
        tips, followups, files = store.export_rows(db, unit, since_start)
        previous = store.export_chain(db, unit, seq - 1) or acks.GENESIS
        chain = acks.chain_link(previous, unit, seq, export_id, acks.items_digest(
            [t["id"] for t in tips], [(f["tip_id"], f["seq"]) for f in followups],
            [(a["tip_id"], a["part"]) for a in files]))
        _write_export(db, attachments_dir, out, unit, seq, since_start, clock,
                      tips, followups, files, export_id=export_id, chain=(previous, chain))
    if not store.mark_exported(db, seq, tips, followups, files, unit=unit,
                               export_id=export_id, chain=chain):
        out.unlink()
        return None
    return {"tips": len(tips), "followups": len(followups), "attachments": len(files),
            "export_seq": seq}


def _write_export(db, attachments_dir, out, unit, seq, since_start, clock,
                  tips, followups, files, *, export_id, chain):
    with atomic_file(out, mode=0o600) as f:
        writer = bundles.ExportWriter(f)
        writer.record(bundles.HEADER, {
            "format": bundles.EXPORT_FORMAT, "version": 1, "unit": unit,
            "export_seq": seq, "created_day": clock(), "since_start": bool(since_start),
            "export_id": export_id.hex(), "previous_chain": chain[0].hex(),
            "chain": chain[1].hex(),
        })
        for tip in tips:
            writer.record(bundles.TIP, {
                "id": tip["id"], "key_id": tip["key_id"], "region": tip["region"],
                "category": tip["category"], "received_day": tip["received_day"],
                "status": tip["status"], "status_day": tip["status_day"],
                "reply_public": bundles.b64(tip["reply_public"]),
                "reply_seq": tip["reply_seq"], "encrypted_on": tip["encrypted_on"],
                # None: the unit acknowledged holding the report and the server deleted it.
                "body": bundles.b64(tip["body"]) if tip["body"] else None,
            })
        for row in followups:
            writer.record(bundles.FOLLOWUP, {
                "tip_id": row["tip_id"], "seq": row["seq"],
                "received_day": row["received_day"], "encrypted_on": row["encrypted_on"],
                "body": bundles.b64(row["body"]),
            })
        for row in files:
            with attachments.open_blob(db, attachments_dir, row["blob"]) as (blob, size):
                writer.record(bundles.ATTACHMENT, {
                    "tip_id": row["tip_id"], "part": row["part"],
                    "info": bundles.b64(row["info"]), "size": size,
                })
                writer.stream(blob, size)
        writer.finish()


def import_replies(db, unit_keys, data, *, sender=None, alerts=None):
    """Verify a signed reply bundle and store all of it, or none of it.

    ``sender`` is the unit that sent it over the officer API, which must be
    the bundle's own. A reply the server already holds with the very same
    day, status and sealed body is counted as already held, not refused: a
    lost outbox file can be written again (``officer outbox --resend``) and
    a push whose answer was lost can be repeated. Anything else under a
    number already taken, forged, or out of order refuses the whole bundle,
    so nothing can be changed or reordered by a replay. Already-held
    replies must come before the new ones of their tip. The one exception
    is a tip whose replies do not follow the numbers the server holds (out
    of order, or another reply under a number held: a workstation whose
    numbering of that tip came from an altered export, docs/protocol.md
    section 11): all that tip's new replies are left out and named in
    ``refused`` ({tip id: why}), and the other tips' replies are stored. Forwards the
    bundle carries (forwarding.py) are applied after its replies, in the
    same transaction; one imported before counts as already held. A tip
    forwarded to a unit with duty alerts (``alerts``, an AlertConfig) counts
    toward that unit's next alert like a report that arrived for it.
    """
    bundle = bundles.parse_reply_bundle(data)
    if sender is not None and bundle.unit != sender:
        raise NotYourBundleError(f"the bundle is unit {bundle.unit!r}'s")
    bundles.verify_reply_bundle(bundle, _signer(unit_keys, bundle, "bundle").ed25519)
    with sqlite.transaction(db):
        rows, statuses, held, refused = _new_replies(db, bundle)
        store.insert_replies(db, rows, statuses)
        moved = [forwarding.apply(db, unit_keys, bundle, f, alerts=alerts)
                 for f in bundle.forwards]
    counts = {"replies": len(rows), "tips": len(statuses), "already_imported": held}
    if refused:  # {tip id: why}: only when there is something to say
        counts["refused"] = refused
    if moved:
        counts |= {"forwards": moved.count(True), "forwards_already": moved.count(False)}
    return counts


def _new_replies(db, bundle):
    """The bundle's replies not held yet, checked.

    Returns (rows, {tip: (status, day)}, held count, {tip: why its replies were left out}).
    """
    rows, statuses, next_seq, held, refused = [], {}, {}, 0, {}
    for reply in bundle.replies:
        if reply.tip_id in refused:
            continue
        tip = store.get_tip(db, reply.tip_id)
        if reply.status not in REPLY_STATUSES:
            raise bundles.BundleError(f"unknown status {reply.status!r}")
        if tip is not None and tip["unit"] != bundle.unit \
                and forwarding.transferred_from(db, reply.tip_id, bundle.unit):
            # Sent again after the forward (a resent outbox file): fine if held as it is.
            try:
                if reply.tip_id not in next_seq and _already_held(db, reply):
                    held += 1
                    continue
            except ReplayError:
                pass
            raise forwarding.TransferredTipError(f"tip {reply.tip_id[:8]}")
        if tip is None or tip["unit"] != bundle.unit:
            raise WrongUnitError(f"tip {reply.tip_id[:8]}")
        try:
            if reply.tip_id not in next_seq and _already_held(db, reply):
                held += 1
                continue
            why = _out_of_line(db, reply, next_seq)
        except ReplayError:  # another reply under a number held: the numbering is off
            why = f"reply {reply.seq} differs from the one already imported under that number"
        if why:
            # This tip's numbering is off (bound to stay so: its next replies follow it);
            # the tip's replies are left out, and no other tip's wait for it.
            refused[reply.tip_id] = why
            rows = [row for row in rows if row["tip_id"] != reply.tip_id]
            statuses.pop(reply.tip_id, None)
            continue
        next_seq[reply.tip_id] = reply.seq + 1
        rows.append({"tip_id": reply.tip_id, "seq": reply.seq, "day": reply.day,
                     "status": reply.status, "body": reply.body or None,
                     "signature": reply.signature, "key_id": bundle.key_id.hex()})
        statuses[reply.tip_id] = (reply.status, reply.day)
    return rows, statuses, held, refused


def _out_of_line(db, reply, next_seq):
    """Why ``reply`` cannot be its tip's next reply, or None."""
    if reply.seq > MAX_REPLIES:
        return f"reply {reply.seq} is beyond the {MAX_REPLIES} replies a tip may have"
    expected = next_seq.get(reply.tip_id) or store.last_reply_seq(db, reply.tip_id) + 1
    if reply.seq != expected:
        return f"reply {reply.seq} arrived, {expected} was expected"
    return None


def _already_held(db, reply):
    """Whether the server holds this very reply; a different one under its number is refused.

    The same day, status and sealed body (compared in constant time): the
    signature may differ only if a newer key of the unit signed it again
    after a rotation, and that signature was verified with the bundle.
    """
    stored = store.stored_reply(db, reply.tip_id, reply.seq)
    if stored is None:
        return False
    same = hmac.compare_digest(
        canonical.encode(_HELD, stored["day"], stored["status"], bytes(stored["body"])),
        canonical.encode(_HELD, reply.day, reply.status, bytes(reply.body)))
    if not same:
        raise ReplayError(f"tip {reply.tip_id[:8]}: reply {reply.seq} differs from the one "
                          "already imported under that number")
    return True


def _signer(unit_keys, signed, what):
    """The installed (never a retired) key a unit document names, which must be that unit's."""
    try:
        public = unit_keys.by_id(signed.key_id)
    except UnknownUnitError:
        raise SignatureError(
            f"signed with key {signed.key_id.hex()}, which is not installed on this server"
        ) from None
    if public.unit != signed.unit:
        raise SignatureError(f"the {what} names a different unit than its key")
    return public


def import_ack(db, unit_keys, data, *, sender=None):
    """Verify a signed export acknowledgement and record every item it names, or none.

    Each item must be a row of the signing unit that an export numbered
    ``export_seq`` or earlier carried. Items no longer here (purged since,
    or forwarded by the unit to another one) are counted as gone; items already recorded stay as they are, so a
    replayed acknowledgement changes nothing. Returns counts.
    """
    ack = acks.parse(data)
    if sender is not None and ack.unit != sender:
        raise NotYourAckError(f"the acknowledgement is unit {ack.unit!r}'s")
    acks.verify_ack(ack, _signer(unit_keys, ack, "acknowledgement").ed25519)
    if isinstance(ack, acks.RangeAck):
        return _import_range_ack(db, ack)
    counts = {"tips": 0, "followups": 0, "attachments": 0, "already": 0, "gone": 0}
    named = [("tips", (tip_id,)) for tip_id in ack.tips]
    named += [("followups", key) for key in ack.followups]
    named += [("attachments", key) for key in ack.attachments]
    with sqlite.transaction(db):
        for table, key in named:
            row = store.held_item(db, table, key)
            if row is None:
                counts["gone"] += 1
                continue
            if row["unit"] != ack.unit and forwarding.transferred_from(db, key[0], ack.unit):
                # Forwarded since: its ciphertext is now the other unit's, to keep.
                counts["gone"] += 1
                continue
            if row["unit"] != ack.unit:
                raise AckItemsError(f"tip {key[0][:8]} is not unit {ack.unit!r}'s")
            if not 0 < row["export_seq"] <= ack.export_seq:
                raise AckItemsError(f"export {ack.export_seq} did not carry this {table[:-1]} "
                                    f"of tip {key[0][:8]}")
            if store.mark_held(db, table, key, ack.export_seq):
                counts[table] += 1
            else:
                counts["already"] += 1
    return counts


def _import_range_ack(db, ack):
    """Record a compact acknowledgement: every item first carried by its runs of exports.

    Each run must end in an export this server made for the unit with the
    same chain value, so the whole run is the exports the workstation
    opened; each item named as not held must be the unit's (or gone:
    purged, or forwarded by the unit to another since). A tip forwarded since
    is another unit's row, first exported again by that unit's exports: no
    run of this unit's covers it.
    """
    counts = {"tips": 0, "followups": 0, "attachments": 0, "already": 0, "gone": 0}
    excepted = {"tips": [(t,) for t in ack.except_tips], "followups": ack.except_followups,
                "attachments": ack.except_attachments}
    with sqlite.transaction(db):
        for _, last, chain in ack.ranges:
            ours = store.export_chain(db, ack.unit, last)
            if ours is None or not hmac.compare_digest(ours, chain):
                raise AckHistoryError(f"export {last} of unit {ack.unit!r}")
        for table, keys in excepted.items():
            for key in keys:
                row = store.held_item(db, table, key)
                if row is None or (row["unit"] != ack.unit and forwarding.transferred_from(
                        db, key[0], ack.unit)):  # purged, or forwarded by the unit since
                    counts["gone"] += 1
                    continue
                # An item first carried by an export outside the runs (a tip another
                # workspace holds, carried again by a since-start export) is simply
                # not marked: naming it as not held can only keep a copy here.
                if row["unit"] != ack.unit:
                    raise AckItemsError(f"a {table[:-1]} of tip {key[0][:8]} it names as "
                                        "not held")
        for first, last, _ in ack.ranges:
            for table, keys in excepted.items():
                held, already = store.mark_held_range(db, table, ack.unit, first, last, keys)
                counts[table] += held
                counts["already"] += already
    return counts

