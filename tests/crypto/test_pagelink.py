"""Page links (docs/protocol.md section 15): known answers, round trip, tampering."""

import json
from pathlib import Path

import pytest

from tipdrop.crypto import pagelink
from tipdrop.errors import DecryptionError, FormatError

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "page_link.json").read_text())["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["purpose"])
def test_page_links_match_the_known_answers(vector):
    key, nonce = bytes.fromhex(vector["key"]), bytes.fromhex(vector["nonce"])
    sealed = pagelink._seal_with_nonce(vector["plaintext"].encode(), key, nonce,
                                       purpose=vector["purpose"], link_id=vector["link_id"])
    assert sealed.hex() == vector["sealed"]
    assert pagelink.open_(sealed, key, purpose=vector["purpose"],
                          link_id=vector["link_id"]).decode() == vector["plaintext"]


def test_a_page_link_opens_with_its_key_purpose_and_id():
    key = pagelink.new_key()
    sealed = pagelink.seal(b'{"receipt": "x"}', key, purpose="status", link_id="ab" * 16)
    assert pagelink.open_(sealed, key, purpose="status", link_id="ab" * 16) == b'{"receipt": "x"}'
    assert sealed != pagelink.seal(b'{"receipt": "x"}', key, purpose="status", link_id="ab" * 16)


@pytest.mark.parametrize("change", [
    lambda s, k: (s, k, "receipt", "ab" * 16),
    lambda s, k: (s, k, "status", "cd" * 16),
    lambda s, k: (s, pagelink.new_key(), "status", "ab" * 16),
    lambda s, k: (s[:-1] + bytes([s[-1] ^ 1]), k, "status", "ab" * 16),
    lambda s, k: (s[:20] + bytes([s[20] ^ 1]) + s[21:], k, "status", "ab" * 16),
], ids=["other purpose", "other link", "other key", "tag", "ciphertext"])
def test_a_changed_page_link_does_not_open(change):
    key = pagelink.new_key()
    sealed = pagelink.seal(b"payload", key, purpose="status", link_id="ab" * 16)
    data, other_key, purpose, link_id = change(sealed, key)
    with pytest.raises(DecryptionError):
        pagelink.open_(data, other_key, purpose=purpose, link_id=link_id)


@pytest.mark.parametrize("data", [b"", b"\x02" + bytes(40), b"\x01" + bytes(20)])
def test_what_is_not_a_page_link_is_refused_as_such(data):
    with pytest.raises(FormatError):
        pagelink.open_(data, pagelink.new_key(), purpose="status", link_id="ab" * 16)
