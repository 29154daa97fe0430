"""The officer's workspace: imported ciphertext, notes and the outbox, on the workstation.

Everything sensitive stays encrypted at rest here too: reports, follow-ups
and attachments are kept exactly as they came from the server, notes and
copies of replies are sealed to the unit's own key, so a lost laptop shows
only what the server already shows (region, category, day, status) unless
the unit key's passphrase is known. Decryption happens per command, in
memory, with a keyring (keyring.py): each item opens with the key its
header names, so tips sealed before a key rotation still open.

Opening a bundle is all or nothing: every envelope and stream in it is
decrypted once to prove it authentic before one row is written.
"""

import datetime
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from .. import bundles, store
from ..crypto import envelope, keys, stream
from ..errors import DecryptionError, InputError, WrongKeyError
from ..files import atomic_write, fsync_dir
from ..tips import STATUSES

SCHEMA = """
CREATE TABLE IF NOT EXISTS tips (
    id TEXT PRIMARY KEY, unit TEXT NOT NULL, key_id TEXT NOT NULL,
    region TEXT NOT NULL, category TEXT NOT NULL,
    server_region TEXT NOT NULL, server_category TEXT NOT NULL,
    received_day TEXT NOT NULL, status TEXT NOT NULL, status_day TEXT NOT NULL,
    reply_public BLOB NOT NULL, reply_seq INTEGER NOT NULL,
    body BLOB NOT NULL, encrypted_on TEXT, imported_day TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS followups (
    tip_id TEXT NOT NULL REFERENCES tips(id), seq INTEGER NOT NULL,
    received_day TEXT NOT NULL, body BLOB NOT NULL, read INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tip_id, seq));
CREATE TABLE IF NOT EXISTS attachments (
    tip_id TEXT NOT NULL REFERENCES tips(id), part TEXT NOT NULL, info BLOB NOT NULL,
    size INTEGER NOT NULL, blob TEXT NOT NULL, PRIMARY KEY (tip_id, part));
CREATE TABLE IF NOT EXISTS notes (
    tip_id TEXT NOT NULL REFERENCES tips(id), n INTEGER NOT NULL, day TEXT NOT NULL,
    body BLOB NOT NULL, PRIMARY KEY (tip_id, n));
CREATE TABLE IF NOT EXISTS outbox (
    tip_id TEXT NOT NULL REFERENCES tips(id), seq INTEGER NOT NULL, day TEXT NOT NULL,
    status TEXT NOT NULL, body BLOB NOT NULL, signature BLOB NOT NULL, key_id TEXT NOT NULL,
    copy BLOB, sent_day TEXT, PRIMARY KEY (tip_id, seq));
CREATE TABLE IF NOT EXISTS bundles (sha256 TEXT PRIMARY KEY, day TEXT NOT NULL);
"""


class UnknownTipError(InputError):
    """No tip in the workspace matches that id."""

    detail_is_message = False


class AmbiguousTipError(InputError):
    """Several tips start with that id: type more characters."""

    detail_is_message = False


class NothingToSendError(InputError):
    """The outbox is empty: there are no replies or status changes to send."""

    detail_is_message = False


def today():
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def safe_name(name):
    """A file name that cannot escape a folder or hide its type."""
    base = os.path.basename(str(name).replace("\\", "/")).strip().lstrip(".")
    base = re.sub(r"[^\w.\- ]", "_", base, flags=re.UNICODE)[:100]
    return base or "attachment"


@dataclass
class _Staged:
    tips: list = field(default_factory=list)
    followups: list = field(default_factory=list)
    attachments: list = field(default_factory=list)
    files: list = field(default_factory=list)


class Workspace:
    def __init__(self, workdir):
        self.dir = Path(workdir)
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.blobs = self.dir / "attachments"
        (self.blobs / "tmp").mkdir(mode=0o700, parents=True, exist_ok=True)
        self.db = store.connect(self.dir / "workspace.db")
        self.db.conn.executescript(SCHEMA)

    def close(self):
        self.db.close()

    # --- open a bundle ----------------------------------------------------------

    def open_bundle(self, path, keyring, progress=lambda n: None):
        """Import an export bundle after proving every item authentic; return counts."""
        import hashlib

        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        if self.db.execute("SELECT 1 FROM bundles WHERE sha256 = ?", [digest.hexdigest()]).fetchone():
            return {"tips": 0, "followups": 0, "attachments": 0, "already_opened": True}
        staged = _Staged()
        try:
            with open(path, "rb") as f:
                self._read_bundle(_Counting(f, progress), keyring, staged)
            with store.transaction(self.db):
                for table, rows in (("tips", staged.tips), ("followups", staged.followups),
                                    ("attachments", staged.attachments)):
                    if rows:
                        self.db[table].insert_all(rows)
                self.db["bundles"].insert({"sha256": digest.hexdigest(), "day": today()})
                for tmp, final in staged.files:
                    os.rename(tmp, final)
            fsync_dir(self.blobs)
        finally:
            for tmp, _ in staged.files:
                Path(tmp).unlink(missing_ok=True)
        return {"tips": len(staged.tips), "followups": len(staged.followups),
                "attachments": len(staged.attachments), "already_opened": False}

    def _read_bundle(self, src, keyring, staged):
        reader = bundles.ExportReader(src)
        header = None
        current = None
        for record in reader:
            if header is None:
                header = self._check_header(record, keyring)
                continue
            if record.kind == bundles.TIP:
                staged.tips.append(self._stage_tip(record.doc, keyring, keyring.unit))
            elif record.kind == bundles.FOLLOWUP:
                row = self._stage_followup(record.doc, keyring)
                if not self._has("followups", "tip_id = ? AND seq = ?", row["tip_id"], row["seq"]):
                    staged.followups.append(row)
            elif record.kind == bundles.ATTACHMENT:
                current = self._stage_attachment_info(record.doc, keyring)
            elif record.kind == bundles.STREAM:
                if current is None:
                    raise bundles.BundleError("attachment data without its description")
                if self._has("attachments", "tip_id = ? AND part = ?", current["tip_id"],
                             current["part"]):
                    reader.copy_stream(lambda chunk: None)  # re-export of a file we hold
                else:
                    staged.attachments.append(self._stage_stream(reader, current, keyring, staged))
                current = None
            else:
                raise bundles.BundleError("a record appears out of place")
        if header is None:
            raise bundles.BundleError("the bundle has no header")
        _refuse_duplicates(staged)
        known = {t["id"] for t in staged.tips}
        for row in staged.followups + staged.attachments:
            if row["tip_id"] not in known and not self._has("tips", "id = ?", row["tip_id"]):
                raise bundles.BundleError(
                    f"it holds news for tip {row['tip_id'][:8]}, which is not in this "
                    "workspace: open the earlier bundles first")
        staged.tips = [t for t in staged.tips if not self._has("tips", "id = ?", t["id"])]

    def _has(self, table, where, *args):
        return self.db.execute(f"SELECT 1 FROM {table} WHERE {where}", list(args)).fetchone() is not None

    def _check_header(self, record, keyring):
        doc = record.doc
        if record.kind != bundles.HEADER or doc.get("format") != bundles.EXPORT_FORMAT:
            raise bundles.BundleError("the bundle has no header")
        if doc.get("version") != 1:
            raise bundles.BundleError(f"unsupported bundle version {doc.get('version')!r}")
        if doc.get("unit") != keyring.unit:
            raise WrongKeyError(f"the bundle is for unit {doc.get('unit')!r}, "
                                f"this key is for unit {keyring.unit!r}")
        return doc

    def _stage_tip(self, doc, keyring, unit):
        tip_id = bundles.require(doc, "id", str, "tip")
        if not bundles.TIP_ID.match(tip_id):
            raise bundles.BundleError("a tip has an invalid id")
        body = bundles.unb64(doc.get("body"), "report")
        report = _json(_open(body, keyring, f"tip {tip_id[:8]}", kind="tip", tip_id=tip_id))
        reply_public = bundles.unb64(doc.get("reply_public"), "reply key")
        if len(reply_public) != 32:
            raise bundles.BundleError("a tip has an invalid reply key")
        status = bundles.require(doc, "status", str, "tip")
        return {
            "id": tip_id, "unit": unit, "key_id": bundles.require(doc, "key_id", str, "tip"),
            # The authenticated values are the ones inside the ciphertext.
            "region": str(report.get("region", "")), "category": str(report.get("category", "")),
            "server_region": bundles.require(doc, "region", str, "tip"),
            "server_category": bundles.require(doc, "category", str, "tip"),
            "received_day": _day(doc, "received_day", "tip"),
            "status": status if status in STATUSES else "received",
            "status_day": _day(doc, "status_day", "tip"),
            "reply_public": reply_public, "reply_seq": _count(doc, "reply_seq", "tip"),
            "body": body, "encrypted_on": str(doc.get("encrypted_on", "")), "imported_day": today(),
        }

    def _stage_followup(self, doc, keyring):
        tip_id = bundles.require(doc, "tip_id", str, "follow-up")
        seq = _count(doc, "seq", "follow-up")
        body = bundles.unb64(doc.get("body"), "follow-up")
        _open(body, keyring, f"follow-up {seq} of tip {tip_id[:8]}", kind="followup",
              tip_id=tip_id, part=f"f{seq}")
        return {"tip_id": tip_id, "seq": seq, "body": body, "read": 0,
                "received_day": _day(doc, "received_day", "follow-up")}

    def _stage_attachment_info(self, doc, keyring):
        tip_id = bundles.require(doc, "tip_id", str, "attachment")
        part = bundles.require(doc, "part", str, "attachment")
        if not re.fullmatch(r"a\d{1,3}", part):
            raise bundles.BundleError("an attachment has an invalid part name")
        info = bundles.unb64(doc.get("info"), "attachment info")
        _open(info, keyring, f"attachment {part} of tip {tip_id[:8]}", kind="attachment-info",
              tip_id=tip_id, part=part)
        return {"tip_id": tip_id, "part": part, "info": info,
                "size": _count(doc, "size", "attachment")}

    def _stage_stream(self, reader, row, keyring, staged):
        name = secrets.token_hex(16) + ".bin"
        tmp = self.blobs / "tmp" / name
        staged.files.append((tmp, self.blobs / name))
        with open(tmp, "wb") as f:
            reader.copy_stream(f.write)
            f.flush()
            os.fsync(f.fileno())
        with open(tmp, "rb") as f, open(os.devnull, "wb") as sink:
            stream.decrypt_stream(f, sink, _stream_opener(f, keyring, row), kind="attachment",
                                  tip_id=row["tip_id"], part=row["part"])
        return row | {"blob": name}

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
            " (t.region != t.server_region OR t.category != t.server_category) AS server_mismatch"
            " FROM tips t" + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY t.received_day DESC, t.id"
        )
        return [dict(r) | {"server_mismatch": bool(r["server_mismatch"])}
                for r in self.db.query(sql, args)]

    def show(self, tip_id, keyring, save_to=None):
        """Decrypt everything about one tip; mark its follow-ups read."""
        tip = next(self.db["tips"].rows_where("id = ?", [tip_id]))
        what = f"tip {tip_id[:8]}"
        report = json.loads(_open(tip["body"], keyring, what, kind="tip", tip_id=tip_id))
        followups = [
            {"seq": f["seq"], "day": f["received_day"], "new": not f["read"],
             "text": json.loads(_open(f["body"], keyring, f"follow-up {f['seq']} of {what}",
                                      kind="followup", tip_id=tip_id,
                                      part=f"f{f['seq']}"))["text"]}
            for f in self.db["followups"].rows_where("tip_id = ?", [tip_id], order_by="seq")
        ]
        notes = [
            {"day": n["day"], "text": _open(n["body"], keyring, f"note {n['n']} of {what}",
                                            kind="note", tip_id=tip_id, part=f"n{n['n']}").decode()}
            for n in self.db["notes"].rows_where("tip_id = ?", [tip_id], order_by="n")
        ]
        replies = [
            {"seq": r["seq"], "day": r["day"], "status": r["status"], "sent": r["sent_day"],
             "text": _open(r["copy"], keyring, f"reply {r['seq']} of {what}", kind="note",
                           tip_id=tip_id, part=f"r{r['seq']}").decode() if r["copy"] else ""}
            for r in self.db["outbox"].rows_where("tip_id = ?", [tip_id], order_by="seq")
        ]
        files = []
        for a in self.db["attachments"].rows_where("tip_id = ?", [tip_id], order_by="part"):
            info = json.loads(_open(a["info"], keyring, f"attachment {a['part']} of {what}",
                                    kind="attachment-info", tip_id=tip_id, part=a["part"]))
            entry = {"part": a["part"], "name": info.get("name", ""), "type": info.get("type", ""),
                     "size": info.get("size"), "photo": info.get("photo"),
                     "metadata_removed": info.get("metadata_removed", []),
                     "kept_location_and_time": bool(info.get("kept_location_and_time"))}
            if save_to is not None:
                entry["saved_to"] = str(self._save(a, entry, keyring, Path(save_to)))
            files.append(entry)
        with store.transaction(self.db):
            self.db.execute("UPDATE followups SET read = 1 WHERE tip_id = ?", [tip_id])
        return {"tip": {k: tip[k] for k in ("id", "status", "status_day", "region", "category",
                                            "server_region", "server_category", "received_day",
                                            "encrypted_on")},
                "report": report, "followups": followups, "notes": notes,
                "replies": replies, "attachments": files}

    def _save(self, row, entry, keyring, folder):
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{row['tip_id'][:8]}-{row['part']}-{safe_name(entry['name'])}"
        tmp = target.with_name(target.name + ".part")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
            with open(self.blobs / row["blob"], "rb") as src, os.fdopen(fd, "wb") as out:
                stream.decrypt_stream(src, out, _stream_opener(src, keyring, row),
                                      kind="attachment", tip_id=row["tip_id"], part=row["part"])
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    # --- write ------------------------------------------------------------------

    def add_note(self, tip_id, text, keyring):
        text = (text or "").strip()
        if not text:
            raise InputError("the note is empty")
        with store.transaction(self.db):
            (n,) = self.db.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM notes WHERE tip_id = ?",
                                   [tip_id]).fetchone()
            body = envelope.seal(text.encode(), keyring.newest_public.recipient, kind="note",
                                 tip_id=tip_id, part=f"n{n}")
            self.db["notes"].insert({"tip_id": tip_id, "n": n, "day": today(), "body": body})
        return n

    def reply(self, tip_id, keyring, message=None, status=None):
        """Queue a reply and/or status change in the outbox, signed by the newest key."""
        message = (message or "").strip()
        if status is not None and status not in STATUSES:
            raise InputError(f"unknown status {status!r}; one of: {', '.join(STATUSES)}")
        if not message and status is None:
            raise InputError("give a --message, a --status, or both")
        tip = next(self.db["tips"].rows_where("id = ?", [tip_id]))
        status = status or tip["status"]
        day = today()
        unit_key = keyring.signing_key
        with store.transaction(self.db):
            (last,) = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE tip_id = ?",
                                      [tip_id]).fetchone()
            seq = max(last, tip["reply_seq"]) + 1
            body = b""
            copy = None
            if message:
                body = envelope.seal(message.encode(), keys.reply_recipient(tip["reply_public"]),
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

    def outbox(self, keyring, out):
        """Write every unsent reply into one signed bundle file; mark them sent."""
        out = Path(out)
        if out.exists():
            raise InputError(f"{out} already exists; refusing to overwrite it")
        data, rows = self.pending_bundle(keyring)
        atomic_write(out, data, mode=0o600)
        self.mark_sent(rows)
        return len(rows)

    def pending_bundle(self, keyring):
        """Every unsent reply in one signed bundle: (bundle bytes, the rows it holds).

        Nothing is marked sent here: the caller does that with
        :meth:`mark_sent` once the bundle is safely written or delivered.
        Replies queued before a key rotation are signed again by the newest
        key, since one bundle names one key.
        """
        unit_key = keyring.signing_key
        if not self._has("outbox", "sent_day IS NULL"):
            raise NothingToSendError()
        with store.transaction(self.db):
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
        data = bundles.make_reply_bundle(unit_key.ed25519, unit_key.unit, unit_key.key_id,
                                         today(), replies)
        return data, rows

    def mark_sent(self, rows):
        with store.transaction(self.db):
            for r in rows:
                self.db.execute("UPDATE outbox SET sent_day = ? WHERE tip_id = ? AND seq = ?",
                                [today(), r["tip_id"], r["seq"]])


def _day(doc, field, what):
    value = bundles.require(doc, field, str, what)
    if not bundles.DAY.match(value):
        raise bundles.BundleError(f"{what} has no valid {field!r}")
    return value


def _count(doc, field, what):
    value = bundles.require(doc, field, int, what)
    if not 0 <= value < 2**63:
        raise bundles.BundleError(f"{what} has no valid {field!r}")
    return value


def _refuse_duplicates(staged):
    """A bundle names each item once; a repeated one means a faulty or hostile server."""
    for rows, key in ((staged.tips, ("id",)), (staged.followups, ("tip_id", "seq")),
                      (staged.attachments, ("tip_id", "part"))):
        seen = set()
        for row in rows:
            ident = tuple(row[k] for k in key)
            if ident in seen:
                raise bundles.BundleError("the same item appears twice in the bundle")
            seen.add(ident)


def _open(data, keyring, what, **context):
    """Open an envelope with the keyring's key its header names."""
    _, key_id = envelope.parse_header(data)
    return envelope.open_(data, keyring.opener_for(key_id, what), **context)


def _stream_opener(f, keyring, row):
    """The opener for the stream in file ``f`` (rewound after reading its header)."""
    _, key_id, _ = stream.read_header(f)
    f.seek(0)
    return keyring.opener_for(key_id, f"attachment {row['part']} of tip {row['tip_id'][:8]}")


def _json(plaintext):
    try:
        doc = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise DecryptionError("the decrypted report is not valid JSON") from None
    if not isinstance(doc, dict):
        raise DecryptionError("the decrypted report is not a JSON object")
    return doc


class _Counting:
    """A read-through file wrapper that reports progress in bytes."""

    def __init__(self, f, progress):
        self._f = f
        self._progress = progress

    def read(self, n=-1):
        data = self._f.read(n)
        self._progress(len(data))
        return data
