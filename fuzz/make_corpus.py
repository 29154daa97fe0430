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

from tipdrop.protocol import bundles

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


def _request(method, target, headers=(), body=b"", framing="length"):
    """Raw HTTP/1.1 request bytes, the body framed by Content-Length or in two chunks."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1:8080", *headers]
    if framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        half = len(body) // 2
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:half], body[half:]) if p)
        body += b"0\r\n\r\n"
    elif body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


def _multipart(fields, files):
    boundary = "seed-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
             .encode() for name, value in fields.items()]
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
              f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'.encode() + data + b"\r\n"
              for name, filename, kind, data in files]
    return f"Content-Type: multipart/form-data; boundary={boundary}", (
        b"".join(parts) + f"--{boundary}--\r\n".encode())


def http_seeds():
    """Requests to every kind of route: pages, forms, JSON, multipart uploads, officer API."""
    json_type = "Content-Type: application/json"
    form_type = "Content-Type: application/x-www-form-urlencoded"
    report = {"region": "astana", "category": "theft", "description": "A bicycle was stolen."}
    upload_type, upload = _multipart(report, [("files", "note.txt", "text/plain", b"It was red.")])
    sealed_type, sealed_upload = _multipart(
        {"region": "astana", "category": "theft", "unit": "vector-unit"},
        [("report", "report", "application/octet-stream", b"\x01" * 64)])
    for path in ("/", "/submit?lang=kk", "/check?lang=ru", "/privacy", "/stats", "/stats.csv",
                 "/healthz", "/static/style.css", "/api/v1/options", "/api/v1/keys"):
        yield "get" + path.replace("/", "-").replace("?", "-"), _request("GET", path)
    for framing in ("length", "chunked"):
        yield f"api-tip-{framing}", _request("POST", "/api/v1/tips", [json_type, "Accept-Language: kk"],
                                             json.dumps(report).encode(), framing)
        yield f"api-tip-upload-{framing}", _request("POST", "/api/v1/tips", [upload_type], upload,
                                                    framing)
        yield f"page-submit-{framing}", _request("POST", "/submit?lang=ru", [upload_type],
                                                 b"--seed-boundary\r\nContent-Disposition: form-data;"
                                                 b' name="token"\r\n\r\nx\r\n' + upload, framing)
        yield f"page-check-{framing}", _request("POST", "/check?lang=en", [form_type],
                                                b"token=x&receipt=ABCD-EFGH", framing)
    yield "api-sealed-tip", _request("POST", "/api/v1/sealed-tips", [sealed_type], sealed_upload)
    yield "api-check", _request("POST", "/api/v1/check", [json_type],
                                b'{"receipt": "ABCD-EFGH-JKMN", "sealed_replies": true}')
    yield "api-followup", _request("POST", "/api/v1/followups", [json_type],
                                   b'{"token": "x", "text": "more"}')
    yield "api-sealed-followup", _request("POST", "/api/v1/sealed-followups", [json_type],
                                          b'{"token": "x", "part": "f1", "body": "AAAA"}')
    yield "page-followup", _request("POST", "/followup", [form_type], b"token=x&text=more")
    yield "officer-replies", _request("POST", "/officer/v1/replies", [
        "Authorization: Tipdrop-Signature key=x, sig=y", "Content-Type: application/json"], b"{}")


def main():
    makers = {"envelope": envelope_seeds, "stream": stream_seeds,
              "reply_bundle": reply_bundle_seeds, "export": export_seeds, "http": http_seeds}
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
