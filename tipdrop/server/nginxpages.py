"""The pages nginx shows for the requests it refuses itself, in the reporter's language.

A request over nginx's own limits (a body over ``client_max_body_size``: 413;
a request line or header over ``large_client_header_buffers``: 414, 431; a
head nginx cannot parse: 400) never reaches tipdrop, and nginx would answer
with its own English page. deploy/nginx/tipdrop.conf sends those refusals
(``error_page``) to the files written here instead: for each status, one
page per language tipdrop speaks and one JSON answer for /api/ and /officer/
addresses, each the very answer tipdrop's own worker gives for that refusal
(tipdrop/server/refusals.py, :func:`refusal`), so a reporter cannot tell which
of the two refused. nginx picks the language as tipdrop does, as far as its
configuration can: ``?lang=``, else the first language Accept-Language
names, else Russian (docs/reverse-proxy.md, "nginx's own refusals").
"""

from pathlib import Path

from tipdrop.common.files import atomic_write
from tipdrop.server.refusals import refusal
from tipdrop.server.web import i18n

#: The refusals deploy/nginx/tipdrop.conf sends here, with their reason phrase.
STATUSES = {400: "Bad Request", 413: "Content Too Large", 414: "URI Too Long",
            431: "Request Header Fields Too Large"}
#: The kind of answer for a path, as tipdrop's worker chooses it (refusals.refusal).
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


# --- checking that an nginx configuration shows them (tipdrop doctor) -----------------

#: nginx's own status for each refusal, and the page that answers it: nginx
#: calls a header over its buffers 494 and sends it as 431.
REFUSED = {400: 400, 413: 413, 414: 414, 494: 431}
#: Refused while nginx reads the head, before it picks a location: the
#: server block's error_page answers these; 413 the location's.
_HEAD_REFUSALS = (400, 414, 494)
#: Where deploy/nginx/tipdrop.conf has nginx look for the pages.
PREFIX = "/.tipdrop-refused/"
FOLDER = "/etc/nginx/tipdrop-refusals"
_VARIABLES = ("$tipdrop_lang", "$tipdrop_refusal_kind")
_SHIPPED = "as deploy/nginx/tipdrop.conf has it (docs/reverse-proxy.md, \"nginx's own refusals\")"


def error_page_line(status):
    """The line of deploy/nginx/tipdrop.conf that sends nginx's refusal ``status`` to its page."""
    answered = REFUSED[status]
    override = f"={answered} " if answered != status else ""
    return f"error_page {status} {override}{PREFIX}{answered}.$tipdrop_lang.$tipdrop_refusal_kind;"


def stale_pages(folder):
    """(missing, different): the names of the pages ``folder`` lacks, and of those not as written here.

    A page that cannot be read counts as missing. Different pages were
    written by another version of tipdrop (the catalogs changed) or edited.
    """
    missing, different = [], []
    for status in STATUSES:
        for lang in i18n.LANGUAGES:
            for kind in _KINDS:
                name = f"{status}.{lang}.{kind}"
                try:
                    data = (Path(folder) / name).read_bytes()
                except OSError:
                    missing.append(name)
                    continue
                if data != page(status, lang, kind):
                    different.append(name)
    return missing, different


def _error_pages(block):
    """{status: error_page directive} in force in ``block``: its own, else the nearest level's.

    nginx inherits error_page from the enclosing level only into a block
    that has none of its own.
    """
    while block is not None:
        own = [d for d in block.children or () if d.name == "error_page"]
        if own:
            return {int(code): d for d in own for code in d.args[:-1] if code.isdigit()}
        block = block.parent
    return {}


def _enclosing(directive, name):
    block = directive.parent
    while block is not None and block.name != name:
        block = block.parent
    return block


def _describe(block):
    return f"{block.where} ({' '.join([block.name, *block.args])})" if block.name else block.file


def check_config(root):
    """What keeps the nginx configuration ``root`` (nginxconf.parse) from showing the pages.

    For each block that proxies to tipdrop: every refusal of nginx's own
    has an error_page in force (the server block's for those refused while
    the head is read, the location's for a body over client_max_body_size)
    that names its page in the reporter's language; the location that
    serves those is internal, sends a request from outside on to tipdrop
    (its not-found page, in the reporter's language), and its folder holds
    the pages this tipdrop writes. A list of (problem, fix) pairs, each once.
    """
    found = {}
    servers = []
    for proxy in (d for d in root.walk() if d.name == "proxy_pass"):
        location = proxy.parent
        if location.name == "location" and location.args[:1] and location.args[0][:1] == "@":
            continue  # reached only through an error_page or a try_files
        server = _enclosing(proxy, "server") or root
        in_force = _error_pages(server)
        missing = [s for s in _HEAD_REFUSALS if s not in in_force]
        if missing:
            lines = " ".join(f"'{error_page_line(s)}'" for s in missing)
            found.setdefault((
                f"{_describe(server)}: nginx answers "
                f"{', '.join(str(REFUSED[s]) for s in missing)} itself with its own English "
                "page, not tipdrop's refusal in the reporter's language: no error_page for "
                f"{', '.join(map(str, missing))} is in force there"),
                f"add to that server block {lines}, {_SHIPPED}")
        at_location = _error_pages(location)
        if 413 not in at_location:
            own = any(d.name == "error_page" for d in location.children or ())
            where = _describe(location) if own else _describe(server)
            why = "its own error_page lines replace the server block's, so " if own else ""
            found.setdefault((
                f"{where}: {why}a body over client_max_body_size gets nginx's English 413, "
                "not tipdrop's refusal in the reporter's language"),
                f"add '{error_page_line(413)}' to that block, {_SHIPPED}")
        directives = [(s, d) for s, d in in_force.items() if s in _HEAD_REFUSALS]
        directives += [(413, at_location[413])] if 413 in at_location else []
        for status, directive in sorted(directives, key=lambda pair: pair[0]):
            problem = _target_problem(status, directive)
            if problem is not None:
                found.setdefault(*problem)
            elif server not in servers:
                servers.append(server)
    if servers:
        for name in _VARIABLES:
            if not any(d.name == "map" and d.args[-1:] == [name] for d in root.walk()):
                found.setdefault(f"{root.file}: {name} is used but never set, so nginx "
                                 "refuses the configuration", f"add the 'map' that sets {name}, "
                                 f"{_SHIPPED}")
    for server in servers:
        for problem in _location_problems(server):
            found.setdefault(*problem)
    return list(found.items())


def _target_problem(status, directive):
    """What is wrong with where ``directive`` sends nginx's refusal ``status``, or None."""
    answered, target = REFUSED[status], directive.args[-1]
    shipped = f"write it '{error_page_line(status)}', {_SHIPPED}"
    if answered != status and f"={answered}" not in directive.args:
        return (f"{directive.where}: error_page {status} does not send it as {answered} "
                f"(nginx would answer {status} or 400)", shipped)
    if not target.startswith(PREFIX) or not target.endswith(
            f"/{answered}.$tipdrop_lang.$tipdrop_refusal_kind"):
        return (f"{directive.where}: error_page {status} shows {target}, not the page of "
                "tipdrop nginx-pages for its refusal in the reporter's language", shipped)
    return None


def _location_problems(server):
    """The location serving PREFIX in ``server``: internal, sends outsiders on to tipdrop, has the pages."""
    location = next((d for d in server.children or () if d.name == "location"
                     and d.args[-1:] == [PREFIX] and d.args[:1] in ([PREFIX], ["^~"])), None)
    if location is None:
        return [(f"{_describe(server)}: no 'location ^~ {PREFIX}' serves the pages its "
                 "error_page lines name, so nginx answers its refusals with a 404",
                 f"add that location, {_SHIPPED}")]
    where = _describe(location)
    problems = []
    if not any(d.name == "internal" for d in location.children):
        problems.append((f"{where}: not internal, so anyone can ask for the refusal pages",
                         f"add 'internal;' to it, {_SHIPPED}"))
    else:
        fallback = _error_pages(location).get(404)
        named = fallback.args[-1] if fallback is not None and fallback.args[-2:-1] == ["="] else ""
        passes = named[:1] == "@" and any(
            d.name == "location" and d.args == [named]
            and any(c.name == "proxy_pass" for c in d.children or ())
            for d in server.children or ())
        if not passes:
            problems.append((
                f"{where}: a request from outside for {PREFIX}... gets nginx's English 404, "
                "not tipdrop's not-found page in the reporter's language",
                "add 'error_page 404 = @tipdrop;' to that location and 'location @tipdrop "
                "{ proxy_pass http://127.0.0.1:8080; }' to the server block, " + _SHIPPED))
    alias = next((d.args[0] for d in location.children if d.name == "alias" and d.args), None)
    if alias is None:
        return problems + [(f"{where}: it has no 'alias' naming the folder of the pages",
                            f"add 'alias {FOLDER}/;' to it, {_SHIPPED}")]
    if "$" in alias:
        return problems  # a folder only nginx can tell
    missing, different = stale_pages(alias)
    total = len(STATUSES) * len(i18n.LANGUAGES) * len(_KINDS)
    if missing:
        problems.append((f"{alias}: {len(missing)} of the {total} pages nginx shows for its own "
                         f"refusals are missing or unreadable ({', '.join(missing[:3])}"
                         f"{', ...' if len(missing) > 3 else ''}), so nginx answers those with a 404",
                         f"write them: tipdrop nginx-pages --out {alias.rstrip('/')}"))
    if different:
        problems.append((f"{alias}: {len(different)} of the pages nginx shows for its own "
                         f"refusals are not the ones this tipdrop writes ({', '.join(different[:3])}"
                         f"{', ...' if len(different) > 3 else ''}): written by another version, "
                         "or edited", f"write them again: tipdrop nginx-pages --out "
                         f"{alias.rstrip('/')} (after each upgrade)"))
    return problems
