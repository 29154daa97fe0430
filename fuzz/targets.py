"""The fuzz targets: parsers that read bytes an attacker may have written.

Each target takes arbitrary bytes and must either succeed or raise a
:class:`tipdrop.errors.TipdropError`; anything else escaping is a crash.
Plain Python with no atheris, so the corpus maker and tests can import it.

Keys are the fixed test-vector keys of tests/vectors/generate.py (derived
from public labels: they protect nothing), so seeds made from the vectors
decrypt and the fuzzer starts from inputs that reach the deepest code.
"""

import hashlib
import io

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tipdrop import bundles
from tipdrop.crypto import envelope, keys, stream
from tipdrop.errors import TipdropError


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


TARGETS = {
    "envelope": open_envelope,
    "stream": decrypt_stream,
    "reply_bundle": parse_reply_bundle,
    "export": read_export,
}


def run(target, data):
    """Run ``target`` on ``data``: TipdropError is a refusal; any other exception escapes."""
    try:
        TARGETS[target](bytes(data))
    except TipdropError:
        pass
