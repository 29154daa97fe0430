"""Pages for reporters: plain HTML forms that work with JavaScript off.

Views parse input, call one use case in tipdrop.server.tips, and render. No view
reads ``request.form`` on the submit route (see upload.py), sets a cookie,
or logs anything about the reporter. Every POST a reporter's browser makes
answers with a 303 redirect (POST-redirect-GET), refusals included
(refusals.py; a refused submit is the documented exception): the browser
then keeps no POST body (report, receipt code, follow-up, token) for Reload
or session restore, and Back or Reload never send anything twice. Pages that
show a receipt code are one-time links (pagelinks.py); the receipt page's
quick exit closes its link (leave_receipt_page; its beacon is answered 204).
"""

import base64
import binascii
from contextlib import contextmanager

from flask import Blueprint, current_app, redirect, render_template, request

from tipdrop.errors import (
    InputError,
    ReceiptCharacterError,
    ReceiptError,
    ReceiptLengthError,
    ReceiptNotRecognisedError,
    ReceiptTypoError,
)
from tipdrop.protocol import receipts
from tipdrop.protocol.report import MAX_ATTACHMENTS, Report
from tipdrop.protocol.routing import in_order
from tipdrop.server import sealed
from tipdrop.server.web import pagelinks, refusals, submit_again
from tipdrop.server.web.context import (
    count_request,
    extension,
    get_tips,
    sealing_keys,
    work_begins,
)
from tipdrop.server.web.i18n import current_language, link, translate_error
from tipdrop.server.web.padded import padded
from tipdrop.server.web.tokens import FOLLOWUP_MAX_AGE
from tipdrop.server.web.upload import Typed, read_small_form, read_submission, upload_slot

bp = Blueprint("reporter", __name__)

HONEYPOT = "website"

#: The pages that can hold typed text, a receipt code or a reply. Chromium
#: keeps a page it leaves in its back/forward cache even when it is
#: ``no-store``, and with JavaScript off no ``pagehide`` handler empties it,
#: so Back would show it again from memory. It never keeps a page whose
#: status is not 200: these answer 203 instead (docs/threat-model.md,
#: "Shared devices"); their refusals keep their own status.
NOT_FOR_BACK = frozenset({"reporter.submit_form", "reporter.receipt_page",
                          "reporter.check_form", "reporter.status_page"})


@bp.after_request
def kept_from_back_forward_cache(response):
    if request.endpoint in NOT_FOR_BACK and response.status_code == 200:
        response.status_code = 203
    return response


class HoneypotError(InputError):
    """Your report could not be accepted. Please try again."""

    detail_is_message = False



def _options():
    """Regions and categories in the page language's alphabetical order, and the questions."""
    routing = extension("routing")
    lang = current_language()
    categories = in_order(routing.categories, lang)
    return {
        "regions": [(r.code, r.name(lang)) for r in in_order(routing.regions, lang)],
        "categories": [(c.code, c.name(lang)) for c in categories],
        "questionnaires": [(c.code, c.name(lang), c.questions) for c in categories
                           if c.questions],
        "questions_json": questions_for_page(categories, lang),
    }


def questions_for_page(categories, lang):
    """What submit.js needs to seal the answers as the server would (questions.answers_document).

    Only the page's language: the page carries no text the reporter cannot read.
    """
    def one_language(doc):
        doc = doc | {"label": {lang: doc["label"][lang]}}
        doc.pop("help", None)
        if "options" in doc:
            doc["options"] = [o | {"label": {lang: o["label"][lang]}} for o in doc["options"]]
        return doc
    return {c.code: [one_language(q.as_document()) for q in c.questions]
            for c in categories if c.questions}


@bp.get("/")
def index():
    return render_template("index.html")


@bp.get("/submit")
def submit_form():
    """The report form: one page, with JavaScript or without.

    The category never travels in an address (the browser's history, a
    proxy's log): without JavaScript each category's questions are a closed
    part of the page the reporter opens; with it submit.js shows the chosen
    category's questions as it changes.
    """
    return _submit_page()


def _submit_page(**again):
    """The report form, with a fresh token; ``again``: what a refused one brought (submit_again.py)."""
    tokens = extension("tokens")
    return render_template("submit.html", token=tokens.form("submit"), done_token=tokens.form("done"),
                           unit_keys=sealing_keys(), language_endpoint="reporter.submit_form",
                           max_files=MAX_ATTACHMENTS,
                           max_upload_mb=current_app.config["TIPDROP"].max_upload_mb,
                           **_options(), **again)


def _check_form_fields(fields):
    """The submit form's token (spent when the report is stored) and honeypot."""
    once = extension("tokens").check_form(fields.get("token"), "submit")
    if fields.get(HONEYPOT):
        raise HoneypotError()
    return once


def receive_submission(tips, *, check_fields=_check_form_fields, typed=None):
    """Shared by the page and the API: stream the form in, then submit it.

    ``check_fields(fields)`` returns the form token the submission spends
    when it is stored (None for the API, which has no form token).
    ``typed`` (upload.Typed) is filled with what the form brought, as it is read.
    """
    settings_max = request.max_content_length

    def start_draft(fields):
        once = check_fields(fields)
        draft = tips.start(region=fields.get("region"),
                           keep_location=fields.get("keep_location") == "yes")
        draft.once = once
        return draft

    # A large body is streamed under an upload slot; a small one is read
    # first and needs none (upload.SMALL_BODY).
    with upload_slot(request):
        fields, draft = read_submission(request, storing_files(start_draft), settings_max, typed)
        if draft is None:
            draft = start_draft(fields)
        try:
            report = Report.build(**{**fields, "language": current_language(),
                                     "answers": answers_in(fields)})
        except BaseException:
            draft.discard()
            raise
        return tips.submit(draft, report)


def storing_files(start_draft):
    """``start_draft`` for read_submission, which calls it at the first file.

    From there the files are encrypted and stored as they arrive, so a
    refusal after it keeps the request's count (context.work_begins).
    """
    def start(fields):
        work_begins()
        return start_draft(fields)
    return start


def answers_in(fields):
    """The form's answers to its category's questions: field ``q.<category>.<id>``.

    Only the chosen category's fields are read: without JavaScript the page sends every
    category's (submit.html), with it only the chosen one's.
    """
    prefix = f"q.{fields.get('category') or ''}."
    return {name[len(prefix):]: value for name, value in fields.items()
            if name.startswith(prefix)}


@contextmanager
def receipt_page_reserved(wanted=True):
    """The key of the receipt page, written before the report is stored (PageLinks.reserve).

    Yields the reservation (None when not ``wanted``). A request that stores
    no report releases it: refused here, or by calling :func:`release`
    (a retried finish, answered with its first link). Otherwise every refused
    request, sent as often as anyone likes, would leave a key in the RAM
    folder for RECEIPT_MINUTES, and every reservation sweeps that folder.
    """
    if not wanted:
        yield None
        return
    reserved = extension("page_links").reserve(pagelinks.RECEIPT_MINUTES)
    try:
        yield reserved
    except BaseException:
        release(reserved)
        raise


def release(reserved):
    """Delete a reserved receipt page's key that no report will use."""
    if reserved is not None:
        extension("page_links").close(reserved[0])


def receipt_page_link(reserved, receipt, encrypted_on):
    """A one-time link to the page that shows ``receipt`` (see pagelinks.py)."""
    link_id = pagelinks.PageLinks.seal(
        reserved, "receipt", {"receipt": receipt.formatted, "encrypted_on": encrypted_on})
    return link("reporter.receipt_page", link_id=link_id)


@bp.post("/submit")
def submit():
    """Answer with a redirect, so the report is not kept with the page (pagelinks.py).

    A refusal answers with the form again, with what was typed in it (submit_again.py).
    """
    typed = Typed()
    try:
        count_request("submit_limit")
        with receipt_page_reserved() as reserved:
            receipt = receive_submission(get_tips(), typed=typed)
    except Exception as error:
        if not submit_again.shown_again(error):
            raise
        return submit_again.answer(error, typed, request, _submit_page)
    return redirect(receipt_page_link(reserved, receipt, "server"), 303)


@bp.get("/receipt/<link_id>")
def receipt_page(link_id):
    payload = extension("page_links").read(link_id, "receipt",
                                           closed=pagelinks.ReceiptPageClosedError)
    return render_template(
        "receipt.html",
        receipt=payload["receipt"],
        encrypted_on=payload["encrypted_on"],
        link_id=link_id,
        wrong=request.args.get("wrong"),
        token=extension("tokens").form("done"),
        quick_exit=link("reporter.leave_receipt_page", link_id=link_id),
    )


@bp.route("/receipt/<link_id>/leave", methods=["GET", "POST"])
def leave_receipt_page(link_id):
    """The receipt page's quick exit: close its key, then leave for the neutral site.

    A person who walks in must not find the code by opening the page again
    from History. Without JavaScript the quick-exit link leads here (GET)
    and this answers 303 to QUICK_EXIT_URL with no body; with it, page.js
    sends a beacon here (POST, answered 204) and leaves at once. Only the
    link, which only that page and its history entry hold, closes the page:
    a link that does not open (someone else's id, a forged seal) closes
    nothing, and the answer is the same either way. A HEAD closes nothing.
    """
    if request.method == "HEAD":  # a link checker or a proxy: nothing is closed
        return "", 303, {"Location": current_app.config["QUICK_EXIT_URL"]}
    pages = extension("page_links")
    try:
        pages.read(link_id, "receipt")
    except pagelinks.PageClosedError:
        pass
    else:
        pages.close(link_id)
    if request.method == "POST":
        return "", 204
    return "", 303, {"Location": current_app.config["QUICK_EXIT_URL"]}


@bp.post("/submit/done")
@refusals.redirect_refusals(lambda name: link("reporter.refused", form="done", why=name))
def submit_done():
    """Close the receipt page once the reporter typed the end of the code.

    The device path shows the receipt in the submit page itself and checks
    the confirmation there (submit.js); its form carries no link.
    """
    form = read_small_form(request)
    extension("tokens").check_form(form.get("token"), "done")
    link_id = form.get("link", "")
    if link_id:
        pages = extension("page_links")
        payload = pages.read(link_id, "receipt", closed=pagelinks.ReceiptPageClosedError)
        if form.get("saved") != "yes":
            return redirect(link("reporter.receipt_page", link_id=link_id, wrong="saved"), 303)
        if not receipts.last_group_matches(payload["receipt"], form.get("confirm", "")):
            return redirect(link("reporter.receipt_page", link_id=link_id, wrong="confirm"), 303)
        pages.close(link_id)
    return redirect(link("reporter.done_page"), 303)


@bp.get("/submit/done")
def done_page():
    return render_template("done.html")


#: Why a typed receipt was refused, as a short name in the /check?error= link.
CHECK_ERRORS = {
    "length": ReceiptLengthError,
    "character": ReceiptCharacterError,
    "typo": ReceiptTypoError,
    "unknown": ReceiptNotRecognisedError,
}


@bp.get("/check")
def check_form(error=None, status=200):
    """The check form; ``?error=`` is why the last check was refused (its status).

    A typed code that cannot be a receipt is shown with 200, as a form to
    correct; a refusal (rate limit, a form sent twice or too old) with its
    own status (refusals.py).
    """
    headers = {}
    if error is not None:
        message = translate_error(error())
    elif (typed := CHECK_ERRORS.get(request.args.get("error"))) is not None:
        message = translate_error(typed())
    elif (refused := refusals.named(request.args.get("error"))) is not None:
        message, status, _ = refused
        headers = refusals.headers_for(status)
    else:
        message = None
    return render_template("check.html", token=extension("tokens").form("check"),
                           error=message), status, headers


@bp.post("/check")
@refusals.redirect_refusals(lambda name: link("reporter.check_form", error=name))
def check():
    """Only the format is read here; the code travels on sealed in a one-time link."""
    tokens = extension("tokens")
    form = read_small_form(request)
    once = tokens.check_form(form.get("token"), "check")
    count_request("check_limit")
    get_tips().spend_form(once)  # one check per form, spent before the code is read
    try:
        receipt = receipts.parse(form.get("receipt", ""))
    except ReceiptError as error:
        name = next((n for n, cls in CHECK_ERRORS.items() if type(error) is cls), "length")
        return redirect(link("reporter.check_form", error=name), 303)
    link_id = extension("page_links").create("status", {"receipt": receipt.formatted},
                                             pagelinks.STATUS_MINUTES)
    return redirect(link("reporter.status_page", link_id=link_id), 303)


@bp.get("/status/<link_id>")
@padded  # the same size whether or not, and however much, the police answered
def status_page(link_id):
    """The status, once: the link's key is deleted as the page is shown.

    The key is deleted before the check, so of requests racing for the link
    only one runs the check (Argon2): the others find it closed at once.
    A check refused before any work (no Argon2 slot free, 503) opens the
    link again, so Reload tries again rather than sending the reporter back
    to type the code (and spend another check).
    """
    if request.method == "HEAD":
        # Flask answers HEAD with the GET view: a link checker or a proxy
        # asking for the head would run the check and use the link up.
        return "", 200
    pages = extension("page_links")
    try:
        payload, reopen = pages.take_for_work(link_id, "status")
        try:
            result = get_tips().check(receipt=payload["receipt"])
        except Exception as error:
            if getattr(error, "refused_before_work", False):
                reopen()
            raise
    except (pagelinks.PageClosedError, ReceiptNotRecognisedError) as error:
        return check_form(type(error), error.http_status)
    # Its language links lead to the check form: this link is closed already.
    # What the page's JavaScript needs to seal a follow-up on the device, as
    # the reference client does: the unit's key and the next number. Never
    # the receipt.
    sealing = {"tip_id": result.tip_id, "part": f"f{result.followups + 1}",
               "key": extension("unit_keys").current(result.unit).as_document()}
    return render_template("status.html", result=result, language_endpoint="reporter.check_form",
                           sealing=sealing, followup_minutes=FOLLOWUP_MAX_AGE // 60,
                           followup_token=extension("tokens").followup(result.tip_id))


@bp.post("/followup")
@refusals.redirect_refusals(lambda name: link("reporter.refused", form="followup", why=name))
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
    on = "device" if form.get("sealed") else "server"
    return redirect(link("reporter.followup_done", on=on), 303)


@bp.get("/followup/done")
def followup_done():
    """The confirmation, saying where the message was encrypted (``?on=``)."""
    encrypted_on = "device" if request.args.get("on") == "device" else "server"
    return render_template("followup_done.html", encrypted_on=encrypted_on)


@bp.get("/refused/<any(followup, done):form>/<why>")
def refused(form, why):
    """A refused follow-up or confirmation, shown after the 303 (refusals.py).

    Both names are in the path, so the language links keep them. A
    follow-up's text is gone with the POST (the page script keeps it in the
    status page instead, followup.js), so the page says it was not sent.
    """
    found = refusals.named(why)
    message, status, page = found or refusals.named("http-400")
    lost = form == "followup" and page != "already_sent.html"
    return (render_template(page, message=message, status=status, followup_lost=lost),
            status, refusals.headers_for(status))
