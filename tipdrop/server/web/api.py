"""JSON API for app integration (/api/v1): submit, check, follow up.

The same use cases and rules as the pages: no cookies, nothing about the
client stored, the same rate limits and concurrency slots. Apps (the
e-government app, tipdrop's reference client) are not browsers, so there is
no form token; a browser POSTing here from another site is still refused by
the same-origin rule in security.py. Described at /api/v1/openapi.json.
"""

import base64
import binascii

from flask import Blueprint, request
from flask_babel import gettext

from tipdrop.errors import InputError
from tipdrop.protocol import puzzle
from tipdrop.protocol.report import Report
from tipdrop.protocol.routing import in_order
from tipdrop.server import sealed
from tipdrop.server.web import openapi
from tipdrop.server.web.body import read_json_object
from tipdrop.server.web.context import (
    count_request,
    extension,
    get_tips,
    limit_reached,
    sealing_keys,
)
from tipdrop.server.web.i18n import current_language
from tipdrop.server.web.padded import padded
from tipdrop.server.web.reporter import (
    receipt_page_link,
    receipt_page_reserved,
    receive_submission,
    release,
    storing_files,
)
from tipdrop.server.web.upload import MAX_SMALL_FORM, read_submission, upload_slot

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _json_body():
    """A small JSON object of strings (body.read_json_object); anything else is a clear 4xx."""
    doc = read_json_object(request, MAX_SMALL_FORM)
    for name, value in doc.items():
        if name == "answers" and isinstance(value, dict):  # question id -> answer (questions.py)
            value = value.values()
            if all(isinstance(v, str) for v in value):
                continue
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
        "regions": [{"code": r.code, "name": r.name(lang)}
                    for r in in_order(routing.regions, lang)],
        "categories": [{"code": c.code, "name": c.name(lang)}
                       for c in in_order(routing.categories, lang)],
    }


@bp.get("/categories")
def categories():
    """Every category with its names and questions in all languages (an app seals the answers)."""
    return extension("routing").categories_document()


@bp.get("/keys")
def keys():
    """The unit keys, and the Argon2id costs for a device that makes its own receipt."""
    return sealing_keys() | {"receipt_kdf": get_tips().receipt_params.as_dict()}


@bp.get("/puzzle")
def puzzle_probe():
    """Whether a request of kind ``?for=`` would meet its limit now, and if so its challenge.

    Nothing is counted. A client about to send a large upload asks first, so
    it solves the puzzle before the upload rather than after a refused one
    (tipdrop/server/web/puzzles.py; static/js/puzzle.js does so).
    """
    purpose = request.args.get("for", "")
    if purpose not in puzzle.PURPOSES:
        raise InputError(f"for= must be one of {', '.join(puzzle.PURPOSES)}")
    puzzles = extension("puzzles")
    reached = limit_reached(f"{purpose}_limit")
    challenge = puzzles.issue(purpose) if reached and puzzles.enabled else None
    return {"limit_reached": reached,
            "puzzle": puzzles.answer(challenge) if challenge is not None else None}


@bp.post("/locators")
def reserve_locator():
    """A locator for the receipt a device makes, reserved for it (tipdrop/server/locators.py)."""
    count_request("locator_limit")
    reservation = get_tips().reserve_locator()
    return {"locator": reservation.locator, "reservation": reservation.token,
            "expires_in": reservation.seconds}, 201


def receipt_answer(receipt, encrypted_on):
    """The answer to a stored report; ``receipt`` is None when the device made it."""
    return {
        "receipt": receipt.formatted if receipt is not None else None,
        "status": "received",
        "encrypted_on": encrypted_on,
        "advice": gettext("A lost receipt code cannot be recovered by anyone, not even by the police or the administrators."),
    }


def _check_api_fields(fields):
    """Apps send no form token; the page's own JavaScript sends the form's, which is ignored."""
    for name in ("token", "website"):
        fields.pop(name, None)
    return None


@bp.post("/tips")
def submit():
    count_request("submit_limit")
    tips = get_tips()
    if request.mimetype == "multipart/form-data":
        receipt = receive_submission(tips, check_fields=_check_api_fields)
    else:
        # Read whole first, so no upload slot: those bound the threads busy
        # streaming a body, and the Argon2 slots bound this work (upload.SMALL_BODY).
        doc = _json_body()
        keep = doc.pop("keep_location", False) is True
        draft = tips.start(region=doc.get("region"), keep_location=keep)
        try:
            fields = {k: v for k, v in doc.items() if k in Report.__dataclass_fields__}
            fields["language"] = current_language()
            report = Report.build(**fields)
        except BaseException:
            draft.discard()
            raise
        receipt = tips.submit(draft, report)
    return receipt_answer(receipt, "server"), 201


@bp.post("/sealed-tips")
def submit_sealed():
    """A report already encrypted on the reporter's device (see tipdrop.server.sealed)."""
    count_request("submit_limit")
    tips = get_tips()
    max_body = request.max_content_length

    def start_draft(fields):
        _check_api_fields(fields)
        return sealed.start(tips, fields=fields, max_stream=max_body)

    # Its key is written before the report is stored (PageLinks.reserve).
    # A small body is read whole first, without an upload slot (upload.SMALL_BODY).
    with receipt_page_reserved(request.args.get("receipt_page") == "yes") as reserved, \
            upload_slot(request):
        fields, draft = read_submission(request, storing_files(start_draft), max_body)
        if draft is None:
            draft = start_draft(fields)
        receipt = sealed.submit(tips, draft, region=fields.get("region"),
                                category=fields.get("category"))
    answer = receipt_answer(receipt, "device")
    if reserved is not None and receipt is not None:
        # The submit page leaves for the one-time receipt page (reporter.py),
        # so the code is shown, confirmed and closed as on the server path.
        answer["receipt_page"] = receipt_page_link(reserved, receipt, "device")
    else:
        release(reserved)  # the device made its own receipt: there is no page to show
    return answer, 201


@bp.post("/check")
@padded  # the same size whether or not, and however much, the police answered
def check():
    doc = _json_body()
    count_request("check_limit")
    receipt = doc.get("receipt")
    decrypt = doc.get("sealed_replies", False) is not True
    result = get_tips().check(receipt=receipt if isinstance(receipt, str) else "",
                              decrypt=decrypt)
    if not decrypt:
        return _sealed_check_answer(result)
    return {
        "status": result.status,
        "status_day": result.status_day,
        "received_day": result.received_day,
        "followups": result.followups,
        "replies": [
            {"seq": r.seq, "day": r.day, "status": r.status, "message": r.message}
            for r in result.replies
        ],
        "transfers": _transfers(result),
        "followup_token": extension("tokens").followup(result.tip_id),
    }


def _transfers(result):
    """When the report went to another unit, after how many replies (never which units)."""
    return [{"day": t.day, "after_reply": t.after_reply} for t in result.transfers]


@bp.post("/followups")
def followup():
    count_request("followup_limit")
    doc = _json_body()
    tip_id, once = extension("tokens").check_followup(doc.get("token"))
    text = doc.get("text")
    seq = get_tips().add_followup(tip_id=tip_id, text=text if isinstance(text, str) else "",
                                  once=once)
    return {"added": True, "seq": seq}, 201


@bp.post("/sealed-followups")
def followup_sealed():
    """A follow-up already encrypted on the reporter's device (see tipdrop.server.sealed)."""
    count_request("followup_limit")
    doc = _json_body()
    tip_id, once = extension("tokens").check_followup(doc.get("token"))
    part, body = doc.get("part"), doc.get("body")
    try:
        body = base64.b64decode(body if isinstance(body, str) else "", validate=True)
    except (binascii.Error, ValueError):
        raise sealed.SealedFormatError("the body is not base64") from None
    seq = sealed.add_followup(get_tips(), tip_id=tip_id,
                              part=part if isinstance(part, str) else "", body=body, once=once)
    return {"added": True, "seq": seq}, 201


def _b64(data):
    return base64.b64encode(bytes(data)).decode("ascii")


def _sealed_check_answer(result):
    """The check answer for a client that decrypts replies on the reporter's device.

    It carries the Argon2id salt and cost of this receipt so the client can
    derive the reply key itself (docs/protocol.md section 8), each reply
    as stored: sealed body, the unit's signature and the signing key, and
    the tip's unit, whose key the device seals follow-ups to.
    """
    return {
        "tip_id": result.tip_id,
        "unit": result.unit,
        "status": result.status,
        "status_day": result.status_day,
        "received_day": result.received_day,
        "followups": result.followups,
        "receipt_kdf": {"salt": _b64(result.receipt_salt), **result.receipt_params},
        "replies": [
            {"seq": r.seq, "day": r.day, "status": r.status, "body": _b64(r.body),
             "signature": _b64(r.signature), "signer": r.signer.as_document()}
            for r in result.replies
        ],
        "transfers": _transfers(result),
        "followup_token": extension("tokens").followup(result.tip_id),
    }
