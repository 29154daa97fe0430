"""The reference reporter client: seal a report on this computer, send it, read the replies.

What an app (the e-government app) does in its own language, written with
tipdrop's own modules so that it is the worked example of
docs/integration.md: the report and its files are sealed with
:mod:`tipdrop.protocol.device` to the unit's public key before anything leaves the
computer, photos are cleaned of identifying metadata first, and replies are
verified against the unit's signature and decrypted here with the key
derived from the receipt. The server only ever handles ciphertext.

Standard library HTTP only (http.client, ssl), like the officer client:
https:// checked against the system's trusted certificates, or http:// to
this very computer. Keys can be *pinned* (``--unit-key FILE.pub``): a
server that offers another key, or replies signed by another key, is
exactly what pinning is there to catch.
"""

import io
import json
import mimetypes
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tipdrop.common import photos
from tipdrop.common.multipart import MultipartBody, Part
from tipdrop.common.remote import (
    check_server_url,
    connect,
    network_step,
    refusal,
)
from tipdrop.crypto import envelope, kdf, keys, stream
from tipdrop.errors import ConfigError, CryptoError, SignatureError, TipdropError, UsageError
from tipdrop.protocol import binding, bundles, device, documents, puzzle, questions, receipts
from tipdrop.protocol.report import (
    MAX_ATTACHMENTS,
    MAX_PHOTO_BYTES,
    PhotoTooLargeError,
    Report,
    TooManyFilesError,
    followup_text,
)

API = "/api/v1"
TIMEOUT = 300
#: The largest JSON answer read (a check with many replies is far smaller).
MAX_ANSWER = 8 * 1024 * 1024

#: Argon2id costs this client runs at most for a receipt check: far above the
#: server's default (19 MiB, t=2, p=1) yet nowhere near what a malicious
#: server could ask for (4 GiB would freeze a phone).
MAX_ARGON2_MEMORY_KIB = 256 * 1024
MAX_ARGON2_TIME = 10
MAX_ARGON2_LANES = 16


class PinnedKeyMismatchError(CryptoError):
    """The server offered a key that is not the one you pinned (--unit-key): nothing was sent."""


class UnsafeKdfParamsError(CryptoError):
    """The server asked for receipt key costs above this client's limits: refusing to run them."""


class ReporterAnswerError(TipdropError):
    """The server's answer was cut short or is not a tipdrop API answer."""


# --- keys -----------------------------------------------------------------------


@dataclass(frozen=True)
class ServerKeys:
    """``GET /api/v1/keys``: which unit each region's reports go to, and its key."""

    regions: dict
    units: dict
    #: The Argon2id costs for a receipt made here (None: an older server, which makes it).
    receipt_params: kdf.Argon2Params | None = None

    def key_for(self, region, pinned=()):
        """The key to seal a report for ``region`` to; with pins, it must be one of them."""
        unit = self.regions.get(region)
        if unit is None:
            known = ", ".join(sorted(self.regions))
            raise UsageError(f"the server knows no region {region!r} (it knows: {known})")
        return self.key_of_unit(unit, pinned, f"region {region} goes to unit {unit}")

    def key_of_unit(self, unit, pinned=(), what=None):
        """The key to seal to for ``unit``; with pins, it must be one of them."""
        offered = self.units.get(unit)
        if offered is None:
            raise ReporterAnswerError(f"the server offers no key for unit {unit!r}")
        if pinned and offered.key_id not in {key.key_id for key in pinned}:
            mine = ", ".join(f"{k.unit} {k.key_id.hex()[:16]}" for k in pinned)
            raise PinnedKeyMismatchError(
                f"{what or f'unit {unit}'}, key {offered.key_id.hex()[:16]}; pinned: {mine}")
        return offered


def load_pinned(paths):
    """Parse ``.pub`` files given with --unit-key (each recomputes its key id)."""
    return tuple(keys.parse_public(Path(path).read_bytes()) for path in paths)


def fetch_keys(server, timeout=TIMEOUT):
    """Fetch and parse the server's unit keys; every document is checked like a .pub file."""
    server = _url(server)
    doc = _answer(server, *_call(server, "GET", "/keys", timeout=timeout), expect=200)
    regions, units = doc.get("regions"), doc.get("units")
    if not isinstance(regions, dict) or not isinstance(units, dict):
        raise ReporterAnswerError("the keys answer has no regions or units")
    parsed = {}
    for unit, key_doc in units.items():
        public = keys.parse_public(json.dumps(key_doc).encode("utf-8"))
        if public.unit != unit:
            raise ReporterAnswerError(
                f"the key offered for unit {unit!r} is unit {public.unit!r}'s")
        parsed[unit] = public
    if not all(isinstance(u, str) and u in parsed for u in regions.values()):
        raise ReporterAnswerError("a region goes to a unit without a key")
    params = None
    if doc.get("receipt_kdf") is not None:
        params = _safe_params(doc["receipt_kdf"])
    return ServerKeys(dict(regions), parsed, params)


# --- sealing and sending ----------------------------------------------------------


@dataclass(frozen=True)
class Sealed:
    """A file sealed for upload: its attachment-info envelope and stream file."""

    part: str
    name: str
    info: dict
    info_envelope: bytes
    stream_path: Path
    stream_header: bytes


@dataclass(frozen=True)
class Sent:
    """A report the server stored. ``receipt`` hides its secret in repr and str."""

    receipt: receipts.Receipt
    unit: str
    key_id: bytes
    pinned: bool
    files: tuple


def seal_attachment(path, recipient, tip_id, part, workdir, keep_location=False):
    """Seal one file into ``workdir``: photos are cleaned first, everything is streamed.

    A JPEG or PNG (told by its first bytes, as the server does) is read into
    memory up to attachments.MAX_PHOTO_BYTES, cleaned with photos.clean and
    then encrypted; a photo that cannot be cleaned raises and is never sent.
    Any other file is encrypted straight from disk in constant memory.
    """
    path = Path(path)
    out_path = Path(workdir) / f"{part}.stream"
    with open(path, "rb") as src:
        head = src.read(len(photos.PNG_MAGIC))
        photo = {}
        if head.startswith((photos.JPEG_MAGIC, photos.PNG_MAGIC)):
            data = head + src.read(MAX_PHOTO_BYTES + 1 - len(head))
            if len(data) > MAX_PHOTO_BYTES:
                raise PhotoTooLargeError(path.name)
            try:
                cleaned = photos.clean(data, None, keep_location)
            except photos.PhotoError as e:
                raise photos.PhotoError(f"{path.name}: {e.detail}" if e.detail else path.name) \
                    from None
            plain, size = io.BytesIO(cleaned.data), len(cleaned.data)
            photo = {"photo": cleaned.kind, "metadata_removed": cleaned.removed,
                     "kept_location_and_time": keep_location}
        else:
            src.seek(0)
            plain, size = src, os.fstat(src.fileno()).st_size
        with open(out_path, "xb") as out:
            header = device.encrypt_attachment(plain, out, recipient, tip_id, part)
    if out_path.stat().st_size != stream.ciphertext_length(size):
        raise UsageError(f"{path.name} changed while it was being encrypted")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    info = documents.attachment_info_document(name=path.name, content_type=content_type,
                                           size=size, **photo)
    return Sealed(part, path.name, json.loads(info),
                  device.seal_attachment_info(info, recipient, tip_id, part), out_path, header)


@dataclass(frozen=True, repr=False)
class MadeReceipt:
    """A receipt made on this computer, and what the server stores instead of it."""

    receipt: receipts.Receipt
    protected: receipts.Protected
    followup_public: bytes
    #: The token that reserved the receipt's locator (POST /api/v1/locators).
    reservation: str = ""

    def field(self):
        """The ``receipt`` text field of the upload (protocol.md section 14): never the code."""
        p = self.protected
        return json.dumps({"locator": p.locator, "reservation": self.reservation,
                           "salt": bundles.b64(p.salt), **p.params.as_dict(),
                           "verifier": bundles.b64(p.verifier),
                           "reply_public": bundles.b64(p.reply_public)})


#: The token of a reservation: 32 random bytes, base64url without padding.
_RESERVATION_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def reserve_locator(server, timeout=TIMEOUT):
    """Ask the server for a locator (protocol.md section 14); return (locator, token).

    The locator is the only part of the receipt the server chooses; the
    secret is drawn here.
    """
    server = _url(server)
    doc = _answer(server, *_call(server, "POST", "/locators", timeout=timeout,
                                 headers={"Content-Length": "0"}), expect=201)
    locator, token = doc.get("locator"), doc.get("reservation")
    if not (isinstance(locator, str) and len(locator) == receipts.LOCATOR_LEN
            and all(symbol in receipts.ALPHABET for symbol in locator)):
        raise ReporterAnswerError("the locator answer has no valid locator")
    if not (isinstance(token, str) and 0 < len(token) <= 100
            and set(token) <= _RESERVATION_CHARS):
        raise ReporterAnswerError("the locator answer has no valid reservation")
    return locator, token


def make_receipt(params, locator, reservation):
    """Make a receipt here on the server's ``locator``, derive its keys (one Argon2id run,
    protocol.md section 8).

    The server gets the locator, reservation, salt, verifier and reply key,
    as it would have stored them; the report carries the follow-up key's
    public half.
    """
    receipt = receipts.generate(locator)
    salt = secrets.token_bytes(kdf.SALT_LEN)
    derived = kdf.receipt_keys(receipt.secret_bytes, salt, params, followup=True)
    protected = receipts.Protected(receipt.locator, salt, params, derived.verifier,
                                   derived.reply_public)
    return MadeReceipt(receipt, protected, derived.followup_public, reservation)


def seal_upload(report, files, recipient, workdir, keep_location=False, tip_id=None,
                made=None, answers=()):
    """Seal a report and its files; return (tip id, MultipartBody, sealed files).

    The files are sealed first, so the report can bind each of them
    (protocol.md section 14); with ``made`` (a MadeReceipt) it also carries
    the receipt's follow-up key; ``answers`` is the category's answers
    (questions.answers_document). The text fields region, category, tip_id
    (and receipt) go first: the server picks the unit's key by region
    before the first file.
    """
    tip_id = tip_id or device.new_tip_id()
    names = [f"a{n}" for n in range(1, len(files) + 1)]
    sealed = [seal_attachment(path, recipient, tip_id, part, workdir, keep_location)
              for part, path in zip(names, files, strict=True)]
    digests = {item.part: binding.attachment_digest(item.info_envelope, item.stream_header)
               for item in sealed}
    document = documents.report_document(
        tip_id=tip_id, region=report.region, category=report.category,
        description=report.description, what=report.what, where=report.where,
        when=report.when, contact=report.contact, language=report.language, parts=names,
        digests=digests, followup_public=made.followup_public if made else None,
        reply_public=made.protected.reply_public if made else None, sealed_by="device",
        answers=answers)
    parts = [Part("region", report.region.encode("utf-8")),
             Part("category", report.category.encode("utf-8")),
             Part("tip_id", tip_id.encode("ascii"))]
    if made is not None:
        parts.append(Part("receipt", made.field().encode("ascii")))
    parts.append(Part("tip", device.seal_report(document, recipient, tip_id), filename="tip"))
    for item in sealed:
        parts += [Part(f"{item.part}-info", item.info_envelope, filename=f"{item.part}-info"),
                  Part(item.part, path=item.stream_path, filename=item.part)]
    return tip_id, MultipartBody(parts), tuple(sealed)


def submit(server, *, region, category, description, what="", where="", when="",
           contact="", files=(), keep_location=False, pinned=(), timeout=TIMEOUT,
           answers=None, language=""):
    """Seal a report here, upload it to /api/v1/sealed-tips, return what the server stored.

    The receipt is made here too, on a locator the server reserved for it
    (when the server offers its Argon2id costs), so the server never sees
    it and the report carries its follow-up key. If the unit's key changed
    between fetching it and uploading, or the reservation is gone (the
    server restarted; HTTP 409), the keys and a locator are fetched again
    and everything is made and sealed afresh, once.
    ``answers`` (question id -> text) answer the category's questions,
    fetched from the server and checked here as the server would; their
    labels are sealed in ``language`` (kk, ru or en).
    """
    server = _url(server)
    report = Report.build(region=region, category=category, description=description,
                          what=what, where=where, when=when, contact=contact,
                          language=language)
    asked = fetch_questions(server, category, timeout)
    answers = dict(answers or {})
    unknown = sorted(set(answers) - {q.id for q in asked})
    if unknown:
        raise UsageError(f"category {category} asks no question {', '.join(unknown)}")
    answered = questions.answers_document(asked, answers, language)
    if len(files) > MAX_ATTACHMENTS:
        raise TooManyFilesError()
    for attempt in (1, 2):
        offered = fetch_keys(server, timeout)
        public = offered.key_for(region, pinned)
        made = None
        if offered.receipt_params:
            made = make_receipt(offered.receipt_params, *reserve_locator(server, timeout))
        with tempfile.TemporaryDirectory(prefix="tipdrop-") as workdir:
            _, body, sealed = seal_upload(report, list(files), public.recipient, workdir,
                                          keep_location, made=made, answers=answered)
            status, headers, raw = _call(
                server, "POST", "/sealed-tips", body=body.chunks, timeout=timeout,
                headers={"Content-Type": body.content_type, "Content-Length": str(body.length)})
        if status == 409 and attempt == 1:
            continue  # the unit rotated its key meanwhile: seal again to the new one
        doc = _answer(server, status, headers, raw, expect=201)
        if made is not None:
            receipt = made.receipt
        else:
            receipt = receipts.parse(doc.get("receipt") if isinstance(doc.get("receipt"), str)
                                     else "")
        return Sent(receipt, public.unit, public.key_id, bool(pinned),
                    tuple((item.name, item.info) for item in sealed))


# --- checking -------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedReply:
    """A reply as this client judged it. ``message`` is empty unless ``verified``."""

    seq: int
    day: str
    status: str
    verified: bool
    pinned: bool
    signer_unit: str
    signer_key_id: bytes
    message: str = ""
    problem: str = ""


@dataclass(frozen=True, repr=False)
class CheckAnswer:
    tip_id: str
    status: str
    status_day: str
    received_day: str
    followups: int
    replies: tuple
    followup_token: str
    #: When the report was forwarded to another unit: (day, replies before it), oldest
    #: first (docs/protocol.md section 11a); never which units.
    transfers: tuple = ()

    def __repr__(self):
        return f"CheckAnswer(status={self.status!r}, replies={len(self.replies)}, <token hidden>)"


def reply_keys(receipt, receipt_kdf):
    """Derive the receipt's keys (docs/protocol.md section 8) from the server's KDF settings.

    The Argon2id input is the receipt's 18 secret symbols as ASCII
    (Receipt.secret_bytes), exactly what receipts.protect hashes; the
    costs come from the server, so they are capped before anything runs.
    """
    if not isinstance(receipt_kdf, dict):
        raise ReporterAnswerError("the answer has no receipt_kdf")
    salt = _unb64(receipt_kdf.get("salt"), "receipt_kdf salt")
    if not 8 <= len(salt) <= 64:
        raise ReporterAnswerError("the receipt_kdf salt has a wrong length")
    return kdf.receipt_keys(receipt.secret_bytes, salt, _safe_params(receipt_kdf),
                            followup=True)


def _safe_params(doc):
    """Argon2id costs from the server, capped before anything runs."""
    if not isinstance(doc, dict):
        raise ReporterAnswerError("the receipt costs are not an object")
    costs = {name: doc.get(name) for name in ("time_cost", "memory_cost_kib", "parallelism")}
    if not all(type(value) is int for value in costs.values()):
        raise ReporterAnswerError("the receipt_kdf costs are not integers")
    if (costs["memory_cost_kib"] > MAX_ARGON2_MEMORY_KIB or costs["time_cost"] > MAX_ARGON2_TIME
            or costs["parallelism"] > MAX_ARGON2_LANES):
        raise UnsafeKdfParamsError(
            f"asked for {costs['memory_cost_kib']} KiB, t={costs['time_cost']}, "
            f"p={costs['parallelism']}; the limits are {MAX_ARGON2_MEMORY_KIB} KiB, "
            f"t={MAX_ARGON2_TIME}, p={MAX_ARGON2_LANES}")
    try:
        return kdf.Argon2Params(**costs)
    except TipdropError as e:
        raise ReporterAnswerError(f"the receipt costs are invalid: {e.detail}") from None


def check(server, receipt, pinned=(), timeout=TIMEOUT):
    """Check a report: status, and each reply verified and decrypted on this computer."""
    server = _url(server)
    parsed = _receipt(receipt)
    return read_check_answer(_sealed_check(server, parsed, timeout), parsed, pinned)


def _receipt(receipt):
    return receipt if isinstance(receipt, receipts.Receipt) else receipts.parse(receipt)


def _sealed_check(server, receipt, timeout):
    """``POST /check`` with ``sealed_replies``: the answer as it came."""
    return _post_json(server, "/check", {"receipt": receipt.formatted, "sealed_replies": True},
                      expect=200, timeout=timeout)


def read_check_answer(doc, receipt, pinned=()):
    """Turn a ``sealed_replies`` check answer into a CheckAnswer (see :func:`check`)."""
    tip_id = doc.get("tip_id")
    if not isinstance(tip_id, str) or not bundles.TIP_ID.match(tip_id):
        raise ReporterAnswerError("the answer has no valid tip_id")
    items = doc.get("replies")
    if not isinstance(items, list):
        raise ReporterAnswerError("the answer has no list of replies")
    opener = keys.reply_opener(reply_keys(receipt, doc.get("receipt_kdf")).reply_key)
    pinned_ids = {key.key_id for key in pinned or ()}
    replies = tuple(_read_reply(item, tip_id, opener, pinned_ids) for item in items)
    texts = {name: doc.get(name) for name in ("status", "status_day", "received_day",
                                               "followup_token")}
    if not all(isinstance(value, str) for value in texts.values()):
        raise ReporterAnswerError("the answer lacks status, days or followup_token")
    followups = doc.get("followups")
    return CheckAnswer(tip_id=tip_id, followups=followups if type(followups) is int else 0,
                       replies=replies, transfers=_read_transfers(doc, len(replies)), **texts)


def _read_transfers(doc, replies):
    """The answer's ``transfers`` as ((day, after_reply), ...); an older server sends none."""
    items = doc.get("transfers", [])
    if not isinstance(items, list):
        raise ReporterAnswerError("the answer's transfers are not a list")
    found = []
    for item in items:
        day = item.get("day") if isinstance(item, dict) else None
        after = item.get("after_reply") if isinstance(item, dict) else None
        if not isinstance(day, str) or not bundles.DAY.match(day) or type(after) is not int \
                or not 0 <= after <= replies:
            raise ReporterAnswerError("a transfer has an invalid day or reply count")
        found.append((day, after))
    return tuple(found)


def _read_reply(item, tip_id, opener, pinned_ids):
    """Verify one reply's signature (against a pinned key, if any) before opening it."""
    if not isinstance(item, dict):
        raise ReporterAnswerError("a reply is not a JSON object")
    seq, day, status = item.get("seq"), item.get("day"), item.get("status")
    if type(seq) is not int or not 1 <= seq < 2**63 or not isinstance(day, str) \
            or not bundles.DAY.match(day) or not isinstance(status, str) or not status.isascii():
        raise ReporterAnswerError("a reply has an invalid number, day or status")
    if not isinstance(item.get("signer"), dict):
        raise ReporterAnswerError("a reply names no signer")
    signer = keys.parse_public(json.dumps(item["signer"]).encode("utf-8"))
    record = bundles.Reply(tip_id, seq, day, status, _unb64(item.get("body"), "body"),
                           _unb64(item.get("signature"), "signature"))
    is_pinned = signer.key_id in pinned_ids
    judged = dict(seq=seq, day=day, status=status, pinned=is_pinned, signer_unit=signer.unit,
                  signer_key_id=signer.key_id)
    try:
        bundles.verify_reply(signer.ed25519, signer.unit, signer.key_id, record)
    except SignatureError:
        return CheckedReply(**judged, verified=False, problem="its signature does not match")
    if pinned_ids and not is_pinned:
        return CheckedReply(**judged, verified=False,
                            problem=f"signed by key {signer.key_id.hex()[:16]} of unit "
                                    f"{signer.unit}, which is not a key you pinned")
    message = ""
    if record.body:
        try:
            message = envelope.open_(record.body, opener, kind="reply", tip_id=tip_id,
                                     part=f"r{seq}").decode("utf-8")
        except (CryptoError, UnicodeDecodeError):
            return CheckedReply(**judged, verified=True,
                                problem="its message cannot be decrypted with this receipt")
    return CheckedReply(**judged, verified=True, message=message)


# --- following up ------------------------------------------------------------------


@dataclass(frozen=True)
class AddedFollowup:
    """A follow-up the server stored as number ``seq``, sealed here to ``unit``'s key."""

    seq: int
    unit: str
    key_id: bytes
    pinned: bool


def add_followup(server, receipt, text, pinned=(), timeout=TIMEOUT):
    """Seal a follow-up on this computer to the report's unit and send it.

    A check gives the token, the unit and the number of follow-ups so far;
    the message is signed with the receipt's follow-up key and sealed as the
    next one (protocol.md sections 13 and 14). If
    another arrives first, or the unit's key changed (HTTP 409), the report
    is checked and the keys fetched again, and it is sealed afresh, once.
    """
    server = _url(server)
    text = followup_text(text)
    parsed = _receipt(receipt)
    for attempt in (1, 2):
        answer = _sealed_check(server, parsed, timeout)
        tip_id, unit, seq, token = _followup_target(answer)
        public = fetch_keys(server, timeout).key_of_unit(unit, pinned,
                                                         f"the report went to unit {unit}")
        # Signed with the receipt's follow-up key (protocol.md section 14):
        # the unit can tell it from a follow-up anyone else sealed.
        signer = reply_keys(parsed, answer.get("receipt_kdf")).followup_key
        document = documents.followup_document(text, binding.sign_followup(
            signer, tip_id=tip_id, seq=seq, text=text), sealed_by="device")
        sealed = device.seal_followup(document, public.recipient, tip_id, seq)
        status, headers, raw = _call_json(server, "/sealed-followups", {
            "token": token, "part": f"f{seq}", "body": bundles.b64(sealed)}, timeout)
        if status == 409 and attempt == 1:
            continue  # another follow-up took the number, or the key rotated: seal again
        if _answer(server, status, headers, raw, expect=201).get("seq") != seq:
            raise ReporterAnswerError("the server stored the follow-up under another number")
        return AddedFollowup(seq, unit, public.key_id, bool(pinned))


def _followup_target(doc):
    """(tip id, unit, next follow-up number, token) from a sealed check answer."""
    tip_id, unit, count, token = (doc.get(name) for name in
                                  ("tip_id", "unit", "followups", "followup_token"))
    if not isinstance(tip_id, str) or not bundles.TIP_ID.match(tip_id):
        raise ReporterAnswerError("the answer has no valid tip_id")
    if not isinstance(unit, str) or not isinstance(token, str):
        raise ReporterAnswerError("the answer lacks the unit or the followup_token")
    if type(count) is not int or not 0 <= count < 10**9 - 1:
        raise ReporterAnswerError("the answer has no valid number of follow-ups")
    return tip_id, unit, count + 1, token


# --- HTTP -------------------------------------------------------------------------


def fetch_questions(server, category, timeout=TIMEOUT):
    """The questions ``category`` asks (GET /api/v1/categories), checked like the operator's file.

    None from a server without questions (404), or for a category it does
    not list (it will refuse the report itself).
    """
    server = _url(server)
    status, headers, raw = _call(server, "GET", "/categories", timeout=timeout)
    if status == 404:
        return ()
    doc = _answer(server, status, headers, raw, expect=200)
    items = doc.get("items")
    if not isinstance(items, dict):
        raise ReporterAnswerError("the categories answer has no items")
    item = items.get(category)
    if not isinstance(item, dict):
        return ()
    try:
        return questions.parse_questions(item.get("questions"), f"the server's category {category}")
    except ConfigError as e:
        raise ReporterAnswerError(e.detail or str(e)) from None


def _call_json(server, path, doc, timeout):
    """POST a JSON object; return (status, headers, raw answer)."""
    body = json.dumps(doc).encode("ascii")
    return _call(server, "POST", path, body=[body], timeout=timeout,
                 headers={"Content-Type": "application/json", "Content-Length": str(len(body))})


def _post_json(server, path, doc, *, expect, timeout):
    return _answer(server, *_call_json(server, path, doc, timeout), expect=expect)


def _url(server):
    return server if not isinstance(server, str) else check_server_url(server)


def _unb64(text, what):
    try:
        return bundles.unb64(text, what)
    except bundles.BundleError as e:
        raise ReporterAnswerError(e.detail) from None


def _network(server, call, *args):
    return network_step(server, call, *args, answer_error=ReporterAnswerError)


def _call(server, method, path, *, body=(), headers=None, timeout=TIMEOUT):
    """Send one request; return (status, headers, raw answer).

    Past a rate limit the server may answer 429 with an anti-flood puzzle
    (protocol.md section 21): it is solved here and the request sent again
    with the solution, up to MAX_SOLVES times. ``body`` is a list of bytes,
    or a callable that gives the chunks anew for each sending.
    """
    solution = None
    for _ in range(puzzle.MAX_SOLVES + 1):
        sending = {**(headers or {}), **({puzzle.SOLUTION_HEADER: solution} if solution else {})}
        status, answer_headers, raw = _call_once(server, method, path, timeout=timeout,
                                                 body=body() if callable(body) else body,
                                                 headers=sending)
        offer = puzzle.offered(status, raw)
        if offer is None:
            break
        solution = puzzle.solve_offered(offer)
    return status, answer_headers, raw


def _call_once(server, method, path, *, body, headers, timeout):
    """Send one request (``body``: an iterable of bytes); return (status, headers, raw answer)."""
    conn = connect(server, timeout)
    try:
        _network(server, conn.putrequest, method, server.base + API + path)
        # English, like the rest of the CLI (the server's default is Russian).
        for name, value in {"Accept": "application/json", "Accept-Language": "en",
                            **(headers or {})}.items():
            conn.putheader(name, value)
        _network(server, conn.endheaders)
        for chunk in body:
            try:
                conn.send(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server stopped reading (413, 503 ...): its answer says why
        response = _network(server, conn.getresponse)
        raw = _network(server, response.read, MAX_ANSWER + 1)
        return response.status, {k.lower(): v for k, v in response.getheaders()}, raw
    finally:
        conn.close()


def _answer(server, status, headers, raw, *, expect):
    """The JSON object of a ``expect`` answer; any other status raises ServerRefusedError."""
    if len(raw) > MAX_ANSWER:
        raw = b""  # cut short by the reader: not an answer of ours
    if status != expect:
        raise refusal(status, raw, headers)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        raise ReporterAnswerError(f"{server}: the answer is not a JSON object")
    return doc
