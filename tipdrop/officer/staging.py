"""One pass over an export bundle: each item proved authentic and staged for the transaction.

Every envelope and stream is decrypted once, as it is read, to prove it
authentic; the rows wait in memory as small metadata (Staged), their
envelopes in the spill (spill.py) and their files beside it, in the import's
own folder under ``attachments/tmp`` (scratch.py), until opening.py writes
them all in one transaction.

One exception, on purpose: content sealed on the reporter's device
(``encrypted_on = "device"``: a report with its files, or a follow-up). The
server could not open it and so could not check it, and whoever sent it
chose its bytes. Refusing the whole bundle for one bad item would let any
reporter block the unit's imports, so such an item is staged as it came,
marked *damaged* with the reason, and the rest of the bundle opens;
``officer show`` says what could not be read.

Every file must also be the one its report binds (docs/protocol.md section
14, tipdrop.officer.provenance): a file the report does not list, one that
differs from what it lists, or one it lists that is missing means the
bundle was altered after the report was sealed. For a report the server
sealed, that refuses the bundle; for one sealed on a device (whose sender
chose every byte, so could send such a mismatch on purpose) the file is
imported marked damaged, never shown as the reporter's. Follow-ups are
judged when shown; opening counts those whose signature is not the
receipt holder's.

What the bundle as a whole must be and say (its header, its days, its
chain, no item twice) is bundlechecks.py's.

How much a bundle may bring is capped (bundlecaps.py).
"""

import functools
import hmac
import os
import secrets
import sys
from dataclasses import dataclass, field

from tipdrop.common.days import today
from tipdrop.crypto import stream
from tipdrop.errors import DecryptionError, FormatError
from tipdrop.officer import bundlecaps, bundlechecks, copies, itemcopies, provenance
from tipdrop.officer import replacing as replacing_mod
from tipdrop.officer.acking import ITEM_LISTS
from tipdrop.officer.unsealing import open_envelope, stream_opener
from tipdrop.protocol import binding, bundles, documents, fields
from tipdrop.protocol.compact import Compact

#: Stands for the description of a file skipped with its tip (see _stage_tip_record).
_SKIP = object()
_REPLACES = replacing_mod.REPLACES
#: What a device-sealed item may fail with and still be imported (as damaged).
_DEVICE_FAULTS = (DecryptionError, FormatError)
#: The field rules of each record type, and how an error names the record.
_RULES = {bundles.TIP: (fields.EXPORT_TIP, "a tip record"),
          bundles.FOLLOWUP: (fields.EXPORT_FOLLOWUP, "a follow-up record"),
          bundles.ATTACHMENT: (fields.EXPORT_ATTACHMENT, "an attachment record")}
#: The same rules' fast path for records in the form the server writes (protocol/compact.py).
_COMPACT = {kind: Compact(rules) for kind, (rules, _) in _RULES.items()}
#: What of an opened report the bindings need (provenance.py), kept in memory
#: while it has at most _MAX_KEPT_ITEMS files (and a key of at most as many
#: characters); a larger one is opened again from the spill when judged.
_KEPT_OF_REPORT = (binding.ATTACHMENT_DIGESTS, "attachments", binding.FOLLOWUP_KEY)
_MAX_KEPT_ITEMS = 64
#: A follow-up's opened text longer than this is opened again when judged: every
#: staged row waits in memory until the transaction (up to bundlecaps.MAX_ITEMS of
#: them), so each keeps a short text at most, not one of up to 20,000 characters.
_MAX_KEPT = 1024


@dataclass
class Staged:
    """What one pass over a bundle staged for the transaction, and what it learnt."""

    tips: list = field(default_factory=list)
    followups: list = field(default_factory=list)
    attachments: list = field(default_factory=list)
    files: list = field(default_factory=list)
    export_seq: int = 0
    #: The SHA-256 (hex) of the whole bundle file, from the pass that read it.
    sha256: str = ""
    #: The header's unit, and its export id and chain values (None from an older server).
    unit: str = ""
    export_id: bytes | None = None
    previous_chain: bytes | None = None
    chain: bytes | None = None
    #: Every item the bundle named, held or not (acking.py names those not held).
    carried: dict = field(default_factory=lambda: {name: set() for name in ITEM_LISTS})
    #: What the workspace holds of this export once it is imported, for the acknowledgement.
    held: dict = field(default_factory=lambda: {name: set() for name in ITEM_LISTS})
    #: Tips the server no longer holds (another workspace acknowledged them) and this one lacks.
    gone: set = field(default_factory=set)
    #: Tip ids sealed on the reporter's device (in this bundle or already held).
    device: set = field(default_factory=set)
    damaged: int = 0
    #: What the bindings need of the opened report of each tip staged here (_kept).
    reports: dict = field(default_factory=dict)
    #: Tips held here that the bundle carries with another sealed report or record (sorted),
    #: and those copies, kept as they came (copies.py).
    differs: list = field(default_factory=list)
    kept: list = field(default_factory=list)
    #: Held follow-ups and files the bundle carries as another copy ([tip id, part], sorted),
    #: and those copies, kept as they came (itemcopies.keep).
    differs_items: list = field(default_factory=list)
    kept_items: list = field(default_factory=list)
    #: Tips this workspace forwarded that came back: {tip id: (unit it went to, carried row)}.
    returned: dict = field(default_factory=dict)
    #: Files and follow-ups that are not the reporter's (marked, counted).
    not_bound: int = 0
    not_signed: int = 0
    #: Items whose sealed document names another sealer than the export's clear label
    #: ([tip id, part], part "report" for the report), and tips whose sealed report binds
    #: another reply key than the export's clear copy: the sealed values were taken.
    relabelled: list = field(default_factory=list)
    rekeyed: list = field(default_factory=list)


class Reading:
    """One pass over a bundle's records, staging rows and files."""

    def __init__(self, workspace, keyring, staged, spill):
        self.ws = workspace
        self.keyring = keyring
        self.staged = staged
        #: Where every envelope waits for the transaction (spill.py).
        self.spill = spill
        #: The header's ``created_day``: no record's day may be later.
        self.created_day = ""
        #: The import's day, for every row it stages (asked once, not per tip).
        self.today = today()
        #: The tips the workspace holds, read in one query rather than several per
        #: tip: id -> (sealed on the device, marked damaged).
        self.held_tips = {tip_id: (bool(device), bool(damaged)) for tip_id, device, damaged
                          in workspace.db.execute("SELECT id, encrypted_on = 'device', "
                                                  "damaged IS NOT NULL FROM tips")}
        #: Carried copies of held follow-ups and files that differ (_compare_held keeps them).
        self.resent_items = []
        #: How much the bundle brings, against its caps.
        self.caps = bundlecaps.Caps(workspace.db)

    def _has(self, table, where, *args):
        return self.ws.has(table, where, *args)

    def read(self, src):
        staged = self.staged
        reader = bundles.ExportReader(src, _COMPACT)
        header = None
        current = None
        for record in reader:
            if header is None:
                header = bundlechecks.check_header(record, self.keyring.unit)
                staged.export_seq, staged.unit = header["export_seq"], header["unit"]
                self.created_day = header["created_day"]
                chained = [header[name] for name in ("export_id", "previous_chain", "chain")]
                if all(chained):
                    staged.export_id, staged.previous_chain, staged.chain = map(bytes.fromhex,
                                                                                chained)
                elif any(chained):  # an older server sends none of the three
                    raise bundles.BundleError("its header carries only part of its export "
                                              "chain: it was altered")
                continue
            if record.kind in _RULES:
                self.caps.item()
                # Every field is checked before anything acts on it (fields.py),
                # by the reader already for a record in the server's own form.
                if not record.checked:
                    record.doc = fields.check(record.doc, *_RULES[record.kind],
                                              bundles.BundleError)
                bundlechecks.carry_once(staged.carried[_LIST_OF[record.kind]],
                                        _key_of(record.kind, record.doc))
            if record.kind == bundles.TIP:
                self._stage_tip_record(record.doc)
            elif record.kind == bundles.FOLLOWUP:
                if _tip_of(record.doc) in staged.gone:
                    continue
                row = self._stage_followup(record.doc)
                key = (row["tip_id"], row["seq"])
                held = self.ws.db.execute("SELECT body, received_day, encrypted_on, damaged "
                                          "FROM followups WHERE tip_id = ? AND seq = ?",
                                          key).fetchone()
                held_damaged = held is not None and held[3] is not None
                if held is None:
                    self.caps.new_followup(row["tip_id"])
                    staged.followups.append(row)
                elif held_damaged and not row["damaged"]:  # an intact copy at last
                    staged.followups.append(row | {_REPLACES: True})
                    held_damaged = False
                elif not held_damaged and itemcopies.followup_differs(held, row,
                                                                      self.spill.get):
                    self.resent_items.append(itemcopies.copy_of(row, f"f{row['seq']}"))
                # As with tips: never acknowledge what the workspace cannot read.
                if not row["damaged"] and not held_damaged:
                    staged.held["followups"].add(key)
            elif record.kind == bundles.ATTACHMENT:
                current = _SKIP
                if _tip_of(record.doc) not in staged.gone:
                    current = self._stage_attachment_info(record.doc)
            elif record.kind == bundles.STREAM:
                if current is _SKIP:
                    reader.copy_stream(lambda chunk: None)  # a file of a tip we cannot have
                    current = None
                    continue
                if current is None:
                    raise bundles.BundleError("attachment data without its description")
                key = (current["tip_id"], current["part"])
                held = self.ws.db.execute("SELECT info, size, blob, damaged FROM attachments "
                                          "WHERE tip_id = ? AND part = ?", key).fetchone()
                held_damaged = held is not None and held[3] is not None
                if held_damaged and not current["damaged"]:  # perhaps an intact copy
                    row = self._stage_stream(reader, current)
                    staged.attachments.append(row | {_REPLACES: True})
                    if not row["damaged"]:
                        staged.held["attachments"].add(key)
                elif held_damaged:
                    reader.copy_stream(lambda chunk: None)  # re-export of a file held damaged
                elif held is not None:  # re-export of a file we hold: the same, or kept
                    self._compare_file(reader, current, held)
                    staged.held["attachments"].add(key)
                else:
                    row = self._stage_stream(reader, current)
                    staged.attachments.append(row)
                    if not row["damaged"]:
                        staged.held["attachments"].add((row["tip_id"], row["part"]))
                current = None
            else:
                raise bundles.BundleError("a record appears out of place")
        if header is None:
            raise bundles.BundleError("the bundle has no header")
        staged.sha256 = reader.file_sha256
        bundlechecks.check_chain(staged)
        known = {t["id"] for t in staged.tips} | staged.gone
        for row in staged.followups + staged.attachments:
            if row["tip_id"] not in known and row["tip_id"] not in self.held_tips:
                raise bundles.BundleError(
                    f"it holds news for tip {row['tip_id'][:8]}, which is not in this "
                    "workspace: open the earlier bundles first")
        if self.held_tips:  # (a first import holds none: nothing to leave out or replace)
            resent = [t for t in staged.tips if t["id"] in self.held_tips]
            replacing = [t | {_REPLACES: True} for t in resent
                         if not t["damaged"] and self._held_damaged(t["id"])]
            staged.tips = [t for t in staged.tips if t["id"] not in self.held_tips] + replacing
            # A tip held damaged is either replaced (an intact copy) or left:
            # neither is a changed copy of what the workspace could read.
            self._compare_held([t for t in resent if not self._held_damaged(t["id"])])
        self._check_bindings()
        staged.damaged = sum(1 for row in staged.tips + staged.followups + staged.attachments
                             if row.get("damaged"))

    def _compare_held(self, resent):
        """Name the held tips this bundle carries changed (bundlechecks.changed_copies).

        They are left out like any copy of a held tip; the files and
        follow-ups the bundle brings for them are judged against the held
        report, not the changed one. A tip this workspace forwarded that
        came back is not a changed copy (copies.returned), nor is a returned
        copy taken in before and carried again (copies.known_returned).
        """
        db, body_of = self.ws.db, self.spill.get
        changed = set(bundlechecks.changed_copies(db, resent, body_of))
        rows = [t for t in resent if t["id"] in changed]
        known = copies.known_returned(db, rows, body_of)
        rows = [t for t in rows if t["id"] not in known]
        back = copies.returned(db, self.keyring, rows, body_of)
        self.staged.returned = {t["id"]: (back[t["id"]], t) for t in rows if t["id"] in back}
        self.staged.kept = [t for t in rows if t["id"] not in back]
        self.staged.differs = sorted(t["id"] for t in self.staged.kept)
        for tip_id in changed:
            self.staged.reports.pop(tip_id, None)
        # A forward seals a tip's follow-ups and files again: those of a tip
        # forwarded back are not compared (copies.py).
        forwarded = set(self.staged.returned) | copies.returned_tips(db)
        self.staged.kept_items = [i for i in self.resent_items if i["tip_id"] not in forwarded]
        self.staged.differs_items = sorted([i["tip_id"], i["part"]]
                                           for i in self.staged.kept_items)

    def _compare_file(self, reader, row, held):
        """Read the pending stream of ``row``, a file held here; note it if it is another copy.

        Another stream must still be authentic, as a new one must be.
        """
        folder = self.spill.path.parent  # the import's own folder (scratch.py)
        item = itemcopies.compare_file(reader, row, held, self.ws.blobs, folder, self.spill.get)
        if item is not None:
            if item["stream"]:
                item["damaged"] = row["damaged"] or self._check_stream(item["stream"], row)
            self.resent_items.append(item)

    def _check_stream(self, path, row):
        """Decrypt the stream in ``path`` to nothing: None, or why it is damaged (device only)."""
        try:
            with open(path, "rb") as f, open(os.devnull, "wb") as sink:
                stream.decrypt_stream(f, sink, stream_opener(f, self.keyring, row),
                                      kind="attachment", tip_id=row["tip_id"], part=row["part"])
        except _DEVICE_FAULTS as e:
            if row["tip_id"] not in self.staged.device:
                raise
            return _reason(e)
        return None

    def _check_bindings(self):
        """Refuse or mark files and count follow-ups that are not the reporter's (section 14)."""
        provenance.check_staged(self.staged, self.ws.db, self._report_for, self._stream_header,
                                lambda tip_id: tip_id in self.staged.device
                                or self._held_device(tip_id), load=self.spill.get)

    def _held_device(self, tip_id):
        """Whether the workspace holds ``tip_id`` as sealed on the reporter's device."""
        return self.held_tips.get(tip_id, (False, False))[0]

    def _held_damaged(self, tip_id):
        """Whether the workspace holds ``tip_id`` marked damaged."""
        return self.held_tips.get(tip_id, (False, False))[1]

    def _stream_header(self, row):
        with open(self.spill.path.parent / row["blob"], "rb") as f:
            return f.read(stream.HEADER_LEN)

    def _report_for(self, tip_id):
        """The opened report of a tip staged here or held (None if damaged).

        Of a tip staged here, only what the bindings need is kept (_kept); a
        report whose part is too large to keep is opened again from the spill.
        """
        kept = self.staged.reports.get(tip_id)
        if isinstance(kept, _Reopen):
            return documents.read_report(open_envelope(
                self.spill.get(kept.ref), self.keyring, f"tip {tip_id[:8]}", kind="tip",
                tip_id=tip_id), tip_id)
        if tip_id not in self.staged.reports:
            rows = list(self.ws.db.execute(
                "SELECT body FROM tips WHERE id = ? AND damaged IS NULL", [tip_id]))
            self.staged.reports[tip_id] = documents.read_report(open_envelope(
                rows[0][0], self.keyring, f"tip {tip_id[:8]}", kind="tip", tip_id=tip_id),
                tip_id) if rows else None
        return self.staged.reports[tip_id]

    def _stage_tip_record(self, doc):
        """Stage a tip; one without a body was deleted from the server after an acknowledgement.

        Such a tip is fine if this workspace holds it; otherwise (another
        workspace acknowledged it) it and everything of it in this bundle
        are skipped and counted, and the rest of the bundle still opens.
        """
        staged = self.staged
        bundlechecks.check_days(f"tip {doc['id'][:8]}", doc, self.created_day, "received_day",
                                "status_day")
        if doc["body"] is None:
            tip_id = doc["id"]
            if tip_id in self.held_tips:
                if not self._held_damaged(tip_id):
                    staged.held["tips"].add(tip_id)
                if self._held_device(tip_id):
                    staged.device.add(tip_id)
            else:
                staged.gone.add(tip_id)
            return
        row = self._stage_tip(doc)
        staged.tips.append(row)
        # A damaged item is not acknowledged: the server keeps its copy, in
        # case the damage was done on the way (by a faulty server). That goes
        # for the copy this workspace already holds, too (a re-export).
        # An intact copy of a tip held damaged replaces it (opening.open_bundle), so is held.
        if not row["damaged"]:
            staged.held["tips"].add(row["id"])

    def _stage_tip(self, doc):
        tip_id = doc["id"]
        encrypted_on = doc["encrypted_on"]
        # Of a tip held here, the held copy says how it was sealed, not this one.
        if encrypted_on == "device" and tip_id not in self.held_tips or self._held_device(tip_id):
            self.staged.device.add(tip_id)
        body = doc["body"]
        damaged = None
        ref = self.spill.put(body)
        try:
            report = documents.read_report(open_envelope(body, self.keyring, f"tip {tip_id[:8]}", kind="tip",
                                   tip_id=tip_id), tip_id)
            self.staged.reports[tip_id] = _kept(report, ref)
        except _DEVICE_FAULTS as e:
            if tip_id not in self.staged.device:
                raise
            report, damaged = {}, _reason(e)
        encrypted_on, reply_public = self._sealed_values(doc, report)
        server_region, server_category = doc["region"], doc["category"]
        status, status_day = _first_status(doc) if tip_id not in self.held_tips else (
            doc["status"], doc["status_day"])
        return {
            "id": tip_id, "unit": self.keyring.unit, "key_id": doc["key_id"],
            # The authenticated values are the ones inside the ciphertext; a
            # damaged report has none, so the server's copy stands (flagged).
            "region": report.get("region", server_region),
            "category": report.get("category", server_category),
            "server_region": server_region, "server_category": server_category,
            "received_day": doc["received_day"], "status": status, "status_day": status_day,
            "reply_public": reply_public, "reply_seq": doc["reply_seq"],
            "body": ref, "encrypted_on": encrypted_on, "imported_day": self.today,
            "damaged": damaged,
        }

    def _sealed_values(self, doc, report):
        """Who sealed the report and its reply key: the sealed report's, if it names them.

        The export's clear label and key are the sender's word (a server, or
        whoever carried the export, may change them); where they differ from
        the report's own, the report's are taken and the tip is named. A
        report sealed before binding them (or damaged) leaves the clear ones.
        """
        tip_id, encrypted_on, reply_public = doc["id"], doc["encrypted_on"], doc["reply_public"]
        sealer = binding.sealed_by_of(report)
        if sealer is not None and sealer != encrypted_on:
            # One of the two labels is false, and neither proves itself: the
            # export's is the server's (or its carrier's) word, the sealed one
            # anybody's with the unit's public key. So the tip is named, shown
            # as the more careful of the two ("server": its plaintext may have
            # passed through the server), and keeps a device's tolerance if
            # either says "device": a label may add it, never take it away, or
            # one anonymous report claiming "server" with a forged file would
            # refuse every export of the unit (a held tip keeps its held
            # copy's, as in _stage_tip).
            self.staged.relabelled.append([tip_id, "report"])
            encrypted_on = "server"
            if sealer == "device" and tip_id not in self.held_tips:
                self.staged.device.add(tip_id)
        bound = binding.reply_public_of(report)
        if bound is not None:
            if not hmac.compare_digest(bound, bytes(reply_public)):
                self.staged.rekeyed.append(tip_id)
            reply_public = bound
        return encrypted_on, reply_public

    def _stage_followup(self, doc):
        tip_id, seq, body = doc["tip_id"], doc["seq"], doc["body"]
        bundlechecks.check_days(f"follow-up {seq} of tip {tip_id[:8]}", doc, self.created_day,
                                "received_day")
        damaged = None
        encrypted_on = doc["encrypted_on"]
        ref = self.spill.put(body)
        try:
            opened = self._open_followup(body, tip_id, seq)
            sealer = binding.sealed_by_of(opened, "follow-up")
            if sealer is not None and sealer != encrypted_on:  # as for a report (_sealed_values)
                self.staged.relabelled.append([tip_id, f"f{seq}"])
                encrypted_on = "server"
            if len(str(opened.get("text", ""))) > _MAX_KEPT:  # judged later, opened again then
                opened = functools.partial(
                    lambda r: self._open_followup(self.spill.get(r), tip_id, seq), ref)
        except _DEVICE_FAULTS as e:
            # Only one sealed on the device is let through; one the server sealed
            # (every follow-up before device sealing) refuses the bundle.
            if doc["encrypted_on"] != "device":
                raise
            damaged, opened = _reason(e), None
        return {"tip_id": tip_id, "seq": seq, "body": ref, "read": 0,
                "received_day": doc["received_day"], "damaged": damaged,
                "encrypted_on": encrypted_on, "_opened": opened}

    def _open_followup(self, body, tip_id, seq):
        return documents.read_followup(open_envelope(
            body, self.keyring, f"follow-up {seq} of tip {tip_id[:8]}", kind="followup",
            tip_id=tip_id, part=f"f{seq}"))

    def _stage_attachment_info(self, doc):
        tip_id, part, info = doc["tip_id"], doc["part"], doc["info"]
        damaged = None
        try:
            documents.read_attachment_info(open_envelope(info, self.keyring, f"attachment {part} of tip {tip_id[:8]}",
                                   kind="attachment-info", tip_id=tip_id, part=part))
        except _DEVICE_FAULTS as e:
            if tip_id not in self.staged.device:
                raise
            damaged = _reason(e)
        return {"tip_id": tip_id, "part": part, "info": self.spill.put(info),
                "size": doc["size"], "damaged": damaged}

    def _stage_stream(self, reader, row):
        name = secrets.token_hex(16) + ".bin"
        tmp = self.spill.path.parent / name  # the import's own folder (scratch.py)
        self.staged.files.append((tmp, self.ws.blobs / name))
        with open(tmp, "wb") as f:
            reader.copy_stream(f.write)
            f.flush()
            os.fsync(f.fileno())
        damaged = self._check_stream(tmp, row)
        if damaged:
            row = row | {"damaged": row["damaged"] or damaged}
        return row | {"blob": name}


def _first_status(doc):
    """(status, day) a tip new to the workspace starts with; refused if its numbering cannot be.

    The export carries no signed reply, so a tip's status and ``reply_seq``
    are the server's word (a workspace restored from a backup, or a tip
    forwarded here, takes them as they come). What is not taken: a
    ``reply_seq`` beyond fields.MAX_REPLIES (an altered export: the next
    reply's number would pass what the server takes), and a status that
    only a reply sets on a tip that had none (``reply_seq`` 0): such a tip
    starts ``received``, on the day it was received.
    """
    if doc["reply_seq"] > fields.MAX_REPLIES:
        raise bundles.BundleError(f"tip {doc['id'][:8]}: it says {doc['reply_seq']} replies "
                                  f"were sent, more than any tip may have "
                                  f"({fields.MAX_REPLIES}): it was altered")
    if doc["reply_seq"] == 0 and doc["status"] not in ("received", "transferred"):
        return "received", doc["received_day"]
    return doc["status"], doc["status_day"]


class _Reopen:
    """Stands for a report too large to keep while a bundle is read: its ref in the spill."""

    def __init__(self, ref):
        self.ref = ref


def _kept(report, ref):
    """What the bindings need of an opened report, or a _Reopen when that is large.

    Sized by counting, not by encoding (this runs for every tip): a few
    files' digests and a follow-up key are kept, anything larger is not.
    """
    part = {}
    for name in _KEPT_OF_REPORT:
        if name in report:
            value = part[name] = report[name]
            if isinstance(value, (str, list, dict)) and len(value) > _MAX_KEPT_ITEMS:
                return _Reopen(ref)
    return part


def _reason(error):
    """What is shown about a damaged item: the error's sentence, never content.

    Interned: a bundle's many damaged items share a few reasons, not a copy each.
    """
    return sys.intern(error.message[:300])


def _tip_of(doc):
    """The record's tip id (already checked against fields.py's rules)."""
    return doc["tip_id"]


#: The item list each record type belongs to, and its key there.
_LIST_OF = {bundles.TIP: "tips", bundles.FOLLOWUP: "followups",
            bundles.ATTACHMENT: "attachments"}


def _key_of(kind, doc):
    if kind == bundles.TIP:
        return doc["id"]
    return (doc["tip_id"], doc["seq"] if kind == bundles.FOLLOWUP else doc["part"])
