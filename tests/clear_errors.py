"""What a clear error looks like: a 4xx in the reporter's language, never a 5xx.

Shared by the test-client sweep (tests/server/web/test_request_errors.py), the one
over real gunicorn (tests/e2e/test_no_server_errors.py) and the HTTP fuzz
target (fuzz/targets.py).
"""

import html
import json
import re
from functools import cache
from pathlib import Path

from babel.support import Translations

import tipdrop.server.web
from tipdrop.server.web import errors, i18n

TRANSLATIONS = Path(tipdrop.__file__).parent / "translations"
ERROR_PARAGRAPH = re.compile(rb'<p id="error" role="alert">(.*?)</p>', re.S)
#: A form page that explains what to correct (templates/_errors.html): its first entry.
ERROR_SUMMARY = re.compile(rb'<div id="error-summary"[^>]*>.*?<li><a href="#[^"]*">(.*?)</a></li>', re.S)
PAGE_LANGUAGE = re.compile(rb'<html lang="([a-z]+)"')


@cache
def known_messages(lang):
    """Every error sentence tipdrop can show, as a reporter reading ``lang`` sees it."""
    english = set(errors.HTTP_MESSAGES.values()) | set(i18n.error_messages())
    if lang == "en":
        return frozenset(english)
    # A sentence missing from the catalog would be shown in English: not clear to this reader.
    catalog = Translations.load(str(TRANSLATIONS), [lang], domain="messages")
    return frozenset(t for text in english if (t := catalog.gettext(text)) != text)


def problem(status, headers, body, *, path, lang, method="GET"):
    """Why this answer is not a clear error (None when it is).

    A 5xx is never clear. A 4xx on /api/ or /officer/ is JSON with an error
    code and a message; any other 4xx is a page in ``lang`` whose error
    paragraph is one of tipdrop's sentences translated into ``lang``.
    """
    if status >= 500:
        return f"{status} server error"
    if status < 400 or method == "HEAD":
        return None
    headers = {k.lower(): v for k, v in headers.items()}
    if b"Traceback" in body:
        return "a traceback in the answer"
    if path.startswith(("/api/", "/officer/")):
        try:
            doc = json.loads(body)
        except ValueError:
            return f"{status} without JSON: {body[:200]!r}"
        if not doc.get("error") or doc.get("message") not in known_messages(lang):
            return f"{status} JSON without a known {lang} message: {doc}"
        return None
    if not headers.get("content-type", "").startswith("text/html"):
        return f"{status} is not a page: {headers.get('content-type')}"
    page_lang = PAGE_LANGUAGE.search(body)
    if not page_lang or page_lang.group(1).decode() != lang:
        return f"{status} page not in {lang}: {body[:200]!r}"
    paragraph = ERROR_PARAGRAPH.search(body) or ERROR_SUMMARY.search(body)
    text = html.unescape(paragraph.group(1).decode()) if paragraph else None
    if text not in known_messages(lang):
        return f"{status} page without a known {lang} error sentence: {text!r}"
    return None


def log_problem(log_text):
    """Why a server log excerpt shows an internal error (None when it does not)."""
    for marker in ("Traceback", "internal error", "Error handling request", "Exception"):
        if marker in log_text:
            return f"{marker!r} in the server log: {log_text[-2000:]}"
    return None
