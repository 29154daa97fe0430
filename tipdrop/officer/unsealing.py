"""Decrypting what the unit's keyring can open: an envelope, or a stream's opener.

Each sealed item names in its header the id of the key it was sealed to; the
keyring (keyring.py) holds the unit's current and earlier keys, so an old
report still opens after a rotation. Shared by the import (staging.py), the
workspace's reads, search, triage and forwarding.
"""

from tipdrop.crypto import envelope, stream


def open_envelope(data, keyring, what, **context):
    """Open an envelope with the keyring's key its header names."""
    return envelope.open_(data, keyring.opener_of(data, what), **context)


def stream_opener(f, keyring, row):
    """The opener for the stream in file ``f`` (rewound after reading its header)."""
    _, key_id, _ = stream.read_header(f)
    f.seek(0)
    return keyring.opener_for(key_id, f"attachment {row['part']} of tip {row['tip_id'][:8]}")
