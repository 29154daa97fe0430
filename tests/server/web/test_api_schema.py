"""schemathesis drives the JSON API from its own OpenAPI document, and the HTML forms.

Whatever it generates, the API must answer without a server error, with a
status code, content type and body the document describes. Then every
generated request is also sent malformed (raw bytes, lone surrogates, the
wrong content type, no length, a body shorter than its length, garbled
headers): the answer must still be a clear 4xx, never a 5xx. The reporter's
HTML forms, which have no OpenAPI document of their own, get one here
(FORMS_DOCUMENT) so schemathesis drives them the same way. (The operations
are driven through Hypothesis directly rather than schemathesis' pytest
plugin, which does not support this pytest version.)
"""

import secrets

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from tests.clear_errors import problem
from tipdrop.protocol import puzzle
from tipdrop.server.web import create_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _operations(config):
    app = create_app(config | {"submits_per_hour": 10_000, "checks_per_hour": 10_000})
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_api_document_has_every_operation(app_config):
    labels = {op.label for op in _operations(app_config)}
    assert labels == {"GET /api/v1/options", "POST /api/v1/tips", "POST /api/v1/check",
                      "POST /api/v1/followups", "GET /api/v1/stats",
                      "GET /api/v1/keys", "POST /api/v1/locators",
                      "GET /api/v1/categories", "POST /api/v1/sealed-tips",
                      "POST /api/v1/sealed-followups", "POST /api/v1/uploads",
                      "PUT /api/v1/uploads/pieces/{index}", "POST /api/v1/uploads/finish",
                      "GET /api/v1/puzzle"}


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", ["GET /api/v1/options", "GET /api/v1/stats", "POST /api/v1/tips",
                                   "POST /api/v1/check", "POST /api/v1/followups",
                                   "POST /api/v1/sealed-followups", "POST /api/v1/sealed-tips",
                                   "POST /api/v1/locators", "POST /api/v1/uploads",
                                   "PUT /api/v1/uploads/pieces/{index}",
                                   "POST /api/v1/uploads/finish", "GET /api/v1/puzzle"])
def test_api_answers_every_generated_request_as_documented(app_config, label, mode):
    [operation] = [op for op in _operations(app_config) if op.label == label]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    def exercise(case):
        case.call_and_validate(checks=CHECKS)

    exercise()


# --- the same requests, malformed --------------------------------------------------------

LANGS = ("kk", "ru", "en")
MULTIPART = "multipart/form-data; boundary=x"

#: How a generated request is broken before it is sent: transport keyword arguments
#: for Werkzeug's client (headers, body, environ), merged over the generated ones.
CORRUPTIONS = {
    "raw bytes": st.binary(max_size=200).map(lambda b: {"data": b}),
    "lone surrogate": st.sampled_from(["token", "receipt", "region", "text", "\\ud800"]).map(
        lambda k: {"data": f'{{"{k}": "a\\ud800", "description": "\\udfff"}}'.encode(),
                   "headers": {"Content-Type": "application/json"}}),
    "another content type": st.sampled_from([
        "application/json", "application/x-www-form-urlencoded", "multipart/form-data",
        MULTIPART, "text/plain; charset=x", "application/json; charset=latin-1", "*/*", ";;"]).map(
        lambda t: {"headers": {"Content-Type": t}}),
    "no length": st.just({"environ_overrides": {"CONTENT_LENGTH": ""}}),
    "length beyond the body": st.integers(1, 10**6).map(
        lambda n: {"data": b'{"a": "', "environ_overrides": {"CONTENT_LENGTH": str(7 + n)}}),
    "multipart cut short": st.binary(max_size=40).map(lambda b: {
        "data": b'--x\r\nContent-Disposition: form-data; name="region"\r\n\r\n' + b,
        "headers": {"Content-Type": MULTIPART}}),
    "multipart part without a name": st.just({
        "data": b"--x\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--x--\r\n",
        "headers": {"Content-Type": MULTIPART}}),
    "garbled headers": st.fixed_dictionaries({
        "Origin": st.sampled_from(["http://[::1", "null", "http://evil.example"]),
        "Host": st.sampled_from([".pub0.0.1:8080", "a..b", "localhost"]),
        "Accept-Language": st.sampled_from(["q=x;;", "kk;q=abc", "\xff"]),
        "Authorization": st.sampled_from(["Tipdrop-Signature \xff", "Basic ????"]),
    }).map(lambda h: {"headers": h}),
}


def _merge(generated, corruption):
    merged = dict(generated)
    merged["headers"] = {**generated.get("headers", {}), **corruption.get("headers", {})}
    if "data" in corruption:
        merged.pop("json", None)
        merged["data"] = corruption["data"]
    if "environ_overrides" in corruption:
        merged["environ_overrides"] = corruption["environ_overrides"]
    return merged


def _page_language(query, headers):
    """The language the app must answer in: ?lang=, else Accept-Language, else Russian."""
    lang = (query or {}).get("lang")
    lang = lang[0] if isinstance(lang, list) and lang else lang
    if lang in LANGS:
        return lang
    accepted = parse_accept_header(headers.get("Accept-Language"), LanguageAccept)
    return accepted.best_match(LANGS) or "ru"


def _send_malformed(app, case, corruption):
    kwargs = _merge(case.as_transport_kwargs(), corruption)
    response = app.test_client().open(**kwargs)
    lang = _page_language(case.query, kwargs["headers"])
    why = problem(response.status_code, dict(response.headers), response.get_data(),
                  path=case.path, lang=lang, method=case.method)
    assert why is None, f"{case.method} {case.path} {kwargs}: {why}"


def _exercise_malformed(app, operation):
    @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
           | operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
           corruption=st.one_of(*CORRUPTIONS.values()))
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    def exercise(case, corruption):
        _send_malformed(app, case, corruption)

    exercise()


@pytest.mark.slow
def test_api_answers_malformed_requests_with_a_clear_error(app_config):
    app = create_app(app_config | {"submits_per_hour": 10**9, "checks_per_hour": 10**9})
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    for result in schema.get_all_operations():
        _exercise_malformed(app, result.ok())


_LANG = {"name": "lang", "in": "query", "schema": {"type": "string", "enum": list(LANGS)}}
_PAGE = {"default": {"description": "a page in the reporter's language",
                     "content": {"text/html": {"schema": {"type": "string"}}}}}
_TEXT = {"type": "string"}


def _form(media_type, properties, required=("token",)):
    return {"parameters": [_LANG], "responses": _PAGE, "requestBody": {"required": True, "content": {
        media_type: {"schema": {"type": "object", "properties": properties,
                                "required": list(required)}}}}}


#: The reporter's pages and forms as OpenAPI, for schemathesis only: they are HTML, not an API.
FORMS_DOCUMENT = {
    "openapi": "3.0.3",
    "info": {"title": "tipdrop reporter pages (test only)", "version": "1"},
    "paths": {
        **{path: {"get": {"parameters": [_LANG], "responses": _PAGE}}
           for path in ("/", "/submit", "/check", "/privacy", "/stats")},
        "/submit": {
            "get": {"parameters": [_LANG], "responses": _PAGE},
            "post": _form("multipart/form-data", {
                "token": _TEXT, "website": _TEXT, "region": _TEXT, "category": _TEXT,
                "description": _TEXT, "what": _TEXT, "where": _TEXT, "when": _TEXT,
                "contact": _TEXT, "keep_location": _TEXT,
                "files": {"type": "string", "format": "binary"}}),
        },
        "/check": {"get": {"parameters": [_LANG], "responses": _PAGE},
                   "post": _form("application/x-www-form-urlencoded",
                                 {"token": _TEXT, "receipt": _TEXT})},
        "/followup": {"post": _form("application/x-www-form-urlencoded",
                                    {"token": _TEXT, "text": _TEXT})},
        "/submit/done": {"post": _form("application/x-www-form-urlencoded", {"token": _TEXT})},
    },
}


def _form_operations(app):
    schema = schemathesis.openapi.from_dict(FORMS_DOCUMENT)
    schema.app = app
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_html_forms_answer_every_generated_request_with_a_page_never_a_server_error(
        app_config, mode):
    app = create_app(app_config | {"submits_per_hour": 10**9, "checks_per_hour": 10**9})
    for operation in _form_operations(app):
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def exercise(case):
            response = case.call()
            lang = _page_language(case.query, {})
            headers = {name: ", ".join(values) for name, values in response.headers.items()}
            why = problem(response.status_code, headers, response.content,
                          path=case.path, lang=lang, method=case.method)
            assert why is None, f"{case.method} {case.path}: {why}"

        exercise()


@pytest.mark.slow
def test_html_forms_answer_malformed_requests_with_a_clear_error(app_config):
    app = create_app(app_config | {"submits_per_hour": 10**9, "checks_per_hour": 10**9})
    for operation in _form_operations(app):
        _exercise_malformed(app, operation)


# --- past a limit: the puzzle answers, as documented ----------------------------------------

#: A request of each limited operation that reaches its limit's count (docs/protocol.md section 21).
LIMITED = {
    "POST /api/v1/tips": lambda: {"body": {"region": "astana", "category": "theft",
                                           "description": "past the limit"},
                                  "media_type": "application/json"},
    "POST /api/v1/uploads": lambda: {
        "body": {"region": "astana", "category": "theft", "tip_id": secrets.token_hex(16),
                 "parts": [["tip", 100]]},
        "media_type": "application/json", "headers": {"Idempotency-Key": secrets.token_hex(16)}},
    "POST /api/v1/check": lambda: {"body": {"receipt": "ABCD-EFGH-JKMN-PQRS-TVWX-YZ23"},
                                   "media_type": "application/json"},
    "POST /api/v1/locators": lambda: {},
}


@pytest.mark.parametrize("label", sorted(LIMITED))
def test_past_a_limit_the_puzzle_answers_are_the_documented_ones(app_config, label):
    """The 429 with its puzzle, a refused solution's 429 with a new one, and the request a
    solution admits: each conforms to the operation's documented answers, and the
    operation documents the solution header."""
    app = create_app(app_config | {"submits_per_hour": 1, "checks_per_hour": 1,
                                   "puzzle_bits": 4})
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    [operation] = [op.ok() for op in schema.get_all_operations() if op.ok().label == label]
    assert "Tipdrop-Puzzle-Solution" in {p["name"] for p in operation.definition.raw.get(
        "parameters", [])}

    def send(solution=None):
        request = LIMITED[label]()
        if solution is not None:
            request["headers"] = request.get("headers", {}) | {"Tipdrop-Puzzle-Solution": solution}
        case = operation.Case(**request)
        response = case.call()
        case.validate_response(response, checks=CHECKS)
        return response

    send()  # the hour's one request
    limited = send()
    assert limited.status_code == 429
    offer = limited.json()["puzzle"]
    assert offer["algorithm"] == "tipdrop/v1/puzzle" and offer["difficulty"] == 4
    forged = ("B" if offer["challenge"][0] == "A" else "A") + offer["challenge"][1:]
    refused = send(forged + ".0000000000000000")  # its MAC does not check
    assert refused.status_code == 429 and refused.json()["error"] == "PuzzleInvalidError"
    assert refused.json()["puzzle"]["challenge"] != offer["challenge"]
    admitted = send(puzzle.solve_offered(refused.json()["puzzle"]))
    assert admitted.status_code != 429
