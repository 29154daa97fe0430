"""The one place that turns errors into HTTP responses: a page or JSON.

Pages are in the reporter's language; no traceback, request data or receipt
ever reaches the page or the log. Every failure to read or decode a request
is a TipdropError or an HTTPException by the time it gets here (body.py
guards the body, api.py and upload.py the text in it), so it is a 4xx; an
error that escapes a view otherwise is a 500 logged by class name only, and
if even the error page cannot be rendered, a plain page still says so.
"""

from flask import current_app, render_template, request
from flask.globals import request_ctx
from flask_babel import gettext
from markupsafe import escape
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from tipdrop.errors import TipdropError
from tipdrop.server.web import i18n
from tipdrop.server.web.context import uncount_request
from tipdrop.server.web.i18n import N_

# Werkzeug's own English descriptions are replaced by these (translated).
HTTP_MESSAGES = {
    400: N_("The request could not be understood."),
    403: N_("This action is not allowed."),
    404: N_("This page does not exist."),
    405: N_("This action is not allowed."),
    408: N_("The request took too long to arrive. Please try again."),
    411: N_("The request did not say how long it is. Please try again."),
    413: N_("The files are too large. Please send fewer or smaller files at once."),
    # Refused by gunicorn before the app (tipdrop/server/worker.py): limit_request_line
    # and limit_request_fields / limit_request_field_size (deploy/gunicorn.conf.py).
    414: N_("This web address is too long. Please go back to the start page and try again."),
    429: N_("Too many attempts. Please wait a few minutes and try again."),
    431: N_("Your browser sent more information with this request than the server accepts. "
            "Please go back to the start page and try again."),
    500: N_("Something went wrong on our side. Please try again later."),
    503: N_("The service is busy right now. Please try again in a minute."),
}


def _respond(message, status, code, detail=None, page="error.html", puzzle=None):
    headers = {"Retry-After": "30"} if status in (429, 503) else {}
    if status == 401:  # only the officer API authenticates (docs/protocol.md section 12)
        headers["WWW-Authenticate"] = "Tipdrop-Signature"
    # A challenge goes to a client that solves puzzles, page script or app (puzzles.py).
    if puzzle is not None or request.path.startswith(("/api/", "/officer/")):
        body = {"error": code, "message": message}
        if detail:
            body["detail"] = detail
        if puzzle is not None:
            body["puzzle"] = current_app.extensions["tipdrop"]["puzzles"].answer(puzzle)
        return body, status, headers
    if request_ctx.url_adapter is None:
        # Werkzeug refused the Host header, so no link of the full page can be built.
        return _plain_page(message, status), status, headers
    try:
        page = render_template(page, message=message, status=status)
    except Exception as error:  # the page must never turn a 4xx into a 500
        log_internal_error(current_app.logger, error)
        page = _plain_page(message, status)
    return page, status, headers


def _plain_page(message, status):
    return _PLAIN_PAGE.format(lang=i18n.current_language(), status=status, message=escape(message),
                              root=escape(request.root_path))


_PLAIN_PAGE = ('<!doctype html><html lang="{lang}"><meta charset="utf-8"><title>{status}</title>'
               '<p id="error" role="alert">{message}</p><p><a href="{root}/?lang={lang}">tipdrop</a></p>')


def log_internal_error(logger, error):
    """Log an internal error by class name: a traceback's locals may hold report text."""
    logger.error("internal error: %s", type(error).__name__)


def init_app(app):
    @app.errorhandler(TipdropError)
    def tipdrop_error(error):
        uncount_request(error)
        # An error class may have a page of its own (a form sent twice is not a fault).
        return _respond(i18n.translate_error(error), error.http_status, type(error).__name__,
                        error.detail if isinstance(error.detail, str) else None,
                        getattr(error, "page", "error.html"), getattr(error, "puzzle", None))

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
        log_internal_error(app.logger, error)
        return _respond(gettext(HTTP_MESSAGES[500]), 500, "internal")
