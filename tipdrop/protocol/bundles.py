"""Bundle files: how ciphertext travels to the workstation and replies come back.

Export bundle (server → workstation), binary, streamed in constant memory:

    magic "TDEXPRT1" | record* | end record

    record = type (1 byte) | length (u64 big-endian) | payload

    0x01 header       JSON {"format", "version", "unit", "export_seq", "created_day", "since_start"}
    0x02 tip          JSON: the tip's clear metadata and its sealed report (base64)
    0x03 follow-up    JSON: tip id, number, day, sealed message
    0x04 attachment   JSON: tip id, part, sealed attachment-info, size of the stream
    0x05 stream       the attachment's STREAM ciphertext, raw (follows its 0x04 record)
    0xFF end          JSON {"records": n, "sha256": hex of every byte before this record}

Everything inside is already authenticated per item (envelopes and streams
are bound to tip id, kind and part); the end record catches truncation and
accidental corruption before anything is imported, and lets the
workstation refuse a half-copied file as a whole.

Reply bundle (workstation → server), JSON, signed by the unit:

    {"format": "tipdrop-replies", "version": 1, "unit", "key_id", "created_day",
     "replies": [{"tip_id", "seq", "day", "status", "body", "signature"}], "signature"}

Each reply is signed (label tipdrop/v1/reply) over unit, key id, tip id,
sequence number, day, status and sealed body; the bundle signature (label
tipdrop/v1/bundle) covers the list of reply signatures in order, then,
when the bundle carries forwards (forwards.py), the list of their
signatures. See docs/protocol.md sections 10, 11 and 11a.
"""

import base64
import hashlib
import json
import re
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from tipdrop.crypto import canonical, signing
from tipdrop.errors import FormatError, SignatureError
from tipdrop.protocol import fields, forwards
from tipdrop.protocol.compact import Compact
from tipdrop.protocol.forwards import Forward

EXPORT_MAGIC = b"TDEXPRT1"
HEADER, TIP, FOLLOWUP, ATTACHMENT, STREAM, END = 0x01, 0x02, 0x03, 0x04, 0x05, 0xFF
_JSON_RECORDS = {HEADER, TIP, FOLLOWUP, ATTACHMENT, END}
MAX_JSON_RECORD = 4 * 1024 * 1024
MAX_STREAM_RECORD = 16 * 1024**3
_LEN = struct.Struct(">BQ")
COPY_CHUNK = 1024 * 1024

REPLIES_FORMAT = "tipdrop-replies"
EXPORT_FORMAT = "tipdrop-export"
# \A...\Z, not ^...$: "$" also matches before a trailing newline; [0-9], not \d,
# which matches the digits of every script.
DAY = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
TIP_ID = re.compile(r"\A[0-9a-f]{32}\Z")
MAX_REPLY_BUNDLE = 64 * 1024 * 1024


_T = TypeVar("_T")


class Readable(Protocol):
    """A binary file a bundle or an attachment's stream is read from."""

    def read(self, size: int, /) -> bytes: ...


class Writable(Protocol):
    """A binary file a bundle is written to."""

    def write(self, data: bytes, /) -> object: ...


class BundleError(FormatError):
    """The bundle file is damaged, incomplete or not a tipdrop bundle."""


def b64(data: bytes | bytearray | memoryview) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def unb64(text: object, what: str = "field") -> bytes:
    if not isinstance(text, str):
        raise BundleError(f"{what} is not base64 text")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise BundleError(f"{what} is not valid base64") from None


# --- export bundles: writing ------------------------------------------------


class ExportWriter:
    """Write an export bundle to a binary file object, hashing as it goes."""

    def __init__(self, out: Writable) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        self.records = 0
        self._write(EXPORT_MAGIC)

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._hash.update(data)

    def record(self, kind: int, doc: Mapping[str, object]) -> None:
        payload = json.dumps(doc, ensure_ascii=True, separators=(",", ":")).encode()
        self._write(_LEN.pack(kind, len(payload)))
        self._write(payload)
        self.records += 1

    def stream(self, src: Readable, length: int) -> None:
        """Copy ``length`` bytes of STREAM ciphertext from ``src``."""
        self._write(_LEN.pack(STREAM, length))
        left = length
        while left:
            chunk = src.read(min(COPY_CHUNK, left))
            if not chunk:
                raise BundleError("an attachment file is shorter than recorded")
            self._write(chunk)
            left -= len(chunk)
        self.records += 1

    def finish(self) -> None:
        digest = self._hash.hexdigest()
        payload = json.dumps({"records": self.records, "sha256": digest}).encode()
        self._out.write(_LEN.pack(END, len(payload)) + payload)


# --- export bundles: reading --------------------------------------------------


@dataclass
class Record:
    kind: int
    doc: fields.JSONObject | None = None
    length: int = 0
    #: Whether ``doc`` was already checked against its table (a Compact of the reader's).
    checked: bool = False


class ExportReader:
    """Read an export bundle record by record; :meth:`verify_end` must pass before use.

    Stream records are not loaded: call :meth:`copy_stream` with a writer
    right after receiving one. ``compact`` maps record types to the
    compact.Compact of their table: a record of such a type in the form the
    server writes comes already checked (``Record.checked``); any other is
    parsed as JSON, for the caller to check with fields.check.
    """

    def __init__(self, src: Readable, compact: Mapping[int, Compact] | None = None) -> None:
        self._src = src
        self._compact = compact or {}
        self._hash = hashlib.sha256()
        self.records = 0
        self._pending = 0
        #: The SHA-256 (hex) of the whole file, end record included, once it was read
        #: to its end and verified: what a workspace knows an opened bundle by.
        self.file_sha256: str | None = None
        if self._read(len(EXPORT_MAGIC)) != EXPORT_MAGIC:
            raise BundleError("not a tipdrop export bundle")

    def _read(self, n: int, hashed: bool = True) -> bytes:
        data = self._src.read(n)
        if len(data) != n:
            raise BundleError("the file ends too early: it is incomplete")
        if hashed:
            self._hash.update(data)
        return data

    def __iter__(self) -> Iterator[Record]:
        while True:
            if self._pending:
                raise BundleError("a stream record was not consumed")
            head = self._src.read(_LEN.size)
            if len(head) != _LEN.size:
                raise BundleError("the file ends too early: it is incomplete")
            kind, length = _LEN.unpack(head)
            if kind == END:
                payload = self._read_payload(length, hashed=False)
                # The whole file's hash from the same pass: the bytes before the
                # end record are hashed already, and _verify_end refuses any after it.
                whole = self._hash.copy()
                whole.update(head)
                whole.update(payload)
                self._verify_end(self._parse_json(payload))
                self.file_sha256 = whole.hexdigest()
                return
            self._hash.update(head)
            self.records += 1
            if kind == STREAM:
                if length > MAX_STREAM_RECORD:
                    raise BundleError("an attachment is implausibly large")
                self._pending = length
                yield Record(kind, length=length)
            elif kind in self._compact:
                payload = self._read_payload(length)
                doc = self._compact[kind].read(payload)
                if doc is None:
                    yield Record(kind, self._parse_json(payload))
                else:
                    yield Record(kind, doc, checked=True)
            elif kind in _JSON_RECORDS:
                yield Record(kind, self._read_json(length))
            else:
                raise BundleError(f"unknown record type {kind}")

    def _read_json(self, length: int, hashed: bool = True) -> fields.JSONObject:
        return self._parse_json(self._read_payload(length, hashed))

    def _read_payload(self, length: int, hashed: bool = True) -> bytes:
        if length > MAX_JSON_RECORD:
            raise BundleError("a record is implausibly large")
        return self._read(length, hashed)

    @staticmethod
    def _parse_json(payload: bytes) -> fields.JSONObject:
        doc = fields.loads(payload, BundleError, "a record")
        if not isinstance(doc, dict):
            raise BundleError("a record is not a JSON object")
        return doc

    def copy_stream(self, write: Callable[[bytes], object]) -> None:
        """Pass the pending stream record's bytes to ``write``."""
        left, self._pending = self._pending, 0
        while left:
            chunk = self._read(min(COPY_CHUNK, left))
            write(chunk)
            left -= len(chunk)

    def _verify_end(self, doc: fields.JSONObject) -> None:
        if doc.get("records") != self.records or doc.get("sha256") != self._hash.hexdigest():
            raise BundleError("the checksum does not match: the file was damaged or changed")
        if self._src.read(1):
            raise BundleError("unexpected data after the end of the bundle")


def require(doc: Mapping[str, object], field: str, kind: type[_T], what: str = "record") -> _T:
    value = doc.get(field)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise BundleError(f"{what} has no valid {field!r}")
    return value


# --- reply bundles --------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    tip_id: str
    seq: int
    day: str
    status: str
    body: bytes
    signature: bytes


def reply_fields(unit: str, key_id: bytes, reply: Reply) -> tuple[canonical.Field, ...]:
    """What a reply's signature covers, in order (docs/protocol.md section 11)."""
    return (canonical.FORMAT_VERSION, unit, bytes(key_id), reply.tip_id, reply.seq,
            reply.day, reply.status, reply.body)


def sign_reply(signing_key: signing.PrivateKey, unit: str, key_id: bytes, *, tip_id: str, seq: int,
               day: str, status: str, body: bytes | bytearray | memoryview) -> Reply:
    draft = Reply(tip_id, seq, day, status, bytes(body), b"")
    signature = signing.sign(signing_key, "tipdrop/v1/reply", *reply_fields(unit, key_id, draft))
    return Reply(tip_id, seq, day, status, bytes(body), signature)


def verify_reply(public_key: signing.PublicKey | bytes, unit: str, key_id: bytes,
                 reply: Reply) -> None:
    signing.verify(public_key, reply.signature, "tipdrop/v1/reply",
                   *reply_fields(unit, key_id, reply))


def _bundle_fields(unit: str, key_id: bytes, created_day: str, replies: Sequence[Reply],
                   forwarded: Sequence[forwards.Forward] = ()) -> tuple[canonical.Field, ...]:
    signed: tuple[canonical.Field, ...] = (
        canonical.FORMAT_VERSION, unit, bytes(key_id), created_day, len(replies),
        *(r.signature for r in replies))
    if forwarded:  # a bundle without forwards signs exactly what it signed before they existed
        signed += ("forwards", len(forwarded), *(f.signature for f in forwarded))
    return signed


def make_reply_bundle(signing_key: signing.PrivateKey, unit: str, key_id: bytes, created_day: str,
                      replies: Sequence[Reply],
                      forwarded: Sequence[forwards.Forward] = ()) -> bytes:
    """Serialise and sign a reply bundle; returns bytes.

    ``forwarded``: signed forwards (forwards.sign_forward) it carries too;
    the member is left out when there is none.
    """
    signature = signing.sign(signing_key, "tipdrop/v1/bundle",
                             *_bundle_fields(unit, key_id, created_day, replies, forwarded))
    doc: dict[str, object] = {
        "format": REPLIES_FORMAT,
        "version": canonical.FORMAT_VERSION,
        "unit": unit,
        "key_id": bytes(key_id).hex(),
        "created_day": created_day,
        "replies": [
            {"tip_id": r.tip_id, "seq": r.seq, "day": r.day, "status": r.status,
             "body": b64(r.body), "signature": b64(r.signature)}
            for r in replies
        ],
        "signature": b64(signature),
    }
    if forwarded:
        doc["forwards"] = [forwards.to_json(f) for f in forwarded]
    return (json.dumps(doc, indent=1) + "\n").encode("ascii")


@dataclass(frozen=True)
class ReplyBundle:
    unit: str
    key_id: bytes
    created_day: str
    replies: tuple[Reply, ...]
    signature: bytes
    forwards: tuple[Forward, ...] = ()


def parse_reply_bundle(data: bytes) -> ReplyBundle:
    """Parse a reply bundle, every field checked (signatures are checked by verify_reply_bundle).

    The rules are fields.REPLY_BUNDLE and fields.REPLY: the same table the
    workstation checks export bundles against.
    """
    if len(data) > MAX_REPLY_BUNDLE:
        raise BundleError("the reply bundle is implausibly large")
    try:
        doc = fields.loads(data)
    except FormatError as e:
        raise BundleError(f"not a tipdrop reply bundle ({e.detail})") from None
    if not isinstance(doc, dict) or doc.get("format") != REPLIES_FORMAT:
        raise BundleError("not a tipdrop reply bundle")
    if type(doc.get("version")) is not int or doc["version"] != canonical.FORMAT_VERSION:
        raise BundleError(f"unsupported reply bundle version {doc.get('version')!r}")
    head = fields.check(doc, fields.REPLY_BUNDLE, "the bundle", BundleError)
    items: list[Any] = require(doc, "replies", list, "bundle")
    replies = []
    for number, item in enumerate(items, start=1):
        reply = fields.check(item, fields.REPLY, f"reply {number}", BundleError)
        replies.append(Reply(reply["tip_id"], reply["seq"], reply["day"], reply["status"],
                             reply["body"], reply["signature"]))
    forwarded: list[forwards.Forward] = []
    if "forwards" in doc:
        items = doc["forwards"]
        if not isinstance(items, list) or not items:
            raise BundleError("the bundle's 'forwards' is not a non-empty list")
        for number, item in enumerate(items, start=1):
            try:
                forwarded.append(forwards.from_json(item, f"forward {number}"))
            except FormatError as e:
                raise BundleError(e.detail) from None
    return ReplyBundle(head["unit"], bytes.fromhex(head["key_id"]), head["created_day"],
                       tuple(replies), head["signature"], tuple(forwarded))


def verify_reply_bundle(bundle: ReplyBundle, public_key: signing.PublicKey | bytes) -> None:
    """Check the bundle signature and every reply signature; raise SignatureError."""
    signing.verify(public_key, bundle.signature, "tipdrop/v1/bundle",
                   *_bundle_fields(bundle.unit, bundle.key_id, bundle.created_day, bundle.replies,
                                   bundle.forwards))
    for reply in bundle.replies:
        try:
            verify_reply(public_key, bundle.unit, bundle.key_id, reply)
        except SignatureError:
            raise SignatureError(f"reply {reply.seq} for tip {reply.tip_id[:8]}") from None
    for forward in bundle.forwards:
        try:
            forwards.verify_forward(public_key, bundle.unit, bundle.key_id, forward)
        except SignatureError:
            raise SignatureError(f"the forward of tip {forward.tip_id[:8]}") from None
