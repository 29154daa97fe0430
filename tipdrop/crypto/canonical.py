"""Unambiguous byte encoding of labelled field lists.

Everything tipdrop signs, and every context it binds a ciphertext to, is
first encoded here. Each field is length-prefixed, so no two different field
lists encode to the same bytes ("ab","c" vs "a","bc"), and the leading label
separates one record type from another (domain separation).
"""

import struct
from typing import TypeAlias

from tipdrop.errors import FormatError

#: Version byte of every format defined in docs/protocol.md.
FORMAT_VERSION = 1

#: What one field may be: bytes-like, text, or a non-negative 64-bit integer.
Field: TypeAlias = bytes | bytearray | memoryview | str | int


_LABEL_LEN = struct.Struct(">H")
_FIELD_LEN = struct.Struct(">I")


def encode(label: str, *fields: Field) -> bytes:
    """Return ``len(label) || label || (len(field) || field)*``.

    ``label`` is an ASCII string such as ``"tipdrop/v1/reply"``. Fields are
    bytes, str (encoded as UTF-8) or non-negative int (8-byte big-endian).
    Lengths are 4-byte big-endian; the label length is 2 bytes.
    """
    label_bytes = label.encode("ascii")
    parts = [_LABEL_LEN.pack(len(label_bytes)), label_bytes]
    for field in fields:
        # Plain bytes go as they are: every envelope opened and every audit
        # entry written encodes a context here (bench/officer_import.py).
        data = field if type(field) is bytes else field_bytes(field)
        parts.append(_FIELD_LEN.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def field_bytes(field: object) -> bytes:
    """Turn one field into bytes, refusing types that have no fixed encoding."""
    if type(field) is str:  # the common case first: no isinstance chain
        try:
            return field.encode("utf-8")
        except UnicodeEncodeError:
            raise FormatError("text field is not valid Unicode (lone surrogate)") from None
    if isinstance(field, bool):
        raise TypeError("booleans have no canonical encoding; use 0 or 1")
    if isinstance(field, (bytes, bytearray, memoryview)):
        return bytes(field)
    if isinstance(field, str):
        try:
            return field.encode("utf-8")
        except UnicodeEncodeError:
            raise FormatError("text field is not valid Unicode (lone surrogate)") from None
    if isinstance(field, int):
        if not 0 <= field < 2**64:
            raise FormatError(f"integer field out of range: {field}")
        return field.to_bytes(8, "big")
    raise TypeError(f"cannot encode field of type {type(field).__name__}")
