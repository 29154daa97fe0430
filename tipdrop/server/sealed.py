"""Reports sealed on the reporter's device: check their structure, store them, issue a receipt.

When the reporter's browser (with JavaScript) or an app encrypts the report
itself, the server never sees the plaintext, not even in memory. It receives
the same envelopes and streams it would have made (docs/protocol.md sections
4 and 5), checks what can be checked without the key (version, kind, key id
of an installed key of the region's unit, Padmé lengths, chunk framing),
and stores them exactly like reports it sealed itself; only the
``encrypted_on`` column says "device". Whatever a device put *inside* the
ciphertext is checked by the officer's tool, which can open it.

The upload is one multipart form (see web/api.py): the text fields
``region``, ``category`` and ``tip_id`` first, then file parts named
``tip`` (the report envelope), and for each attachment ``aN-info`` (its
attachment-info envelope) and ``aN`` (its stream), N = 1, 2, ...

A device that makes the receipt itself (so that its report can carry the
receipt's follow-up key, docs/protocol.md section 14) first asks this server
for a locator (tipdrop.server.locators), then sends, instead of the receipt, only
what the server would have stored for it: a text field ``receipt`` with the
locator, the token of its reservation, salt, Argon2id costs, verifier and
reply key (:func:`device_receipt`). This server never learns that receipt.

A follow-up sealed on the device (:func:`add_followup`) is one envelope,
part ``fN``: the device seals it for the number it expects, and the server
stores it only under that very number.
"""

import base64
import binascii
import re
import sqlite3
from dataclasses import dataclass, field

from tipdrop.crypto import envelope, kdf, keys, stream
from tipdrop.errors import DecryptionError, FormatError, InputError
from tipdrop.protocol import bundles, fields, receipts
from tipdrop.protocol.report import MAX_ATTACHMENTS, TooManyFilesError
from tipdrop.server import attachments, store
from tipdrop.server.locators import LocatorNotReservedError
from tipdrop.server.tips import FollowupExpiredError

#: The client picks the tip id (it is bound into every ciphertext before the
#: upload starts): 128 random bits as 32 lower-case hex digits (bundles.TIP_ID).
TIP_ID = bundles.TIP_ID
#: The largest report envelope: 20,000 characters of text and the answers,
#: JSON-escaped, padded. Far above what the form allows, far below memory worries.
MAX_ENVELOPE = 512 * 1024
#: An attachment-info envelope holds a name, a type, a size and a few words
#: about photo metadata: a few hundred bytes.
MAX_INFO_ENVELOPE = 16 * 1024
_PART = re.compile(r"a([1-9][0-9]?)(-info)?")
#: A follow-up holds at most tips.MAX_FOLLOWUP characters, JSON-escaped (6 bytes
#: each at worst), padded: under 128 KiB. Its base64 fits the API's JSON limit.
MAX_FOLLOWUP_ENVELOPE = 160 * 1024
_FOLLOWUP_PART = re.compile(r"f([1-9][0-9]{0,8})")


class SealedFormatError(InputError):
    """The encrypted report could not be accepted: it is not in the expected format."""

    detail_is_message = False


class StaleKeyError(InputError):
    """The police unit's key has changed since this page was opened. Please reload the page and send the report again."""

    http_status = 409
    detail_is_message = False


class ReceiptSettingsChangedError(InputError):
    """The server's settings have changed since this page was opened. Please reload the page and send the report again."""

    http_status = 409
    detail_is_message = False


class FollowupNumberTakenError(InputError):
    """Another message was added to this report meanwhile. Please send yours again."""

    http_status = 409
    detail_is_message = False


class _EnvelopeBuffer:
    """An envelope part, kept in memory under a hard limit."""

    def __init__(self, limit=MAX_ENVELOPE):
        self.data = bytearray()
        self.limit = limit

    def write(self, data):
        if len(self.data) + len(data) > self.limit:
            raise SealedFormatError("an envelope is too large")
        self.data += data
        return len(data)


class _StreamFile:
    """A stream part, stored as a staged blob (store/blobs.py) while its framing is checked."""

    def __init__(self, db, day, max_len):
        self.check = stream.FramingCheck(kind="attachment", max_len=max_len)
        self._file = attachments.BlobWriter(db, day)

    @property
    def blob(self):
        return self._file.blob

    @property
    def size(self):
        return self._file.size

    def write(self, data):
        try:
            self.check.update(data)
        except FormatError as e:
            raise SealedFormatError(str(e.detail or "")) from None
        self._file.write(data)
        return len(data)

    def finish(self):
        self._file.close()
        try:
            return self.check.finish()
        except (FormatError, DecryptionError) as e:  # TruncatedError: too short to be a stream
            raise SealedFormatError(e.detail or "a stream is malformed") from None

    def discard(self):
        self._file.discard()


@dataclass
class SealedDraft:
    """A device-sealed upload in progress (parts arrive in any order after the fields)."""

    tip_id: str
    unit: str
    key_ids: frozenset
    db: object
    day: str
    max_stream: int
    #: What the device derived from a receipt it made (receipts.Protected), or None.
    protected: receipts.Protected | None = None
    #: The token of the reservation of that receipt's locator (tipdrop.server.locators).
    reservation: object = None
    body: _EnvelopeBuffer | None = None
    infos: dict = field(default_factory=dict)
    streams: dict = field(default_factory=dict)

    def new_file(self, name, filename, content_type):
        if name == "tip":
            if self.body is not None:
                raise SealedFormatError("the part 'tip' appears twice")
            self.body = _EnvelopeBuffer()
            return self.body
        match = _PART.fullmatch(name or "")
        if match is None:
            raise SealedFormatError(f"unexpected part {str(name)[:20]!r}")
        part, is_info = f"a{match.group(1)}", bool(match.group(2))
        if int(match.group(1)) > MAX_ATTACHMENTS:
            raise TooManyFilesError()
        target = self.infos if is_info else self.streams
        if part in target:
            raise SealedFormatError(f"the part {name!r} appears twice")
        target[part] = writer = (_EnvelopeBuffer(MAX_INFO_ENVELOPE) if is_info
                                 else _StreamFile(self.db, self.day, self.max_stream))
        return writer

    def discard(self):
        for writer in self.streams.values():
            writer.discard()


def start(tips, *, fields, max_stream):
    """Begin a device-sealed upload once ``region`` and ``tip_id`` are known."""
    tip_id = fields.get("tip_id") or ""
    if not TIP_ID.fullmatch(tip_id):
        raise SealedFormatError("the tip id must be 32 lower-case hex digits")
    if store.tip_id_taken(tips.db, tip_id):
        raise SealedFormatError("this tip id is already used; make a new one")
    unit = tips.routing.unit_for(fields.get("region"))
    protected = reservation = None
    if fields.get("receipt") is not None:
        protected, reservation = device_receipt(fields["receipt"], tips.receipt_params)
        # Refused before the upload is read, never by whether another report
        # uses the locator: the same check whatever the locator (tipdrop.server.locators).
        if tips.locators is None:
            raise LocatorNotReservedError()
        tips.locators.check(protected.locator, reservation)
    return SealedDraft(
        tip_id=tip_id,
        unit=unit,
        key_ids=frozenset(key.key_id for key in tips.unit_keys.installed(unit)),
        db=tips.db,
        day=tips.clock(),
        max_stream=max_stream,
        protected=protected,
        reservation=reservation,
    )


def device_receipt(text, params):
    """Parse the ``receipt`` field of a device that made its own receipt (protocol.md section 14).

    JSON ``{"locator", "reservation", "salt", "time_cost", "memory_cost_kib",
    "parallelism", "verifier", "reply_public"}``: what receipts.protect would
    have stored, and the token that reserved the locator; returns both. The
    costs must be this server's (a client may not weaken, or inflate, the
    Argon2id work every check of its receipt costs). Whether the token holds
    the locator is not looked at here.
    """
    doc = None
    if isinstance(text, str) and len(text) <= 1024:
        try:
            data = text.encode("utf-8")
        except UnicodeError:
            data = b""
        # Strict: a member named twice (another reader may keep the other value) is refused.
        doc = fields.loads(data, SealedFormatError, "the receipt field")
    if not isinstance(doc, dict):
        raise SealedFormatError("the receipt field is not a JSON object")
    locator = doc.get("locator")
    if not (isinstance(locator, str) and len(locator) == receipts.LOCATOR_LEN
            and all(symbol in receipts.ALPHABET for symbol in locator)):
        raise SealedFormatError("the receipt locator is not 5 receipt symbols")
    costs = {name: doc.get(name) for name in ("time_cost", "memory_cost_kib", "parallelism")}
    if costs != params.as_dict():
        raise ReceiptSettingsChangedError(f"this server's receipt costs are {params.as_dict()}")
    raw = {}
    for name, length in (("salt", kdf.SALT_LEN), ("verifier", 32), ("reply_public", 32)):
        try:
            raw[name] = base64.b64decode(doc.get(name) if isinstance(doc.get(name), str)
                                         else "", validate=True)
        except (binascii.Error, ValueError):
            raw[name] = b""
        if len(raw[name]) != length:
            raise SealedFormatError(f"the receipt {name} must be {length} bytes in base64")
    if not keys.usable_reply_public(raw["reply_public"]):
        raise SealedFormatError("the receipt reply_public is not a usable X25519 public key")
    # Checked by tipdrop.server.locators alone: a missing or malformed token is
    # refused there, the same way as one that does not hold the locator.
    return receipts.Protected(locator, raw["salt"], params, raw["verifier"],
                              raw["reply_public"]), doc.get("reservation")


def submit(tips, draft, *, region, category, also=None):
    """Check every part of a finished upload, store the tip, return its receipt.

    ``also(db, receipt)``: more writes in the report's transaction (Tips.store_sealed).
    """
    try:
        if tips.routing.unit_for(region) != draft.unit:
            raise InputError("the region changed during the upload")
        tips.routing.check_category(category)
        if draft.body is None:
            raise SealedFormatError("the report envelope is missing")
        key_id = _key_of(draft, draft.body.data, "tip")
        parts = sorted(set(draft.infos) | set(draft.streams), key=lambda p: int(p[1:]))
        if parts != [f"a{n}" for n in range(1, len(parts) + 1)]:
            raise SealedFormatError("attachments must be numbered a1, a2, ... without gaps")
        rows = []
        for part in parts:
            if part not in draft.infos or part not in draft.streams:
                raise SealedFormatError(f"attachment {part} needs both its info and its stream")
            writer = draft.streams[part]
            if writer.finish() != key_id or _key_of(draft, draft.infos[part].data,
                                                     "attachment-info") != key_id:
                raise SealedFormatError("all parts of a report must be sealed to one key")
            rows.append({"tip_id": draft.tip_id, "part": part,
                         "info": bytes(draft.infos[part].data), "blob": writer.blob,
                         "size": writer.size,
                         "export_seq": 0})
        if store.tip_id_taken(tips.db, draft.tip_id):  # purged while this upload ran
            raise SealedFormatError("this tip id is already used; make a new one")
        try:
            return tips.store_sealed(
                tip_id=draft.tip_id, unit=draft.unit, key_id=key_id, region=region,
                category=category, body=bytes(draft.body.data), attachment_rows=rows,
                encrypted_on="device", protected=draft.protected,
                reservation=draft.reservation, also=also,
            )
        except sqlite3.IntegrityError:
            raise SealedFormatError("this tip id is already used; make a new one") from None
    except BaseException:
        draft.discard()
        raise


def _key_of(draft, data, kind):
    limit = MAX_INFO_ENVELOPE if kind == "attachment-info" else MAX_ENVELOPE
    try:
        key_id = envelope.check_sealed(data, kind=kind, max_len=limit)
    except FormatError as e:
        raise SealedFormatError(e.detail or f"the {kind} envelope is malformed") from None
    if key_id not in draft.key_ids:
        raise StaleKeyError(f"key {key_id.hex()} is not an installed key of unit {draft.unit}")
    return key_id


def add_followup(tips, *, tip_id, part, body, once=None):
    """Store a follow-up sealed on the device as part ``fN`` of ``tip_id``; return N.

    N is bound into the ciphertext, so it must be the number the follow-up
    is stored under: if another one took N first, nothing is stored and the
    device seals again for the next number (FollowupNumberTakenError, 409).
    """
    match = _FOLLOWUP_PART.fullmatch(part or "")
    if match is None:
        raise SealedFormatError("the part must be f1, f2, ...")
    wanted = int(match.group(1))
    tip = store.get_tip(tips.db, tip_id)
    if tip is None:  # purged since the token was issued
        raise FollowupExpiredError()
    try:
        key_id = envelope.check_sealed(body, kind="followup", max_len=MAX_FOLLOWUP_ENVELOPE)
    except FormatError as e:
        raise SealedFormatError(e.detail or "the followup envelope is malformed") from None
    if key_id not in {key.key_id for key in tips.unit_keys.installed(tip["unit"])}:
        raise StaleKeyError(f"key {key_id.hex()} is not an installed key of unit {tip['unit']}")

    def as_sealed(seq):
        if seq != wanted:
            raise FollowupNumberTakenError(f"it was sealed as f{wanted}, the next is f{seq}")
        return bytes(body)

    return tips.store_followup(tip_id, as_sealed, "device", once)
