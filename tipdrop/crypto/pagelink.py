"""Sealed page links: a small payload the server locks with a key it alone holds.

A receipt code has to reach the one page that shows it (or checks it) without
being left in the browser: not in a URL, not in a POST body the browser keeps
for Reload and session restore. So the server answers a POST with a redirect
to a link that carries the payload sealed under a fresh random key, and keeps
only the key, for a few minutes. Once the page has served its purpose the key
is deleted, and every copy of the link (browser history, session files, a
proxy's log) is noise. Layout (docs/protocol.md section 15):

    version (1) | nonce (12) | ChaCha20-Poly1305 ciphertext and tag

The associated data binds the link's purpose and id, so a sealed payload
cannot be replayed under another link or for another page.
"""

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from tipdrop.crypto import canonical
from tipdrop.errors import DecryptionError, FormatError

VERSION = 1
KEY_LEN = 32
NONCE_LEN = 12
LABEL = "tipdrop/v1/page-link"


def new_key() -> bytes:
    return secrets.token_bytes(KEY_LEN)


def _aad(purpose: str, link_id: str) -> bytes:
    return canonical.encode(LABEL, purpose, link_id)


def seal(plaintext: bytes, key: bytes, *, purpose: str, link_id: str) -> bytes:
    return _seal_with_nonce(plaintext, key, secrets.token_bytes(NONCE_LEN),
                            purpose=purpose, link_id=link_id)


def _seal_with_nonce(plaintext: bytes, key: bytes, nonce: bytes, *, purpose: str,
                     link_id: str) -> bytes:
    if len(key) != KEY_LEN or len(nonce) != NONCE_LEN:
        raise FormatError("page-link key or nonce has the wrong length")
    sealed = ChaCha20Poly1305(key).encrypt(nonce, plaintext, _aad(purpose, link_id))
    return bytes([VERSION]) + nonce + sealed


def open_(data: bytes, key: bytes, *, purpose: str, link_id: str) -> bytes:
    if len(data) < 1 + NONCE_LEN + 16 or data[0] != VERSION:
        raise FormatError("not a page link")
    nonce, sealed = data[1:1 + NONCE_LEN], data[1 + NONCE_LEN:]
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, sealed, _aad(purpose, link_id))
    except InvalidTag:
        raise DecryptionError("page link") from None
