"""tipdrop-crypto.js in a real Chromium: the vectors byte for byte, and Python opens its output.

The script is loaded by URL from a page of the real server, so it also proves
the file is served and runs under the app's CSP (`script-src 'self'`).
Bytes cross between Python and the page as hex or base64 strings.
"""

import base64
import hashlib
import io
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tests.browser.conftest import collect_errors
from tests.serving import start_server
from tipdrop.crypto import canonical, envelope, padding, stream

pytestmark = pytest.mark.e2e

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
SCRIPT = "/static/js/tipdrop-crypto.js"


def _vectors(name):
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def _b64(data):
    return base64.b64encode(data).decode("ascii")


@pytest.fixture(scope="module")
def js(browser, tmp_path_factory):
    """``js.run(function_source, arg)`` in a page of the real server with the script loaded."""
    server = start_server(tmp_path_factory.mktemp("server"))
    context = browser.new_context()
    page = context.new_page()
    errors = collect_errors(page)
    base = f"http://127.0.0.1:{server.port}"
    page.goto(f"{base}/")
    page.add_script_tag(url=f"{base}{SCRIPT}")

    def run(source, arg=None):
        result = page.evaluate(source, arg)
        assert errors == []
        return result

    yield SimpleNamespace(run=run, page=page)
    context.close()
    server.stop()


def _public(private_hex):
    private = X25519PrivateKey.from_private_bytes(bytes.fromhex(private_hex))
    return private.public_key().public_bytes_raw().hex()


def _recipient_arg(recipient):
    return {"keyId": recipient.key_id.hex(), "x25519": recipient.x25519.public_bytes_raw().hex()}


# Builds a Blob from base64 (or from the vectors' rule "byte i is i mod 251"),
# encrypts it, and returns the whole stream as base64 plus each piece's length.
ENCRYPT_STREAM = """async ({data, length, recipient, tipId, part, payloadKey, ephemeral}) => {
  const T = TipdropCrypto, h = T.hexToBytes;
  const bytes = data === undefined
    ? Uint8Array.from({length}, (_, i) => i % 251) : T.base64ToBytes(data);
  const options = {tipId, part};
  if (payloadKey) options.payloadKey = h(payloadKey);
  if (ephemeral) options.ephemeral = h(ephemeral);
  const pieces = [];
  for await (const piece of T.encryptStream(new Blob([bytes]), {keyId: h(recipient.keyId),
      x25519: h(recipient.x25519)}, options)) pieces.push(piece);
  return {stream: T.bytesToBase64(new Uint8Array(await new Blob(pieces).arrayBuffer())),
          pieces: pieces.map((p) => p.length), expectedLength: T.streamLength(bytes.length)};
}"""


def test_hpke_seal_reproduces_rfc9180_vectors_for_aes_256_gcm(js):
    vectors = [v for v in _vectors("hpke-rfc9180.json")["vectors"]
               if (v["kem_id"], v["kdf_id"], v["aead_id"]) == (0x20, 1, 2)]
    assert vectors
    sealed = js.run("""async (vectors) => {
      const T = TipdropCrypto, h = T.hexToBytes;
      const out = [];
      for (const v of vectors) {
        out.push(T.bytesToHex(await T.hpkeSeal(h(v.pt), h(v.pkRm), h(v.info),
                                               {ephemeral: h(v.skEm), aad: h(v.aad)})));
      }
      return out;
    }""", vectors)
    assert sealed == [v["enc"] + v["ct"] for v in vectors]


def test_padme_and_padded_lengths_match_the_padding_vectors(js):
    doc = _vectors("padding.json")
    got = js.run("""(doc) => ({
      padme: doc.padme.map(([n]) => TipdropCrypto.padme(n)),
      padded: doc.padded_length.map(([n, m]) => TipdropCrypto.paddedLength(n, m)),
    })""", doc)
    assert got["padme"] == [expected for _, expected in doc["padme"]]
    assert got["padded"] == [expected for _, _, expected in doc["padded_length"]]


@pytest.mark.parametrize("minimum", [0, padding.MIN_PADDED_LEN])
def test_pad_appends_a_marker_and_zeros_like_python(js, minimum):
    lengths = [0, 1, 9, 255, 256, 300, 5000]
    padded = js.run("""({lengths, minimum}) => lengths.map((n) => TipdropCrypto.bytesToHex(
      TipdropCrypto.pad(Uint8Array.from({length: n}, (_, i) => 1 + i % 200), minimum)))""",
                    {"lengths": lengths, "minimum": minimum})
    assert padded == [padding.pad(bytes(1 + i % 200 for i in range(n)), minimum).hex()
                      for n in lengths]


def test_envelopes_reproduce_the_vectors_byte_for_byte(js):
    vectors = _vectors("envelope.json")["vectors"]
    args = [{"plaintext": v["plaintext"], "keyId": v["key_id"],
             "x25519": _public(v["x25519_private"]), "kind": v["kind"], "tipId": v["tip_id"],
             "part": v["part"], "ephemeral": v["ephemeral_private"]} for v in vectors]
    got = js.run("""async (vectors) => {
      const T = TipdropCrypto, h = T.hexToBytes;
      const out = [];
      for (const v of vectors) {
        const recipient = {keyId: h(v.keyId), x25519: h(v.x25519)};
        const sealed = await T.sealEnvelope(h(v.plaintext), recipient,
          {kind: v.kind, tipId: v.tipId, part: v.part, ephemeral: h(v.ephemeral)});
        const info = T.canonicalEncode("tipdrop/v1/envelope",
                                       [1, v.kind, v.tipId, v.part, h(v.keyId)]);
        out.push({envelope: T.bytesToHex(sealed), info: T.bytesToHex(info)});
      }
      return out;
    }""", args)
    assert [g["info"] for g in got] == [v["info"] for v in vectors]
    assert [g["envelope"] for g in got] == [v["envelope"] for v in vectors]


@pytest.mark.parametrize("vector", _vectors("stream.json")["vectors"],
                         ids=lambda v: f"{v['data']['length']}-bytes")
def test_streams_reproduce_the_vectors_byte_for_byte(js, vector):
    got = js.run(ENCRYPT_STREAM, {
        "length": vector["data"]["length"],
        "recipient": {"keyId": vector["key_id"], "x25519": _public(vector["x25519_private"])},
        "tipId": vector["tip_id"], "part": vector["part"],
        "payloadKey": vector["payload_key"], "ephemeral": vector["ephemeral_private"],
    })
    ciphertext = base64.b64decode(got["stream"])
    assert len(ciphertext) == vector["ciphertext_length"] == got["expectedLength"]
    assert hashlib.sha256(ciphertext).hexdigest() == vector["ciphertext_sha256"]
    assert ciphertext[: stream.HEADER_LEN].hex() == vector["header"]
    if "ciphertext" in vector:
        assert ciphertext.hex() == vector["ciphertext"]
    body = ciphertext[stream.HEADER_LEN :]
    # The generator yields the header, then exactly one piece per sealed chunk.
    assert got["pieces"] == [stream.HEADER_LEN] + [c["length"] for c in vector["chunks"]]
    at = 0
    for chunk in vector["chunks"]:
        sealed = body[at : at + chunk["length"]]
        assert hashlib.sha256(sealed).hexdigest() == chunk["sha256"]
        if "hex" in chunk:
            assert sealed.hex() == chunk["hex"]
        else:
            assert sealed[:64].hex() == chunk["head"]
            assert sealed[-16:].hex() == chunk["tag"]
        at += chunk["length"]
    assert at == len(body)


@pytest.mark.parametrize(("kind", "plaintext"), [
    ("tip", "Драка у входа, пр. Абая 44 — около 22:00.".encode()),
    ("followup", b""),
    ("attachment-info", b'{"name": "clip.mp4", "type": "video/mp4"}' * 20),
])
def test_envelopes_sealed_in_the_browser_open_with_python(js, recipient, opener, kind, plaintext):
    sealed = js.run("""async ({plaintext, recipient, kind}) => {
      const T = TipdropCrypto, h = T.hexToBytes;
      const to = {keyId: h(recipient.keyId), x25519: h(recipient.x25519)};
      const options = {kind, tipId: "T-0042", part: "2"};
      const once = await T.sealEnvelope(T.base64ToBytes(plaintext), to, options);
      const twice = await T.sealEnvelope(T.base64ToBytes(plaintext), to, options);
      return [T.bytesToBase64(once), T.bytesToBase64(twice)];
    }""", {"plaintext": _b64(plaintext), "recipient": _recipient_arg(recipient), "kind": kind})
    once, twice = (base64.b64decode(s) for s in sealed)
    # A fresh ephemeral key every time: the same report never seals to the same bytes.
    assert once != twice
    for sealed in (once, twice):
        assert envelope.open_(sealed, opener, kind=kind, tip_id="T-0042", part="2") == plaintext


@pytest.mark.parametrize("length", [0, 65535, 65536, 200 * 1024, (1 << 20) + 3],
                         ids=["empty", "padding-ends-a-chunk", "padding-in-a-chunk-of-its-own",
                              "200-KiB", "across-a-1-MiB-read"])
def test_streams_encrypted_in_the_browser_decrypt_with_python(js, recipient, opener, length):
    data = os.urandom(length)
    got = js.run(ENCRYPT_STREAM, {"data": _b64(data), "recipient": _recipient_arg(recipient),
                                  "tipId": "T-0042", "part": "a1"})
    ciphertext = base64.b64decode(got["stream"])
    assert len(ciphertext) == got["expectedLength"] == stream.ciphertext_length(length)
    out = io.BytesIO()
    assert stream.decrypt_stream(io.BytesIO(ciphertext), out, opener, kind="attachment",
                                 tip_id="T-0042", part="a1") == length
    assert out.getvalue() == data


def test_a_stream_reads_the_file_1_mib_at_a_time_and_yields_one_chunk_at_a_time(js, recipient):
    # Given a 2.2 MiB Blob whose slice() is watched
    got = js.run("""async (recipient) => {
      const T = TipdropCrypto, h = T.hexToBytes;
      const blob = new Blob([new Uint8Array(2 * 1024 * 1024 + 200 * 1024)]);
      const sliced = [];
      const slice = Blob.prototype.slice;
      blob.slice = function (start, end) {
        sliced.push(end - start);
        return slice.call(this, start, end);
      };
      // When it is encrypted piece by piece
      const pieces = [];
      for await (const piece of T.encryptStream(blob, {keyId: h(recipient.keyId),
          x25519: h(recipient.x25519)}, {tipId: "T-1"})) pieces.push(piece.length);
      return {sliced, pieces};
    }""", _recipient_arg(recipient))
    # Then the file is read in 1 MiB slices (memory stays bounded whatever
    # its size) and no piece is larger than one chunk (plus its tag)
    size = 2 * 1024 * 1024 + 200 * 1024
    assert got["sliced"] == [1 << 20, 1 << 20, 200 * 1024]
    padded = padding.padded_length(size)
    full, last = divmod(padded, 65536)
    assert got["pieces"] == [stream.HEADER_LEN] + [65552] * full + ([last + 16] if last else [])
    assert sum(got["pieces"]) == stream.ciphertext_length(size)


def test_canonical_encoding_reproduces_the_signing_vectors(js):
    vectors = _vectors("signing.json")["vectors"]
    got = js.run("""(vectors) => vectors.map((v) => {
      const T = TipdropCrypto;
      const fields = v.fields.map(
        (f) => "bytes" in f ? T.hexToBytes(f.bytes) : "int" in f ? f.int : f.str);
      return T.bytesToHex(T.canonicalEncode(v.label, fields));
    })""", vectors)
    assert got == [v["encoding"] for v in vectors]


def test_canonical_encoding_takes_bigint_up_to_u64_max(js):
    got = js.run("""() => TipdropCrypto.bytesToHex(
      TipdropCrypto.canonicalEncode("x", [2n ** 64n - 1n, 0n]))""")
    assert got == canonical.encode("x", 2**64 - 1, 0).hex()


@pytest.mark.parametrize("field", ["true", "-1", "2 ** 53", "2n ** 64n", "1.5", "null", "[1]"])
def test_canonical_encoding_refuses_fields_without_a_fixed_encoding(js, field):
    error = js.run(f"""() => {{
      try {{ TipdropCrypto.canonicalEncode("x", [{field}]); return null; }}
      catch (e) {{ return e.name; }}
    }}""")
    assert error in ("TypeError", "RangeError")


@pytest.mark.parametrize("options", [
    {"kind": "nonsense", "tipId": "T-1"},
    {"kind": "tip", "tipId": ""},
    {"kind": "tip", "tipId": "T-ä"},
    {"kind": "tip", "tipId": "T-1", "part": "p" * 65},
    {"kind": "tip", "tipId": "T-1", "keyId": "00" * 15},
    {"kind": "tip", "tipId": "T-1", "ephemeral": "00" * 31},
])
def test_sealing_refuses_a_bad_context_or_key(js, recipient, options):
    arg = {"recipient": _recipient_arg(recipient), **options}
    error = js.run("""async ({recipient, kind, tipId, part, keyId, ephemeral}) => {
      const T = TipdropCrypto, h = T.hexToBytes;
      const to = {keyId: h(keyId || recipient.keyId), x25519: h(recipient.x25519)};
      const options = {kind, tipId, part: part || ""};
      if (ephemeral) options.ephemeral = h(ephemeral);
      try { await T.sealEnvelope(T.utf8("report"), to, options); return null; }
      catch (e) { return e.name; }
    }""", arg)
    assert error in ("TypeError", "RangeError")


def test_attachment_digests_reproduce_the_binding_vectors(js):
    for case in _vectors("binding.json")["attachment_digests"]:
        digest = js.run("""async ({info, header}) => TipdropCrypto.attachmentDigest(
            TipdropCrypto.hexToBytes(info), TipdropCrypto.hexToBytes(header))""",
                        {"info": case["info_envelope"], "header": case["stream_header"]})
        assert digest == case["digest"]


def test_page_js_reads_a_typed_receipt_as_the_protocol_does(js):
    # page.js (loaded by every reporter page) normalises the code typed to
    # confirm a receipt was saved; it must forgive what receipts.parse forgives,
    # Kazakh and Russian look-alike letters included (receipts.json vectors).
    vectors = _vectors("receipts.json")["normalisation"]
    js.page.wait_for_function("() => window.TipdropPage !== undefined")
    got = js.run("(typed) => typed.map((text) => window.TipdropPage.normalise(text))",
                 [vector["typed"] for vector in vectors])
    assert got == [vector["formatted"].replace("-", "") for vector in vectors]
