"""The plaintext documents inside a tip's envelopes: their writers and their readers.

A report, an attachment description and a follow-up are small JSON
documents (docs/protocol.md section 13). The reporter's device (device.py)
and the server, for a report typed without JavaScript (server/tips.py),
write them with the functions here; the officer's workstation reads them
back with the checks here, which treat every document as untrusted: a
device, or a server that forges, may send anything. Keeping both halves in
one module keeps the format in one place.
"""

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tipdrop.errors import DecryptionError, FormatError
from tipdrop.protocol import binding, fields
from tipdrop.protocol.fields import CODE

#: The report's free-text fields a device fills in (besides region and category).
REPORT_FIELDS = ("what", "where", "when", "description", "contact")
#: Every member of a report that must be text.
REPORT_TEXT = ("region", "category", *REPORT_FIELDS, "language")
#: An attachment's part name.
PART = re.compile(r"a\d{1,3}")
#: A JSON \u escape. Searched for by the regex engine: ``b"\\u" in text`` took
#: as long on a 2 KB Cyrillic report as parsing it (its filter mistakes the
#: second byte of common Cyrillic letters for "u"), the regex a fifth of that.
_ESCAPE = re.compile(rb"\\u")
#: The scanner of a decoder made as json.loads's own is (see _loads): an
#: attribute JSONDecoder sets on itself, which typeshed does not list.
_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def report_document(*, tip_id: str, region: str, category: str, description: str,
                    what: str = "", where: str = "", when: str = "", contact: str = "",
                    language: str = "", parts: Sequence[str] = (),
                    digests: Mapping[str, Mapping[str, str]] | None = None,
                    followup_public: bytes | None = None,
                    reply_public: bytes | None = None, sealed_by: str | None = None,
                    answers: Iterable[Mapping[str, object]] = ()) -> bytes:
    """The JSON document inside a ``tip`` envelope (protocol.md sections 13 and 14).

    ``digests`` binds each attachment ({part: binding.attachment_digest(...)},
    one per part); ``followup_public`` is the receipt's follow-up key, when
    the device made the receipt (section 14), so the unit can tell the
    reporter's follow-ups from anyone else's. ``reply_public`` is the
    receipt's reply key, when the sealer knows it, and ``sealed_by`` who
    seals ("server" or "device"): both bound so the export's clear copies
    of them can be checked (section 14). ``answers`` is the list
    questions.answers_document made from the category's questions; the
    member is left out when there is none, so a report without questions
    is byte for byte what it was before questions existed.
    """
    doc: dict[str, object] = {
        "format": "tipdrop-report",
        "version": 1,
        "tip_id": tip_id,
        "region": region,
        "category": category,
        "what": what,
        "where": where,
        "when": when,
        "description": description,
        "contact": contact,
        "language": language,
        "attachments": list(parts),
    }
    if digests is not None:
        if sorted(digests) != sorted(parts):
            raise ValueError("one digest per attachment, no more")
        doc[binding.ATTACHMENT_DIGESTS] = {part: dict(digests[part]) for part in parts}
    if answers:
        doc["answers"] = [dict(answer) for answer in answers]
    if followup_public is not None:
        doc[binding.FOLLOWUP_KEY] = base64.b64encode(bytes(followup_public)).decode("ascii")
    if reply_public is not None:
        doc[binding.REPLY_KEY] = base64.b64encode(bytes(reply_public)).decode("ascii")
    if sealed_by is not None:
        doc[binding.SEALED_BY] = _sealer(sealed_by)
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def attachment_info_document(*, name: str, content_type: str, size: int, photo: str | None = None,
                             metadata_removed: Iterable[str] = (),
                             kept_location_and_time: bool = False) -> bytes:
    """The JSON document inside an ``attachment-info`` envelope."""
    info: dict[str, object] = {"size": size, "name": name, "type": content_type}
    if photo:
        info |= {"photo": photo, "metadata_removed": list(metadata_removed),
                 "kept_location_and_time": bool(kept_location_and_time)}
    return json.dumps(info, ensure_ascii=False).encode("utf-8")


def followup_document(text: str, signature: bytes | None = None,
                      sealed_by: str | None = None) -> bytes:
    """The JSON document inside a ``followup`` envelope.

    ``signature`` (64 bytes, binding.sign_followup) is the receipt holder's:
    only a reporter's device can make it (protocol.md section 14).
    ``sealed_by`` says who seals it ("server" or "device").
    """
    doc: dict[str, object] = {"format": "tipdrop-followup", "version": 1, "text": text}
    if signature is not None:
        doc["signature"] = base64.b64encode(bytes(signature)).decode("ascii")
    if sealed_by is not None:
        doc[binding.SEALED_BY] = _sealer(sealed_by)
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def _sealer(sealed_by: str) -> str:
    if sealed_by not in binding.SEALERS:
        raise ValueError("sealed_by is 'server' or 'device'")
    return sealed_by


def json_object(plaintext: bytes, what: str = "report") -> dict[str, Any]:
    """Decrypted bytes as a JSON object, or DecryptionError (a device may send anything)."""
    try:
        doc = _loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise DecryptionError(f"the decrypted {what} is not valid JSON") from None
    if not isinstance(doc, dict):
        raise DecryptionError(f"the decrypted {what} is not a JSON object")
    return doc


def _loads(text: str) -> Any:
    """``json.loads(text)``: what it gives, or what it raises.

    A document that starts with "{" and ends with "}" goes straight to the
    standard decoder's own scanner (_SCAN), which json.loads reaches through
    two Python layers that look for white space around it; those cost an
    import about a tenth of parsing a 2 KB report (bench/officer_import.py).
    The scanner then must have read the whole text, as json.loads requires;
    anything else, and every error, is json.loads's to decide.
    """
    if text[:1] == "{" and text[-1:] == "}":
        try:
            doc, end = _SCAN(text, 0)
        except StopIteration:
            pass
        else:
            if end == len(text):
                return doc
    return json.loads(text)


def read_report(plaintext: bytes, tip_id: str) -> dict[str, Any]:
    """The report document, checked (protocol.md section 13): a device may send anything."""
    doc = json_object(plaintext)
    if doc.get("format") != "tipdrop-report" or doc.get("version") != 1:
        raise FormatError("the decrypted report is not a tipdrop report of version 1")
    if doc.get("tip_id") != tip_id:
        raise FormatError("the decrypted report names another tip")
    # Valid UTF-8 decodes to no lone surrogate: only a \u escape makes one. Without
    # any, each text member only needs to be text (an import reads every report).
    # A report without a backslash at all has none: one byte is searched for
    # faster (memchr) than the regex searches for two.
    escaped = b"\\" in plaintext and _ESCAPE.search(plaintext) is not None
    for name in REPORT_TEXT:
        value = doc.get(name, "")
        if escaped or type(value) is not str:
            _text(value, f"the report's {name!r}")
    for name in ("region", "category"):
        if not CODE.fullmatch(doc.get(name, "")):
            raise FormatError(f"the report's {name!r} is not a region or category code")
    parts = doc.get("attachments", [])
    if not isinstance(parts, list) or parts and not all(isinstance(p, str) and PART.fullmatch(p)
                                                        for p in parts):
        raise FormatError("the report's list of attachments is not a list of part names")
    binding.digests_of(doc)
    binding.followup_public_of(doc)
    binding.reply_public_of(doc)
    binding.sealed_by_of(doc)
    fields.answers(doc.get("answers"))
    return doc


def _text(value: object, what: str) -> str:
    """Text a reporter's device wrote must be text that can be stored and printed.

    JSON lets a string carry a lone surrogate ("\\ud800"), which no UTF-8
    encoder accepts: it would fail later, in SQLite or on the terminal.
    """
    if not isinstance(value, str):
        raise FormatError(f"{what} is not text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FormatError(f"{what} is not valid Unicode text") from None
    return value


def read_followup(plaintext: bytes) -> dict[str, Any]:
    """The follow-up document (protocol.md section 13), checked like a report."""
    doc = json_object(plaintext, "follow-up")
    if doc.get("format") != "tipdrop-followup" or doc.get("version") != 1:
        raise FormatError("the decrypted follow-up is not a tipdrop follow-up of version 1")
    _text(doc.get("text"), "the follow-up's text")
    binding.sealed_by_of(doc, "follow-up")
    return doc


def read_attachment_info(plaintext: bytes) -> dict[str, Any]:
    """The attachment description (protocol.md section 13), checked like a report."""
    doc = json_object(plaintext, "attachment description")
    size = doc.get("size")
    if type(size) is not int or size < 0:
        raise FormatError("the attachment description has no valid size")
    for name in ("name", "type", "photo"):
        _text(doc.get(name) or "", f"the attachment description's {name!r}")
    removed = doc.get("metadata_removed", [])
    if not isinstance(removed, list):
        raise FormatError("the attachment description's list of removed metadata is invalid")
    for item in removed:
        _text(item, "the attachment description's list of removed metadata")
    return doc
