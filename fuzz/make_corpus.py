"""Write the seed corpus fuzz/corpus/TARGET/ from the test vectors.

    python fuzz/make_corpus.py

Deterministic: run it again after the vectors change and commit the result.
Envelope and stream seeds are the vectors' own ciphertexts, prefixed with
the index of their context in targets.py; bundle seeds are made here from
those ciphertexts with the vector unit's key.
"""

import hashlib
import io
import json
import sys
from pathlib import Path

import targets
from tipdrop import bundles

HERE = Path(__file__).parent
VECTORS = HERE.parent / "tests" / "vectors"
# The vectors' deterministic sealing (test-only, beside the vectors).
sys.path.insert(0, str(VECTORS))
from rfc9180 import stream_encryptor  # noqa: E402
CORPUS = HERE / "corpus"
DAY = "2024-05-02"
TIP_ID = "ab" * 16


def _vectors(name):
    return json.loads((VECTORS / f"{name}.json").read_text())["vectors"]


def _context_index(contexts, vector, opener):
    return contexts.index((opener, vector["kind"], vector["tip_id"], vector["part"]))


def envelope_seeds():
    for v in _vectors("envelope"):
        opener = "reply" if v["recipient"] == "reply-key" else "unit"
        index = _context_index(targets.ENVELOPE_CONTEXTS, v, opener)
        yield f"{v['kind']}-{v['tip_id']}", bytes([index]) + bytes.fromhex(v["envelope"])


def _two_chunk_stream():
    """The 65537-byte vector, whose ciphertext the vector file keeps only as a hash."""
    [v] = [v for v in _vectors("stream") if v["part"] == "file-65537"]
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    out = io.BytesIO()
    with stream_encryptor(
        out, targets.UNIT_KEY.public.recipient, kind="attachment", tip_id="T-0001",
        part="file-65537", payload_key=bytes.fromhex(v["payload_key"]),
        ephemeral=X25519PrivateKey.from_private_bytes(bytes.fromhex(v["ephemeral_private"])),
    ) as enc:
        enc.write((bytes(range(251)) * 262)[:65537])
    data = out.getvalue()
    assert hashlib.sha256(data).hexdigest() == v["ciphertext_sha256"], "vector changed"
    return v, data


def stream_seeds():
    for v in _vectors("stream"):
        if "ciphertext" in v:
            index = _context_index(targets.STREAM_CONTEXTS, v, "unit")
            yield v["part"], bytes([index]) + bytes.fromhex(v["ciphertext"])
    v, data = _two_chunk_stream()
    yield v["part"], bytes([_context_index(targets.STREAM_CONTEXTS, v, "unit")]) + data


def reply_bundle_seeds():
    key = targets.UNIT_KEY
    [reply] = [v for v in _vectors("envelope") if v["kind"] == "reply"]
    body = bytes.fromhex(reply["envelope"])
    replies = [
        bundles.sign_reply(key.ed25519, key.unit, key.key_id, tip_id=TIP_ID, seq=1, day=DAY,
                           status="need-info", body=body),
        bundles.sign_reply(key.ed25519, key.unit, key.key_id, tip_id=TIP_ID, seq=2, day=DAY,
                           status="closed", body=b""),
    ]
    yield "empty", bundles.make_reply_bundle(key.ed25519, key.unit, key.key_id, DAY, [])
    yield "two-replies", bundles.make_reply_bundle(key.ed25519, key.unit, key.key_id, DAY,
                                                   replies)


def export_seeds():
    sealed = {v["kind"]: bytes.fromhex(v["envelope"]) for v in _vectors("envelope")}
    [small] = [v for v in _vectors("stream") if v["part"] == "file-1"]
    attachment = bytes.fromhex(small["ciphertext"])
    out = io.BytesIO()
    writer = bundles.ExportWriter(out)
    writer.record(bundles.HEADER, {"format": bundles.EXPORT_FORMAT, "version": 1,
                                   "unit": targets.UNIT_KEY.unit, "export_seq": 1,
                                   "created_day": DAY, "since_start": False})
    writer.record(bundles.TIP, {
        "id": TIP_ID, "key_id": targets.UNIT_KEY.key_id.hex(), "region": "astana",
        "category": "theft", "received_day": DAY, "status": "received", "status_day": DAY,
        "reply_public": bundles.b64(bytes(32)), "reply_seq": 0, "encrypted_on": "server",
        "body": bundles.b64(sealed["tip"]),
    })
    writer.record(bundles.FOLLOWUP, {"tip_id": TIP_ID, "seq": 1, "received_day": DAY,
                                     "body": bundles.b64(sealed["followup"])})
    writer.record(bundles.ATTACHMENT, {"tip_id": TIP_ID, "part": "a1",
                                       "info": bundles.b64(sealed["attachment-info"]),
                                       "size": len(attachment)})
    writer.stream(io.BytesIO(attachment), len(attachment))
    writer.finish()
    yield "one-tip", out.getvalue()
    empty = io.BytesIO()
    bundles.ExportWriter(empty).finish()
    yield "empty", empty.getvalue()


def main():
    makers = {"envelope": envelope_seeds, "stream": stream_seeds,
              "reply_bundle": reply_bundle_seeds, "export": export_seeds}
    assert set(makers) == set(targets.TARGETS)
    for target, make in makers.items():
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for name, data in make():
            targets.TARGETS[target](data)  # every seed is valid: it reaches the end
            (folder / name).write_bytes(data)
        print(f"{folder}: {len(list(folder.iterdir()))} seeds")


if __name__ == "__main__":
    main()
