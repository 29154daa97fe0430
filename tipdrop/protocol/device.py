"""Seal a report on the reporter's own device, in the formats the server would use.

This is what tipdrop's reference client (``tipdrop submit``) runs, and what
the browser's JavaScript (web/static/js/) and a mobile app do in their own
languages: the report and its files are encrypted to the unit's public key
before they leave the device, so the server only ever handles ciphertext
(see tipdrop.server.sealed for what it checks). The plaintext documents are
specified in docs/protocol.md section 13; this module is their reference.
"""

import base64
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from tipdrop.crypto import envelope, keys, stream
from tipdrop.protocol import binding

REPORT_FIELDS = ("what", "where", "when", "description", "contact")


class Readable(Protocol):
    """A binary file an attachment is read from."""

    def read(self, size: int, /) -> bytes: ...


def new_tip_id() -> str:
    """128 random bits: the id every ciphertext of the tip is bound to."""
    return secrets.token_hex(16)


def report_document(*, tip_id: str, region: str, category: str, description: str,
                    what: str = "", where: str = "", when: str = "", contact: str = "",
                    language: str = "", parts: Sequence[str] = (),
                    digests: Mapping[str, Mapping[str, str]] | None = None,
                    followup_public: bytes | None = None,
                    answers: Iterable[Mapping[str, object]] = ()) -> bytes:
    """The JSON document inside a ``tip`` envelope (protocol.md sections 13 and 14).

    ``digests`` binds each attachment ({part: binding.attachment_digest(...)},
    one per part); ``followup_public`` is the receipt's follow-up key, when
    the device made the receipt (section 14), so the unit can tell the
    reporter's follow-ups from anyone else's. ``answers`` is the list
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


def followup_document(text: str, signature: bytes | None = None) -> bytes:
    """The JSON document inside a ``followup`` envelope.

    ``signature`` (64 bytes, binding.sign_followup) is the receipt holder's:
    only a reporter's device can make it (protocol.md section 14).
    """
    doc: dict[str, object] = {"format": "tipdrop-followup", "version": 1, "text": text}
    if signature is not None:
        doc["signature"] = base64.b64encode(bytes(signature)).decode("ascii")
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def seal_report(document: bytes, recipient: keys.Recipient, tip_id: str) -> bytes:
    return envelope.seal(document, recipient, kind="tip", tip_id=tip_id)


def seal_attachment_info(document: bytes, recipient: keys.Recipient, tip_id: str,
                         part: str) -> bytes:
    return envelope.seal(document, recipient, kind="attachment-info", tip_id=tip_id, part=part)


def seal_followup(document: bytes, recipient: keys.Recipient, tip_id: str, seq: int) -> bytes:
    """Seal follow-up number ``seq`` (part ``f<seq>``): the number the server must store it as."""
    return envelope.seal(document, recipient, kind="followup", tip_id=tip_id, part=f"f{seq}")


def encrypt_attachment(src: Readable, out: stream.Sink, recipient: keys.Recipient, tip_id: str,
                       part: str) -> bytes:
    """Encrypt the binary file ``src`` into ``out`` as a tipdrop stream, in constant memory.

    Returns the stream's header, which the report binds (binding.attachment_digest).
    """
    with stream.StreamEncryptor(out, recipient, kind="attachment", tip_id=tip_id,
                                part=part) as encryptor:
        for chunk in iter(lambda: src.read(stream.CHUNK_SIZE), b""):
            encryptor.write(chunk)
    return encryptor.header
