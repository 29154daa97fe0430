"""Every request the app cannot read or decode is a clear 4xx in the reporter's language.

Through the Flask test client: missing static files, lone surrogates in
JSON, bodies without a length, unparseable headers, and a sweep of
malformed requests over every route and method. Failures of the body
stream itself (malformed chunks, a client gone mid-body) need a real server:
see tests/e2e/test_no_server_errors.py.
"""

import html
import io
import json
import logging

import pytest
from gunicorn.http.errors import (
    ChunkMissingTerminator,
    InvalidChunkExtension,
    InvalidChunkSize,
    NoMoreData,
)
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge, RequestTimeout

from tests.clear_errors import ERROR_PARAGRAPH, known_messages, problem
from tests.server.web.conftest import form_token, refused
from tipdrop.server.web.body import BodyReadError, GuardedStream
from tipdrop.server.web.tokens import FormExpiredError

LANGS = ("kk", "ru", "en")


def assert_clear(response, path, lang, method="GET"):
    why = problem(response.status_code, dict(response.headers), response.get_data(),
                  path=path, lang=lang, method=method)
    assert why is None, why


@pytest.fixture
def app(app_config):
    from tipdrop.server.web import create_app

    return create_app(app_config | {"submits_per_hour": 10**6, "checks_per_hour": 10**6})


@pytest.fixture
def errors_logged(caplog):
    """Records the app logged at ERROR or above (a 500, or an error inside an error handler)."""
    caplog.set_level(logging.WARNING)
    return lambda: [r for r in caplog.records if r.levelno >= logging.ERROR]


# --- each case of issue 13 item 7 -------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("path", ["/static/missing.css", "/static/js/missing.js", "/static/js/"])
def test_a_missing_static_file_is_a_404_page_in_the_reporters_language(
        client, errors_logged, path, lang):
    response = client.get(path, headers={"Accept-Language": lang})
    assert response.status_code == 404
    assert_clear(response, path, lang)
    assert client.head(path, headers={"Accept-Language": lang}).status_code == 404
    assert errors_logged() == []


def test_the_language_links_of_an_error_page_lead_to_pages_that_exist(client):
    page = client.get("/static/missing.css?lang=kk").text
    for lang in ("ru", "en"):
        assert f'href="/?lang={lang}"' in page
    assert client.get("/?lang=ru").status_code == 200


@pytest.mark.parametrize("path, field", [
    ("/api/v1/followups", "token"),
    ("/api/v1/sealed-followups", "token"),
    ("/api/v1/tips", "region"),
    ("/api/v1/check", "receipt"),
])
@pytest.mark.parametrize("lang", LANGS)
def test_a_lone_surrogate_in_any_json_field_is_a_clear_400(
        client, errors_logged, path, field, lang):
    body = json.dumps({"token": "x", "text": "hi", "part": "f1", "body": "",
                       "region": "astana", "category": "theft", "description": "d",
                       field: "a\ud800b"}).encode()
    response = client.post(path, data=body, content_type="application/json",
                           headers={"Accept-Language": lang})
    assert response.status_code == 400
    assert response.json["error"] == "TextEncodingError"
    assert_clear(response, path, lang, "POST")
    assert errors_logged() == []


def test_a_lone_surrogate_in_a_json_field_name_is_a_clear_400(client):
    response = client.post("/api/v1/check", data=b'{"\\udfff": "x", "receipt": "AB"}',
                           content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"] == "TextEncodingError"


@pytest.mark.parametrize("path, content_type", [
    ("/check", "application/x-www-form-urlencoded"),
    ("/followup", "application/x-www-form-urlencoded"),
    ("/submit/done", "application/x-www-form-urlencoded"),
    ("/submit", "multipart/form-data; boundary=x"),
    ("/api/v1/check", "application/json"),
    ("/api/v1/followups", "application/json"),
    ("/api/v1/tips", "application/json"),
    ("/api/v1/tips", "multipart/form-data; boundary=x"),
    ("/api/v1/sealed-tips", "multipart/form-data; boundary=x"),
])
@pytest.mark.parametrize("lang", LANGS)
def test_a_post_without_a_body_length_is_a_411_not_files_too_large(
        client, errors_logged, path, content_type, lang):
    # No Content-Length and no chunked framing: the test client sends no length
    # when it is given no body.
    response = client.post(path, headers={"Accept-Language": lang},
                           environ_overrides={"CONTENT_TYPE": content_type})
    if path in ("/check", "/followup", "/submit/done"):  # refusals.py: POST-redirect-GET
        response = refused(client, response)
    assert response.status_code == 411
    assert_clear(response, path, lang, "POST")
    assert errors_logged() == []


def test_a_form_sent_in_chunks_is_read_like_any_other(client):
    token = form_token(client, "/check?lang=en")
    body = f"token={token}&receipt=nonsense".encode()
    response = client.post("/check?lang=en", input_stream=io.BytesIO(body),
                           headers={"Transfer-Encoding": "chunked"},
                           environ_overrides={"CONTENT_TYPE": "application/x-www-form-urlencoded",
                                              "wsgi.input_terminated": True})
    # The framing was read: the receipt is what is refused (a redirect back to
    # the check page naming the error, as for any unchunked form).
    assert response.status_code == 303
    assert "error=length" in response.headers["Location"]


@pytest.mark.parametrize("origin", ["http://[::1", "http://[", "https://a]b"])
def test_an_origin_header_that_is_no_url_is_refused_as_cross_site(client, errors_logged, origin):
    response = client.post("/check?lang=ru", data={"token": "x"}, headers={"Origin": origin})
    assert response.status_code == 403
    assert_clear(response, "/check", "ru", "POST")
    assert errors_logged() == []


class _FailingStream:
    def __init__(self, error):
        self.error = error

    def read(self, size=-1):
        raise self.error


@pytest.mark.parametrize("error, expected", [
    (InvalidChunkSize(b"zz"), BodyReadError),
    (ChunkMissingTerminator(b"xy"), BodyReadError),
    (InvalidChunkExtension("NUL"), BodyReadError),
    (NoMoreData(b""), BodyReadError),
    (ConnectionResetError(), BodyReadError),
    (ValueError("I/O operation on closed file"), BodyReadError),
    (ClientDisconnected(), BodyReadError),
    (TimeoutError(), RequestTimeout),
    (RequestEntityTooLarge(), RequestEntityTooLarge),
    (FormExpiredError(), FormExpiredError),
])
def test_every_way_a_body_read_fails_is_a_clear_error(error, expected):
    with pytest.raises(expected):
        GuardedStream(_FailingStream(error)).read(10)


def test_an_error_inside_an_error_handler_is_logged_by_class_name_only(app, client, caplog):
    # Given a view whose error handler itself fails, with report text in the error
    class Boom(Exception):
        pass

    def view():
        raise Boom()

    def handler(error):
        raise KeyError("SECRET REPORT TEXT")

    app.add_url_rule("/boom", "boom", view)
    app.register_error_handler(Boom, handler)
    caplog.set_level(logging.DEBUG)

    # When it is requested
    response = client.get("/boom?lang=kk")

    # Then the reporter gets the translated 500 page, and the log one line without traceback
    assert response.status_code == 500
    assert '<html lang="kk">' in response.text and "Traceback" not in response.text
    sentence = html.unescape(ERROR_PARAGRAPH.search(response.data).group(1).decode())
    assert sentence in known_messages("kk")
    assert [r.getMessage() for r in caplog.records] == ["internal error: KeyError"]
    assert all(r.exc_info is None for r in caplog.records)
    assert "SECRET" not in caplog.text


# --- a sweep of malformed requests over every route ------------------------------------

METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH", "FOO")
BAD_UTF8 = b"\xff\xfe\xed\xa0\x80"

#: (name, body, environ overrides): what no route may answer with a 5xx.
MALFORMED = [
    ("no length", None, {"CONTENT_TYPE": "application/x-www-form-urlencoded"}),
    ("empty form", b"", {"CONTENT_TYPE": "application/x-www-form-urlencoded"}),
    ("form of bad utf-8", b"token=" + BAD_UTF8 + b"&receipt=%ff%fe",
     {"CONTENT_TYPE": "application/x-www-form-urlencoded"}),
    ("form of too many fields", b"&".join(b"a%d=1" % n for n in range(200)),
     {"CONTENT_TYPE": "application/x-www-form-urlencoded"}),
    ("json of bad utf-8", b'{"receipt": "' + BAD_UTF8 + b'"}', {"CONTENT_TYPE": "application/json"}),
    ("json surrogate", b'{"token": "\\ud800", "receipt": "\\udc00", "region": "\\ud800"}',
     {"CONTENT_TYPE": "application/json"}),
    ("json not an object", b"[1, 2]", {"CONTENT_TYPE": "application/json"}),
    ("json deep", b"[" * 100_000, {"CONTENT_TYPE": "application/json"}),
    ("json huge number", b'{"a": ' + b"9" * 5000 + b"}", {"CONTENT_TYPE": "application/json"}),
    ("multipart without boundary", b"--x\r\n", {"CONTENT_TYPE": "multipart/form-data"}),
    ("multipart cut short", b'--x\r\nContent-Disposition: form-data; name="region"\r\n\r\nast',
     {"CONTENT_TYPE": "multipart/form-data; boundary=x"}),
    ("multipart bad utf-8 headers",
     b'--x\r\nContent-Disposition: form-data; name="' + BAD_UTF8 + b'"; filename="'
     + BAD_UTF8 + b'"\r\n\r\nabc\r\n--x--\r\n',
     {"CONTENT_TYPE": "multipart/form-data; boundary=x"}),
    ("multipart part without a name",
     b"--x\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--x--\r\n",
     {"CONTENT_TYPE": "multipart/form-data; boundary=x"}),
    ("multipart file first",
     b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n'
     b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\r\n--x--\r\n",
     {"CONTENT_TYPE": "multipart/form-data; boundary=x"}),
    ("odd boundary", b"--\xff\r\n--\xff--\r\n",
     {"CONTENT_TYPE": 'multipart/form-data; boundary="\\"'}),
    ("odd headers", b"x", {"CONTENT_TYPE": "text/plain; charset=nonsense",
                           "HTTP_ACCEPT_LANGUAGE": "q=abc;;, \xff-\xfe", "HTTP_ORIGIN": "http://[::1",
                           "HTTP_AUTHORIZATION": "Tipdrop-Signature \xff",
                           "HTTP_X_TIPDROP_DATE": "\xff"}),
    ("host no name", b"a=b", {"CONTENT_TYPE": "application/x-www-form-urlencoded",
                              "HTTP_HOST": ".pub0.0.1:8080"}),
    ("length longer than the body", b"ab",
     {"CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "1000"}),
    ("length not a number", b"ab", {"CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "x"}),
]


def _paths(app):
    for rule in app.url_map.iter_rules():
        yield rule.rule.replace("<path:filename>", "style.css/missing")


@pytest.fixture
def every_path(app):
    return sorted(set(_paths(app)))


def test_the_sweep_covers_every_route_of_the_app(app, every_path):
    assert len(every_path) == len({r.rule for r in app.url_map.iter_rules()}) >= 20


@pytest.mark.parametrize("name, body, environ", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_no_malformed_request_on_any_route_or_method_gets_a_server_error(
        client, every_path, errors_logged, name, body, environ):
    failures = []
    for n, (path, method) in enumerate((p, m) for p in every_path for m in METHODS):
        # A garbled Accept-Language leaves the default language, Russian.
        lang = "ru" if "HTTP_ACCEPT_LANGUAGE" in environ else LANGS[n % 3]
        kwargs = {"method": method, "headers": {"Accept-Language": lang},
                  "environ_overrides": environ}
        if body is not None:
            kwargs["data"] = body
        response = client.open(path, **kwargs)
        why = problem(response.status_code, dict(response.headers), response.get_data(),
                      path=path, lang=lang, method=method)
        if why:
            failures.append(f"{method} {path}: {why}")
    assert failures == []
    assert errors_logged() == []


def test_every_known_message_has_a_kazakh_and_a_russian_text():
    for lang in ("kk", "ru"):
        assert known_messages(lang) - known_messages("en"), lang
