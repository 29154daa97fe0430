"""A device's resumable upload (docs/protocol.md section 19) spoken by hand to a real server,
for the e2e and browser tests that need to hold, cut or repeat one of its requests."""

import io
import json
import secrets

from tipdrop.protocol import uploads
from tipdrop.protocol.report import Report
from tipdrop.reporter import client
from tipdrop.reporter.resumable import ResumableUpload, report_digest, write_body


def sealed_upload(server, folder, evidence, description="resumed over a bad network"):
    """A report and one file sealed as the reference client does: (request, body bytes)."""
    (folder / "clip.bin").write_bytes(evidence)
    work = folder / f"seal-{secrets.token_hex(4)}"
    work.mkdir()
    report = Report.build(region="astana", category="other", description=description)
    _, body, _ = client.seal_upload(report, [folder / "clip.bin"],
                                    server.unit_key.public.recipient, work)
    out = io.BytesIO()
    request = write_body(body.parts, out)
    # As a device's begin names it (docs/protocol.md section 19, "Lost answers").
    request["report_digest"] = report_digest(out, request)
    return request, out.getvalue()


def resumable(server, request, **options):
    """The reference client's upload of ``request``, pausing briefly between retries."""
    return ResumableUpload("127.0.0.1", server.port, request, pause=0.05, **options)


def post_json(server, path, doc, key):
    """POST ``doc`` under Idempotency-Key ``key``: (status, answer)."""
    status, _, raw = server.request("POST", path, json.dumps(doc).encode(),
                                    {"Content-Type": "application/json", "Idempotency-Key": key})
    return status, json.loads(raw)


def put_piece(server, key, index, data, digest=None):
    """PUT piece ``index`` (its own digest unless ``digest`` is given): (status, answer)."""
    digest = digest or uploads.piece_digest(data).hex()
    status, _, raw = server.request(
        "PUT", f"/api/v1/uploads/pieces/{index}", data,
        {"Content-Type": "application/octet-stream", "Idempotency-Key": key,
         "Piece-Digest": digest})
    return status, json.loads(raw)


def cut_pieces(body):
    """``body`` cut into the pieces the protocol sends."""
    return [body[i:i + uploads.PIECE_BYTES] for i in range(0, len(body), uploads.PIECE_BYTES)]


def send_pieces(server, key, body):
    """Send every piece of ``body``; returns the chain a finish must name."""
    cut = cut_pieces(body)
    for index, piece in enumerate(cut):
        status, answer = put_piece(server, key, index, piece)
        assert status == 200, answer
    return uploads.chain(uploads.upload_id(key), [uploads.piece_digest(p) for p in cut])


def officer_reads(run_cli, server, folder, tip_id):
    """The server's export opened on a workstation with its unit key: what ``officer show``
    prints of ``tip_id``, and the bytes of the one file it saves."""
    officer = {"TIPDROP_PASSPHRASE": "officer pass", "TIPDROP_WORKDIR": str(folder / "cases"),
               "TIPDROP_KEY": str(server.key_file)}
    run_cli("export", "--unit", "demo", "--out", folder / "e.tdx", env=server.env(), check=True)
    run_cli("officer", "open", folder / "e.tdx", env=officer, check=True)
    shown = run_cli("officer", "show", tip_id, "--save-attachments", folder / "evidence",
                    env=officer, check=True)
    [saved] = (folder / "evidence").iterdir()
    return shown.stdout, saved.read_bytes()
