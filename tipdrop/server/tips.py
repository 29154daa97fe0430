"""Reporter use cases: submit a tip, check it with the receipt, add a follow-up.

No Flask here: the web views and the JSON API parse input, call one of these
with keyword arguments, and render the result. Everything a reporter writes
is sealed to the unit's public key before it reaches the store; what stays in
the clear is region, category, the day, and the status (see store.SCHEMA).
"""

import json
import sqlite3
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

from tipdrop.common.days import today
from tipdrop.crypto import envelope, kdf, keys
from tipdrop.errors import (
    DecryptionError,
    FollowupLimitError,
    InputError,
    SignatureError,
    TipdropError,
    UnknownUnitError,
)
from tipdrop.protocol import binding, bundles, device, documents, questions, receipts
from tipdrop.protocol.fields import STATUSES  # noqa: F401 (re-exported as tips.STATUSES)
from tipdrop.protocol.report import MAX_ATTACHMENTS, TooManyFilesError, followup_text
from tipdrop.server import attachments, store
from tipdrop.server.locators import LocatorNotReservedError

#: Follow-ups one tip takes per day unless the server sets another number.
FOLLOWUPS_PER_DAY = 10


class FollowupExpiredError(InputError):
    """This page has expired. Please enter your receipt code again."""

    http_status = 403
    detail_is_message = False


@dataclass
class Draft:
    """A submission in progress: its tip id and recipient are fixed up front
    so attachments can be encrypted while they stream in."""

    tip_id: str
    unit: str
    public_key: keys.UnitPublicKey
    db: object
    day: str
    keep_location: bool = False
    #: The form token this submission spends when it is stored (web form only).
    once: object = None
    writers: list = field(default_factory=list)
    names: list = field(default_factory=list)

    def new_file(self, name, filename, content_type):
        """Every file part of the form is an attachment, whatever its name."""
        return self.new_attachment(filename, content_type)

    def new_attachment(self, filename, content_type):
        if len(self.writers) >= MAX_ATTACHMENTS:
            raise TooManyFilesError()
        writer = attachments.AttachmentWriter(
            self.db,
            self.day,
            self.public_key.recipient,
            self.tip_id,
            f"a{len(self.writers) + 1}",
            self.keep_location,
        )
        self.writers.append(writer)
        self.names.append((str(filename or "")[:255], str(content_type or "")[:100]))
        return writer

    def discard(self):
        for writer in self.writers:
            writer.discard()


@dataclass(frozen=True)
class Reply:
    seq: int
    day: str
    status: str
    message: str


@dataclass(frozen=True)
class SealedReply:
    """A reply as stored, for a client that verifies and decrypts it itself."""

    seq: int
    day: str
    status: str
    body: bytes
    signature: bytes
    signer: object  # the keys.UnitPublicKey that signed it


@dataclass(frozen=True)
class CheckResult:
    tip_id: str
    status: str
    status_day: str
    received_day: str
    replies: tuple
    followups: int
    #: The unit the report went to: a device seals its follow-ups to that unit's key.
    unit: str = ""
    #: What a client needs to derive the reply key from the receipt itself.
    receipt_salt: bytes = b""
    receipt_params: dict = field(default_factory=dict)
    #: Forwards to another unit (Transfer), each after the replies it followed.
    transfers: tuple = ()

    @property
    def history(self):
        """Replies and transfers in the order they happened."""
        events, transfers = [], list(self.transfers)
        for reply in self.replies:
            while transfers and transfers[0].after_reply < reply.seq:
                events.append(transfers.pop(0))
            events.append(reply)
        return tuple(events + transfers)


@dataclass(frozen=True)
class Transfer:
    """The report went to another unit on ``day`` (which units is not shown to the reporter)."""

    day: str
    after_reply: int
    status: str = "transferred"
    message: str = ""
    kind: str = "transfer"


class Tips:
    """The reporter-side use cases over one database and one set of unit keys."""

    def __init__(self, db, unit_keys, routing, attachments_dir,
                 receipt_params=kdf.RECEIPT_PARAMS, argon2_slot=nullcontext, clock=today,
                 followups_per_day=FOLLOWUPS_PER_DAY, locators=None, alerts=None):
        self.db = db
        self.unit_keys = unit_keys
        self.routing = routing
        self.attachments_dir = attachments_dir
        self.receipt_params = receipt_params
        self.argon2_slot = argon2_slot
        self.clock = clock
        self.followups_per_day = followups_per_day
        #: The server's locator reservations (tipdrop.server.locators.Locators); None
        #: only where no device makes receipts (tests, benchmarks).
        self.locators = locators
        #: Which units are alerted of new reports (tipdrop.server.alertconfig.AlertConfig);
        #: None: none are.
        self.alerts = alerts

    # --- submit -----------------------------------------------------------

    def start(self, *, region, keep_location=False):
        """Begin a submission for ``region``: fixes tip id and unit key."""
        unit = self.routing.unit_for(region)
        return Draft(
            tip_id=device.new_tip_id(),  # the same ids a device makes (protocol/device.py)
            unit=unit,
            public_key=self.unit_keys.current(unit),
            db=self.db,
            day=self.clock(),
            keep_location=bool(keep_location),
        )

    def submit(self, draft, report):
        """Seal and durably store the tip; return its Receipt only after COMMIT."""
        try:
            unit = self.routing.unit_for(report.region)
            if unit != draft.unit:
                raise InputError("the region changed during the upload")
            self.routing.check_category(report.category)
            answers = questions.answers_document(self.routing.questions_of(report.category),
                                                 report.answers, report.language)
            rows = self._attachment_rows(draft)
            digests = {row["part"]: binding.attachment_digest(row["info"], row.pop("stream_header"))
                       for row in rows}

            def body(reply_public):
                # Sealed once the receipt is made, so the report binds its reply key.
                return envelope.seal(self._report_json(draft, report, digests, answers, reply_public),
                                     draft.public_key.recipient, kind="tip", tip_id=draft.tip_id)

            return self.store_sealed(
                tip_id=draft.tip_id, unit=draft.unit, key_id=draft.public_key.key_id,
                region=report.region, category=report.category, body=body,
                attachment_rows=rows, encrypted_on="server", once=draft.once,
            )
        except BaseException:
            draft.discard()
            raise

    def store_sealed(self, *, tip_id, unit, key_id, region, category, body,
                     attachment_rows, encrypted_on, protected=None, reservation=None,
                     once=None, also=None):
        """Store a sealed tip and its attachment rows; issue its receipt after COMMIT.

        Shared by reports sealed here and reports sealed on the reporter's
        device (tipdrop.server.sealed): from this point on they are stored alike,
        told apart only by ``encrypted_on``. ``body`` is the sealed report, or
        for a report sealed here a function of the receipt's reply public key
        that seals it (the receipt is made first, so the report binds its key).
        A device that made the receipt
        itself passes what it derived (``protected``, a receipts.Protected)
        and the token of the locator's reservation (``reservation``,
        tipdrop.server.locators): the reservation is spent with this very insert,
        this server never sees that receipt, and returns None for it.
        ``once``: the form token the submission spends in the same
        transaction (see store.spend_form). ``also(db, receipt)``: more writes
        in that transaction, given the receipt it issues (store.insert_tip).
        """
        day = self.clock()
        # A unit alerted of new reports: its counts go up in the report's own
        # transaction; the alert itself is sent later, by another process.
        targets = self.alerts.targets_of(unit) if self.alerts is not None else ()
        alert = (targets, self.alerts.is_urgent(unit, category)) if targets else None

        def insert(protected, receipt=None):
            tip = {
                "id": tip_id,
                "unit": unit,
                "key_id": bytes(key_id).hex(),
                "region": region,
                "category": category,
                "received_day": day,
                "status": "received",
                "status_day": day,
                "locator": protected.locator,
                "receipt_salt": protected.salt,
                "receipt_params": json.dumps(protected.params.as_dict()),
                "verifier": protected.verifier,
                "reply_public": protected.reply_public,
                "body": body(protected.reply_public) if callable(body) else body,
                "encrypted_on": encrypted_on,
                "export_seq": 0,
            }
            store.insert_tip(self.db, tip, attachment_rows, once=once, alert=alert,
                             also=None if also is None else lambda db: also(db, receipt))

        if protected is not None:
            if self.locators is None:
                raise LocatorNotReservedError()
            with self.locators.spent(protected.locator, reservation):
                try:
                    insert(protected)
                except sqlite3.IntegrityError:
                    if store.tip_exists(self.db, tip_id):
                        raise
                    # The reservations were lost (the RAM file removed) and the
                    # locator handed out twice: the same answer as any stale token.
                    raise LocatorNotReservedError() from None
            return None
        for _ in range(5):
            with self._held_locator() as locator:
                receipt, protected = self._new_receipt(locator)
                try:
                    insert(protected, receipt)
                except sqlite3.IntegrityError:
                    # Another process stored that locator meanwhile: draw again.
                    if store.tip_exists(self.db, tip_id):
                        raise
                    continue
                return receipt
        raise TipdropError("could not allocate a receipt")

    def reserve_locator(self):
        """Hand a device a locator for the receipt it makes (tipdrop.server.locators)."""
        return self.locators.reserve(lambda locator: store.locator_taken(self.db, locator))

    @contextmanager
    def _held_locator(self):
        """A locator for a receipt made here, held against devices until it is stored."""
        if self.locators is not None:
            with self.locators.held(lambda locator: store.locator_taken(self.db, locator)) \
                    as locator:
                yield locator
            return
        for _ in range(20):
            locator = receipts.generate().locator
            if not store.locator_taken(self.db, locator):
                break
        yield locator

    def _attachment_rows(self, draft):
        rows = []
        for writer, (name, content_type) in zip(draft.writers, draft.names, strict=True):
            info = writer.finish() | {"name": name, "type": content_type}
            rows.append({
                "tip_id": draft.tip_id,
                "part": writer.part,
                "info": envelope.seal(json.dumps(info).encode(), draft.public_key.recipient,
                                      kind="attachment-info", tip_id=draft.tip_id,
                                      part=writer.part),
                "blob": writer.blob,
                "size": writer.stored_size,
                "export_seq": 0,
                "stream_header": writer.stream_header,
            })
        return rows

    def _report_json(self, draft, report, digests, answers, reply_public):
        """The report document; it binds each file, the receipt's reply key and
        that this server sealed it (protocol.md section 14).

        Sealed here, the binding cannot protect the report from this server,
        but it does from anyone who alters the export on its way.
        """
        return documents.report_document(
            tip_id=draft.tip_id, region=report.region, category=report.category,
            description=report.description, what=report.what, where=report.where,
            when=report.when, contact=report.contact, language=report.language,
            parts=[w.part for w in draft.writers], digests=digests, answers=answers,
            reply_public=reply_public, sealed_by="server",
        )

    def _new_receipt(self, locator):
        receipt = receipts.generate(locator)
        with self.argon2_slot():
            protected, _ = receipts.protect(receipt, self.receipt_params)
        return receipt, protected

    # --- check ------------------------------------------------------------

    def spend_form(self, once):
        """Spend a form token on its own: the check page spends its token
        before it sends the typed code on to the one-time status page."""
        store.spend_form_now(self.db, once, self.clock())

    def check(self, *, receipt, decrypt=True, once=None):
        """Verify a typed receipt; return the tip's status and decrypted replies.

        Format errors are reported before any Argon2 work; an unknown and a
        wrong receipt take the same work and raise the same error. With
        ``decrypt=False`` the replies are returned sealed (SealedReply), for
        a client that checks the unit's signature against a key it pinned
        and decrypts on the reporter's device, so the reply is never
        decrypted here. ``once``, the check form's token, is spent first,
        whatever the answer: a replayed form costs no Argon2 run.
        """
        if once is not None:
            store.spend_form_now(self.db, once, self.clock())
        parsed = receipts.parse(receipt)
        row = store.find_by_locator(self.db, parsed.locator)
        stored = None
        if row is not None:
            stored = receipts.Protected(
                row["locator"], row["receipt_salt"], kdf.Argon2Params(**row["receipt_params"]),
                row["verifier"], row["reply_public"],
            )
        with self.argon2_slot():
            derived = receipts.verify(parsed, stored)
        # Only the first day of use, and only for retention: a closed tip
        # whose receipt was never used is purged early (tipdrop.server.retention).
        if row.get("receipt_used_day") is None:
            store.mark_receipt_used(self.db, row["id"], self.clock())
        opener = keys.reply_opener(derived.reply_key) if decrypt else None
        replies = tuple(r for r in (self._open_reply(row, reply, opener)
                                    for reply in store.replies_for(self.db, row["id"])) if r)
        return CheckResult(
            tip_id=row["id"],
            status=row["status"],
            status_day=row["status_day"],
            received_day=row["received_day"],
            replies=replies,
            followups=store.count_followups(self.db, row["id"]),
            unit=row["unit"],
            receipt_salt=row["receipt_salt"],
            receipt_params=dict(row["receipt_params"]),
            transfers=tuple(Transfer(t["day"], t["after_reply"])
                            for t in store.transfers_of(self.db, row["id"])),
        )

    def _open_reply(self, tip, reply, opener):
        """Re-check the unit's signature, then decrypt with the receipt's reply key.

        The signature was checked on import too; checking again here means
        a reply planted directly in the database is never shown (None).
        """
        body = reply["body"] or b""
        record = bundles.Reply(tip["id"], reply["seq"], reply["day"], reply["status"], body,
                               reply["signature"])
        try:
            public = self.unit_keys.signer_of_stored_reply(bytes.fromhex(reply["key_id"]))
            bundles.verify_reply(public.ed25519, public.unit, public.key_id, record)
        except (SignatureError, UnknownUnitError):
            return None
        if opener is None:
            return SealedReply(reply["seq"], reply["day"], reply["status"], body,
                               reply["signature"], public)
        message = ""
        if body:
            try:
                message = envelope.open_(body, opener, kind="reply", tip_id=tip["id"],
                                         part=f"r{reply['seq']}").decode("utf-8")
            except (DecryptionError, UnicodeDecodeError):
                message = ""
        return Reply(reply["seq"], reply["day"], reply["status"], message)

    # --- follow up ----------------------------------------------------------

    def add_followup(self, *, tip_id, text, once=None):
        """Seal a reporter's follow-up to the tip's unit (its current key).

        A follow-up sealed on the reporter's device arrives through
        tipdrop.server.sealed.add_followup instead. ``once``: the follow-up token,
        spent when the follow-up is stored.
        """
        text = followup_text(text)
        tip = store.get_tip(self.db, tip_id)
        if tip is None:
            raise FollowupExpiredError()
        public = self.unit_keys.current(tip["unit"])
        payload = documents.followup_document(text, sealed_by="server")

        def seal(seq):
            return device.seal_followup(payload, public.recipient, tip_id, seq)

        return self.store_followup(tip_id, seal, "server", once)

    def store_followup(self, tip_id, make_body, encrypted_on, once):
        """Store a follow-up, at most ``followups_per_day`` a day per tip (FollowupLimitError)."""
        return store.add_followup(self.db, tip_id, make_body, self.clock(), encrypted_on,
                                  once=once, per_day=self.followups_per_day,
                                  too_many=FollowupLimitError)
