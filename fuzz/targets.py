"""The fuzz targets: parsers that read bytes an attacker may have written.

Each target takes arbitrary bytes and must either succeed or raise a
:class:`tipdrop.errors.TipdropError`; anything else escaping is a crash.
Plain Python with no atheris, so the corpus maker and tests can import it.

The ``http`` target is the web app as a reporter's phone reaches it: raw
request bytes, parsed by gunicorn's own HTTP parser (chunked framing and
all), served by the app. Any 5xx answer, or any error the app logs, is a
crash (:class:`ServerError`).

Keys are the fixed test-vector keys of tests/vectors/generate.py (derived
from public labels: they protect nothing), so seeds made from the vectors
decrypt and the fuzzer starts from inputs that reach the deepest code.
"""

import atexit
import hashlib
import io
import json
import logging
import shutil
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from gunicorn.config import Config
from gunicorn.http import wsgi as gunicorn_wsgi
from gunicorn.http.errors import NoMoreData, ParseException
from gunicorn.http.parser import RequestParser
from werkzeug.test import run_wsgi_app

from tipdrop.crypto import envelope, kdf, keys, stream
from tipdrop.errors import TipdropError
from tipdrop.protocol import bundles
from tipdrop.server.web import create_app


def _seed(label):
    return hashlib.sha256(label.encode("utf-8")).digest()


UNIT_KEY = keys.UnitPrivateKey(
    "vector-unit",
    X25519PrivateKey.from_private_bytes(_seed("tipdrop test vector vector-unit x25519")),
    Ed25519PrivateKey.from_private_bytes(_seed("tipdrop test vector vector-unit ed25519")),
    "2024-05-01",
)
REPLY_KEY = X25519PrivateKey.from_private_bytes(_seed("tipdrop test vector reply key"))
OPENERS = {"unit": UNIT_KEY.opener, "reply": keys.reply_opener(REPLY_KEY)}

#: (opener, kind, tip id, part): the first input byte picks one (modulo).
ENVELOPE_CONTEXTS = (
    ("unit", "tip", "T-0001", ""),
    ("unit", "tip", "T-0002", ""),
    ("unit", "tip", "T-0003", ""),
    ("unit", "followup", "T-0001", "1"),
    ("unit", "attachment", "T-0001", "photo-1"),
    ("unit", "attachment-info", "T-0001", "photo-1"),
    ("reply", "reply", "T-0001", "1"),
    ("unit", "note", "T-0001", "n1"),
)
STREAM_CONTEXTS = (
    ("unit", "attachment", "T-0001", "file-0"),
    ("unit", "attachment", "T-0001", "file-1"),
    ("unit", "attachment", "T-0001", "file-65537"),
)


def _context(contexts, selector):
    opener, kind, tip_id, part = contexts[selector % len(contexts)]
    return OPENERS[opener], {"kind": kind, "tip_id": tip_id, "part": part}


class _Sink:
    """A file object that only counts, so outputs are never kept."""

    written = 0

    def write(self, data):
        self.written += len(data)
        return len(data)


def open_envelope(data):
    """byte 0: context (ENVELOPE_CONTEXTS); the rest: an envelope."""
    if not data:
        return
    opener, context = _context(ENVELOPE_CONTEXTS, data[0])
    envelope.open_(data[1:], opener, **context)


def decrypt_stream(data):
    """byte 0: context (STREAM_CONTEXTS); the rest: a STREAM ciphertext."""
    if not data:
        return
    opener, context = _context(STREAM_CONTEXTS, data[0])
    stream.decrypt_stream(io.BytesIO(data[1:]), _Sink(), opener, **context)


def parse_reply_bundle(data):
    """A reply bundle's bytes, parsed, then its signatures checked with the unit key."""
    bundle = bundles.parse_reply_bundle(data)
    bundles.verify_reply_bundle(bundle, UNIT_KEY.public.ed25519)


def read_export(data):
    """An export bundle's bytes, read record by record, streams consumed."""
    reader = bundles.ExportReader(io.BytesIO(data))
    sink = _Sink()
    for record in reader:
        if record.kind == bundles.STREAM:
            reader.copy_stream(sink.write)


class ServerError(AssertionError):
    """The app answered with a 5xx or logged an internal error: a crash for the fuzzer."""


class _Socket:
    """The connection as the app sees it: writes ("100 Continue") go nowhere, and the
    read deadline (web/deadlines.py) may set a timeout or shut the receiving side."""

    def send(self, data):
        return len(data)

    sendall = send

    def settimeout(self, timeout):
        pass

    def shutdown(self, how):
        pass


class _ErrorRecords(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


_GUNICORN = Config()
_PEER, _SERVER = ("127.0.0.1", 40000), ("127.0.0.1", 8080)
_served = {}


def _app():
    """One app for the whole run (created at first use), in a folder removed at exit."""
    if not _served:
        root = Path(tempfile.mkdtemp(prefix="tipdrop-fuzz-"))
        atexit.register(shutil.rmtree, root, True)
        keys_dir = root / "keys"
        keys_dir.mkdir()
        (keys_dir / "vector-unit.pub").write_bytes(UNIT_KEY.public.to_json())
        (keys_dir / "routing.json").write_text(
            json.dumps({"version": 1, "regions": {"astana": "vector-unit"}}))
        app = create_app({"data_dir": root / "instance", "keys_dir": keys_dir,
                          "receipt_params": kdf.TEST_PARAMS, "submits_per_hour": 10**9,
                          "checks_per_hour": 10**9, "max_upload_mb": 1})
        errors = _ErrorRecords()
        app.logger.addHandler(errors)
        _served.update(app=app, errors=errors)
    return _served["app"], _served["errors"]


def serve_request(data):
    """Raw HTTP/1.1 request bytes, parsed by gunicorn, answered by the app; returns the status.

    Requests gunicorn refuses itself (a bad request line or header) never
    reach the app and are not the app's to answer.
    """
    try:
        request = next(RequestParser(_GUNICORN, [data], _PEER))
        _, environ = gunicorn_wsgi.create(request, _Socket(), _PEER, _SERVER, _GUNICORN)
    except (ParseException, NoMoreData, StopIteration):
        return None
    app, errors = _app()
    errors.messages.clear()
    _, status, _ = run_wsgi_app(app, environ, buffered=True)
    code = int(status.split()[0])
    if code >= 500 or errors.messages:
        raise ServerError(f"{status}; logged: {errors.messages}")
    return code


TARGETS = {
    "envelope": open_envelope,
    "stream": decrypt_stream,
    "reply_bundle": parse_reply_bundle,
    "export": read_export,
    "http": serve_request,
}


def run(target, data):
    """Run ``target`` on ``data``: TipdropError is a refusal; any other exception escapes."""
    try:
        TARGETS[target](bytes(data))
    except TipdropError:
        pass
