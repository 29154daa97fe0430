"""Replies and status changes, signed and queued in the workspace, and the outbox that carries them.

Each reply is signed by the unit's newest key when it is queued (a copy of
its text sealed to the unit's own key stays with the tip); the outbox is one
signed reply bundle, with the forwards queued (forwarding.py), written to a
file or pushed to the server. Nothing is marked sent until the bundle is
safely written or delivered (mark_sent), so a failed write loses nothing.

A part of Workspace (workspace.py): it uses the workspace's ``db``,
``audit``, ``has`` and ``tip_row``, and shares ``_signer``, the keyring that
made the last bundle or acknowledgement, with its acknowledgements.
"""

from pathlib import Path

from tipdrop.common import sqlite
from tipdrop.common.days import today
from tipdrop.common.files import atomic_write
from tipdrop.crypto import envelope, keys
from tipdrop.errors import InputError
from tipdrop.officer import forwarding
from tipdrop.officer.unsealing import open_envelope
from tipdrop.protocol import binding, bundles, documents, fields
from tipdrop.protocol.fields import REPLY_STATUSES


class TipForwardedError(InputError):
    """This tip was forwarded to another unit: replies and status changes now come from there."""

    detail_is_message = False


class NoTipSelectedError(InputError):
    """No tip was selected: tick the tips whose status should change."""

    detail_is_message = False


class UnknownStatusError(InputError):
    """That is not a status a tip can have."""

    detail_is_message = False


class NothingToSendError(InputError):
    """The outbox is empty: there are no replies or status changes to send."""

    detail_is_message = False


class Outbox:
    """The workspace's replies, status changes and outbox (see the module's docstring)."""

    def reply(self, tip_id, keyring, message=None, status=None, after=None):
        """Queue a reply and/or status change in the outbox, signed by the newest key.

        ``after``: the last reply number the sender saw (the officer app's
        tip page says it). A reply queued since then with the same text and
        status is this one sent again (a double click, a form sent twice),
        not a new one: its number is returned and nothing is queued, so the
        reporter never reads the same answer twice.
        """
        message = (message or "").strip()
        if status is not None and status not in REPLY_STATUSES:
            raise InputError(f"unknown status {status!r}; one of: {', '.join(REPLY_STATUSES)}")
        if not message and status is None:
            raise InputError("give a --message, a --status, or both")
        forwarded = self.db.execute("SELECT to_unit FROM forwards WHERE tip_id = ?",
                                    [tip_id]).fetchone()
        if forwarded is not None:
            raise TipForwardedError(f"tip {tip_id[:12]} went to unit {forwarded[0]!r}")
        tip = next(self.db["tips"].rows_where("id = ?", [tip_id]))
        # A tip forwarded to this unit arrives "transferred": a reply takes it on.
        status = status or (tip["status"] if tip["status"] in REPLY_STATUSES else "in-review")
        with sqlite.transaction(self.db):
            if after is not None:
                repeated = self._queued_since(tip_id, keyring, after, message, status)
                if repeated is not None:
                    return repeated
            seq = self._queue_reply(tip, keyring, message, status, today())
        done = [("reply", tip_id, {"seq": seq})] if message else []
        if status != tip["status"]:
            done.append(("status", tip_id, {"seq": seq, "status": status}))
        self.audit.record_many(keyring, done)
        return seq

    def _queued_since(self, tip_id, keyring, after, message, status):
        """The number of a reply queued after ``after`` with this text and status, if any."""
        for r in self.db["outbox"].rows_where("tip_id = ? AND seq > ? AND status = ?",
                                              [tip_id, after, status], order_by="seq"):
            text = open_envelope(r["copy"], keyring, f"reply {r['seq']} of tip {tip_id[:8]}",
                                 kind="note", tip_id=tip_id, part=f"r{r['seq']}").decode() \
                if r["copy"] else ""
            if text == message:
                return r["seq"]
        return None

    def set_status(self, tip_ids, status, keyring):
        """Give several tips one new status, all in one transaction or none (the app's bulk
        status); tips that already have it are left alone. Returns the ids changed.

        Each change is a signed status change in the outbox, as ``reply`` makes
        it, and one ``status`` entry per tip in the audit log.
        """
        if status not in REPLY_STATUSES:  # never "transferred": only a forward sets it
            raise UnknownStatusError(str(status)[:32])
        tips = []
        for tip_id in dict.fromkeys(tip_ids):
            tip = self.tip_row(tip_id)
            forwarded = self.db.execute("SELECT to_unit FROM forwards WHERE tip_id = ?",
                                        [tip_id]).fetchone()
            if forwarded is not None:
                raise TipForwardedError(f"tip {tip_id[:12]} went to unit {forwarded[0]!r}")
            tips.append(tip)
        if not tips:
            raise NoTipSelectedError()
        changed = []
        with sqlite.transaction(self.db):
            for tip in tips:
                if tip["status"] != status:
                    changed.append((tip["id"], self._queue_reply(tip, keyring, "", status,
                                                                 today())))
        self.audit.record_many(keyring, [("status", tip_id, {"seq": seq, "status": status})
                                         for tip_id, seq in changed])
        return [tip_id for tip_id, _ in changed]

    def _queue_reply(self, tip, keyring, message, status, day):
        """Sign and queue one reply of ``tip`` (a row) in the outbox; inside a transaction."""
        tip_id = tip["id"]
        unit_key = keyring.signing_key
        (last,) = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE tip_id = ?",
                                  [tip_id]).fetchone()
        seq = max(last, tip["reply_seq"]) + 1
        if seq > fields.MAX_REPLIES:  # the server takes no reply numbered beyond it
            raise InputError(f"tip {tip_id[:12]} has no reply numbers left")
        body = b""
        copy = None
        if message:
            # Checked at open (fields.py); a workspace filled before that check may hold one.
            reply_public = self._reply_key(tip, keyring)
            if not keys.usable_reply_public(reply_public):
                raise InputError(f"tip {tip_id[:12]} has an unusable reply key: "
                                 "a message cannot be sealed to it (a status change can)")
            body = envelope.seal(message.encode(), keys.reply_recipient(reply_public),
                                 kind="reply", tip_id=tip_id, part=f"r{seq}")
            copy = envelope.seal(message.encode(), unit_key.public.recipient, kind="note",
                                 tip_id=tip_id, part=f"r{seq}")
        signed = bundles.sign_reply(unit_key.ed25519, unit_key.unit, unit_key.key_id,
                                    tip_id=tip_id, seq=seq, day=day, status=status, body=body)
        self.db["outbox"].insert({
            "tip_id": tip_id, "seq": seq, "day": day, "status": status, "body": body,
            "signature": signed.signature, "key_id": unit_key.key_id.hex(), "copy": copy,
            "sent_day": None,
        })
        self.db.execute("UPDATE tips SET status = ?, status_day = ? WHERE id = ?",
                        [status, day, tip_id])
        return seq

    def _reply_key(self, tip, keyring):
        """The key a reply to ``tip`` is sealed to: the one its sealed report binds.

        Staging already keeps the bound key (staging.Reading._sealed_values);
        the report is read again so a tip imported before that, with an
        export's clear key that differs, is still answered to the report's.
        A report that binds none (sealed before binding, or damaged) leaves
        the export's key: `officer show` says it is not bound.
        """
        if tip["damaged"]:
            return tip["reply_public"]
        report = documents.read_report(open_envelope(
            tip["body"], keyring, f"tip {tip['id'][:8]}", kind="tip", tip_id=tip["id"]), tip["id"])
        bound = binding.reply_public_of(report)
        return tip["reply_public"] if bound is None else bound

    def outbox(self, keyring, out, resend=None):
        """Write every unsent reply into one signed bundle file; mark them sent.

        With ``resend`` (a dict of :meth:`resend_bundle` arguments), write
        replies already sent instead; nothing is marked.
        """
        out = Path(out)
        if out.exists():
            raise InputError(f"{out} already exists; refusing to overwrite it")
        if resend is not None:
            data, count = self.resend_bundle(keyring, **resend)
            atomic_write(out, data, mode=0o600)
            return count
        data, rows = self.pending_bundle(keyring)
        atomic_write(out, data, mode=0o600)
        self.mark_sent(rows, action="outbox")
        self.forwarded_in_last = any("forward" in r for r in rows)
        return len(rows)

    def pending_bundle(self, keyring):
        """Every unsent reply in one signed bundle: (bundle bytes, the rows it holds).

        Nothing is marked sent here: the caller does that with
        :meth:`mark_sent` once the bundle is safely written or delivered.
        Replies queued before a key rotation are signed again by the newest
        key, since one bundle names one key.
        """
        unit_key = keyring.signing_key
        self._signer = keyring
        if not self.has("outbox", "sent_day IS NULL") and not self.has("forwards",
                                                                        "sent_day IS NULL"):
            raise NothingToSendError()
        with sqlite.transaction(self.db):
            for r in self.db["outbox"].rows_where("sent_day IS NULL AND key_id != ?",
                                                  [unit_key.key_id.hex()]):
                signed = bundles.sign_reply(unit_key.ed25519, unit_key.unit, unit_key.key_id,
                                            tip_id=r["tip_id"], seq=r["seq"], day=r["day"],
                                            status=r["status"], body=r["body"])
                self.db.execute("UPDATE outbox SET signature = ?, key_id = ? "
                                "WHERE tip_id = ? AND seq = ?", [signed.signature,
                                unit_key.key_id.hex(), r["tip_id"], r["seq"]])
        rows = list(self.db["outbox"].rows_where("sent_day IS NULL", order_by="tip_id, seq"))
        replies = [bundles.Reply(r["tip_id"], r["seq"], r["day"], r["status"], r["body"],
                                 r["signature"]) for r in rows]
        queued = forwarding.pending(self.db)
        data = bundles.make_reply_bundle(unit_key.ed25519, unit_key.unit, unit_key.key_id,
                                         today(), replies, forwarding.signed_by(queued, unit_key))
        return data, rows + [{"forward": r["tip_id"]} for r in queued]

    def resend_bundle(self, keyring, since=None, tip_ids=()):
        """Replies already sent, in one new signed bundle: (bundle bytes, number of replies).

        For a bundle file that was lost on the way: the server counts the
        replies it already holds byte for byte and imports the others.
        ``since`` (a day) keeps those sent on or after it, ``tip_ids`` those
        of these tips. Replies signed by an older key are signed again by
        the newest (one bundle names one key); the workspace keeps its rows.
        """
        where, args = ["sent_day IS NOT NULL"], []
        if since is not None:
            where.append("sent_day >= ?")
            args.append(since)
        if tip_ids:
            where.append(f"tip_id IN ({', '.join('?' * len(tip_ids))})")
            args += list(tip_ids)
        rows = list(self.db["outbox"].rows_where(" AND ".join(where), args,
                                                 order_by="tip_id, seq"))
        sent_forwards = forwarding.pending(self.db, sent=True, since=since, tip_ids=tip_ids)
        if not rows and not sent_forwards:
            raise InputError("no sent replies match; nothing to write again")
        unit_key = keyring.signing_key
        replies = []
        for r in rows:
            reply = bundles.Reply(r["tip_id"], r["seq"], r["day"], r["status"], r["body"],
                                  r["signature"])
            if r["key_id"] != unit_key.key_id.hex():
                reply = bundles.sign_reply(unit_key.ed25519, unit_key.unit, unit_key.key_id,
                                           tip_id=r["tip_id"], seq=r["seq"], day=r["day"],
                                           status=r["status"], body=r["body"])
            replies.append(reply)
        return bundles.make_reply_bundle(unit_key.ed25519, unit_key.unit, unit_key.key_id,
                                         today(), replies,
                                         forwarding.signed_by(sent_forwards, unit_key)), \
            len(rows) + len(sent_forwards)

    def mark_sent(self, rows, action="replies-sent"):
        """Mark replies sent (written to an outbox file, or stored by the server)."""
        replies = [r for r in rows if "forward" not in r]
        moved = sorted(r["forward"] for r in rows if "forward" in r)
        with sqlite.transaction(self.db):
            for r in replies:
                self.db.execute("UPDATE outbox SET sent_day = ? WHERE tip_id = ? AND seq = ?",
                                [today(), r["tip_id"], r["seq"]])
            for tip_id in moved:
                self.db.execute("UPDATE forwards SET sent_day = ? WHERE tip_id = ?",
                                [today(), tip_id])
        if self._signer is not None:
            extra = {"forwards": len(moved)} if moved else {}
            self.audit.record(self._signer, action, replies=len(replies),
                              tip_ids=sorted({r["tip_id"] for r in replies} | set(moved)),
                              **extra)
