"""Seal a report on the reporter's own device, in the formats the server would use.

This is what tipdrop's reference client (``tipdrop submit``) runs, and what
the browser's JavaScript (web/static/js/) and a mobile app do in their own
languages: the report and its files are encrypted to the unit's public key
before they leave the device, so the server only ever handles ciphertext
(see tipdrop.sealed for what it checks). The plaintext documents are
specified in docs/protocol.md section 13; this module is their reference.
"""

import json
import secrets

from .crypto import envelope, stream

REPORT_FIELDS = ("what", "where", "when", "description", "contact")


def new_tip_id():
    """128 random bits: the id every ciphertext of the tip is bound to."""
    return secrets.token_hex(16)


def report_document(*, tip_id, region, category, description, what="", where="", when="",
                    contact="", language="", parts=()):
    """The JSON document inside a ``tip`` envelope (protocol.md section 13)."""
    doc = {
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
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def attachment_info_document(*, name, content_type, size, photo=None, metadata_removed=(),
                             kept_location_and_time=False):
    """The JSON document inside an ``attachment-info`` envelope."""
    info = {"size": size, "name": name, "type": content_type}
    if photo:
        info |= {"photo": photo, "metadata_removed": list(metadata_removed),
                 "kept_location_and_time": bool(kept_location_and_time)}
    return json.dumps(info, ensure_ascii=False).encode("utf-8")


def followup_document(text):
    """The JSON document inside a ``followup`` envelope."""
    doc = {"format": "tipdrop-followup", "version": 1, "text": text}
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def seal_report(document, recipient, tip_id):
    return envelope.seal(document, recipient, kind="tip", tip_id=tip_id)


def seal_attachment_info(document, recipient, tip_id, part):
    return envelope.seal(document, recipient, kind="attachment-info", tip_id=tip_id, part=part)


def seal_followup(document, recipient, tip_id, seq):
    """Seal follow-up number ``seq`` (part ``f<seq>``): the number the server must store it as."""
    return envelope.seal(document, recipient, kind="followup", tip_id=tip_id, part=f"f{seq}")


def encrypt_attachment(src, out, recipient, tip_id, part):
    """Encrypt the binary file ``src`` into ``out`` as a tipdrop stream, in constant memory."""
    stream.encrypt_stream(src, out, recipient, kind="attachment", tip_id=tip_id, part=part)
