"""Paper backups of a unit key that need several people: SLIP-39 word shares.

The unit's private keys (the 32-byte X25519 key and the 32-byte Ed25519
seed) are split with SLIP-39 (the ``shamir-mnemonic`` library, Trezor's
reference implementation: Shamir's secret sharing over GF(256), each share
a list of words with its own checksum) into N shares of which any K rebuild
the key and K-1 tell nothing about it. One group, no SLIP-39 passphrase:
the shares are the only secret (docs/protocol.md section 18).
"""

import shamir_mnemonic
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from shamir_mnemonic import MnemonicError, Share

from tipdrop.crypto import keys
from tipdrop.errors import InputError

MAX_SHARES = 16
SECRET_LEN = 64


class ShareError(InputError):
    """The shares do not rebuild a key."""

    detail_is_message = False


def split(private: keys.UnitPrivateKey, shares: int, threshold: int) -> list[str]:
    """``shares`` word lists, any ``threshold`` of which rebuild ``private``."""
    if type(shares) is not int or type(threshold) is not int:
        raise TypeError("shares and threshold are integers")
    if not 2 <= threshold <= shares <= MAX_SHARES:
        raise InputError(f"a backup needs 2 <= threshold <= shares <= {MAX_SHARES}: "
                         "one share alone must never be enough")
    secret = private.x25519.private_bytes_raw() + private.ed25519.private_bytes_raw()
    [group] = shamir_mnemonic.generate_mnemonics(1, [(threshold, shares)], secret)
    return list(group)


def normalise(text: str) -> str:
    """A share as typed (any case, extra spaces, line breaks) as one line of words."""
    return " ".join(text.lower().split())


def combine(mnemonics: list[str]) -> bytes:
    """The 64 secret bytes from shares of one backup; ShareError on anything else.

    The messages name shares by their position in the input, never by
    their words: a share is a secret too.
    """
    parsed = []
    for number, text in enumerate(mnemonics, 1):
        try:
            parsed.append(Share.from_mnemonic(normalise(text)))
        except (MnemonicError, ValueError):
            raise ShareError(f"share {number} is not a valid share (a word is wrong, "
                             "missing or misspelt)") from None
    if not parsed:
        raise ShareError("no share was given")
    first = parsed[0]
    for number, share in enumerate(parsed[1:], 2):
        if share.common_parameters() != first.common_parameters() or \
                share.group_parameters() != first.group_parameters():
            raise ShareError(f"share {number} belongs to another backup than share 1")
    if len({share.index for share in parsed}) != len(parsed):
        raise ShareError("the same share was given twice")
    if len(parsed) < first.member_threshold:
        raise ShareError(f"{len(parsed)} shares given, this backup needs "
                         f"{first.member_threshold}")
    if len(parsed) > first.member_threshold:
        raise ShareError(f"{len(parsed)} shares given, this backup needs exactly "
                         f"{first.member_threshold}")
    try:
        secret = shamir_mnemonic.combine_mnemonics([s.mnemonic() for s in parsed])
    except (MnemonicError, ValueError):
        raise ShareError("the shares do not fit together (one is from another backup or "
                         "was changed)") from None
    if len(secret) != SECRET_LEN:
        raise ShareError("these shares hold something else than a tipdrop unit key")
    return bytes(secret)


def rebuild(public: keys.UnitPublicKey, mnemonics: list[str]) -> keys.UnitPrivateKey:
    """The unit private key whose public half is ``public``, from its shares.

    The public key file (from the server, or the key ceremony's record)
    gives the unit and ``created``, and proves the shares were the right
    ones: a key rebuilt from another unit's shares is refused.
    """
    secret = combine(mnemonics)
    private = keys.UnitPrivateKey(public.unit, X25519PrivateKey.from_private_bytes(secret[:32]),
                                  Ed25519PrivateKey.from_private_bytes(secret[32:]),
                                  public.created)
    if private.public.fingerprint != public.fingerprint:
        raise ShareError(f"they rebuild a key, but not key {public.key_id.hex()} of unit "
                         f"{public.unit} (shares of another key?)")
    return private
