"""A refused reporter POST answers 303 too, to a GET page that says why.

Chromium keeps the body of a POST whose answer is a page (for Reload and for
restoring tabs), in the tab's history and in its session files on disk: an
error page sent as the answer to a refused check or follow-up would leave the
receipt code, the follow-up's text or its token (which names the tip) on a
phone shared with the person reported. So the check, follow-up and
confirmation POSTs answer every refusal (rate limit, stale or spent form,
unreadable form, a busy or failing server) with a redirect (POST-redirect-GET)
to an address that carries only the refusal's name; the GET page shows the
refusal's message in the reporter's language with the refusal's own status
code (429 with Retry-After, 403, 409, ...) and nothing of what was posted
(docs/threat-model.md, "Someone else who uses the reporter's phone").

The submit form is the exception documented there: its refusals are still
the POST's answer, the form again with what was typed in it
(submit_again.py): a redirect would throw away the report typed without
JavaScript.
"""

import functools
import re

from flask import current_app, redirect
from flask_babel import gettext
from werkzeug.exceptions import HTTPException

from tipdrop.errors import TipdropError
from tipdrop.server.web import errors
from tipdrop.server.web.context import uncount_request
from tipdrop.server.web.i18n import summary

_NAME = re.compile(r"^[a-z0-9-]{1,60}$")

#: The statuses a refusal page may answer with: those of a refused reporter
#: POST. Anyone can send a reporter a /refused/ or /check?error= link, so the
#: name in it must not make the site answer a status it never gives a
#: reporter (599 is not HTTP; a 401 needs the WWW-Authenticate of the officer
#: API's signature refusal, a 405 an Allow header): any other name is a 400.
PAGE_STATUSES = frozenset(errors.HTTP_MESSAGES) - {405} | {409, 410, 422}


def name_of(error):
    """The refusal's short name for a link: ``rate-limited``, ``form-expired``, ``http-413``."""
    if isinstance(error, TipdropError):
        return _class_name(type(error))
    if isinstance(error, HTTPException):
        return f"http-{error.code or 400}"
    return "http-500"


def _class_name(cls):
    words = re.findall(r"[A-Z][a-z0-9]*", cls.__name__.removesuffix("Error"))
    return "-".join(w.lower() for w in words)


def _error_classes():
    """Every TipdropError class by its name (the first of two with the same name)."""
    found, todo = {}, [TipdropError]
    while todo:
        cls = todo.pop(0)
        todo.extend(cls.__subclasses__())
        found.setdefault(_class_name(cls), cls)
    return found


def named(name):
    """(message, status, template) of the refusal called ``name``; None if there is none.

    Only the class's summary is shown (a detail may name a field or a tip).
    """
    if not isinstance(name, str) or not _NAME.match(name):
        return None
    if name.startswith("http-") and name[5:].isdigit():
        status = int(name[5:])
        if status in PAGE_STATUSES:
            text = errors.HTTP_MESSAGES.get(status) or errors.HTTP_MESSAGES[
                400 if status < 500 else 500]
            return gettext(text), status, "error.html"
        return None
    cls = _error_classes().get(name)
    if cls is None or cls.http_status not in PAGE_STATUSES:
        return None
    return gettext(summary(cls)), cls.http_status, getattr(cls, "page", "error.html")


def headers_for(status):
    """Retry-After on a 429 or 503, as errors.py sends it."""
    return {"Retry-After": "30"} if status in (429, 503) else {}


def redirect_refusals(target):
    """Decorate a POST view: any refusal becomes a 303 to ``target(name)``.

    An error that is not a refusal (a bug) is logged by class name only, as
    the one error handler does, and redirected as ``http-500``.
    """
    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            try:
                return view(*args, **kwargs)
            except (TipdropError, HTTPException) as error:
                uncount_request(error)  # as the one error handler does
                return redirect(target(name_of(error)), 303)
            except Exception as error:
                errors.log_internal_error(current_app.logger, error)
                return redirect(target("http-500"), 303)
        return wrapped
    return decorate
