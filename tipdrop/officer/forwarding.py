"""Forward a tip to another unit: open it here, seal it again to that unit's key, sign it.

The other unit's public key is pinned by the officer: its ``.pub`` file,
checked against a fingerprint read out of band (``--fingerprint``) or shown
and confirmed. Everything of the tip is sealed in the formats a reporter's
device uses (tipdrop.protocol.device), bound to the same tip id, kinds and
parts, so the other unit's workstation opens it like any tip. The signed
forward (tipdrop.protocol.forwards) waits in the workspace and leaves with
the next outbox file or push, after the replies queued before it.

Plaintext exists only in memory, one item at a time except attachments,
which are held whole (in and out) while they are sealed again; a forward
must fit in one reply bundle (bundles.MAX_REPLY_BUNDLE).
"""

import hmac
import io
import json

from tipdrop.common import sqlite
from tipdrop.common.days import today
from tipdrop.crypto import keys, stream
from tipdrop.errors import InputError
from tipdrop.officer import provenance
from tipdrop.officer.unsealing import open_envelope, stream_opener
from tipdrop.protocol import binding, bundles, device, forwards

#: Room left in a reply bundle for its replies and the JSON around a forward.
_BUNDLE_MARGIN = 1024 * 1024


class FingerprintMismatchError(InputError):
    """The key file's fingerprint is not the one given: it is not that unit's key. Nothing was forwarded."""

    detail_is_message = False


class AlreadyForwardedError(InputError):
    """This tip was already forwarded from this workspace."""

    detail_is_message = False


class ForwardTooLargeError(InputError):
    """The tip is too large to forward in one bundle."""

    detail_is_message = False


class DamagedTipError(InputError):
    """Part of this tip could not be opened here, so it cannot be forwarded whole."""

    detail_is_message = False


def target_key(path, *, to_unit, fingerprint=None):
    """The receiving unit's public key from its ``.pub`` file, checked.

    ``fingerprint`` (as printed by ``tipdrop keys show``, spaces and case
    ignored) must match the file's; without one the caller shows the
    fingerprint and asks the officer to confirm it.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(64 * 1024)
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None
    return parse_target_key(data, to_unit=to_unit, fingerprint=fingerprint)


def parse_target_key(data, *, to_unit, fingerprint=None):
    """:func:`target_key` from the key file's bytes (the officer app's form pastes them)."""
    public = keys.parse_public(data)
    if public.unit != to_unit:
        raise InputError(f"the key file is unit {public.unit!r}'s, not {to_unit!r}'s")
    if fingerprint is not None:
        given = "".join(fingerprint.split()).lower().encode("ascii", "replace")
        if not hmac.compare_digest(given, public.fingerprint.hex().encode("ascii")):
            raise FingerprintMismatchError(keys.format_fingerprint(public.fingerprint))
    return public


def forward(workspace, keyring, tip_id, target):
    """Seal tip ``tip_id`` to ``target`` (a UnitPublicKey), sign it and queue it.

    The local copy becomes ``transferred``; its replies queued so far still
    leave, before the forward, and no new reply can be queued for it.
    """
    db = workspace.db
    if workspace.has("forwards", "tip_id = ?", tip_id):
        raise AlreadyForwardedError(tip_id[:12])
    tip = next(db["tips"].rows_where("id = ?", [tip_id]))
    if target.unit == keyring.signing_key.unit:
        raise InputError("that is this unit's own key: forward to another unit")
    if workspace.is_damaged(tip_id):
        raise DamagedTipError(tip_id[:12])
    rows = list(db["attachments"].rows_where("tip_id = ?", [tip_id], order_by="part"))
    _check_size(db, tip, rows)
    recipient = target.recipient
    what = f"tip {tip_id[:8]}"
    report = open_envelope(tip["body"], keyring, what, kind="tip", tip_id=tip_id)
    copies, digests = _attachments(workspace, keyring, tip_id, rows, report, recipient)
    followups = tuple(
        forwards.FollowupCopy(f["seq"], f["received_day"], f["encrypted_on"] or "server",
                              device.seal_followup(open_envelope(
                                  f["body"], keyring, f"follow-up {f['seq']} of {what}",
                                  kind="followup", tip_id=tip_id, part=f"f{f['seq']}"),
                                  recipient, tip_id, f["seq"]))
        for f in db["followups"].rows_where("tip_id = ?", [tip_id], order_by="seq"))
    day = today()
    unit_key = keyring.signing_key
    signed = forwards.sign_forward(unit_key.ed25519, unit_key.unit, unit_key.key_id,
                                   forwards.Forward(
                                       tip_id, target.unit, target.key_id, day,
                                       device.seal_report(_rebind(report, digests), recipient,
                                                          tip_id),
                                       followups, copies))
    with sqlite.transaction(db):
        db["forwards"].insert({"tip_id": tip_id, "to_unit": target.unit, "day": day,
                               "forward": json.dumps(forwards.to_json(signed)).encode("ascii"),
                               "key_id": unit_key.key_id.hex(), "sent_day": None,
                               "prev_status": tip["status"], "prev_status_day": tip["status_day"]})
        db.execute("UPDATE tips SET status = 'transferred', status_day = ? WHERE id = ?",
                   [day, tip_id])
    workspace.audit.record(keyring, "forward", tip_id, to_unit=target.unit,
                           key_id=target.key_id.hex())
    return {"followups": len(followups), "attachments": len(copies)}


def _check_size(db, tip, rows):
    """Refuse, before sealing anything, a forward the next bundle could not carry.

    Sealed again, every item keeps its length (same plaintext, same padding),
    so the sizes held here are the sizes sent, in base64 (4/3), next to the
    forwards already queued: they all leave in one bundle, which must stay
    under bundles.MAX_REPLY_BUNDLE with room for replies.
    """
    (followups,) = db.execute("SELECT COALESCE(SUM(length(body)), 0) FROM followups "
                              "WHERE tip_id = ?", [tip["id"]]).fetchone()
    (queued,) = db.execute("SELECT COALESCE(SUM(length(forward)), 0) FROM forwards "
                           "WHERE sent_day IS NULL").fetchone()
    sealed = len(tip["body"]) + followups + sum(r["size"] + len(r["info"]) for r in rows)
    if sealed * 4 // 3 + queued > bundles.MAX_REPLY_BUNDLE - _BUNDLE_MARGIN:
        hint = "; send the forwards already queued first (outbox or push)" if queued else ""
        raise ForwardTooLargeError(f"it would take {sealed * 4 // 3 // 2**20} MiB of the "
                                   f"{(bundles.MAX_REPLY_BUNDLE - _BUNDLE_MARGIN) // 2**20} "
                                   f"MiB a bundle can carry{hint}")


def cancel(workspace, keyring, tip_id):
    """Withdraw this workspace's forward of a tip; the tip gets back the status it had.

    For a forward the server refused (the other unit has no key there, or
    the tip changed meanwhile): until it is withdrawn it would be sent, and
    refused, with every outbox file and push. A forward the server already
    applied stays applied: the server refuses this unit's replies to the tip
    whatever this workspace holds.
    """
    row = workspace.db.execute("SELECT to_unit, prev_status, prev_status_day FROM forwards "
                               "WHERE tip_id = ?", [tip_id]).fetchone()
    if row is None:
        raise InputError(f"tip {tip_id[:12]} has no forward to withdraw")
    with sqlite.transaction(workspace.db):
        workspace.db.execute("DELETE FROM forwards WHERE tip_id = ?", [tip_id])
        workspace.db.execute("UPDATE tips SET status = ?, status_day = ? WHERE id = ?",
                             [row[1], row[2], tip_id])
    workspace.audit.record(keyring, "forward-cancel", tip_id, to_unit=row[0])
    return row[0]


def _attachments(workspace, keyring, tip_id, rows, report, recipient):
    """Every file sealed again: (copies, {part: new binding} for the files the report bound)."""
    bound = binding.digests_of(json.loads(report)) or {}
    copies, digests = [], {}
    for row in rows:
        part = row["part"]
        with open(workspace.blobs / row["blob"], "rb") as src:
            header = src.read(stream.HEADER_LEN).ljust(stream.HEADER_LEN, b"\0")
            verdict = provenance.judge_attachment(bound or None, part, row["info"], header)
            src.seek(0)
            plain = io.BytesIO()
            stream.decrypt_stream(src, plain, stream_opener(src, keyring, row),
                                  kind="attachment", tip_id=tip_id, part=part)
        info = device.seal_attachment_info(
            open_envelope(row["info"], keyring, f"attachment {part} of tip {tip_id[:8]}",
                          kind="attachment-info", tip_id=tip_id, part=part),
            recipient, tip_id, part)
        plain.seek(0)
        sealed = io.BytesIO()
        stream_header = device.encrypt_attachment(plain, sealed, recipient, tip_id, part)
        # Only a file the report bound stays bound: forwarding must not vouch
        # for a file the reporter's device never listed.
        if verdict == provenance.BOUND:
            digests[part] = binding.attachment_digest(info, stream_header)
        copies.append(forwards.AttachmentCopy(part, info, sealed.getvalue()))
    return tuple(copies), digests


def _rebind(report, digests):
    """The report document with its bindings naming the new ciphertexts (same bytes if none)."""
    if not digests:
        return report
    doc = json.loads(report)
    doc[binding.ATTACHMENT_DIGESTS] = {part: dict(doc[binding.ATTACHMENT_DIGESTS][part])
                                       for part in doc[binding.ATTACHMENT_DIGESTS]} | digests
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def pending(db, sent=False, since=None, tip_ids=()):
    """Queued forwards (or, with ``sent``, those already sent), as rows with a parsed forward."""
    where, args = ["sent_day IS NOT NULL" if sent else "sent_day IS NULL"], []
    if since is not None:
        where.append("sent_day >= ?")
        args.append(since)
    if tip_ids:
        where.append(f"tip_id IN ({', '.join('?' * len(tip_ids))})")
        args += list(tip_ids)
    return [row | {"parsed": forwards.from_json(json.loads(row["forward"]))}
            for row in db["forwards"].rows_where(" AND ".join(where), args, order_by="tip_id")]


def signed_by(rows, unit_key):
    """The forwards of ``rows``, signed again by ``unit_key`` where an older key signed them."""
    out = []
    for row in rows:
        fwd = row["parsed"]
        if row["key_id"] != unit_key.key_id.hex():
            fwd = forwards.sign_forward(unit_key.ed25519, unit_key.unit, unit_key.key_id, fwd)
        out.append(fwd)
    return out
