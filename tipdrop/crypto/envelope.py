"""Sealed envelopes: one small payload encrypted to one public key.

Used for a tip's text and questionnaire answers, follow-ups, attachment
descriptions, and replies to the reporter. Layout (docs/protocol.md):

    version (1) | kind (1) | key id (16) | HPKE enc (32) | AES-256-GCM ciphertext

The header is readable without a key so the right private key can be found,
but it is also bound into HPKE's ``info`` together with the tip id and part,
so a ciphertext moved to another tip, kind or key fails to open.
"""

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from tipdrop.crypto import canonical, hpke, keys, padding
from tipdrop.errors import DecryptionError, FormatError

VERSION = canonical.FORMAT_VERSION
HEADER_LEN = 1 + 1 + 16
OVERHEAD = HEADER_LEN + hpke.OVERHEAD

#: Every kind of ciphertext tipdrop makes; the code is the header's kind byte.
KINDS = {
    "tip": 1,
    "followup": 2,
    "reply": 3,
    "attachment": 4,
    "attachment-info": 5,
    "note": 6,
    # A STREAM only: a whole data folder sealed to the backup key (tipdrop.server.backup).
    "backup": 7,
}
KIND_NAMES = {code: name for name, code in KINDS.items()}

#: hpke.seal's signature: (plaintext, recipient's X25519 key, info) -> sealed.
HpkeSeal = Callable[[bytes, X25519PublicKey, bytes], bytes]


def kind_code(kind: str) -> int:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown ciphertext kind {kind!r}") from None


def check_context(tip_id: object, part: object) -> None:
    """Tip ids and parts are short ASCII strings; reject anything else early."""
    for name, value in (("tip id", tip_id), ("part", part)):
        if not isinstance(value, str) or len(value) > 64 or not value.isascii():
            raise FormatError(f"{name} must be ASCII text of at most 64 characters")
    if not tip_id:
        raise FormatError("tip id must not be empty")


def context_info(label: str, kind: str, tip_id: str, part: str,
                 key_id: bytes | bytearray) -> bytes:
    """The HPKE ``info`` every ciphertext of tipdrop is bound to."""
    check_context(tip_id, part)
    return canonical.encode(label, VERSION, kind, tip_id, part, bytes(key_id))


def parse_header(data: bytes | bytearray | memoryview) -> tuple[str, bytes]:
    """Return (kind name, key id) from the first HEADER_LEN bytes of a ciphertext."""
    if len(data) < HEADER_LEN:
        raise FormatError("too short to hold a header")
    if data[0] != VERSION:
        raise FormatError(f"unsupported format version {data[0]}")
    kind = KIND_NAMES.get(data[1])
    if kind is None:
        raise FormatError(f"unknown kind code {data[1]}")
    return kind, bytes(data[2:HEADER_LEN])


def _header(kind: str, key_id: bytes) -> bytes:
    return bytes([VERSION, kind_code(kind)]) + bytes(key_id)


def seal(plaintext: bytes | bytearray | memoryview, recipient: keys.Recipient, *, kind: str,
         tip_id: str, part: str = "") -> bytes:
    """Pad ``plaintext`` and encrypt it to ``recipient`` (a keys.Recipient)."""
    return _seal_with(hpke.seal, plaintext, recipient, kind=kind, tip_id=tip_id, part=part)


def _seal_with(hpke_seal: HpkeSeal, plaintext: bytes | bytearray | memoryview,
               recipient: keys.Recipient, *, kind: str, tip_id: str, part: str) -> bytes:
    """The envelope around ``hpke_seal(padded, x25519 key, info)``.

    :func:`seal` passes the library's HPKE, which draws its own ephemeral
    key; the known-answer vectors pass a deterministic one from the tests
    (tests/vectors/rfc9180.py), so both go through this one composition.
    """
    info = context_info("tipdrop/v1/envelope", kind, tip_id, part, recipient.key_id)
    sealed = hpke_seal(padding.pad(plaintext), recipient.x25519, info)
    return _header(kind, recipient.key_id) + sealed


def open_(data: bytes | bytearray | memoryview, opener: keys.Opener, *, kind: str, tip_id: str,
          part: str = "") -> bytes:
    """Decrypt an envelope with ``opener`` (a keys.Opener); raise on any fault."""
    envelope = bytes(data)
    found_kind, key_id = parse_header(envelope)
    if found_kind != kind:
        raise DecryptionError(f"expected a {kind} ciphertext, found a {found_kind}")
    opener.require(key_id)
    if len(envelope) < OVERHEAD:
        raise DecryptionError("too short to be an envelope")
    info = context_info("tipdrop/v1/envelope", kind, tip_id, part, key_id)
    return padding.unpad(hpke.open_(envelope[HEADER_LEN:], opener.x25519, info))


def check_sealed(data: bytes | bytearray | memoryview, *, kind: str, max_len: int) -> bytes:
    """Check what can be checked of an envelope without its key; return the key id.

    A server that receives envelopes sealed on the reporter's device cannot
    open them, but it can refuse anything that is certainly not one: a wrong
    version or kind, and a length no honest sealer produces (the padded
    plaintext is always a Padmé length of at least 256 bytes, section 3).
    Whether the key id names a key of the right unit is the caller's check.
    """
    envelope = bytes(data)
    if len(envelope) > max_len:
        raise FormatError("the envelope is too large")
    found_kind, key_id = parse_header(envelope)
    if found_kind != kind:
        raise FormatError(f"expected a {kind} envelope, found a {found_kind}")
    padded = len(envelope) - OVERHEAD
    if padded < padding.MIN_PADDED_LEN or padding.padme(padded) != padded:
        raise FormatError("the envelope length is not one a sealer produces")
    return key_id
