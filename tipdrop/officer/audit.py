"""The workstation's audit trail: who unlocked, read, answered or exported what, and when.

One JSON line per action in ``WORKDIR/audit.log``, appended and never
rewritten: the time (UTC second), the officer (the key file slot that
unlocked), the action, the tip id, and counts or numbers, never content.
Entries are hash-chained and each carries an HMAC under a key derived from
the unit key (crypto/chain.py); ``audit.head`` holds the authenticated number
and hash of the last entry, so cutting entries off the end shows too. What
this does and does not protect against: docs/threat-model.md, "The audit
log"; the format: docs/protocol.md section 17.

Every Workspace method that reads or writes a tip records here, so the CLI
and the officer app leave the same trail.
"""

import datetime
import fcntl
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tipdrop.common.files import atomic_write, fsync_dir
from tipdrop.crypto import chain
from tipdrop.errors import CryptoError, InputError

LOG_NAME = "audit.log"
HEAD_NAME = "audit.head"
ACTIONS = ("log-cut", "unlock", "open-bundle", "import", "show", "save-attachment", "note", "reply",
           "held-differs", "held-item-differs", "clear-differs", "status", "outbox", "replies-sent", "ack", "ack-sent", "audit-verify", "team-add",
           "team-remove", "passwd", "key-backup", "view-attachment", "duplicate",
           "duplicate-undone", "forward", "forward-cancel", "forward-returned")
_FIELDS = ("seq", "time", "officer", "action", "tip", "info", "key_id", "prev", "hash", "mac")
_HEX = re.compile(r"[0-9a-f]{64}")


class AuditError(CryptoError):
    """The audit log does not verify."""


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: The encoders of an entry's info and of its line, made once: json.dumps with
#: arguments makes a new encoder per call, and an import writes an entry per tip.
_INFO = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)
_LINE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)


def _info_text(info: dict[str, Any]) -> str:
    return _INFO.encode(info)


class AuditLog:
    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOG_NAME
        self.head_path = Path(folder) / HEAD_NAME

    # --- writing ----------------------------------------------------------------

    def record(self, keyring: Any, action: str, tip: str | None = None,
               **info: Any) -> None:
        """Append one entry (after an ``unlock`` entry, the first time for ``keyring``)."""
        self.record_many(keyring, [(action, tip, info)])

    def record_many(self, keyring: Any, actions: list[tuple[str, str | None, dict[str, Any]]],
                    time: str | None = None) -> None:
        """Append entries in one write and one fsync, then move the head."""
        key = keyring.signing_key
        officer = keyring.officer_name
        if not getattr(keyring, "audited", False):
            actions = [("unlock", None, {"keys": len(keyring.key_ids)})] + list(actions)
        time = time or now()
        mac_key = chain.audit_key(key)
        # Once, not per entry: each reading derives the public keys and hashes
        # them, and an import records one entry per tip (bench/officer_import.py).
        key_id = key.key_id.hex()
        with self._locked() as log:
            seq, prev = self._last(log)
            cut = self._cut_since_head(seq, prev)
            if cut:
                # Appending would move the head past the gap and hide it: say so, signed.
                actions = [("log-cut", None, cut)] + list(actions)
            lines = []
            for action, tip, info in actions:
                if action not in ACTIONS:
                    raise ValueError(f"unknown audit action {action!r}")
                seq += 1
                text = _info_text(info)
                digest = chain.entry_hash(prev, seq, time, officer, action, tip or "", text,
                                          key_id)
                lines.append(_LINE.encode({
                    "seq": seq, "time": time, "officer": officer, "action": action,
                    "tip": tip, "info": info, "key_id": key_id, "prev": prev.hex(),
                    "hash": digest.hex(),
                    "mac": chain.entry_mac(mac_key, key.unit, digest).hex()}) + "\n")
                prev = digest
            log.write("".join(lines).encode("ascii"))
            log.flush()
            os.fsync(log.fileno())
            head = {"seq": seq, "hash": prev.hex(), "key_id": key_id,
                    "mac": chain.head_mac(mac_key, key.unit, seq, prev).hex()}
            atomic_write(self.head_path, (json.dumps(head) + "\n").encode("ascii"),
                         overwrite=True)
        keyring.audited = True

    def copy_to(self, folder: Path, copy: Any) -> None:
        """Copy the log and its head into ``folder`` as one state: no entry is appended
        between the two (a backup, backing.py). ``copy(source, target)`` copies one file."""
        if not self.path.exists():
            return
        with self._locked():
            for path in (self.path, self.head_path):
                if path.exists():
                    copy(path, Path(folder) / path.name)

    @contextmanager
    def _locked(self) -> Iterator[Any]:
        """The log opened for appending, locked against another process appending at once."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        created = os.fstat(fd).st_size == 0
        with os.fdopen(fd, "r+b") as log:
            fcntl.flock(log.fileno(), fcntl.LOCK_EX)
            if created:
                fsync_dir(self.path.parent)
            yield log

    def _cut_since_head(self, seq: int, prev: bytes) -> dict[str, int] | None:
        """What the head says was there and the log no longer has, if anything."""
        try:
            head = self._head()
        except AuditError:
            return {"head_seq": -1, "log_seq": seq}
        if head is None:
            return {"head_seq": 0, "log_seq": seq} if seq else None
        if head["seq"] > seq or (head["seq"] == seq and head["hash"] != prev.hex()):
            return {"head_seq": head["seq"], "log_seq": seq}
        return None

    def _last(self, log: Any) -> tuple[int, bytes]:
        """The number and hash of the last complete entry.

        A line without its final newline was cut by a crash while it was
        written: the head was never moved to it, so it is dropped here
        before anything is appended after it.
        """
        size = log.seek(0, os.SEEK_END)
        if size == 0:
            return 0, chain.GENESIS
        start = size
        tail = b""
        while start > 0 and tail.count(b"\n") < 2:
            step = min(start, 4096)
            start -= step
            log.seek(start)
            tail = log.read(step) + tail
        if not tail.endswith(b"\n"):
            keep = start + tail.rfind(b"\n") + 1
            log.truncate(keep)
            tail = tail[: keep - start]
            if not tail:
                return 0, chain.GENESIS
        last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        try:
            entry = json.loads(last)
            return int(entry["seq"]), bytes.fromhex(entry["hash"])
        except (ValueError, KeyError, TypeError):
            raise AuditError("its last entry is not readable") from None

    # --- reading ----------------------------------------------------------------

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, parsed and checked for shape (not yet authenticated)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        if data and not data.endswith(b"\n"):
            raise AuditError("its last entry is incomplete")
        found = []
        for number, line in enumerate(data.splitlines(), 1):
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict) or sorted(entry) != sorted(_FIELDS):
                    raise ValueError
                if (type(entry["seq"]) is not int or not isinstance(entry["info"], dict)
                        or not all(isinstance(entry[k], str) for k in
                                   ("time", "officer", "action", "key_id"))
                        or not all(_HEX.fullmatch(str(entry[k])) for k in
                                   ("prev", "hash", "mac"))
                        or not isinstance(entry["tip"], (str, type(None)))):
                    raise ValueError
            except (ValueError, RecursionError):
                raise AuditError(f"line {number} is not an audit entry") from None
            found.append(entry)
        return found

    def verify(self, keyring: Any) -> list[dict[str, Any]]:
        """Check the whole chain, every HMAC and the head; return the entries.

        Raises AuditError naming the first entry that does not verify.
        """
        entries = self.entries()
        head = self._head()
        if not entries:
            if head is not None:
                raise AuditError("the log is gone but its head remains: it was deleted")
            return []
        if head is None:
            raise AuditError("its head (audit.head) is missing")
        keys_by_id: dict[str, bytes] = {}
        prev = chain.GENESIS
        for number, entry in enumerate(entries, 1):
            where = f"entry {number}"
            if entry["seq"] != number:
                raise AuditError(f"{where} is numbered {entry['seq']}: entries were removed, "
                                 "added or reordered")
            if entry["prev"] != prev.hex():
                raise AuditError(f"{where} does not follow the one before it: entries were "
                                 "removed or reordered")
            digest = chain.entry_hash(prev, entry["seq"], entry["time"], entry["officer"],
                                      entry["action"], entry["tip"] or "",
                                      _info_text(entry["info"]), entry["key_id"])
            if digest.hex() != entry["hash"]:
                raise AuditError(f"{where} was changed")
            try:
                chain.check_entry_mac(self._key(keyring, keys_by_id, entry["key_id"], where),
                                      keyring.unit, digest, bytes.fromhex(entry["mac"]))
            except chain.ChainMacError:
                raise AuditError(f"{where} was not written with the unit key") from None
            prev = digest
        self._check_head(keyring, keys_by_id, head, entries)
        for number, entry in enumerate(entries, 1):
            if entry["action"] == "log-cut":
                raise AuditError(f"entry {number} records that entries were removed before "
                                 f"it (the head named entry {entry['info'].get('head_seq')})")
        return entries

    def _head(self) -> dict[str, Any] | None:
        try:
            head = json.loads(self.head_path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:
            raise AuditError("its head (audit.head) is not readable") from None
        if (not isinstance(head, dict) or type(head.get("seq")) is not int
                or not all(_HEX.fullmatch(str(head.get(k))) for k in ("hash", "mac"))
                or not isinstance(head.get("key_id"), str)):
            raise AuditError("its head (audit.head) is not readable")
        return head

    def _check_head(self, keyring: Any, keys_by_id: dict[str, bytes], head: dict[str, Any],
                    entries: list[dict[str, Any]]) -> None:
        # The head may lag one write behind after a crash between appending and
        # moving it; entries after it are still chained and authenticated.
        seq = head["seq"]
        if not 1 <= seq <= len(entries) or entries[seq - 1]["hash"] != head["hash"]:
            raise AuditError(f"the log has {len(entries)} entries but its head names entry "
                             f"{seq} with another hash: entries were removed from the end")
        try:
            chain.check_head_mac(self._key(keyring, keys_by_id, head["key_id"], "the head"),
                                 keyring.unit, seq, bytes.fromhex(head["hash"]),
                                 bytes.fromhex(head["mac"]))
        except chain.ChainMacError:
            raise AuditError("its head was not written with the unit key") from None

    @staticmethod
    def _key(keyring: Any, cache: dict[str, bytes], key_id: str, where: str) -> bytes:
        if key_id not in cache:
            try:
                cache[key_id] = chain.audit_key(keyring.private_for(bytes.fromhex(key_id),
                                                                    f"audit {where}"))
            except ValueError:
                raise AuditError(f"{where} names no valid key") from None
        return cache[key_id]


def lines(entries: list[dict[str, Any]], tip: str | None = None) -> Iterator[str]:
    """The entries as lines of text, those of one tip (id prefix) if ``tip`` is given."""
    for entry in entries:
        listed = entry["info"].get("tip_ids")
        listed = [str(t) for t in listed] if isinstance(listed, list) else []
        if tip and not any(t.startswith(tip) for t in [entry["tip"] or ""] + listed):
            continue
        info = " ".join(f"{k}={v}" for k, v in sorted(entry["info"].items()) if k != "tip_ids")
        about = f"tip {entry['tip']}" if entry["tip"] else ""
        if listed:
            about = f"{len(listed)} tip(s)"
            matching = [t for t in listed if tip and t.startswith(tip)]
            if len(matching) == 1:  # one tip's trail: name it, as an entry of its own would
                others = len(listed) - 1
                about = f"tip {matching[0]}" + (f" (and {others} more)" if others else "")
        yield " ".join(part for part in (f"{entry['seq']:>5}", entry["time"],
                                         f"{entry['officer']:<12}", f"{entry['action']:<15}",
                                         about, info) if part)


def check_tip_filter(tip: str | None) -> str | None:
    if tip is None:
        return None
    tip = tip.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{4,32}", tip):
        raise InputError("--tip takes a tip id or its first characters (at least 4 hex digits)")
    return tip
