"""A report refused without JavaScript: the form again, with everything typed still in it.

Without JavaScript the report is the body of the form's POST, and a refusal
answered with an error page threw it away: one missing answer, a form left
open past its token's four hours, the rate limit, a file too large, and an
hour of typing on a phone was gone. So a refused submit answers with the
form itself, in the reporter's language and with the refusal's own status
(400, 403, 413, 429 and 503 with Retry-After, 500 for a fault of ours): every text field,
the chosen region and category and the answers to its questions filled in
again from the POST just read, a fresh form token, the refusal's message at
the top and one next to each field at fault (each checked, so every problem
shows at once), and the names of the files to choose again (no browser lets
a page fill a file input).

What was typed is only in this one answer: never stored, logged or put in
an address (docs/threat-model.md, "Someone else who uses the reporter's
phone or computer"). The answer is not a 200, so Chromium keeps it in no
back/forward cache, and like every page it is ``no-store``.

Not shown again: a report already stored (409, its own page: sending it
again would store it twice), a puzzle challenge (the page's script asked
for it and reads JSON), and a POST from another site (refused before the
view, security.py, or one whose form token this server did not sign, or
whose browser says it came from elsewhere: from_our_form; another site
must not fill our form, so those get the plain refusal). A body refused
before it was read is read for its fields only if it is small
(upload.read_typed); a large one is left unread, and the page says that
what was typed could not be kept.
"""

from flask import current_app
from flask_babel import gettext
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from tipdrop.errors import FormAlreadySentError, InputError, TipdropError
from tipdrop.protocol.questions import AnswerRequiredError
from tipdrop.protocol.report import (
    TEXT_LIMITS,
    EmptyDescriptionError,
    PhotoTooLargeError,
    TextTooLongError,
    TooManyFilesError,
    text_field,
)
from tipdrop.server.web import errors, refusals
from tipdrop.server.web.context import extension, uncount_request
from tipdrop.server.web.i18n import current_language, translate_error
from tipdrop.server.web.tokens import FormExpiredError
from tipdrop.server.web.upload import RegionFirstError, read_typed

#: Refusals about the files, shown next to the file input.
FILE_ERRORS = (TooManyFilesError, PhotoTooLargeError, RegionFirstError, RequestEntityTooLarge)


def shown_again(error):
    """Whether a refused submit is answered with the form again (module docstring)."""
    return not (isinstance(error, FormAlreadySentError)
                or getattr(error, "puzzle", None) is not None)


def from_our_form(typed, request):
    """Whether what was sent may be shown again: it came from a form this server made.

    ``Origin: null`` proves nothing (security.py): our own pages send no
    referrer, and so does another site's page that makes a browser post to
    us. So what was typed is shown again only with a submit token this
    server signed (a form left open past its four hours is fine: the token
    is still ours), and never when the browser says the POST did not come
    from our own pages (Sec-Fetch-Site other than same-origin). Otherwise
    another site could make our address show a form filled with its text,
    one click from being sent as a report. A body nothing was read of
    brought nothing to show.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return False
    if not (typed.read or typed.fields or typed.files):
        return True
    return extension("tokens").signed_here(typed.fields.get("token"), "submit")


def answer(error, typed, request, render):
    """The form shown again for ``error``, with ``typed`` (upload.Typed) in it.

    ``render(**context)`` renders the submit page with a fresh token. An
    error rendering it leaves the refusal to the one error handler.
    """
    uncount_request(error)  # as the one error handler does
    read_typed(request, typed)
    if not from_our_form(typed, request):
        raise error  # the plain refusal, nothing of what was sent in it
    if isinstance(error, HTTPException):
        status = error.code or 400
        message = gettext(errors.HTTP_MESSAGES.get(status) or errors.HTTP_MESSAGES[400])
    elif not isinstance(error, TipdropError):  # a fault of ours: logged by class name only
        errors.log_internal_error(current_app.logger, error)
        status, message = 500, gettext(errors.HTTP_MESSAGES[500])
    else:
        status = error.http_status
        message = translate_error(error)
    problems = field_problems(typed.fields) if typed.read else {}
    if isinstance(error, FILE_ERRORS):
        problems.setdefault("files", message)
    try:
        page = render(kept=typed.fields, kept_files=typed.files, kept_nothing=not typed.read,
                      refusal=message, renewed=isinstance(error, FormExpiredError), field_errors=problems, errors=list(problems.items()))
    except Exception as failure:  # the refusal must still be said, by the error handler
        errors.log_internal_error(current_app.logger, failure)
        raise error from None
    return page, status, refusals.headers_for(status)


def field_problems(fields):
    """Every problem of the form's fields: {field id: message}, in the form's order.

    The same checks the submission makes (Report.build, the routing, the
    category's questions), each field on its own, so a reporter sees all
    there is to correct at once.
    """
    routing, lang = extension("routing"), current_language()
    problems = {}
    region, category = fields.get("region") or "", fields.get("category") or ""
    if not region:
        problems["region"] = gettext("Please choose a region.")
    else:
        _check(problems, "region", lambda: routing.unit_for(region))
    if not category:
        problems["category"] = gettext("Please choose a category.")
    elif _check(problems, "category", lambda: routing.check_category(category)):
        for question in routing.questions_of(category):
            name = f"q.{category}.{question.id}"
            _check(problems, f"q-{category}-{question.id}",
                   lambda q=question, n=name: q.answer(fields.get(n), lang))
    for name in TEXT_LIMITS:
        _check(problems, name, lambda n=name: text_field(n, fields.get(n)))
    if "description" not in problems and not (fields.get("description") or "").strip():
        problems["description"] = translate_error(EmptyDescriptionError())
    return problems


def _check(problems, field_id, check):
    """Run ``check``; record its InputError's message for ``field_id``. Whether it passed."""
    try:
        check()
    except AnswerRequiredError:
        problems[field_id] = gettext("Please answer this question: it is required.")
    except TextTooLongError:
        limit = TEXT_LIMITS.get(field_id)
        problems[field_id] = (
            gettext("This text is too long: please shorten it to at most %(limit)s characters.",
                    limit=limit) if limit else translate_error(TextTooLongError()))
    except InputError as error:
        problems[field_id] = translate_error(error)
    else:
        return True
    return False

