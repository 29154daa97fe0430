"""The one place that turns errors into HTTP responses: a page or JSON.

Pages are in the reporter's language; no traceback, request data or receipt
ever reaches the page or the log.
"""

from flask import render_template, request
from flask_babel import gettext
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..errors import TipdropError
from . import i18n
from .i18n import N_



# Werkzeug's own English descriptions are replaced by these (translated).
HTTP_MESSAGES = {
    400: N_("The request could not be understood."),
    403: N_("This action is not allowed."),
    404: N_("This page does not exist."),
    405: N_("This action is not allowed."),
    413: N_("The files are too large. Please send fewer or smaller files at once."),
    429: N_("Too many attempts. Please wait a few minutes and try again."),
    500: N_("Something went wrong on our side. Please try again later."),
    503: N_("The service is busy right now. Please try again in a minute."),
}


def _respond(message, status, code, detail=None, page="error.html"):
    headers = {"Retry-After": "30"} if status in (429, 503) else {}
    if status == 401:  # only the officer API authenticates (docs/protocol.md section 12)
        headers["WWW-Authenticate"] = "Tipdrop-Signature"
    if request.path.startswith(("/api/", "/officer/")):
        body = {"error": code, "message": message}
        if detail:
            body["detail"] = detail
        return body, status, headers
    return render_template(page, message=message, status=status), status, headers


def init_app(app):
    @app.errorhandler(TipdropError)
    def tipdrop_error(error):
        # An error class may have a page of its own (a form sent twice is not a fault).
        return _respond(i18n.translate_error(error), error.http_status, type(error).__name__,
                        error.detail if isinstance(error.detail, str) else None,
                        getattr(error, "page", "error.html"))

    @app.errorhandler(HTTPException)
    def http_error(error):
        status = error.code or 500
        text = HTTP_MESSAGES.get(status) or HTTP_MESSAGES[400 if status < 500 else 500]
        return _respond(gettext(text), status, f"http-{status}")

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error):
        return _respond(gettext(HTTP_MESSAGES[413]), 413, "http-413")

    @app.errorhandler(Exception)
    def unexpected(error):
        # Only the class name is logged: a traceback's locals may hold report text.
        app.logger.error("internal error: %s", type(error).__name__)
        return _respond(gettext(HTTP_MESSAGES[500]), 500, "internal")
