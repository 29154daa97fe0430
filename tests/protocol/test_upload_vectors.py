"""uploads.json: the upload id, piece digests and chain of docs/protocol.md section 19."""

import hashlib
import json
from pathlib import Path

import pytest

from tipdrop.crypto import canonical
from tipdrop.protocol import uploads

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "uploads.json").read_text())


def _body():
    length = VECTORS["body_length"]
    return (bytes(range(251)) * (length // 251 + 1))[:length]


def test_the_upload_id_is_the_vectors():
    assert canonical.encode(uploads.ID_LABEL, bytes.fromhex(VECTORS["key"])).hex() == \
        VECTORS["id_input"]
    assert uploads.upload_id(VECTORS["key"]) == VECTORS["upload_id"]


def test_pieces_digests_and_chain_are_the_vectors():
    body = _body()
    assert hashlib.sha256(body).hexdigest() == VECTORS["body_sha256"]
    assert uploads.PIECE_BYTES == VECTORS["piece_bytes"]
    assert uploads.piece_count(len(body)) == len(VECTORS["pieces"])
    assert uploads.chain_start(VECTORS["upload_id"]).hex() == VECTORS["chain_start"]
    digests = []
    for step in VECTORS["pieces"]:
        at = step["index"] * uploads.PIECE_BYTES
        piece = body[at:at + uploads.PIECE_BYTES]
        assert len(piece) == step["length"]
        digests.append(uploads.piece_digest(piece))
        assert digests[-1].hex() == step["digest"]
        assert uploads.chain(VECTORS["upload_id"], digests).hex() == step["chain"]
    assert uploads.chain(VECTORS["upload_id"], digests).hex() == VECTORS["chain"]


def test_the_chain_changes_with_order_count_content_and_upload():
    digests = [bytes.fromhex(step["digest"]) for step in VECTORS["pieces"]]
    upload, expected = VECTORS["upload_id"], VECTORS["chain"]
    other_id = uploads.upload_id("0" * 32)
    changed = [
        uploads.chain(upload, [digests[1], digests[0], digests[2]]),  # reordered
        uploads.chain(upload, digests[:2]),  # cut short
        uploads.chain(upload, [*digests, digests[2]]),  # a piece twice
        uploads.chain(upload, [digests[0], bytes(32), digests[2]]),  # another piece
        uploads.chain(other_id, digests),  # another upload
    ]
    assert expected not in {c.hex() for c in changed}


@pytest.mark.parametrize("key", ["", "0" * 31, "0" * 33, "A" * 32, "g" * 32, None])
def test_an_upload_key_must_be_128_bits_of_lower_case_hex(key):
    with pytest.raises((ValueError, TypeError)):
        uploads.upload_id(key)


def test_piece_count_is_at_least_one():
    assert [uploads.piece_count(n) for n in (0, 1, uploads.PIECE_BYTES,
                                             uploads.PIECE_BYTES + 1)] == [1, 1, 1, 2]


def test_the_report_digest_is_the_vectors_and_the_server_cuts_pieces_alike():
    body = _body()
    digests = [bytes.fromhex(step["digest"]) for step in VECTORS["pieces"]]
    assert canonical.encode(uploads.REPORT_LABEL, VECTORS["tip_id"], *digests).hex() == \
        VECTORS["report_input"]
    assert uploads.report_digest(VECTORS["tip_id"], digests).hex() == VECTORS["report_digest"]
    # The server reads the body back in slices that are not pieces (the parts' sizes).
    cut = uploads.PieceDigests()
    for at in range(0, len(body), 300_001):
        cut.update(body[at:at + 300_001])
    assert cut.finish() == digests


def test_the_report_digest_changes_with_the_tip_id_and_every_piece():
    digests = [bytes.fromhex(step["digest"]) for step in VECTORS["pieces"]]
    changed = [
        uploads.report_digest("f" * 32, digests),
        uploads.report_digest(VECTORS["tip_id"], digests[:2]),
        uploads.report_digest(VECTORS["tip_id"], [digests[1], digests[0], digests[2]]),
    ]
    assert VECTORS["report_digest"] not in {c.hex() for c in changed}
