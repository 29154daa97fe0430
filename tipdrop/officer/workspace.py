"""The officer's workspace: imported ciphertext, notes and the outbox, on the workstation.

Everything sensitive stays encrypted at rest here too: reports, follow-ups
and attachments are kept exactly as they came from the server, notes,
copies of replies and duplicate links (triage.py) are sealed to the unit's
own key, so a lost laptop shows only what the server already shows (region,
category, day, status) unless the unit key's passphrase is known. Decryption happens per command, in
memory, with a keyring (keyring.py): each item opens with the key its
header names, so tips sealed before a key rotation still open.

Opening a bundle (opening.py) is all or nothing, except for content sealed
on the reporter's device, which is imported even when it does not open and
marked damaged. The same transaction records which items of that export the
workspace now holds, so ``tipdrop officer ack`` can tell the server, signed,
what it may delete.

Replies, status changes and the outbox are outbox.py's part of Workspace;
saving a decrypted file under a safe name is saving.py's.
"""

import json
import re
from pathlib import Path

from tipdrop.common import sqlite
from tipdrop.common.days import today
from tipdrop.common.files import atomic_write
from tipdrop.crypto import envelope, stream
from tipdrop.errors import InputError, TipdropError, WrongKeyError
from tipdrop.officer import acking, copies, itemcopies, opening, provenance, scratch
from tipdrop.officer.audit import AuditLog
from tipdrop.officer.outbox import Outbox
from tipdrop.officer.saving import save_attachment
from tipdrop.officer.unsealing import open_envelope, stream_opener
from tipdrop.protocol import binding

SCHEMA = """
CREATE TABLE IF NOT EXISTS tips (
    id TEXT PRIMARY KEY, unit TEXT NOT NULL, key_id TEXT NOT NULL,
    region TEXT NOT NULL, category TEXT NOT NULL,
    server_region TEXT NOT NULL, server_category TEXT NOT NULL,
    received_day TEXT NOT NULL, status TEXT NOT NULL, status_day TEXT NOT NULL,
    reply_public BLOB NOT NULL, reply_seq INTEGER NOT NULL,
    body BLOB NOT NULL, encrypted_on TEXT, imported_day TEXT NOT NULL, damaged TEXT);
CREATE TABLE IF NOT EXISTS followups (
    tip_id TEXT NOT NULL REFERENCES tips(id), seq INTEGER NOT NULL,
    received_day TEXT NOT NULL, body BLOB NOT NULL, read INTEGER NOT NULL DEFAULT 0,
    damaged TEXT, encrypted_on TEXT, PRIMARY KEY (tip_id, seq));
CREATE TABLE IF NOT EXISTS attachments (
    tip_id TEXT NOT NULL REFERENCES tips(id), part TEXT NOT NULL, info BLOB NOT NULL,
    size INTEGER NOT NULL, blob TEXT NOT NULL, damaged TEXT, PRIMARY KEY (tip_id, part));
CREATE TABLE IF NOT EXISTS notes (
    tip_id TEXT NOT NULL REFERENCES tips(id), n INTEGER NOT NULL, day TEXT NOT NULL,
    body BLOB NOT NULL, PRIMARY KEY (tip_id, n));
CREATE TABLE IF NOT EXISTS outbox (
    tip_id TEXT NOT NULL REFERENCES tips(id), seq INTEGER NOT NULL, day TEXT NOT NULL,
    status TEXT NOT NULL, body BLOB NOT NULL, signature BLOB NOT NULL, key_id TEXT NOT NULL,
    copy BLOB, sent_day TEXT, PRIMARY KEY (tip_id, seq));
CREATE TABLE IF NOT EXISTS bundles (sha256 TEXT PRIMARY KEY, day TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS links (
    tip_id TEXT NOT NULL REFERENCES tips(id), n INTEGER NOT NULL, day TEXT NOT NULL,
    body BLOB NOT NULL, PRIMARY KEY (tip_id, n));
CREATE TABLE IF NOT EXISTS forwards (
    tip_id TEXT PRIMARY KEY REFERENCES tips(id), to_unit TEXT NOT NULL, day TEXT NOT NULL,
    forward BLOB NOT NULL, key_id TEXT NOT NULL, sent_day TEXT,
    prev_status TEXT NOT NULL, prev_status_day TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS held (
    export_seq INTEGER PRIMARY KEY, items TEXT NOT NULL, day TEXT NOT NULL, acked_day TEXT,
    ack_refused TEXT);
"""


class OtherUnitsWorkspaceError(WrongKeyError):
    """This workspace holds another unit's reports: use that unit's key, or another workspace folder (--workdir)."""


class UnknownTipError(InputError):
    """No tip in the workspace matches that id."""

    detail_is_message = False


class AmbiguousTipError(InputError):
    """Several tips start with that id: type more characters."""

    detail_is_message = False


class UnknownAttachmentError(InputError):
    """This tip has no readable attachment of that name."""

    detail_is_message = False


#: How many imported tips one ``import`` audit entry names (docs/protocol.md section 17).
IMPORT_ENTRY_TIPS = 1000


#: The newest follow-ups of a tip that ``show`` decrypts (the rest are counted): a
#: hostile export may bring up to bundlecaps.MAX_FOLLOWUPS_PER_TIP of them.
SHOWN_FOLLOWUPS = 500


class Workspace(Outbox):
    def __init__(self, workdir):
        self.dir = Path(workdir).absolute()  # file: addresses and child processes need it whole
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.blobs = self.dir / "attachments"
        (self.blobs / "tmp").mkdir(mode=0o700, parents=True, exist_ok=True)
        scratch.clean(self.blobs / "tmp")  # what killed imports left (never a running one's)
        self.db = sqlite.connect(self.dir / "workspace.db")
        self.db.conn.executescript(SCHEMA + copies.SCHEMA + itemcopies.SCHEMA)
        for table in ("tips", "attachments", "followups"):  # made before device sealing
            if "damaged" not in self.db[table].columns_dict:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN damaged TEXT")
        if "encrypted_on" not in self.db["followups"].columns_dict:  # made before binding
            self.db.execute("ALTER TABLE followups ADD COLUMN encrypted_on TEXT")
        if "ack_refused" not in self.db["held"].columns_dict:  # made before set-aside acks
            self.db.execute("ALTER TABLE held ADD COLUMN ack_refused TEXT")
        acking.migrate(self.db)  # made before compact acknowledgements
        self.audit = AuditLog(self.dir)
        #: The keyring that made the last pending bundle or acknowledgement (for the audit).
        self._signer = None
        #: Whether the last outbox file carried a forward (forwarding.py).
        self.forwarded_in_last = False

    def close(self):
        self.db.close()

    # --- open a bundle ----------------------------------------------------------

    def unlocked(self, keyring):
        """Record in the audit log that ``keyring`` was unlocked (once per keyring).

        A workspace is one unit's: refused first if it holds another unit's
        tips (check_unit), before the log gets an entry that unit's key
        cannot verify.
        """
        self.check_unit(keyring)
        if not keyring.audited:
            self.audit.record_many(keyring, [])

    def check_unit(self, keyring):
        """Refuse ``keyring`` if this workspace holds another unit's tips.

        Its export numbers, what it holds of each export (acking.py), its
        audit log and its outbox are one unit's: another unit's bundles
        opened here would merge two units' export 1 into one record, name
        one unit's items in the other's acknowledgement and leave a log
        neither key can verify (docs/officer-guide.md, one workspace per unit).
        """
        other = self.db.execute("SELECT unit FROM tips WHERE unit != ? LIMIT 1",
                                [keyring.unit]).fetchone()
        if other:
            raise OtherUnitsWorkspaceError(f"{self.dir} holds tips of unit {other[0]!r}, "
                                           f"the key is for unit {keyring.unit!r}")

    def audit_trail(self, tip_id=None, keyring=None):
        """The audit entries (of one tip, if given): checked first when a keyring is given.

        For the officer app's per-tip history; without a keyring the entries
        are read as they are on disk, unverified.
        """
        entries = self.audit.verify(keyring) if keyring is not None else self.audit.entries()
        if tip_id is None:
            return entries
        return [e for e in entries if e["tip"] == tip_id
                or tip_id in (e["info"].get("tip_ids") or [])]

    def verify_audit(self, keyring):
        """Check the audit log (audit.py) with the unit key; return its entries.

        The check itself is recorded after it ran, so it reports the log as found.
        """
        verified = 0
        try:
            entries = self.audit.verify(keyring)
            verified = 1
        finally:
            self.audit.record(keyring, "audit-verify", verified=verified)
        return entries

    def open_bundle(self, path, keyring, progress=lambda n: None, again=False):
        """Import an export bundle after proving every item authentic; return counts.

        The audit log names every tip the bundle brought in ``import``
        entries, IMPORT_ENTRY_TIPS tips to an entry (``info.tip_ids``): one
        entry per tip made the audit a tenth of an import's time
        (bench/officer_import.py), and each entry is chained and
        authenticated whole, so no tip can be dropped from one unnoticed.
        Tips held here that the bundle carried changed (kept as held, see
        staging.Reading._compare_held) are named the same way, in
        ``held-differs`` entries, and held follow-ups and files carried
        changed in a ``held-item-differs`` entry per tip (its parts); a tip forwarded from here that came back
        (copies.py) gets a ``forward-returned`` entry, like ``forward``. A tip
        whose export record contradicted its sealed documents (the sealer
        label, or the reply key) gets a ``clear-differs`` entry naming what.
        """
        return self.open_bundle_touching(path, keyring, progress, again)[0]

    def open_bundle_touching(self, path, keyring, progress=lambda n: None, again=False):
        """:meth:`open_bundle`, returning its counts and the ids of the tips it added or
        changed (the officer app indexes those again, not the whole workspace)."""
        self.check_unit(keyring)
        counts, new, touched = opening.open_bundle(self, path, keyring, progress, again=again)
        new = sorted(new)
        differs = counts.get("differs_tips", [])
        parts = {}
        for tip_id, part in counts.get("differs_items", []):
            parts.setdefault(tip_id, []).append(part)
        self.audit.record_many(keyring, [("open-bundle", None, {
            k: counts.get(k, 0) for k in ("tips", "followups", "attachments")})]
            + [("held-differs", None, {"tip_ids": differs[i:i + IMPORT_ENTRY_TIPS]})
               for i in range(0, len(differs), IMPORT_ENTRY_TIPS)]
            + [("held-item-differs", tip_id, {"parts": names})
               for tip_id, names in sorted(parts.items())]
            + [("clear-differs", tip_id, info) for tip_id, info in _clear_differs(counts)]
            + [("forward-returned", tip_id, {"to_unit": unit})
               for tip_id, unit in counts.get("returned_to", {}).items()]
            + [("import", None, {"tip_ids": new[i:i + IMPORT_ENTRY_TIPS]})
               for i in range(0, len(new), IMPORT_ENTRY_TIPS)])
        return counts, touched

    def is_damaged(self, tip_id):
        """Whether the tip's report, a follow-up or a file of it is held damaged."""
        return any(self.has(table, f"{column} = ? AND damaged IS NOT NULL", tip_id)
                   for table, column in (("tips", "id"), ("followups", "tip_id"),
                                         ("attachments", "tip_id")))

    def record_held(self, export_seq, held, **export):
        """Remember what an export gave us (inside the import's transaction).

        ``export`` is the header's export id and chain values and the items
        the bundle carried, for compact acknowledgements (acking.py).
        """
        acking.record_held(self.db, export_seq, held, **export)

    def pending_ack(self, keyring, everything=False):
        """One signed acknowledgement of the exports opened and not yet acknowledged.

        Compact when the server chains its exports, item by item otherwise
        (acking.py). With ``everything``, exports already acknowledged are
        named again (a lost acknowledgement file), and so are those the server
        refused (:meth:`set_aside_ack`). Returns (bytes, numbers); nothing is
        marked here: :meth:`mark_acked` does, once it is delivered.
        """
        data, numbers = acking.pending_ack(self.db, keyring, everything)
        self._signer = keyring
        return data, numbers

    def ack_pending(self):
        return self.has("held", "acked_day IS NULL AND ack_refused IS NULL")

    def mark_acked(self, numbers, action="ack-sent"):
        with sqlite.transaction(self.db):
            for seq in numbers:
                self.db.execute("UPDATE held SET acked_day = ?, ack_refused = NULL "
                                "WHERE export_seq = ?", [today(), seq])
        if self._signer is not None:
            self.audit.record(self._signer, action, exports=len(numbers))

    def set_aside_ack(self, numbers, reason):
        """The server refused the acknowledgement of these exports: do not send it again.

        E.g. a server restored from a backup older than the exports: it
        never made them, so it never will accept it. The server keeps its
        copy of those items; opening the same export number again (the
        restored server's) makes it pending anew, and ``officer ack --all``
        names it again.
        """
        with sqlite.transaction(self.db):
            for seq in numbers:
                self.db.execute("UPDATE held SET ack_refused = ? WHERE export_seq = ?",
                                [f"{today()}: {reason}"[:400], seq])

    def write_ack(self, keyring, out, everything=False):
        """Write the pending acknowledgement to the file ``out``; return the export numbers."""
        out = Path(out)
        if out.exists():
            raise InputError(f"{out} already exists; refusing to overwrite it")
        data, numbers = self.pending_ack(keyring, everything)
        atomic_write(out, data, mode=0o600)
        self.mark_acked(numbers, action="ack")
        return numbers

    def has(self, table, where, *args):
        return self.db.execute(f"SELECT 1 FROM {table} WHERE {where}", list(args)).fetchone() is not None

    # --- read -------------------------------------------------------------------

    def resolve(self, prefix):
        prefix = (prefix or "").strip().lower()
        if not re.fullmatch(r"[0-9a-f]{4,32}", prefix):
            raise UnknownTipError(prefix)
        rows = [r[0] for r in self.db.execute(
            "SELECT id FROM tips WHERE id LIKE ? LIMIT 2", [prefix + "%"])]
        if not rows:
            raise UnknownTipError(prefix)
        if len(rows) > 1:
            raise AmbiguousTipError(prefix)
        return rows[0]

    def tip_row(self, tip_id):
        """The tip's row; UnknownTipError if the workspace holds none."""
        tip = next(self.db["tips"].rows_where("id = ?", [tip_id]), None)
        if tip is None:
            raise UnknownTipError(str(tip_id)[:32])
        return tip

    def list(self, status=None, category=None, region=None, since=None):
        where, args = [], []
        for column, value in (("status", status), ("category", category), ("region", region)):
            if value:
                where.append(f"t.{column} = ?")
                args.append(value)
        if since:
            where.append("t.received_day >= ?")
            args.append(since)
        sql = (
            "SELECT t.id, t.status, t.category, t.region, t.received_day AS received,"
            " (SELECT COUNT(*) FROM followups f WHERE f.tip_id = t.id AND f.read = 0) AS unread_followups,"
            " (SELECT COUNT(*) FROM attachments a WHERE a.tip_id = t.id) AS attachments,"
            " (t.region != t.server_region OR t.category != t.server_category) AS server_mismatch,"
            " (t.damaged IS NOT NULL OR EXISTS (SELECT 1 FROM attachments a"
            "  WHERE a.tip_id = t.id AND a.damaged IS NOT NULL) OR EXISTS (SELECT 1"
            "  FROM followups f WHERE f.tip_id = t.id AND f.damaged IS NOT NULL)) AS damaged"
            " FROM tips t" + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY t.received_day DESC, t.id"
        )
        return [dict(r) | {"server_mismatch": bool(r["server_mismatch"]),
                           "damaged": bool(r["damaged"])}
                for r in self.db.query(sql, args)]

    def show(self, tip_id, keyring, save_to=None, mark_read=True, all_followups=False):
        """Decrypt everything about one tip; mark the follow-ups shown read (unless ``mark_read`` is
        False: the officer app's index reads every tip at unlock, which is not reading them).

        Only the newest SHOWN_FOLLOWUPS follow-ups unless ``all_followups``; how many
        earlier ones were left out is ``followups_not_shown`` (bundlecaps.py caps them)."""
        tip = next(self.db["tips"].rows_where("id = ?", [tip_id]))
        what = f"tip {tip_id[:8]}"
        report = {}
        if not tip["damaged"]:
            report = json.loads(open_envelope(tip["body"], keyring, what, kind="tip",
                                              tip_id=tip_id))
        followups = []
        (total,) = self.db.execute("SELECT COUNT(*) FROM followups WHERE tip_id = ?",
                                   [tip_id]).fetchone()
        limit = None if all_followups else SHOWN_FOLLOWUPS
        newest = reversed(list(self.db["followups"].rows_where(
            "tip_id = ?", [tip_id], order_by="seq DESC", limit=limit)))
        for f in newest:
            entry = {"seq": f["seq"], "day": f["received_day"], "new": not f["read"],
                     "encrypted_on": f["encrypted_on"] or "unknown"}
            if f["damaged"]:
                followups.append(entry | {"damaged": f["damaged"]})
                continue
            doc = json.loads(open_envelope(
                f["body"], keyring, f"follow-up {f['seq']} of {what}", kind="followup",
                tip_id=tip_id, part=f"f{f['seq']}"))
            # A workspace older than binding did not record who sealed it: the
            # server, unless it is signed (then the signature decides).
            origin = provenance.judge_followup(report, doc, tip_id=tip_id, seq=f["seq"],
                                               encrypted_on=f["encrypted_on"] or "server")
            followups.append(entry | {"text": doc["text"], "origin": origin,
                                      "sealed_by": binding.sealed_by_of(doc, "follow-up"),
                                      "origin_text": provenance.FOLLOWUP_WORDS[origin]})
        notes = [
            {"n": n["n"], "day": n["day"], "text": open_envelope(n["body"], keyring, f"note {n['n']} of {what}",
                                            kind="note", tip_id=tip_id, part=f"n{n['n']}").decode()}
            for n in self.db["notes"].rows_where("tip_id = ?", [tip_id], order_by="n")
        ]
        replies = [
            {"seq": r["seq"], "day": r["day"], "status": r["status"], "sent": r["sent_day"],
             "text": open_envelope(r["copy"], keyring, f"reply {r['seq']} of {what}", kind="note",
                           tip_id=tip_id, part=f"r{r['seq']}").decode() if r["copy"] else ""}
            for r in self.db["outbox"].rows_where("tip_id = ?", [tip_id], order_by="seq")
        ]
        files = []
        digests = binding.digests_of(report) if report else None
        for a in self.db["attachments"].rows_where("tip_id = ?", [tip_id], order_by="part"):
            with open(self.blobs / a["blob"], "rb") as f:
                verdict = provenance.judge_attachment(digests, a["part"], a["info"],
                                                      f.read(stream.HEADER_LEN).ljust(
                                                          stream.HEADER_LEN, b"\0"))
            bound = {"binding": verdict, "binding_text": provenance.ATTACHMENT_WORDS[verdict]}
            if a["damaged"]:
                files.append({"part": a["part"], "damaged": a["damaged"]} | bound)
                continue
            if verdict in (provenance.NOT_LISTED, provenance.DIFFERS):
                files.append({"part": a["part"], "damaged": bound["binding_text"]} | bound)
                continue
            info = json.loads(open_envelope(a["info"], keyring, f"attachment {a['part']} of {what}",
                                    kind="attachment-info", tip_id=tip_id, part=a["part"]))
            entry = {"part": a["part"], "name": info.get("name", ""), "type": info.get("type", ""),
                     "size": info.get("size"), "photo": info.get("photo"),
                     "metadata_removed": info.get("metadata_removed", []),
                     "kept_location_and_time": bool(info.get("kept_location_and_time"))} | bound
            if save_to is not None:
                # One file that cannot be saved (a full disk, a damaged stream)
                # is reported; the others are still saved.
                try:
                    entry["saved_to"] = str(save_attachment(self.blobs, a, entry["name"], keyring,
                                                            Path(save_to), entry["type"]))
                except TipdropError as e:
                    entry["save_error"] = e.message
                except OSError as e:
                    entry["save_error"] = e.strerror or type(e).__name__
            files.append(entry)
        if mark_read:
            # Only the follow-ups shown: one buried under more than SHOWN_FOLLOWUPS
            # newer ones (junk from a hostile server) stays unread, and in the
            # app's "follow-ups not read yet" list.
            shown = [f["seq"] for f in followups]
            if shown:
                with sqlite.transaction(self.db):
                    self.db.execute("UPDATE followups SET read = 1 WHERE tip_id = ? AND seq BETWEEN ? AND ?",
                                    [tip_id, min(shown), max(shown)])
            self.audit.record_many(keyring, [("show", tip_id, {})] + [
                ("save-attachment", tip_id, {"part": f["part"]})
                for f in files if "saved_to" in f])
        return {"tip": {k: tip[k] for k in ("id", "status", "status_day", "region", "category",
                                            "server_region", "server_category", "received_day",
                                            "encrypted_on", "damaged")},
                "report": report, "followups": followups, "notes": notes,
                "followups_not_shown": total - len(followups),
                "replies": replies, "attachments": files,
                "missing_attachments": provenance.missing_attachments(
                    digests, [f["part"] for f in files]),
                "files_bound": digests is not None,
                "other_copies": copies.kept(self.db, tip_id),
                "other_item_copies": itemcopies.kept(self.db, tip_id),
                "followup_key": binding.followup_public_of(report) is not None if report
                else False,
                # Whether the sealed report binds the reply key replies go to, and
                # who sealed it (section 14); a report sealed before says neither.
                "reply_key_bound": bool(report) and binding.reply_public_of(report) is not None,
                "sealer_bound": bool(report) and binding.sealed_by_of(report) is not None}

    def _attachment_row(self, tip_id, part):
        row = next(self.db["attachments"].rows_where("tip_id = ? AND part = ?", [tip_id, part]),
                   None)
        if row is None or row["damaged"]:
            raise UnknownAttachmentError(f"{tip_id[:8]} {part}")
        return row

    def attachment_length(self, tip_id, part):
        """The length of one attachment's sealed stream on disk, known before any decryption."""
        return (self.blobs / self._attachment_row(tip_id, part)["blob"]).stat().st_size

    def read_attachment(self, tip_id, part, keyring, out):
        """Decrypt one attachment into the binary stream ``out`` (the officer app's sinks).

        The whole stream authenticates or nothing is usable: on an error the
        caller drops what ``out`` got. Nothing touches the disk here.
        """
        self.attachment_reader(tip_id, part, keyring)(out)

    def attachment_reader(self, tip_id, part, keyring):
        """read_attachment in two steps: find the file now; the function returned
        decrypts it into a sink, touching no database (so any thread may run it)."""
        row = self._attachment_row(tip_id, part)
        path = self.blobs / row["blob"]

        def read(out):
            with open(path, "rb") as src:
                stream.decrypt_stream(src, out, stream_opener(src, keyring, row),
                                      kind="attachment", tip_id=tip_id, part=part)

        return read

    # --- write ------------------------------------------------------------------

    def add_note(self, tip_id, text, keyring, after=None):
        """Seal a note to the unit's newest key; the keyring must unlock (the audit names who).

        ``after``: the last note number the sender saw (the officer app's tip
        page). A note added since then with the same text is this one sent
        again (a double click): its number is returned, nothing is added.
        """
        text = (text or "").strip()
        if not text:
            raise InputError("the note is empty")
        self.unlocked(keyring)
        with sqlite.transaction(self.db):
            for n in self.db["notes"].rows_where("tip_id = ? AND n > ?", [tip_id, after],
                                                 order_by="n") if after is not None else ():
                if open_envelope(n["body"], keyring, f"note {n['n']} of tip {tip_id[:8]}",
                                 kind="note", tip_id=tip_id, part=f"n{n['n']}").decode() == text:
                    return n["n"]
            (n,) = self.db.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM notes WHERE tip_id = ?",
                                   [tip_id]).fetchone()
            body = envelope.seal(text.encode(), keyring.newest_public.recipient, kind="note",
                                 tip_id=tip_id, part=f"n{n}")
            self.db["notes"].insert({"tip_id": tip_id, "n": n, "day": today(), "body": body})
        self.audit.record(keyring, "note", tip_id, n=n)
        return n


def _clear_differs(counts):
    """(tip id, info) of each tip whose export record contradicted its sealed documents:
    info ``sealed_by`` names the parts relabelled ("report", "f1"...), ``reply_key`` is
    true when the clear reply key was not the one the report binds."""
    tips = {}
    for tip_id, part in counts.get("relabelled", []):
        tips.setdefault(tip_id, {}).setdefault("sealed_by", []).append(part)
    for tip_id in counts.get("rekeyed", []):
        tips.setdefault(tip_id, {})["reply_key"] = True
    return sorted(tips.items())
