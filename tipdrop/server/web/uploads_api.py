"""/api/v1/uploads: a device-sealed report sent in pieces that resume (tipdrop/server/uploads.py).

Three requests, each naming the upload by the device's random key in the
``Idempotency-Key`` header (docs/protocol.md section 17): begin (or ask how
far it got), put a piece, finish. Nothing about the request is logged or
kept beyond what tipdrop/server/uploads.py stores; the key itself never is.
"""

from contextlib import nullcontext

from flask import Blueprint, request

from tipdrop.errors import InputError
from tipdrop.protocol.uploads import PIECE_BYTES
from tipdrop.server import uploads
from tipdrop.server.web.api import receipt_answer
from tipdrop.server.web.body import read_json_object, read_small
from tipdrop.server.web.context import count_request, extension, get_tips
from tipdrop.server.web.reporter import receipt_page_link, receipt_page_reserved, release
from tipdrop.server.web.upload import MAX_SMALL_FORM, SMALL_BODY, upload_slot

bp = Blueprint("uploads", __name__, url_prefix="/api/v1/uploads")


def _key():
    return request.headers.get("Idempotency-Key", "")


def _json_doc():
    return read_json_object(request, MAX_SMALL_FORM)


def _settings():
    return request.max_content_length, extension("open_uploads")


@bp.post("")
def begin():
    """Start an upload (201), or say how many pieces arrived (200): the device resumes there."""
    max_bytes, max_open = _settings()
    status, created = uploads.begin(get_tips(), key=_key(), doc=_json_doc(), max_bytes=max_bytes,
                                    max_open=max_open,
                                    idle_seconds=extension("upload_idle_seconds"),
                                    lifetime_seconds=extension("upload_lifetime_seconds"),
                                    on_new=lambda: count_request("submit_limit"),
                                    moves=extension("upload_moves"))
    return status, 201 if created else 200


@bp.put("/pieces/<int:index>")
def put_piece(index):
    if request.mimetype != "application/octet-stream":
        raise InputError("expected application/octet-stream")
    # A whole piece streams in under an upload slot; a small one (the last,
    # or a small report's only piece) is read without one (upload.SMALL_BODY).
    with upload_slot(request):
        data = read_small(request, PIECE_BYTES)
        received = uploads.put_piece(get_tips(), key=_key(), index=index,
                                     digest=request.headers.get("Piece-Digest", ""), data=data,
                                     lifetime_seconds=extension("upload_lifetime_seconds"),
                                     moves=extension("upload_moves"))
    return {"received": received}


def _storing_slot(total):
    """An upload slot while a large upload is stored; a small one needs none.

    Storing streams every byte of the pieces through the attachment
    pipeline, as a streamed upload does under its slot; a report of at most
    SMALL_BODY bytes is as cheap as a JSON one (upload.SMALL_BODY).
    """
    return extension("upload_slots")() if total > SMALL_BODY else nullcontext()


@bp.post("/finish")
def finish():
    """Store the report (201); a repeated request answers the same again (200), storing nothing."""
    doc = _json_doc()
    max_bytes, _ = _settings()
    # Its key is written before the report is stored (PageLinks.reserve), and
    # released if no report is (refused, or a retry answered with its first link).
    with receipt_page_reserved(request.args.get("receipt_page") == "yes") as reserved:

        def answer_for(receipt):
            answer = receipt_answer(receipt, "device")
            if reserved is not None and receipt is not None:
                answer["receipt_page"] = receipt_page_link(reserved, receipt, "device")
            return answer

        answer, first = uploads.finish(get_tips(), key=_key(), chain=doc.get("chain"),
                                       max_bytes=max_bytes, answer_for=answer_for,
                                       admit=_storing_slot,
                                       lifetime_seconds=extension("upload_lifetime_seconds"),
                                       moves=extension("upload_moves"))
    if not first:
        release(reserved)
    return answer, 201 if first else 200
