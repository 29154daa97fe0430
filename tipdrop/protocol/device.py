"""Seal a report on the reporter's own device, in the formats the server would use.

This is what tipdrop's reference client (``tipdrop submit``) runs, and what
the browser's JavaScript (web/static/js/) and a mobile app do in their own
languages: the report and its files are encrypted to the unit's public key
before they leave the device, so the server only ever handles ciphertext
(see tipdrop.server.sealed for what it checks). The plaintext documents it
seals (documents.py, docs/protocol.md section 13) are written and read there.
"""

import secrets
from typing import Protocol

from tipdrop.crypto import envelope, keys, stream


class Readable(Protocol):
    """A binary file an attachment is read from."""

    def read(self, size: int, /) -> bytes: ...


def new_tip_id() -> str:
    """128 random bits: the id every ciphertext of the tip is bound to."""
    return secrets.token_hex(16)


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
