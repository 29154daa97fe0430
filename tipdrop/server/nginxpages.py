"""The pages nginx shows for the requests it refuses itself, in the reporter's language.

A request over nginx's own limits (a body over ``client_max_body_size``: 413;
a request line or header over ``large_client_header_buffers``: 414, 431; a
head nginx cannot parse: 400) never reaches tipdrop, and nginx would answer
with its own English page. deploy/nginx/tipdrop.conf sends those refusals
(``error_page``) to the files written here instead: for each status, one
page per language tipdrop speaks and one JSON answer for /api/ and /officer/
addresses, each the very answer tipdrop's own worker gives for that refusal
(tipdrop/server/worker.py, :func:`refusal`), so a reporter cannot tell which
of the two refused. nginx picks the language as tipdrop does, as far as its
configuration can: ``?lang=``, else the first language Accept-Language
names, else Russian (docs/reverse-proxy.md, "nginx's own refusals").
"""

from pathlib import Path

from tipdrop.common.files import atomic_write
from tipdrop.server.web import i18n
from tipdrop.server.worker import refusal

#: The refusals deploy/nginx/tipdrop.conf sends here, with their reason phrase.
STATUSES = {400: "Bad Request", 413: "Content Too Large", 414: "URI Too Long",
            431: "Request Header Fields Too Large"}
#: The kind of answer for a path, as tipdrop's worker chooses it (worker.refusal).
_KINDS = {"html": "/", "json": "/api/"}


def page(status, lang, kind):
    """The body tipdrop's worker answers a request refused with ``status`` in ``lang``."""
    head = f"GET {_KINDS[kind]}?lang={lang} HTTP/1.1\r\n\r\n".encode("ascii")
    return refusal(status, STATUSES[status], head).split(b"\r\n\r\n", 1)[1]


def write_pages(folder) -> list[Path]:
    """Write ``STATUS.LANG.KIND`` for every refusal, language and kind into ``folder``.

    Files readable by nginx's workers (0644; nothing in them is secret),
    replaced whole if there; returns their paths.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for status in STATUSES:
        for lang in i18n.LANGUAGES:
            for kind in _KINDS:
                path = folder / f"{status}.{lang}.{kind}"
                atomic_write(path, page(status, lang, kind), mode=0o644, overwrite=True)
                written.append(path)
    return written
