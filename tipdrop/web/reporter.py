"""Pages for reporters: plain HTML forms that work with JavaScript off.

Views parse input, call one use case in tipdrop.tips, and render. No view
reads ``request.form`` on the submit route (see upload.py), sets a cookie,
or logs anything about the reporter.
"""

import base64
import binascii

from flask import Blueprint, render_template, request
from flask_babel import gettext

from .. import sealed
from ..errors import InputError
from ..tips import Report
from .context import count_request, extension, get_tips, sealing_keys
from .i18n import current_language
from .upload import read_small_form, read_submission

bp = Blueprint("reporter", __name__)

HONEYPOT = "website"


class HoneypotError(InputError):
    """Your report could not be accepted. Please try again."""

    detail_is_message = False



def _options():
    routing = extension("routing")
    lang = current_language()
    return {
        "regions": [(r.code, r.name(lang)) for r in routing.regions],
        "categories": [(c.code, c.name(lang)) for c in routing.categories],
    }


@bp.get("/")
def index():
    return render_template("index.html")


@bp.get("/submit")
def submit_form():
    tokens = extension("tokens")
    return render_template("submit.html", token=tokens.form("submit"), done_token=tokens.form("done"),
                           unit_keys=sealing_keys(), **_options())


def _check_form_fields(fields):
    """The submit form's token (spent when the report is stored) and honeypot."""
    once = extension("tokens").check_form(fields.get("token"), "submit")
    if fields.get(HONEYPOT):
        raise HoneypotError()
    return once


def receive_submission(tips, *, check_fields=_check_form_fields):
    """Shared by the page and the API: stream the form in, then submit it.

    ``check_fields(fields)`` returns the form token the submission spends
    when it is stored (None for the API, which has no form token).
    """
    settings_max = request.max_content_length

    def start_draft(fields):
        once = check_fields(fields)
        draft = tips.start(region=fields.get("region"),
                           keep_location=fields.get("keep_location") == "yes")
        draft.once = once
        return draft

    with extension("upload_slots")():
        fields, draft = read_submission(request, start_draft, settings_max)
        if draft is None:
            draft = start_draft(fields)
        try:
            report = Report.build(**{**fields, "language": current_language()})
        except BaseException:
            draft.discard()
            raise
        return tips.submit(draft, report)


@bp.post("/submit")
def submit():
    count_request("submit_limit")
    receipt = receive_submission(get_tips())
    last_group = receipt.formatted.rsplit("-", 1)[1]
    return render_template(
        "receipt.html",
        receipt=receipt.formatted,
        confirm_pattern="".join(
            f"[{c}{c.lower()}]" if c.isalpha() else c for c in last_group
        ),
        token=extension("tokens").form("done"),
    )


@bp.post("/submit/done")
def submit_done():
    extension("tokens").check_form(read_small_form(request).get("token"), "done")
    return render_template("done.html")


@bp.get("/check")
def check_form():
    return render_template("check.html", token=extension("tokens").form("check"))


@bp.post("/check")
def check():
    tokens = extension("tokens")
    form = read_small_form(request)
    once = tokens.check_form(form.get("token"), "check")
    count_request("check_limit")
    result = get_tips().check(receipt=form.get("receipt", ""), once=once)
    # What the page's JavaScript needs to seal a follow-up on the device, as
    # the reference client does: the unit's key and the next number. Never
    # the receipt.
    sealing = {"tip_id": result.tip_id, "part": f"f{result.followups + 1}",
               "key": extension("unit_keys").current(result.unit).as_document()}
    return render_template("status.html", result=result, sealing=sealing,
                           followup_token=tokens.followup(result.tip_id))


@bp.post("/followup")
def followup():
    """A follow-up: sealed on the device by the page's JavaScript, or text the server seals."""
    count_request("followup_limit")
    form = read_small_form(request)
    tip_id, once = extension("tokens").check_followup(form.get("token"))
    if form.get("sealed"):
        try:
            body = base64.b64decode(form["sealed"], validate=True)
        except (binascii.Error, ValueError):
            raise sealed.SealedFormatError("the sealed message is not base64") from None
        sealed.add_followup(get_tips(), tip_id=tip_id, part=form.get("part", ""), body=body,
                            once=once)
    else:
        get_tips().add_followup(tip_id=tip_id, text=form.get("text", ""), once=once)
    return render_template("followup_done.html", message=gettext("Your message was added."),
                           encrypted_on="device" if form.get("sealed") else "server")
