"""Property-based fuzzing of the parsers the other test files cover least.

Random bytes rarely get past a magic number or a JSON parser, so these
strategies build *nearly* valid input (well-framed export records, signed
reply bundles with a few bytes changed, receipt-like text, JSON request
bodies with real tokens) and check the one rule every parser keeps: it
succeeds, or it raises a TipdropError. A damaged bundle that is accepted
must mean exactly what the undamaged one meant.

Raw HTTP requests go through gunicorn's parser into the app (the ``http``
target of fuzz/targets.py): none may get a 5xx or make the app log an error.

Lone surrogates from JSON "\\udXXX" escapes, found this way, have their own
tests at the end of the file.

Set TIPDROP_FUZZ_EXAMPLES to run every property with that many examples
(``make fuzz`` does so where atheris is unavailable).
"""

import hashlib
import io
import json
import os
import struct
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tipdrop.crypto import kdf, keys
from tipdrop.errors import ReceiptError, TipdropError
from tipdrop.protocol import bundles, receipts
from tipdrop.server.web import create_app


def examples(default):
    return int(os.environ.get("TIPDROP_FUZZ_EXAMPLES") or default)


def fuzz(default):
    return settings(max_examples=examples(default), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
byte_edits = st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)),
                      min_size=1, max_size=3)


def edited(data, edits, cut=None):
    damaged = bytearray(data)
    for position, value in edits:
        damaged[position % len(damaged)] = value
    if cut is not None:
        damaged = damaged[: cut % (len(damaged) + 1)]
    return bytes(damaged)


# --- export bundles ------------------------------------------------------------------------

RECORD = struct.Struct(">BQ")
record_kinds = st.sampled_from([bundles.HEADER, bundles.TIP, bundles.FOLLOWUP,
                                bundles.ATTACHMENT, bundles.STREAM]) | st.integers(0, 255)
payloads = (st.binary(max_size=80)
            | json_values.map(lambda v: json.dumps(v).encode())
            | st.dictionaries(st.text(max_size=8), json_values, max_size=4)
            .map(lambda d: json.dumps(d).encode()))


@st.composite
def framed_bundles(draw):
    """Magic, well-framed records (lengths mostly right), then maybe a valid end."""
    data = bytearray(bundles.EXPORT_MAGIC)
    count = 0
    for kind, payload in draw(st.lists(st.tuples(record_kinds, payloads), max_size=5)):
        length = draw(st.just(len(payload)) | st.sampled_from(
            [len(payload) + 1, max(0, len(payload) - 1), 2**64 - 1, bundles.MAX_JSON_RECORD + 1,
             bundles.MAX_STREAM_RECORD + 1]))
        data += RECORD.pack(kind, length) + payload
        count += 1
    end = draw(st.sampled_from(["valid", "wrong-count", "none", "any-json", "trailing"]))
    if end != "none":
        doc = {"records": count + (end == "wrong-count"),
               "sha256": hashlib.sha256(data).hexdigest()}
        body = json.dumps(draw(json_values) if end == "any-json" else doc).encode()
        data += RECORD.pack(bundles.END, len(body)) + body
        if end == "trailing":
            data += draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


def read_all(data):
    """Every record of an export bundle: JSON docs, and stream records' bytes."""
    reader = bundles.ExportReader(io.BytesIO(data))
    out = []
    for record in reader:
        if record.kind == bundles.STREAM:
            chunks = []
            reader.copy_stream(chunks.append)
            out.append((record.kind, b"".join(chunks)))
        else:
            out.append((record.kind, record.doc))
    return out


@fuzz(150)
@given(data=framed_bundles())
def test_export_reader_on_well_framed_records_raises_only_tipdrop_errors(data):
    try:
        read_all(data)
    except TipdropError:
        pass


json_records = st.tuples(
    st.sampled_from([bundles.HEADER, bundles.TIP, bundles.FOLLOWUP, bundles.ATTACHMENT]),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4))
stream_records = st.tuples(st.just(bundles.STREAM), st.binary(max_size=200))


@fuzz(200)
@given(records=st.lists(json_records | stream_records, max_size=5), edits=byte_edits,
       cut=st.none() | st.integers(min_value=0))
def test_damaged_export_bundle_is_refused_or_reads_back_unchanged(records, edits, cut):
    out = io.BytesIO()
    writer = bundles.ExportWriter(out)
    for kind, content in records:
        if kind == bundles.STREAM:
            writer.stream(io.BytesIO(content), len(content))
        else:
            writer.record(kind, content)
    writer.finish()
    damaged = edited(out.getvalue(), edits, cut)
    try:
        read = read_all(damaged)
    except TipdropError:
        return
    # Only edits that change nothing that is read (e.g. a space in the end record) pass.
    assert read == [(kind, json.loads(json.dumps(content)) if kind != bundles.STREAM else content)
                    for kind, content in records]


# --- reply bundles ---------------------------------------------------------------------------

DAY = "2026-01-10"


@pytest.fixture(scope="module")
def signer():
    return keys.generate("demo")


@pytest.fixture(scope="module")
def signed_bundle(signer):
    replies = [
        bundles.sign_reply(signer.ed25519, signer.unit, signer.key_id, tip_id="ab" * 16, seq=seq,
                           day=DAY, status=status, body=body)
        for seq, status, body in [(1, "need-info", b"\x01sealed reply"), (2, "closed", b"")]
    ]
    return bundles.make_reply_bundle(signer.ed25519, signer.unit, signer.key_id, DAY, replies)


@fuzz(300)
@given(edits=byte_edits, cut=st.none() | st.integers(min_value=0))
def test_damaged_reply_bundle_is_refused_or_means_the_same(signed_bundle, signer, edits, cut):
    original = bundles.parse_reply_bundle(signed_bundle)
    damaged = edited(signed_bundle, edits, cut)
    try:
        parsed = bundles.parse_reply_bundle(damaged)
        bundles.verify_reply_bundle(parsed, signer.public.ed25519)
    except TipdropError:
        return
    assert parsed == original


maybe = lambda valid: st.just(valid) | json_values  # noqa: E731
reply_docs = st.fixed_dictionaries({}, optional={
    "tip_id": maybe("ab" * 16), "seq": maybe(1) | st.integers(), "day": maybe(DAY),
    "status": maybe("closed"), "body": maybe("AQ=="), "signature": maybe("AA==")})


@fuzz(150)
@given(doc=st.fixed_dictionaries({"format": maybe(bundles.REPLIES_FORMAT)}, optional={
    "version": maybe(1), "unit": maybe("demo"), "key_id": maybe("ab" * 16),
    "created_day": maybe(DAY), "replies": st.lists(reply_docs | json_values, max_size=3),
    "signature": maybe("AA==")}))
def test_reply_bundle_documents_of_any_shape_raise_only_tipdrop_errors(doc, signer):
    try:
        bundle = bundles.parse_reply_bundle(json.dumps(doc).encode())
        bundles.verify_reply_bundle(bundle, signer.public.ed25519)
    except TipdropError:
        return
    pytest.fail("a bundle with a made-up signature was accepted")


# --- receipts ------------------------------------------------------------------------------

# What people and their phones put into a receipt field: the alphabet in both
# cases, look-alikes (Latin and Cyrillic), separators, spaces, invisible
# characters, compatibility forms NFKC rewrites, and anything else.
RECEIPT_LIKE = st.sampled_from(
    list(receipts.ALPHABET + receipts.ALPHABET.lower() + "OILUoilu")
    + list("АВЕКМНОРСТХУЗІавекмнорстхузі-–—._/ \t\u00a0\u3000\u200b\u200d\ufeff\u00ad")
    + ["\uff21", "\u2460", "\ufdfa", "\u0301", "\x00", "\u0130", "\u01c4", "\u1e9e"]
) | st.characters() | st.characters(categories=["Cs"])


@fuzz(500)
@given(text=st.text(RECEIPT_LIKE, min_size=18, max_size=40) | st.text(RECEIPT_LIKE, max_size=210))
def test_receipt_like_text_parses_or_raises_a_receipt_error(text):
    try:
        receipt = receipts.parse(text)
    except ReceiptError:
        return
    assert receipts.parse(receipt.formatted) == receipt


@fuzz(200)
@given(values=st.lists(st.integers(0, 31), min_size=23, max_size=23), data=st.data())
def test_a_code_with_one_symbol_replaced_by_any_character_never_parses_to_another_receipt(
        values, data):
    code = receipts._from_values(values).code
    position = data.draw(st.integers(0, len(code) - 1))
    char = data.draw(RECEIPT_LIKE)
    try:
        receipt = receipts.parse(code[:position] + char + code[position + 1:])
    except ReceiptError:
        return
    assert receipt.code == code  # a look-alike or a case change of the same symbol


# --- the JSON API ----------------------------------------------------------------------------

API_PATHS = ["/api/v1/tips", "/api/v1/check", "/api/v1/followups"]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """A module-wide app (Hypothesis reuses it), with limits no fuzz run reaches,
    and a valid follow-up token so generated follow-ups get past the token check (it is
    spent by the first one stored; the text is checked before that, whatever the token)."""
    root = tmp_path_factory.mktemp("api")
    keys_dir = root / "keys"
    keys_dir.mkdir()
    (keys_dir / "demo.pub").write_bytes(keys.generate("demo").public.to_json())
    (keys_dir / "routing.json").write_text(json.dumps({"version": 1, "regions": {"astana": "demo"}}))
    app = create_app({"data_dir": root / "instance", "keys_dir": keys_dir,
                      "receipt_params": kdf.TEST_PARAMS, "submits_per_hour": 10**9,
                      "checks_per_hour": 10**9, "followups_per_hour": 10**9})
    client = app.test_client()
    made = client.post("/api/v1/tips", json={"region": "astana", "category": "theft",
                                             "description": "seed tip"})
    receipt = made.get_json()["receipt"]
    token = client.post("/api/v1/check", json={"receipt": receipt}).get_json()["followup_token"]
    return client, receipt, token


def assert_clean_answer(response):
    assert response.status_code < 500, response.get_data()[:300]
    if response.status_code >= 400:
        body = response.get_json()
        assert body["error"] and body["message"]


@fuzz(150)
@given(path=st.sampled_from(API_PATHS),
       body=st.binary(max_size=300) | st.text(max_size=100).map(str.encode))
def test_any_bytes_as_a_json_body_never_give_a_server_error(api, path, body):
    client, _, _ = api
    assert_clean_answer(client.post(path, data=body, content_type="application/json"))


REPORT_FIELDS = ("region", "category", "description", "what", "where", "when", "contact")
texts = (st.text(max_size=40) | st.text(max_size=40).map(lambda t: f" \r\n{t}\x00")
         | st.integers(1990, 2100).map(lambda n: "x" * n * 10))


@st.composite
def api_documents(draw, token, receipt):
    fields = {
        "region": maybe("astana") | texts, "category": maybe("theft") | texts,
        "keep_location": maybe(True) | texts, "token": maybe(token) | texts,
        "receipt": st.sampled_from([receipt, receipt.lower(), receipts.generate().formatted])
        | texts, "text": texts,
    } | {name: texts | json_values for name in REPORT_FIELDS[2:]}
    doc = draw(st.fixed_dictionaries({}, optional=fields))
    doc |= draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2))
    return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode("utf-8")


@fuzz(150)
@given(path=st.sampled_from(API_PATHS), data=st.data())
def test_any_json_document_never_gives_a_server_error(api, path, data):
    client, receipt, token = api
    body = data.draw(api_documents(token, receipt))
    assert_clean_answer(client.post(path, data=body, content_type="application/json"))


# --- raw HTTP requests, through gunicorn's parser into the app ------------------------------

FUZZ_DIR = Path(__file__).resolve().parents[2] / "fuzz"


@pytest.fixture(scope="module")
def http_target():
    """fuzz/targets.py's ``http`` target: a 5xx answer or a logged app error raises ServerError."""
    sys.path.insert(0, str(FUZZ_DIR))
    try:
        import targets
    finally:
        sys.path.remove(str(FUZZ_DIR))
    return targets.serve_request


HTTP_PATHS = ["/", "/submit", "/submit/done", "/check", "/followup", "/privacy", "/stats",
              "/stats.csv", "/healthz", "/static/style.css", "/static/nope", "/api/v1/tips",
              "/api/v1/sealed-tips", "/api/v1/check", "/api/v1/followups",
              "/api/v1/sealed-followups", "/api/v1/options", "/api/v1/keys", "/api/v1/stats",
              "/officer/v1/export", "/officer/v1/replies", "/officer/v1/acks"]
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                      max_size=30)
multipart_bodies = st.lists(
    st.tuples(st.sampled_from(["region", "category", "description", "token", "files", "report",
                               "a1", "", "x" * 40]),
              st.none() | st.sampled_from(["a.jpg", "note.txt", "", "\xff"]),
              st.binary(max_size=40) | st.sampled_from([b"astana", b"theft", b"\xff\xd8\xff"])),
    max_size=4,
).map(lambda parts: b"".join(
    b"--x\r\nContent-Disposition: form-data" + (b'; name="%s"' % n.encode("latin-1") if n else b"")
    + (b'; filename="%s"' % f.encode("latin-1") if f is not None else b"") + b"\r\n\r\n" + data
    + b"\r\n" for n, f, data in parts) + b"--x--\r\n")


@st.composite
def raw_requests(draw):
    """Nearly valid HTTP/1.1 requests: real routes and methods, bodies of each kind the app
    reads, framed by a right or wrong Content-Length, or by chunks that may be broken."""
    method = draw(st.sampled_from(["GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "FOO"]))
    path = draw(st.sampled_from(HTTP_PATHS)) + draw(st.sampled_from(["", "?lang=kk", "?lang=%ff"]))
    content_type, body = draw(st.sampled_from([
        ("application/json", st.just(b"{}")),
        ("application/json", json_values.map(lambda v: json.dumps({"token": v, "receipt": v,
                                                                   "region": v}).encode())),
        ("application/json", st.sampled_from([b'{"token": "\\ud800"}', b'{"\\udfff": 1}'])),
        ("application/x-www-form-urlencoded", st.binary(max_size=60)),
        ("multipart/form-data; boundary=x", multipart_bodies),
        ("multipart/form-data", st.binary(max_size=40)),
        (None, st.binary(max_size=40)),
    ]).flatmap(lambda pair: st.tuples(st.just(pair[0]), pair[1])))
    headers = [f"Host: {draw(st.sampled_from(['127.0.0.1:8080', '.pub0.0.1', 'a..b']))}"]
    if content_type:
        headers.append(f"Content-Type: {content_type}")
    headers += [f"{name}: {value}" for name, value in draw(st.dictionaries(
        st.sampled_from(["Accept-Language", "Origin", "Authorization", "Sec-Fetch-Site",
                         "X-Tipdrop-Date"]), header_text, max_size=3)).items()]
    framing = draw(st.sampled_from(["length", "short", "none", "chunked", "broken chunks"]))
    if framing in ("length", "short"):
        headers.append(f"Content-Length: {len(body) + (7 if framing == 'short' else 0)}")
    elif framing != "none":
        headers.append("Transfer-Encoding: chunked")
        cut = draw(st.integers(0, len(body)))
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:cut], body[cut:]) if p)
        body += draw(st.sampled_from([b"zz\r\n", b"5\r\nab\r\n", b"0\r\nX\r\n"])
                     if framing == "broken chunks" else st.just(b"0\r\n\r\n"))
    head = "\r\n".join([f"{method} {path} HTTP/1.1", *headers]).encode("latin-1")
    return head + b"\r\n\r\n" + body


@fuzz(300)
@given(request=raw_requests())
def test_no_raw_request_gets_a_server_error_or_logs_one(http_target, request):
    http_target(request)


# --- lone surrogates from JSON "\udXXX" escapes ------------------------------------------

LONE_SURROGATE = "\ud800"


@pytest.mark.parametrize("path, field", [
    ("/api/v1/tips", "description"),
    ("/api/v1/tips", "contact"),
    ("/api/v1/followups", "text"),
    ("/api/v1/check", "receipt"),
])
def test_a_lone_surrogate_in_a_json_text_field_is_a_clear_400(api, path, field):
    client, _, token = api
    doc = {"region": "astana", "category": "theft", "description": "ok", "token": token,
           "text": "ok"} | {field: f"a{LONE_SURROGATE}b"}
    response = client.post(path, data=json.dumps(doc), content_type="application/json")
    assert response.status_code == 400
    assert_clean_answer(response)


def test_a_lone_surrogate_in_a_reply_bundle_unit_is_refused(signed_bundle, signer):
    doc = json.loads(signed_bundle) | {"unit": LONE_SURROGATE}
    with pytest.raises(TipdropError):
        bundles.verify_reply_bundle(bundles.parse_reply_bundle(json.dumps(doc).encode()),
                                    signer.public.ed25519)


@pytest.fixture(scope="module")
def private_file(signer):
    return keys.private_to_file(signer, "pw", kdf.TEST_PARAMS)


def test_a_lone_surrogate_in_a_private_key_files_created_field_is_refused(private_file):
    doc = json.loads(private_file)
    doc["created"] += LONE_SURROGATE
    with pytest.raises(TipdropError):
        keys.parse_private(json.dumps(doc).encode(), "pw")


def test_a_passphrase_that_is_not_valid_unicode_is_refused(private_file):
    with pytest.raises(TipdropError):
        keys.parse_private(private_file, "pw\udcff")


def test_a_lone_surrogate_in_a_public_key_files_created_field_is_refused(signer):
    doc = json.loads(signer.public.to_json())
    doc["created"] += LONE_SURROGATE
    with pytest.raises(TipdropError):
        keys.parse_public(json.dumps(doc).encode())
