"""Malformed requests against real gunicorn: a clear 4xx, never a 5xx, never a traceback.

Raw sockets send what no HTTP library would: chunked bodies with a bad chunk
size or a missing terminator, bodies cut short by a half-close, posts with
no length at all, lone surrogates in JSON. Each case of issue 13 item 7 has
its own test, then a sweep sends every malformed request to every route.
Each answer must be a page in the reporter's language or JSON with a
translated message (tests/clear_errors.py), the server log must show no
internal error, and an upload broken mid-file leaves nothing behind.
"""

import html
import http.client
import json
import socket
import sqlite3
import time

import pytest
from babel.support import Translations

from tests.clear_errors import ERROR_PARAGRAPH, TRANSLATIONS, log_problem, problem
from tests.serving import multipart, start_server
from tipdrop.server.web import create_app, errors

pytestmark = pytest.mark.e2e

LANGS = ("kk", "ru", "en")
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("no500"), extra_env={
        "TIPDROP_SUBMITS_PER_HOUR": "1000000", "TIPDROP_CHECKS_PER_HOUR": "1000000",
        "TIPDROP_FOLLOWUPS_PER_HOUR": "1000000", "TIPDROP_FOLLOWUPS_PER_DAY": "1000000"})
    yield running
    running.stop()


@pytest.fixture
def log_is_clean(gunicorn):
    """After the test: the server logged no internal error while it ran."""
    start = gunicorn.log_path.stat().st_size
    yield
    with open(gunicorn.log_path, "rb") as log:
        log.seek(start)
        why = log_problem(log.read().decode("utf-8", "replace"))
    assert why is None, why


#: Reporter POSTs whose refusals answer 303 to a GET page that says why
#: (tipdrop/server/web/refusals.py): the browser keeps no body of them.
REDIRECTED = ("/check", "/followup", "/submit/done")


def after_redirect(server, path, answer, lang):
    """The page a refused reporter POST leads to (its own answer for other routes)."""
    if path.split("?")[0] not in REDIRECTED:
        return answer
    status, headers, _ = answer
    assert status == 303, answer
    location = headers["Location"]
    assert "token" not in location and "receipt=" not in location, location
    return server.request("GET", location, headers={"Accept-Language": lang}, follow=False)


def send_raw(server, method, path, headers, body=b"", half_close=False):
    """Send one request as raw bytes; return (status, headers, body) of the answer.

    ``half_close`` shuts the sending side after the bytes, as a client that
    gives up mid-body does; the answer is still read. A body sent without
    either framing header gets a Content-Length.
    """
    if body and not {"Content-Length", "Transfer-Encoding"} & set(headers):
        headers = headers | {"Content-Length": str(len(body))}
    headers = {"Host": f"127.0.0.1:{server.port}", "Connection": "close"} | headers
    head = f"{method} {path} HTTP/1.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:
        sock.sendall(head.encode("latin-1") + b"\r\n" + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        sock.close()


def chunked(*pieces):
    """A well-framed chunked body of ``pieces``."""
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def assert_clear(answer, path, lang, method="POST"):
    why = problem(*answer, path=path, lang=lang, method=method)
    assert why is None, why


def _tip_count(server):
    db = sqlite3.connect(f"file:{server.data_dir / 'tipdrop.db'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT count(*) FROM tips").fetchone()[0]
    finally:
        db.close()


def _stored_files(server):
    return sorted(p for p in (server.data_dir / "attachments").rglob("*") if p.is_file())


# --- each case of issue 13 item 7 -------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_a_missing_static_file_is_a_404_page_in_the_reporters_language(
        gunicorn, log_is_clean, lang):
    answer = send_raw(gunicorn, "GET", "/static/missing.css", {"Accept-Language": lang})
    assert answer[0] == 404
    assert_clear(answer, "/static/missing.css", lang, "GET")


#: Broken chunked framing, each after the start of a valid body.
BROKEN_CHUNKS = {
    "bad chunk size": b"zz\r\nabc\r\n0\r\n\r\n",
    "chunk without terminator": b"3\r\nabcdefgh\r\n0\r\n\r\n",
    "chunk size overflow": b"ffffffffffffffffffffff\r\nabc\r\n",
    "bad chunk extension": b"3;\x00\r\nabc\r\n0\r\n\r\n",
}


def _upload_head(fields):
    """A multipart body with ``fields`` and a file part whose content never ends."""
    content_type, body = multipart(fields, [("files", "photo.jpg", "image/jpeg", b"\xff" * 10)])
    cut = body.index(b"\xff" * 10) + 5
    return content_type, body[:cut]


@pytest.mark.parametrize("broken", BROKEN_CHUNKS, ids=list(BROKEN_CHUNKS))
@pytest.mark.parametrize("path", ["/submit", "/api/v1/tips", "/api/v1/sealed-tips"])
def test_a_malformed_chunked_upload_is_a_clear_400_and_leaves_nothing(
        gunicorn, log_is_clean, path, broken):
    # Given an upload that has started a file (so a draft exists on disk)
    fields = {"region": "astana", "category": "theft", "description": "chunked"}
    if path == "/submit":
        fields = {"token": gunicorn.form_token("/submit"), "website": ""} | fields
    if path == "/api/v1/sealed-tips":
        fields = {"region": "astana", "category": "theft", "unit": "demo"}
    content_type, head = _upload_head(fields)
    tips_before = _tip_count(gunicorn)

    # When its chunked framing breaks
    answer = send_raw(gunicorn, "POST", path, {
        "Content-Type": content_type, "Transfer-Encoding": "chunked", "Accept-Language": "kk",
    }, chunked(head)[:-5] + BROKEN_CHUNKS[broken], half_close=True)

    # Then the answer is a clear 400 in Kazakh, and nothing was kept
    assert answer[0] == 400, answer
    assert_clear(answer, path, "kk")
    if path.startswith("/api/"):
        assert json.loads(answer[2])["error"] == "BodyReadError"
    assert _tip_count(gunicorn) == tips_before
    assert _stored_files(gunicorn) == []


@pytest.mark.parametrize("path, content_type", [
    ("/check", FORM), ("/followup", FORM), ("/submit/done", FORM),
    ("/api/v1/tips", "application/json"), ("/api/v1/check", "application/json"),
    ("/api/v1/followups", "application/json"), ("/api/v1/sealed-followups", "application/json"),
])
@pytest.mark.parametrize("broken", BROKEN_CHUNKS, ids=list(BROKEN_CHUNKS))
def test_a_malformed_chunked_form_or_json_is_a_clear_400(
        gunicorn, log_is_clean, path, content_type, broken):
    answer = send_raw(gunicorn, "POST", path, {
        "Content-Type": content_type, "Transfer-Encoding": "chunked", "Accept-Language": "ru",
    }, b"2\r\n{}\r\n" + BROKEN_CHUNKS[broken], half_close=True)
    answer = after_redirect(gunicorn, path, answer, "ru")
    assert answer[0] == 400, answer
    assert_clear(answer, path, "ru")


@pytest.mark.parametrize("path", ["/api/v1/tips", "/submit", "/check", "/api/v1/check"])
def test_a_body_cut_short_by_the_client_is_a_clear_400(gunicorn, log_is_clean, path):
    content_type = "application/json" if path.startswith("/api/") else FORM
    if path == "/submit" or path == "/api/v1/tips":
        content_type, body = _upload_head({"region": "astana", "description": "cut"})
    else:
        body = b'{"receipt": "AB' if path.startswith("/api/") else b"token=x&receipt=AB"
    for framing in ({"Content-Length": str(len(body) + 1000)}, {"Transfer-Encoding": "chunked"}):
        sent = body if "Content-Length" in framing else chunked(body)[:-5]
        answer = send_raw(gunicorn, "POST", path, {"Content-Type": content_type,
                          "Accept-Language": "en", **framing}, sent, half_close=True)
        answer = after_redirect(gunicorn, path, answer, "en")
        assert 400 <= answer[0] < 500, (framing, answer)
        assert_clear(answer, path, "en")
    assert _stored_files(gunicorn) == []


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("path", ["/api/v1/followups", "/api/v1/sealed-followups"])
def test_a_lone_surrogate_in_a_json_token_is_a_clear_400(gunicorn, log_is_clean, path, lang):
    body = b'{"token": "\\ud800", "text": "hello", "part": "f1", "body": ""}'
    answer = send_raw(gunicorn, "POST", path, {"Content-Type": "application/json",
                                               "Accept-Language": lang}, body)
    assert answer[0] == 400
    assert json.loads(answer[2])["error"] == "TextEncodingError"
    assert_clear(answer, path, lang)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("path", ["/check", "/followup", "/submit/done", "/submit"])
def test_an_empty_form_post_is_a_411_page_not_files_too_large(gunicorn, log_is_clean, path, lang):
    content_type = "multipart/form-data; boundary=x" if path == "/submit" else FORM
    answer = send_raw(gunicorn, "POST", f"{path}?lang={lang}", {"Content-Type": content_type})
    answer = after_redirect(gunicorn, path, answer, lang)
    assert answer[0] == 411
    assert_clear(answer, path, lang)


#: More than any request may carry (TIPDROP_MAX_UPLOAD_MB is 200 by default, plus 1 MiB of form).
BEYOND_THE_MAXIMUM = str(300 * 1024 * 1024)
#: Every route that takes a body, with the type its body has.
BODY_ROUTES = [("POST", "/submit", "multipart/form-data; boundary=x"), ("POST", "/check", FORM),
               ("POST", "/followup", FORM), ("POST", "/submit/done", FORM),
               ("POST", "/api/v1/tips", "application/json"),
               ("POST", "/api/v1/sealed-tips", "multipart/form-data; boundary=x"),
               ("POST", "/api/v1/uploads", "application/json"),
               ("PUT", "/api/v1/uploads/pieces/0", "application/octet-stream"),
               ("POST", "/api/v1/uploads/finish", "application/json")]


@pytest.mark.parametrize("method, path, content_type", BODY_ROUTES,
                         ids=[f"{m} {p}" for m, p, _ in BODY_ROUTES])
def test_a_body_announced_beyond_the_maximum_is_a_413_not_a_server_error(
        gunicorn, log_is_clean, method, path, content_type):
    # A length beyond every limit (a file far too large, or a client lying
    # about it): refused by its length before a byte is read, in the
    # reporter's language, and the refusal itself must not fail.
    for lang in LANGS:
        answer = send_raw(gunicorn, method, f"{path}?lang={lang}", {
            "Content-Type": content_type, "Content-Length": BEYOND_THE_MAXIMUM,
            "Idempotency-Key": "0" * 32}, half_close=True)
        answer = after_redirect(gunicorn, path, answer, lang)
        assert answer[0] == 413, answer
        assert_clear(answer, path, lang, "GET" if path in REDIRECTED else method)


def test_a_chunked_check_form_is_answered_like_any_other(gunicorn, log_is_clean):
    token = gunicorn.form_token("/check")
    body = f"token={token}&receipt=nonsense".encode()
    answer = send_raw(gunicorn, "POST", "/check?lang=en", {
        "Content-Type": FORM, "Transfer-Encoding": "chunked"}, chunked(body[:10], body[10:]))
    # The framing was read: the receipt is what is refused (a redirect back to
    # the check page naming the error, as for any unchunked form).
    assert answer[0] == 303
    assert "error=length" in answer[1]["Location"]


# --- requests gunicorn refuses before the app -----------------------------------------

def send_head(server, head):
    """Send raw ``head`` bytes (and shut the sending side); return the parsed answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head)
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        response = http.client.HTTPResponse(sock, method="GET")
        response.begin()
        return response.status, dict(response.getheaders()), response.read()


def _refused(lang_header):
    """(name, raw head, path, status) of requests gunicorn's parser refuses."""
    al = f"Accept-Language: {lang_header}\r\n" if lang_header else ""
    host = "Host: x\r\n"
    return [
        ("garbage request line", f"NONSENSE\r\n{host}{al}\r\n", "/", 400),
        ("bad method", f"G@T /check HTTP/1.1\r\n{host}{al}\r\n", "/check", 400),
        ("bad HTTP version", f"GET /check HTTP/9.9\r\n{host}{al}\r\n", "/check", 400),
        ("header without colon", f"GET / HTTP/1.1\r\n{host}{al}NoColon\r\n\r\n", "/", 400),
        ("bad header name", f"GET / HTTP/1.1\r\n{host}{al}Bad\x01Name: v\r\n\r\n", "/", 400),
        ("obsolete line folding", f"GET / HTTP/1.1\r\n{host}{al}X-A: b\r\n c\r\n\r\n", "/", 400),
        ("huge header", f"GET / HTTP/1.1\r\n{host}{al}X-Big: {'A' * 20000}\r\n\r\n", "/", 431),
        ("too many headers", f"GET / HTTP/1.1\r\n{host}{al}"
         + "".join(f"X-{n}: v\r\n" for n in range(200)) + "\r\n", "/", 431),
        ("head larger than any", f"GET / HTTP/1.1\r\n{host}{al}"
         + "".join(f"X-{n}: {'C' * 4000}\r\n" for n in range(20)), "/", 431),
        ("huge request line", f"GET /check?r={'B' * 9000} HTTP/1.1\r\n{host}{al}\r\n",
         "/check", 414),
        ("unknown transfer coding", f"POST /submit HTTP/1.1\r\n{host}{al}"
         "Transfer-Encoding: br\r\nContent-Type: multipart/form-data; boundary=x\r\n\r\n",
         "/submit", 400),
        ("gzip transfer coding", f"POST /submit HTTP/1.1\r\n{host}{al}"
         "Transfer-Encoding: gzip\r\nContent-Type: multipart/form-data; boundary=x\r\n\r\n",
         "/submit", 400),
        ("gzip transfer coding, API", f"POST /api/v1/tips HTTP/1.1\r\n{host}{al}"
         "Transfer-Encoding: gzip, chunked\r\nContent-Type: application/json\r\n\r\n"
         "3\r\n{}\n\r\n0\r\n\r\n",
         "/api/v1/tips", 400),
        ("bad header name, API", f"POST /api/v1/check HTTP/1.1\r\n{host}{al}B@d: v\r\n\r\n",
         "/api/v1/check", 400),
    ]


REFUSED_IDS = [case[0] for case in _refused("kk")]


@pytest.mark.parametrize("lang_header, lang", [("kk", "kk"), ("en-GB,en;q=0.9", "en"),
                                               ("ru-RU", "ru"), (None, "ru"), ("*", "ru")])
@pytest.mark.parametrize("case", range(len(REFUSED_IDS)), ids=REFUSED_IDS)
def test_a_request_gunicorn_refuses_is_a_clear_4xx_in_the_reporters_language(
        gunicorn, log_is_clean, case, lang_header, lang):
    # Given a request whose head gunicorn's parser refuses before tipdrop sees it
    name, head, path, status = _refused(lang_header)[case]
    start = gunicorn.log_path.stat().st_size

    # When it is sent
    answer = send_head(gunicorn, head.encode("latin-1"))

    # Then the answer is the status for what was wrong, never a 5xx, in the reporter's
    # language (Russian when the head does not say), as a page or API JSON ...
    assert answer[0] == status, (name, answer)
    assert_clear(answer, path, lang, "POST" if head.startswith("POST") else "GET")
    assert answer[1]["Cache-Control"] == "no-store"
    assert answer[1]["Connection"] == "close"
    # ... and the log says a request was refused, without naming the client
    time.sleep(0.2)
    with open(gunicorn.log_path, "rb") as log:
        log.seek(start)
        written = log.read()
    assert b"Invalid request refused with %d" % status in written, written
    assert b"127.0.0.1" not in written and b"ip=" not in written, written


def _said(answer, path):
    """The error sentence of an answer: the page's error paragraph, or the JSON message."""
    if path.startswith("/api/"):
        return json.loads(answer[2])["message"]
    return html.unescape(ERROR_PARAGRAPH.search(answer[2]).group(1).decode())


def _in(lang, text):
    return text if lang == "en" else Translations.load(
        str(TRANSLATIONS), [lang], domain="messages").gettext(text)


TOO_LARGE = [
    ("a header too large", "/", "X-Big: {}\r\n".format("A" * 20000), 431),
    ("too many headers", "/api/v1/check", "".join(f"X-{n}: v\r\n" for n in range(200)), 431),
    ("a head larger than any", "/submit",
     "".join(f"X-{n}: {'C' * 4000}\r\n" for n in range(20)), 431),
    ("an address too long", "/check?r=" + "B" * 9000, "", 414),
    ("an API address too long", "/api/v1/check?r=" + "B" * 9000, "", 414),
]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name, target, headers, status", TOO_LARGE,
                         ids=[case[0] for case in TOO_LARGE])
def test_headers_too_large_and_addresses_too_long_each_say_so_in_the_reporters_language(
        gunicorn, log_is_clean, lang, name, target, headers, status):
    # Given a request whose head is over gunicorn's limits (deploy/gunicorn.conf.py)
    head = f"GET {target} HTTP/1.1\r\nHost: x\r\nAccept-Language: {lang}\r\n{headers}\r\n"

    # When it is sent
    answer = send_head(gunicorn, head.encode("latin-1"))

    # Then its status is the one for what was too large, with a clear answer in the
    # reporter's language that says what was too large, not the sentence for any bad request
    path = target.split("?")[0]
    assert answer[0] == status, (name, answer)
    assert_clear(answer, path, lang, "GET")
    assert status in errors.HTTP_MESSAGES, f"{status} has no sentence of its own"
    assert _said(answer, path) == _in(lang, errors.HTTP_MESSAGES[status])
    assert _said(answer, path) != _in(lang, errors.HTTP_MESSAGES[400])


#: (name, request target with "{lang}", more header lines, status, the path) of requests
#: refused before the app whose request line asks for a language.
LANG_IN_THE_LINE = [
    ("an address too long", "/submit?lang={lang}&r=" + "B" * 9000, "", 414, "/submit"),
    ("an address too long, lang last", "/check?r=" + "B" * 9000 + "&lang={lang}", "", 414,
     "/check"),
    ("an API address too long", "/api/v1/check?lang={lang}&r=" + "B" * 9000, "", 414,
     "/api/v1/check"),
    ("a header too large", "/submit?lang={lang}", "X-Big: {}\r\n".format("A" * 70000), 431,
     "/submit"),
    ("too many headers", "/check?x=1&lang={lang}",
     "".join(f"X-{n}: v\r\n" for n in range(200)), 431, "/check"),
    ("a head larger than any", "/submit?lang={lang}",
     "".join(f"X-{n}: {'C' * 4000}\r\n" for n in range(20)), 431, "/submit"),
    ("a bad header", "/?lang={lang}", "Bad\x01Name: v\r\n", 400, "/"),
]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name, target, headers, status, path", LANG_IN_THE_LINE,
                         ids=[case[0] for case in LANG_IN_THE_LINE])
def test_a_refusal_before_the_app_takes_the_language_of_the_address_first_as_pages_do(
        gunicorn, log_is_clean, lang, name, target, headers, status, path):
    # Given a refused request whose address asks for one language and whose
    # Accept-Language asks for another
    other = next(code for code in LANGS if code != lang)
    head = (f"GET {target.format(lang=lang)} HTTP/1.1\r\nHost: x\r\n"
            f"Accept-Language: {other}\r\n{headers}\r\n")

    # When it is sent
    answer = send_head(gunicorn, head.encode("latin-1"))

    # Then the answer is in the address's language, as a page would be (i18n.py)
    assert answer[0] == status, (name, answer)
    assert answer[1]["Content-Language"] == lang, (name, answer[1])
    assert_clear(answer, path, lang, "GET")
    assert _said(answer, path) == _in(lang, errors.HTTP_MESSAGES[status])
    assert b"BBBB" not in answer[2] and b"&" not in answer[2]  # nothing of the address echoed


@pytest.mark.parametrize("target, expected", [
    ("/submit?lang=xx&r=" + "B" * 9000, "en"),  # no such language: Accept-Language's
    # A line longer than any head read is cut before its lang and its headers: Russian
    ("/submit?r=" + "B" * 90000 + "&lang=kk", "ru"),
], ids=["no such language", "the line cut before its lang"])
def test_a_refusal_takes_the_language_of_the_address_only_when_it_is_there_and_valid(
        gunicorn, log_is_clean, target, expected):
    head = f"GET {target} HTTP/1.1\r\nHost: x\r\nAccept-Language: en\r\n\r\n"
    answer = send_head(gunicorn, head.encode("latin-1"))
    assert answer[0] in (414, 431), answer
    assert answer[1]["Content-Language"] == expected, answer[1]


# --- a sweep of malformed requests over every route ------------------------------------

def _every_path(server):
    app = create_app({"data_dir": server.data_dir, "keys_dir": server.keys_dir})
    paths = {rule.rule.replace("<path:filename>", "missing.css") for rule in app.url_map.iter_rules()}
    assert len(paths) >= 20
    return sorted(paths)


BAD_CHUNKS = b"5\r\nab\r\nxyz\r\n"

#: (name, method, headers, body, half-close) that no route may answer with a 5xx.
MALFORMED = [
    ("bad chunk size", "POST", {"Transfer-Encoding": "chunked", "Content-Type": FORM},
     b"zz\r\n", False),
    ("chunk without terminator", "POST",
     {"Transfer-Encoding": "chunked", "Content-Type": "application/json"}, BAD_CHUNKS, False),
    ("multipart in broken chunks", "POST",
     {"Transfer-Encoding": "chunked", "Content-Type": "multipart/form-data; boundary=x"},
     b"4\r\n--x\r\r\nzz\r\n", False),
    ("chunked cut short", "POST",
     {"Transfer-Encoding": "chunked", "Content-Type": "multipart/form-data; boundary=x"},
     b"100\r\n--x\r\n", True),
    ("multipart part without a name", "POST",
     {"Content-Type": "multipart/form-data; boundary=x"},
     b"--x\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--x--\r\n", False),
    ("length longer than the body", "POST",
     {"Content-Length": "500", "Content-Type": "application/json"}, b'{"a": "', True),
    ("no length", "POST", {"Content-Type": FORM}, b"", False),
    ("length beyond the maximum", "POST", {"Content-Length": "99999999999999999999",
                                           "Content-Type": FORM}, b"", True),
    ("piece length beyond the maximum", "PUT", {"Content-Length": "99999999999999999999",
                                                "Content-Type": "application/octet-stream"},
     b"", True),
    ("json surrogate", "POST", {"Content-Type": "application/json"},
     b'{"token": "\\ud800", "receipt": "\\udc00AB"}', False),
    ("bad utf-8", "POST", {"Content-Type": FORM},
     b"token=\xff&a=%ff", False),
    ("origin no url", "POST", {"Origin": "http://[::1", "Content-Type": FORM}, b"a=b", False),
    ("host no name", "GET", {"Host": ".pub0.0.1:8080"}, b"", False),
    ("host no name, post", "POST", {"Host": "a..b", "Content-Type": FORM}, b"a=b", False),
    ("unknown method", "FOO", {}, b"", False),
    ("head", "HEAD", {}, b"", False),
    ("options", "OPTIONS", {}, b"", False),
    ("delete with a body", "DELETE", {}, b"{}", False),
]


@pytest.fixture(scope="module")
def every_path(gunicorn):
    return _every_path(gunicorn)


@pytest.mark.parametrize("name, method, headers, body, half_close", MALFORMED,
                         ids=[m[0] for m in MALFORMED])
def test_no_malformed_request_on_any_route_gets_a_server_error(
        gunicorn, every_path, log_is_clean, name, method, headers, body, half_close):
    failures = []
    for n, path in enumerate(every_path):
        lang = LANGS[n % 3]
        answer = send_raw(gunicorn, method, path, {"Accept-Language": lang, **headers}, body,
                          half_close=half_close)
        why = problem(*answer, path=path, lang=lang, method=method)
        if why:
            failures.append(f"{method} {path}: {why}")
    assert failures == []
    assert _stored_files(gunicorn) == []
