"""The answer tipdrop's worker gives a request gunicorn refuses before the app.

tests/e2e/test_no_server_errors.py sends such requests to a real gunicorn;
these check the answer itself on heads no HTTP client would send.
"""

import json

import pytest

from tipdrop.server.refusals import language_of, refusal

CANARY = "CANARY-7f3e"


def _split(answer):
    head, body = answer.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    return lines[0], dict(line.split(": ", 1) for line in lines[1:]), body


@pytest.mark.parametrize("accept, lang", [
    ("kk-KZ,kk;q=0.9", "kk"), ("en", "en"), ("*", "ru"), ("de, fr;q=0.5", "ru"),
    ("kk;q=0, ru;q=0.1, en;q=0.2", "en"), (None, "ru"), ("\xff\x00;;q==", "ru"),
])
def test_the_page_is_in_the_language_the_head_asks_for_else_russian(accept, lang):
    head = b"GET / HTTP/1.1\r\nHost: x\r\n"
    if accept is not None:
        head += f"Accept-Language: {accept}\r\n".encode("latin-1")
    status, headers, body = _split(refusal(400, "Bad Request", head + b"\r\n"))
    assert status == "HTTP/1.1 400 Bad Request"
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Content-Language"] == lang
    assert f'<html lang="{lang}">'.encode() in body
    assert int(headers["Content-Length"]) == len(body)
    assert headers["Cache-Control"] == "no-store" and headers["Connection"] == "close"


@pytest.mark.parametrize("path", ["/api/v1/tips", "/officer/tips"])
def test_api_paths_get_json_with_a_translated_message(path):
    head = f"POST {path} HTTP/1.1\r\nAccept-Language: kk\r\n\r\n".encode()
    status, headers, body = _split(refusal(431, "Request Header Fields Too Large", head))
    assert status.startswith("HTTP/1.1 431 ")
    assert headers["Content-Type"] == "application/json"
    doc = json.loads(body)
    assert doc["error"] == "http-431"
    assert doc["message"] != "The request could not be understood."  # Kazakh, not English


@pytest.mark.parametrize("head", [
    f"GET /check?receipt={CANARY} HTTP/1.1\r\nUser-Agent: {CANARY}\r\n\r\n",
    f"{CANARY}<script>\r\n\r\n",
    f"GET /api/{CANARY} HTTP/1.1\r\nAccept-Language: {CANARY}\r\n\r\n",
    "",
])
def test_nothing_of_the_request_is_echoed(head):
    assert CANARY.encode() not in refusal(400, "Bad Request", head.encode())


@pytest.mark.parametrize("head, lang", [
    (b"GET /submit?lang=kk HTTP/1.1\r\nAccept-Language: en\r\n\r\n", "kk"),
    (b"G@T /?a=1&lang=en&lang=kk HTTP/1.1\r\nAccept-Language: ru\r\n\r\n", "en"),  # the first
    (b"GET /?lang=%6B%6B HTTP/1.1\r\n\r\n", "kk"),  # percent-encoded, as Flask reads it
    (b"GET /?lang=de HTTP/1.1\r\nAccept-Language: en\r\n\r\n", "en"),  # not ours
    (b"GET /?lang=kk#x HTTP/1.1\r\n\r\n", "kk"),
    (b"GET /?xlang=kk HTTP/1.1\r\nAccept-Language: en\r\n\r\n", "en"),
    # A line cut short (too long to read whole): its last parameter may be cut too
    (b"GET /?lang=en&r=BBBB", "en"),
    (b"GET /?r=BBBB&lang=kk", "ru"),
    (b"GET /?lang=kk", "ru"),
])
def test_the_address_s_lang_comes_first_as_on_the_pages_when_it_can_be_read(head, lang):
    assert language_of(head) == lang


@pytest.mark.parametrize("lang, says", [
    ("kk", "жазғаныңызды сақтау мүмкін болмады"), ("ru", "введённый текст сохранить не удалось"),
    ("en", "what you typed could not be kept")])
def test_a_body_cut_as_too_large_says_a_typed_report_was_not_kept(lang, says):
    # nginx's client_max_body_size refuses a body before the app reads it, so
    # no form can come back with a report typed without JavaScript (submit_again.py).
    _, _, body = _split(refusal(413, "Content Too Large", f"POST /submit?lang={lang} HTTP/1.1\r\n\r\n".encode()))
    assert says in body.decode()
    assert b'<p id="error" role="alert">' in body
