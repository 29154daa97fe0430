"""What ties a report's files and follow-ups to the report its reporter sealed.

The export bundle's checksum has no key and the server chooses which
ciphertexts it hands over, while anyone holding the unit's *public* key can
seal an attachment or a follow-up to it. So a sealed item proves only that
it was made for this tip and part, not that the reporter made it. Two
bindings close that gap (docs/protocol.md section 14):

- the report document lists, for each attachment, the SHA-256 of its
  attachment-info envelope and of its stream header (which holds the
  stream's one-time payload key, so no other stream can share it). A file
  the report does not list, one that differs, or one it lists that did not
  arrive is detected by the workstation;
- a report sealed on the device carries the public half of a key derived
  from the receipt (``followup_key``, section 8); the reporter's device signs
  each follow-up with it, inside the sealed follow-up document. A follow-up
  the server sealed, or anyone else made, cannot carry that signature.

Both are checked by the officer's tool (tipdrop.officer.provenance); this
module holds the formats, shared by everyone who seals.
"""

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Mapping
from typing import cast

from tipdrop.crypto import keys, signing
from tipdrop.crypto.stream import HEADER_LEN as STREAM_HEADER_LEN
from tipdrop.errors import FormatError, SignatureError

#: The report document's member that binds its attachments.
ATTACHMENT_DIGESTS = "attachment_digests"
#: The report document's member with the receipt's follow-up public key (base64).
FOLLOWUP_KEY = "followup_key"
FOLLOWUP_LABEL = "tipdrop/v1/followup"
#: The report document's member with the receipt's reply public key (base64).
REPLY_KEY = "reply_public"
#: The report's and the follow-up's member naming who sealed it.
SEALED_BY = "sealed_by"
SEALERS = ("server", "device")
_HEX64 = re.compile(r"[0-9a-f]{64}")

#: One attachment's binding: {"info": hex SHA-256, "stream_header": hex SHA-256}.
Digest = dict[str, str]


def attachment_digest(info_envelope: bytes | bytearray | memoryview,
                      stream_header: bytes | bytearray | memoryview) -> Digest:
    """The binding of one attachment: what the report document lists for it."""
    header = bytes(stream_header)
    if len(header) < STREAM_HEADER_LEN:
        raise FormatError("a stream header is incomplete")
    return {"info": hashlib.sha256(bytes(info_envelope)).hexdigest(),
            "stream_header": hashlib.sha256(header[:STREAM_HEADER_LEN]).hexdigest()}


def digests_of(report: Mapping[str, object]) -> dict[str, Digest] | None:
    """The report's attachment bindings as {part: {"info", "stream_header"}}, or None.

    None means the report binds nothing (sealed before binding existed, or
    by an older app): its files cannot be told apart from added ones.
    Raises FormatError for a member that is present but malformed.
    """
    if ATTACHMENT_DIGESTS not in report:
        return None
    digests = report[ATTACHMENT_DIGESTS]
    if not isinstance(digests, dict):
        raise FormatError("the report's attachment digests are not an object")
    for part, entry in digests.items():
        if not (isinstance(entry, dict) and all(
                isinstance(entry.get(name), str) and _HEX64.fullmatch(entry[name])
                for name in ("info", "stream_header"))):
            raise FormatError(f"the report's digest of {str(part)[:8]} is malformed")
    attachments = report.get("attachments", [])
    if not isinstance(attachments, list) or sorted(digests) != sorted(attachments):
        raise FormatError("the report's attachment digests do not match its list of files")
    return cast(dict[str, Digest], digests)  # every entry checked above


def followup_public_of(report: Mapping[str, object]) -> bytes | None:
    """The 32-byte follow-up public key a report carries, or None."""
    return _public_key_of(report, FOLLOWUP_KEY, "follow-up", lambda key: True)


def reply_public_of(report: Mapping[str, object]) -> bytes | None:
    """The 32-byte reply public key a report binds, or None (sealed before binding it)."""
    return _public_key_of(report, REPLY_KEY, "reply", keys.usable_reply_public)


def _public_key_of(report: Mapping[str, object], field: str, what: str,
                   usable: Callable[[bytes], bool]) -> bytes | None:
    """The base64 X25519 public key in ``field`` of a report, or None if it has none.

    Anything else there (not base64, not 32 bytes, not ``usable``) makes the
    report malformed rather than keyless, so a damaged key is never taken
    for an older report's missing one.
    """
    text = report.get(field)
    if text is None:
        return None
    try:
        key = base64.b64decode(text if isinstance(text, str) else "", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32 or not usable(key):
        raise FormatError(f"the report's {what} key is malformed")
    return key


def sealed_by_of(doc: Mapping[str, object], what: str = "report") -> str | None:
    """Who sealed a report or follow-up ("server" or "device"), or None (it does not say)."""
    value = doc.get(SEALED_BY)
    if value is None:
        return None
    if value not in SEALERS:
        raise FormatError(f"the {what}'s sealer is neither server nor device")
    return value


def sign_followup(followup_key: signing.PrivateKey, *, tip_id: str, seq: int, text: str) -> bytes:
    """The reporter's signature on follow-up ``seq`` of ``tip_id`` (64 bytes)."""
    return signing.sign(followup_key, FOLLOWUP_LABEL, 1, tip_id, seq, text)


def verify_followup(public: signing.PublicKey | bytes, signature: object, *, tip_id: str, seq: int,
                    text: str) -> None:
    """Raise SignatureError unless ``signature`` is the receipt holder's for this follow-up."""
    if not isinstance(signature, str):
        raise SignatureError("the follow-up carries no signature")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the follow-up's signature is not base64") from None
    signing.verify(public, raw, FOLLOWUP_LABEL, 1, tip_id, seq, text)
