"""JSON API for app integration (/api/v1): submit, check, follow up.

The same use cases and rules as the pages: no cookies, nothing about the
client stored, the same rate limits and concurrency slots. Apps (the
e-government app, tipdrop's reference client) are not browsers, so there is
no form token; a browser POSTing here from another site is still refused by
the same-origin rule in security.py. Described at /api/v1/openapi.json.
"""

import json

from flask import Blueprint, request
from flask_babel import gettext

from ..errors import InputError, TextEncodingError
from ..tips import Report
from . import openapi
from .context import count_request, extension, get_tips
from .i18n import current_language
from .reporter import receive_submission
from .upload import MAX_SMALL_FORM

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _json_body():
    """A small JSON object, strictly UTF-8; anything else is a clear 400."""
    if request.mimetype != "application/json":
        raise InputError("expected application/json")
    length = request.content_length
    if length is not None and length > MAX_SMALL_FORM:
        raise InputError("the request is too large")
    raw = request.stream.read(MAX_SMALL_FORM + 1)
    if len(raw) > MAX_SMALL_FORM:
        raise InputError("the request is too large")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise TextEncodingError() from None
    except (ValueError, RecursionError):
        raise InputError("the request is not valid JSON") from None
    if not isinstance(doc, dict):
        raise InputError("expected a JSON object")
    for name, value in doc.items():
        if value is not None and not isinstance(value, (str, bool)):
            raise InputError(f"the field {name!r} must be a string")
    return doc



@bp.get("/openapi.json")
def openapi_document():
    return openapi.document()


@bp.get("/options")
def options():
    routing = extension("routing")
    lang = current_language()
    return {
        "language": lang,
        "regions": [{"code": r.code, "name": r.name(lang)} for r in routing.regions],
        "categories": [{"code": c.code, "name": c.name(lang)} for c in routing.categories],
    }


def _check_api_fields(fields):
    for name in ("token", "website"):
        fields.pop(name, None)


@bp.post("/tips")
def submit():
    count_request("submit_limit")
    tips = get_tips()
    if request.mimetype == "multipart/form-data":
        receipt = receive_submission(tips, check_fields=_check_api_fields)
    else:
        doc = _json_body()
        keep = doc.pop("keep_location", False) is True
        with extension("upload_slots")():
            draft = tips.start(region=doc.get("region"), keep_location=keep)
            try:
                fields = {k: v for k, v in doc.items() if k in Report.__dataclass_fields__}
                fields["language"] = current_language()
                report = Report.build(**fields)
            except BaseException:
                draft.discard()
                raise
            receipt = tips.submit(draft, report)
    return {
        "receipt": receipt.formatted,
        "status": "received",
        "advice": gettext("A lost receipt code cannot be recovered by anyone, not even by the police or the administrators."),
    }, 201


@bp.post("/check")
def check():
    doc = _json_body()
    count_request("check_limit")
    receipt = doc.get("receipt")
    result = get_tips().check(receipt=receipt if isinstance(receipt, str) else "")
    return {
        "status": result.status,
        "status_day": result.status_day,
        "received_day": result.received_day,
        "followups": result.followups,
        "replies": [
            {"seq": r.seq, "day": r.day, "status": r.status, "message": r.message}
            for r in result.replies
        ],
        "followup_token": extension("tokens").followup(result.tip_id),
    }


@bp.post("/followups")
def followup():
    doc = _json_body()
    token = doc.get("token")
    tip_id = extension("tokens").check_followup(token if isinstance(token, str) else "")
    text = doc.get("text")
    seq = get_tips().add_followup(tip_id=tip_id, text=text if isinstance(text, str) else "")
    return {"added": True, "seq": seq}, 201
