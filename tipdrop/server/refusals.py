"""The answer to a request refused before the app: a short page in the reporter's language.

gunicorn answers what it refuses itself (a bad request line or header, a
head too large, a transfer coding other than chunked ...) with an English
plain-text page; tipdrop's worker (tipdrop/server/worker.py) answers with
:func:`refusal` instead, and ``tipdrop nginx-pages`` (nginxpages.py) writes
the same pages for what nginx refuses itself (docs/deploy.md, "Requests
refused before the app"). Nothing here needs gunicorn: only the raw head.
"""

import json
import os
import re
from functools import cache
from html import escape
from urllib.parse import parse_qsl

from babel.support import Translations
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from tipdrop.server import readahead
from tipdrop.server.web import i18n
from tipdrop.server.web.errors import HTTP_MESSAGES
from tipdrop.server.web.i18n import N_

MAX_HEAD = readahead.MAX_HEAD
_TRANSLATIONS = i18n.TRANSLATIONS
_ACCEPT_LANGUAGE = re.compile(rb"^accept-language[ \t]*:(.*)$", re.I | re.M)
_PAGE = ('<!doctype html><html lang="{lang}"><meta charset="utf-8"><title>{status}</title>'
         '<p id="error" role="alert">{message}</p>{more}<p><a href="{root}/?lang={lang}">tipdrop</a></p>')
#: What a page says besides the refusal. A body cut before the app read it
#: (nginx's client_max_body_size) took a report typed without JavaScript with
#: it: the app cannot show that form again (tipdrop/server/web/submit_again.py).
_MORE = {
    413: N_("Nothing was sent. If you were sending a report, what you typed could not be kept: "
            "please type it again and attach fewer or smaller files (the form says how large "
            "they may be)."),
}


@cache
def _catalog(lang):
    return Translations.load(str(_TRANSLATIONS), [lang], domain="messages")


def _query_language(line, whole):
    """The ``lang`` the request line's query asks for, if it is one of tipdrop's, else None.

    As the pages read it (``request.args.get("lang")``: the first one). A line
    that was cut (``whole`` false: too long to be read to its end) may have
    cut its last parameter too, so that one is not believed.
    """
    parts = line.split(b" ")
    if len(parts) < 2:
        return None
    target = parts[1].decode("latin-1")
    if "?" not in target:
        return None
    query = target.split("?", 1)[1].split("#", 1)[0]
    pairs = query.split("&")
    if not whole:
        pairs = pairs[:-1]
    for name, value in parse_qsl("&".join(pairs), keep_blank_values=True, errors="replace"):
        if name == "lang":
            return value if value in i18n.LANGUAGES else None
    return None


def language_of(head):
    """The language tipdrop's pages would use for the request ``head`` (tipdrop/server/web/i18n.py).

    ``?lang=`` in the request line first, when the line can be read (for a
    414 its beginning is still there), then Accept-Language, then Russian.
    """
    line, crlf, _rest = head.partition(b"\r\n")
    lang = _query_language(line[:MAX_HEAD], whole=bool(crlf))
    if lang is not None:
        return lang
    accepted = _ACCEPT_LANGUAGE.search(head)
    return i18n.language_for(parse_accept_header(
        accepted.group(1).decode("latin-1").strip(), LanguageAccept) if accepted else [])


def refusal(status, reason, head):
    """The whole answer to a request refused before the app, from its raw ``head``.

    Only the request line's path and ``lang`` parameter and Accept-Language
    are read from the head, however broken it is; nothing of it is echoed.
    The language is the one tipdrop's pages would use (:func:`language_of`).
    """
    lang = language_of(head)
    message = _catalog(lang).gettext(HTTP_MESSAGES.get(status, HTTP_MESSAGES[400]))
    target = head.split(b"\r\n", 1)[0].split(b" ")
    path = target[1] if len(target) > 1 else b""
    if path.startswith((b"/api/", b"/officer/")):
        content_type = "application/json"
        body = json.dumps({"error": f"http-{status}", "message": message}).encode()
    else:
        content_type = "text/html; charset=utf-8"
        more = (f'<p id="not-kept">{escape(_catalog(lang).gettext(_MORE[status]))}</p>'
                if status in _MORE else "")
        body = _PAGE.format(lang=lang, status=status, message=escape(message), more=more,
                            root=escape(os.environ.get("SCRIPT_NAME", "").rstrip("/"))).encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nContent-Language: {lang}\r\n"
            f"Cache-Control: no-store\r\nConnection: close\r\n\r\n").encode() + body


def head_of(req):
    """Enough of a head gunicorn parsed to choose the language and the kind of answer."""
    target = f"{req.path}?{req.query}" if req.query else req.path
    lines = [f"{req.method} {target} HTTP/1.1"] + [
        f"{name}: {value}" for name, value in req.headers if name.upper() == "ACCEPT-LANGUAGE"]
    return "\r\n".join(lines).encode("latin-1", "replace") + readahead.HEAD_END
