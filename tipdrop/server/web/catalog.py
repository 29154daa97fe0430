"""Build and check the gettext catalogs (Kazakh, Russian; English is the source).

    python -m tipdrop.server.web.catalog extract   # templates + code + error docstrings -> messages.pot
    python -m tipdrop.server.web.catalog update    # merge messages.pot into kk/ru messages.po
    python -m tipdrop.server.web.catalog compile   # .po -> .mo (`make translations`: make run/test/bench)
    python -m tipdrop.server.web.catalog check     # list untranslated or stale messages; exit 1 if any

Error messages are the docstrings of tipdrop's exception classes, which no
extractor finds, so :func:`extract` adds them from :func:`i18n.error_messages`.
"""

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parents[1]  # all of tipdrop: the server's pages and the officer app
TRANSLATIONS = HERE.parents[1] / "translations"
POT = TRANSLATIONS / "messages.pot"
TRANSLATED = ("kk", "ru")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "lazy_gettext": None}
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]


def _load_all_errors():
    from tipdrop.server.web import i18n

    return i18n.error_messages()


def build_template():
    """The message template, in memory: every string a page or error can show."""
    catalog = Catalog(project="tipdrop", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PACKAGE), METHODS, keywords=KEYWORDS, comment_tags=("NOTE",), strip_comment_tags=True
    ):
        catalog.add(message, None, [(f"tipdrop/{filename}", lineno)], auto_comments=comments,
                    context=context)
    for text in _load_all_errors():
        catalog.add(text, None, [("tipdrop/errors", 0)], auto_comments=["error message"])
    return catalog


def extract():
    """Write messages.pot."""
    catalog = build_template()
    TRANSLATIONS.mkdir(exist_ok=True)
    with open(POT, "wb") as f:
        write_po(f, catalog, width=100, omit_header=False, sort_output=True)
    return catalog


def _po_path(lang):
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def read_catalog(lang):
    with open(_po_path(lang), "rb") as f:
        return read_po(f, locale=lang)


def update():
    template = extract()
    for lang in TRANSLATED:
        path = _po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            catalog = read_catalog(lang)
        else:
            catalog = Catalog(locale=lang, project="tipdrop", charset="utf-8")
        catalog.update(template, no_fuzzy_matching=True)
        with open(path, "wb") as f:
            write_po(f, catalog, width=100, sort_output=True, ignore_obsolete=True)


def compile_all():
    for lang in TRANSLATED:
        path = _po_path(lang)
        if not path.exists():
            continue
        catalog = read_catalog(lang)
        with open(path.with_suffix(".mo"), "wb") as f:
            write_mo(f, catalog, use_fuzzy=False)


def stale():
    """Languages whose compiled catalog (.mo) is missing or older than its .po."""
    found = []
    for lang in TRANSLATED:
        po = _po_path(lang)
        mo = po.with_suffix(".mo")
        if po.exists() and (not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime):
            found.append(lang)
    return found


def require_compiled():
    """Refuse to serve while a catalog is missing or older than its .po.

    Compiling is a build step, not something the app does as it starts:
    ``make translations`` (part of ``make run`` and ``make test``) or
    ``python -m tipdrop.server.web.catalog compile`` after installing, as
    docs/deploy.md does. A server that wrote into its own package at start
    would fail silently where the code is read-only (it is, in the deployment:
    root owns it, the service runs as its own user), and every Kazakh or
    Russian reader would get English pages with nothing in any log.
    """
    missing = stale()
    if missing:
        from tipdrop.errors import ConfigError

        raise ConfigError(
            f"the {'/'.join(missing)} translations are not compiled or older than their .po "
            "files: run `make translations` (or `python -m tipdrop.server.web.catalog compile`)")


def problems():
    """Messages that would show up in English to a Kazakh or Russian reader."""
    template = build_template()
    wanted = {m.id for m in template if m.id}
    found = []
    for lang in TRANSLATED:
        catalog = read_catalog(lang) if _po_path(lang).exists() else Catalog(locale=lang)
        for message, errors in catalog.check():
            found.extend(f"{lang}: {message.id!r}: {error}" for error in errors)
        for msgid in sorted(wanted, key=str):
            message = catalog.get(msgid)
            if message is None:
                found.append(f"{lang}: missing {msgid!r}")
            elif message.fuzzy:
                found.append(f"{lang}: fuzzy {msgid!r}")
            elif isinstance(message.string, tuple):
                if not all(message.string):
                    found.append(f"{lang}: untranslated plural {msgid!r}")
            elif not message.string:
                found.append(f"{lang}: untranslated {msgid!r}")
    return found


def main(argv):
    command = argv[1] if len(argv) > 1 else ""
    if command == "extract":
        print(f"{len(extract())} messages -> {POT}")
    elif command == "update":
        update()
    elif command == "compile":
        compile_all()
    elif command == "check":
        found = problems()
        print("\n".join(found) or "all messages translated")
        return 1 if found else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
