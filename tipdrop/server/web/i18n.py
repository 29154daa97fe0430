"""Kazakh, Russian and English for every page a reporter sees.

The language comes from ``?lang=`` (the switcher's links and every form's
action carry it, since there are no cookies to remember it), else from the
browser's Accept-Language, else Russian, the language most reporters share.
Error messages are the docstrings of tipdrop's exception classes, looked up
in the same gettext catalogs (see :func:`error_messages`).
"""

from pathlib import Path

from flask import g, request, url_for
from flask_babel import Babel, gettext

import tipdrop
from tipdrop import errors

#: The kk and ru catalogs, shared by the server's pages and the officer app.
TRANSLATIONS = Path(tipdrop.__file__).parent / "translations"

LANGUAGES = ("kk", "ru", "en")
DEFAULT_LANGUAGE = "ru"
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


def N_(text):
    """Mark ``text`` for the catalogs; it is translated where it is shown."""
    return text


#: How each status reads to a reporter: a short label and what it means.
STATUS_TEXT = {
    "received": (N_("Received"), N_("Your report has arrived and is waiting for an officer.")),
    "in-review": (N_("In review"), N_("An officer is checking your report.")),
    "need-info": (N_("Information needed"), N_("The police have a question for you. Please read the message below and answer it.")),
    "confirmed": (N_("Confirmed"), N_("The report was confirmed and action was taken. Thank you.")),
    "unfounded": (N_("Not confirmed"), N_("The police checked the report and could not confirm it.")),
    "duplicate": (N_("Already reported"), N_("This incident was already reported. It is being handled under the earlier report.")),
    "referred": (N_("Referred"), N_("The report was passed to another unit or agency that is responsible for it.")),
    "closed": (N_("Closed"), N_("Work on this report has ended.")),
    "transferred": (N_("Transferred"), N_("Your report was forwarded to the police unit responsible for it. Its officers will answer you here, and your messages go to them.")),
}


def status_label(status):
    return gettext(STATUS_TEXT.get(status, (status, ""))[0])


def status_help(status):
    text = STATUS_TEXT.get(status, ("", ""))[1]
    return gettext(text) if text else ""


def select_language():
    lang = request.args.get("lang")
    if lang in LANGUAGES:
        return lang
    return language_for(request.accept_languages)


def language_for(accepted):
    """The language an Accept-Language header (werkzeug's parsed list) asks for.

    The highest quality wins; among equal ones, the more specific range,
    then the client's order; a range matches by its primary tag
    (``kk-KZ`` is ``kk``). ``*`` means "any language" and gives the
    default, Russian (docs/protocol.md section 12), unless the header
    refuses it with ``q=0``. Nothing matching gives the default too.
    """
    refused = {value.split("-")[0].lower() for value, quality in accepted if quality <= 0}
    # werkzeug puts "*" last whatever its quality: sort by quality (stable) again.
    for value, quality in sorted(accepted, key=lambda item: -item[1]):
        if quality <= 0:
            continue
        if value == "*":
            return next((lang for lang in (DEFAULT_LANGUAGE, *LANGUAGES)
                         if lang not in refused), DEFAULT_LANGUAGE)
        primary = value.split("-")[0].lower()
        if primary in LANGUAGES and primary not in refused:
            return primary
    return DEFAULT_LANGUAGE


def current_language():
    if "lang" not in g:
        g.lang = select_language()
    return g.lang


def link(endpoint, **values):
    """url_for that keeps the reporter's language."""
    return url_for(endpoint, lang=current_language(), **values)


def language_link(code, endpoint=None):
    """This page in language ``code``, for the switcher; the start page where that
    cannot be: after a POST, on an error page for no route, or for a static file.

    ``endpoint``: a page that must link elsewhere (a one-time status page,
    closed once shown, links to the check form).
    """
    if endpoint is not None and endpoint != request.endpoint:
        return url_for(endpoint, lang=code)
    endpoint = request.endpoint
    if request.method != "GET" or not endpoint or endpoint in ("static", "assets.asset"):
        return url_for("reporter.index", lang=code)
    return url_for(endpoint, **(request.view_args or {}), lang=code)


def summary(error_class):
    return (error_class.__doc__ or "").strip().splitlines()[0]


def error_messages():
    """Every user-facing error sentence, for the catalogs and their test."""
    import importlib
    import pkgutil

    import tipdrop

    # Import every module of the package, so the list is the same whatever
    # the process happened to import before (a test run imports more).
    for module in pkgutil.walk_packages(tipdrop.__path__, "tipdrop."):
        importlib.import_module(module.name)
    seen = set()
    stack = [errors.TipdropError]
    found = []
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        text = summary(cls)
        if text and text not in seen:
            seen.add(text)
            found.append(text)
    return sorted(found)


def translate_error(error):
    """The translated summary of a TipdropError (details stay out of pages)."""
    return gettext(summary(type(error)))


def init_app(app):
    Babel(app, locale_selector=current_language,
          default_translation_directories=str(TRANSLATIONS))
    app.jinja_env.globals.update(
        link=link, language_link=language_link, LANGUAGES=LANGUAGES, LANGUAGE_NAMES=LANGUAGE_NAMES,
        status_label=status_label, status_help=status_help,
    )

    @app.context_processor
    def inject_language():
        return {"lang": current_language()}
