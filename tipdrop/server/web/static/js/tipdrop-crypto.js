// tipdrop's sealing formats (docs/protocol.md sections 1-5) in the browser.
//
// A second implementation of tipdrop/crypto/{canonical,padding,hpke,envelope,stream}.py
// that produces the same bytes, so a page can encrypt before anything leaves the
// reporter's device. Plain script, no build step and no dependencies: it must load
// under the CSP `script-src 'self'`, and every primitive (X25519, HMAC-SHA256,
// AES-256-GCM) is WebCrypto's own. tests/browser/test_js_crypto_vectors.py checks it
// against tests/vectors/ in headless Chromium and opens its output with the Python code.
window.TipdropCrypto = (() => {
  "use strict";

  const subtle = crypto.subtle;
  const VERSION = 1;
  // Kind names and header codes, as in tipdrop/crypto/envelope.py KINDS.
  const KINDS = {
    "tip": 1, "followup": 2, "reply": 3, "attachment": 4, "attachment-info": 5, "note": 6,
  };
  const KEY_ID_LEN = 16;
  const X25519_LEN = 32;
  const CHUNK_SIZE = 64 * 1024;
  const TAG_LEN = 16;
  const HEADER_LEN = 2 + KEY_ID_LEN;
  const STREAM_HEADER_LEN = HEADER_LEN + X25519_LEN + 32 + TAG_LEN;
  const ENVELOPE_MIN_PADDED = 256;
  // WebCrypto imports a raw X25519 private key only as PKCS#8: this DER prefix
  // (RFC 8410) followed by the 32 key bytes.
  const X25519_PKCS8_PREFIX = hexToBytes("302e020100300506032b656e04220420");

  // --- bytes ----------------------------------------------------------------

  function utf8(text) {
    if (typeof text !== "string") throw new TypeError("utf8 expects a string");
    return new TextEncoder().encode(text);
  }

  function bytes(value, what) {
    if (value instanceof Uint8Array) return value;
    if (value instanceof ArrayBuffer) return new Uint8Array(value);
    throw new TypeError(`${what} must be a Uint8Array`);
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  function uint(value, size) {
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    if (size === 2) view.setUint16(0, value);
    else if (size === 4) view.setUint32(0, value);
    else view.setBigUint64(0, BigInt(value));
    return out;
  }

  function hexToBytes(hex) {
    if (typeof hex !== "string" || !/^([0-9a-fA-F]{2})*$/.test(hex)) throw new Error("not hex");
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
    return out;
  }

  function bytesToHex(data) {
    return Array.from(bytes(data, "data"), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function base64ToBytes(text) {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  }

  function bytesToBase64(data) {
    data = bytes(data, "data");
    // btoa takes a "binary string"; build it in slices so large inputs do not
    // overflow the argument limit of String.fromCharCode.
    let binary = "";
    for (let i = 0; i < data.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
    }
    return btoa(binary);
  }

  function base64urlToBytes(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    return base64ToBytes(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  }

  function isAscii(text) {
    return typeof text === "string" && /^[\x00-\x7f]*$/.test(text);
  }

  function checkLength(value, length, what) {
    if (bytes(value, what).length !== length) {
      throw new RangeError(`${what} must be ${length} bytes`);
    }
  }

  function randomBytes(n) {
    return crypto.getRandomValues(new Uint8Array(n));
  }

  // --- 1. canonical encoding ---------------------------------------------------

  function fieldBytes(field) {
    if (field instanceof Uint8Array) return field;
    if (typeof field === "string") return utf8(field);
    const inRange = typeof field === "bigint" ? field >= 0n && field < 1n << 64n
      : typeof field === "number" && Number.isSafeInteger(field) && field >= 0;
    if (inRange) return uint(field, 8);
    if (typeof field === "bigint" || typeof field === "number") {
      throw new RangeError(`integer field out of range: ${field}`);
    }
    // Booleans and objects have no fixed encoding; refuse rather than guess.
    throw new TypeError(`cannot encode field of type ${typeof field}`);
  }

  function canonicalEncode(label, fields) {
    if (!isAscii(label)) throw new TypeError("label must be ASCII");
    const parts = [uint(label.length, 2), utf8(label)];
    for (const field of fields) {
      const data = fieldBytes(field);
      parts.push(uint(data.length, 4), data);
    }
    return concat(...parts);
  }

  // --- 3. padding ----------------------------------------------------------------

  function bitLength(x) {
    let n = 0;
    while (x >= 1) { x = Math.floor(x / 2); n++; }
    return n;
  }

  function padme(x) {
    if (!Number.isSafeInteger(x) || x < 0) throw new RangeError("length must be an integer >= 0");
    if (x < 2) return x;
    const e = bitLength(x) - 1;  // floor(log2 x) without floating-point log
    const z = e - bitLength(e);
    const step = 2 ** z;         // dividing by a power of two is exact
    return Math.ceil(x / step) * step;
  }

  function paddedLength(n, minimum = 0) {
    return padme(Math.max(n + 1, minimum));
  }

  function pad(data, minimum = ENVELOPE_MIN_PADDED) {
    data = bytes(data, "data");
    const out = new Uint8Array(paddedLength(data.length, minimum));
    out.set(data);
    out[data.length] = 0x80;
    return out;
  }

  // --- 2. HPKE (RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM)

  const KEM_ID = 0x0020, KDF_ID = 0x0001, AEAD_ID = 0x0002;
  const AEAD_KEY_LEN = 32, NONCE_LEN = 12, HASH_LEN = 32;
  const KEM_SUITE = concat(utf8("KEM"), uint(KEM_ID, 2));
  const HPKE_SUITE = concat(utf8("HPKE"), uint(KEM_ID, 2), uint(KDF_ID, 2), uint(AEAD_ID, 2));
  const HPKE_V1 = utf8("HPKE-v1");
  const EMPTY = new Uint8Array(0);

  async function hmac(key, data) {
    const k = await subtle.importKey("raw", key, {name: "HMAC", hash: "SHA-256"}, false, ["sign"]);
    return new Uint8Array(await subtle.sign("HMAC", k, data));
  }

  // HPKE's LabeledExtract and LabeledExpand call HKDF-Extract and HKDF-Expand
  // separately, with their own inputs; WebCrypto's HKDF only offers both in one
  // step. So both are written here over HMAC-SHA256, exactly as RFC 5869 §2.2-2.3.
  function hkdfExtract(salt, ikm) {
    // "if not provided, [salt] is set to a string of HashLen zeros"; WebCrypto
    // also refuses an empty HMAC key.
    return hmac(salt.length ? salt : new Uint8Array(HASH_LEN), ikm);
  }

  async function hkdfExpand(prk, info, length) {
    const out = new Uint8Array(length);
    let block = EMPTY;
    for (let i = 1, at = 0; at < length; i++) {
      block = await hmac(prk, concat(block, info, Uint8Array.of(i)));
      out.set(block.subarray(0, length - at), at);
      at += block.length;
    }
    return out;
  }

  function labeledExtract(suite, salt, label, ikm) {
    return hkdfExtract(salt, concat(HPKE_V1, suite, utf8(label), ikm));
  }

  function labeledExpand(suite, prk, label, info, length) {
    return hkdfExpand(prk, concat(uint(length, 2), HPKE_V1, suite, utf8(label), info), length);
  }

  // Returns {privateKey: CryptoKey, enc: raw public bytes}; a given private key
  // is for known-answer tests only, a fresh one is drawn otherwise.
  async function ephemeralKey(ephemeral) {
    const alg = {name: "X25519"};
    if (ephemeral == null) {
      const pair = await subtle.generateKey(alg, false, ["deriveBits"]);
      const enc = new Uint8Array(await subtle.exportKey("raw", pair.publicKey));
      return {privateKey: pair.privateKey, enc};
    }
    checkLength(ephemeral, X25519_LEN, "ephemeral");
    const pkcs8 = concat(X25519_PKCS8_PREFIX, bytes(ephemeral, "ephemeral"));
    const privateKey = await subtle.importKey("pkcs8", pkcs8, alg, true, ["deriveBits"]);
    const jwk = await subtle.exportKey("jwk", privateKey);
    return {privateKey, enc: base64urlToBytes(jwk.x)};
  }

  async function hpkeSeal(plaintext, recipientPublic, info, {ephemeral, aad = EMPTY} = {}) {
    plaintext = bytes(plaintext, "plaintext");
    checkLength(recipientPublic, X25519_LEN, "recipient public key");
    recipientPublic = bytes(recipientPublic, "recipient public key");
    // Encap (RFC 9180 §4.1): both public keys enter the KEM context.
    const {privateKey, enc} = await ephemeralKey(ephemeral);
    const pkR = await subtle.importKey("raw", recipientPublic, {name: "X25519"}, true, []);
    const dh = await subtle.deriveBits({name: "X25519", public: pkR}, privateKey, 256);
    const eaePrk = await labeledExtract(KEM_SUITE, EMPTY, "eae_prk", new Uint8Array(dh));
    const kemContext = concat(enc, recipientPublic);
    const shared = await labeledExpand(KEM_SUITE, eaePrk, "shared_secret", kemContext, 32);
    // KeySchedule (§5.1), mode base: no PSK.
    const pskIdHash = await labeledExtract(HPKE_SUITE, EMPTY, "psk_id_hash", EMPTY);
    const infoHash = await labeledExtract(HPKE_SUITE, EMPTY, "info_hash", bytes(info, "info"));
    const context = concat(Uint8Array.of(0), pskIdHash, infoHash);
    const secret = await labeledExtract(HPKE_SUITE, shared, "secret", EMPTY);
    const key = await labeledExpand(HPKE_SUITE, secret, "key", context, AEAD_KEY_LEN);
    const nonce = await labeledExpand(HPKE_SUITE, secret, "base_nonce", context, NONCE_LEN);
    // Sequence number 0: the nonce is base_nonce itself.
    const ct = await aesGcm(key, nonce, plaintext, bytes(aad, "aad"));
    return concat(enc, ct);
  }

  async function aesGcm(key, nonce, plaintext, aad = EMPTY) {
    if (!(key instanceof CryptoKey)) {
      key = await subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
    }
    const params = {name: "AES-GCM", iv: nonce, additionalData: aad};
    return new Uint8Array(await subtle.encrypt(params, key, plaintext));
  }

  // --- 4. envelope ---------------------------------------------------------------

  function checkRecipient(recipient) {
    checkLength(recipient.keyId, KEY_ID_LEN, "keyId");
    checkLength(recipient.x25519, X25519_LEN, "x25519");
  }

  function contextInfo(label, kind, tipId, part, keyId) {
    // Same limits as envelope.check_context: the server would refuse anything else.
    for (const [name, value] of [["tip id", tipId], ["part", part]]) {
      if (!isAscii(value) || value.length > 64) {
        throw new TypeError(`${name} must be ASCII text of at most 64 characters`);
      }
    }
    if (!tipId) throw new TypeError("tip id must not be empty");
    return canonicalEncode(label, [VERSION, kind, tipId, part, keyId]);
  }

  function header(kind, keyId) {
    if (!Object.hasOwn(KINDS, kind)) throw new TypeError(`unknown ciphertext kind ${kind}`);
    return concat(Uint8Array.of(VERSION, KINDS[kind]), keyId);
  }

  async function sealEnvelope(plaintext, recipient, {kind, tipId, part = "", ephemeral} = {}) {
    checkRecipient(recipient);
    const head = header(kind, recipient.keyId);
    const info = contextInfo("tipdrop/v1/envelope", kind, tipId, part, recipient.keyId);
    const padded = pad(plaintext, ENVELOPE_MIN_PADDED);
    const sealed = await hpkeSeal(padded, recipient.x25519, info, {ephemeral});
    return concat(head, sealed);
  }

  // --- 5. stream -----------------------------------------------------------------

  const READ_SIZE = 16 * CHUNK_SIZE;

  function streamLength(n) {
    const padded = paddedLength(n, 0);
    return STREAM_HEADER_LEN + padded + TAG_LEN * Math.ceil(padded / CHUNK_SIZE);
  }

  function chunkNonce(counter, last) {
    // u88(counter) || flag; a counter below 2^53 fits in the low 8 of the 11 bytes.
    const nonce = new Uint8Array(NONCE_LEN);
    new DataView(nonce.buffer).setBigUint64(3, BigInt(counter));
    nonce[11] = last ? 1 : 0;
    return nonce;
  }

  // Yields the header with the sealed payload key, then one sealed chunk at a
  // time. The Blob is read READ_SIZE bytes at a time (each File.slice read has a
  // fixed cost that dominates at 64 KiB: bench/browser_crypto.py), so memory
  // stays at about 1 MiB whatever the file size. The padding (0x80, then zeros)
  // is not materialised: it is written into the chunks it falls in, which may
  // be one more chunk after the data when the data fills its last chunk.
  async function* encryptStream(blob, recipient, {tipId, part = "", payloadKey, ephemeral} = {}) {
    if (!(blob instanceof Blob)) throw new TypeError("encryptStream reads a Blob or File");
    checkRecipient(recipient);
    const kind = "attachment";
    const head = header(kind, recipient.keyId);
    const info = contextInfo("tipdrop/v1/stream", kind, tipId, part, recipient.keyId);
    payloadKey = payloadKey == null ? randomBytes(32) : bytes(payloadKey, "payloadKey");
    checkLength(payloadKey, 32, "payloadKey");
    const sealedKey = await hpkeSeal(payloadKey, recipient.x25519, info, {ephemeral});
    const key = await subtle.importKey("raw", payloadKey, "AES-GCM", false, ["encrypt"]);
    yield concat(head, sealedKey);

    const n = blob.size;
    const total = paddedLength(n, 0);
    const chunks = Math.ceil(total / CHUNK_SIZE);  // at least 1: total >= 1
    let buffer = null;
    let bufferStart = 0;
    for (let i = 0; i < chunks; i++) {
      const start = i * CHUNK_SIZE;
      const end = Math.min(start + CHUNK_SIZE, total);
      const chunk = new Uint8Array(end - start);
      if (start < n) {
        const stop = Math.min(end, n);
        if (buffer === null || stop > bufferStart + buffer.length) {
          // READ_SIZE is a multiple of CHUNK_SIZE, so a chunk never spans two reads.
          const readEnd = Math.min(n, start + READ_SIZE);
          buffer = new Uint8Array(await blob.slice(start, readEnd).arrayBuffer());
          bufferStart = start;
          if (buffer.length !== readEnd - start) throw new Error("the file changed while it was read");
        }
        chunk.set(buffer.subarray(start - bufferStart, stop - bufferStart));
      }
      if (n >= start && n < end) chunk[n - start] = 0x80;
      yield await aesGcm(key, chunkNonce(i, i === chunks - 1), chunk);
    }
  }

  // A unit's key document (the .pub format, protocol.md section 6) as a
  // recipient, refusing one whose key id does not match its keys.
  async function recipientFromDocument(key) {
    if (!key || key.tipdrop !== "unit-public-key" || key.version !== 1
        || typeof key.unit !== "string" || typeof key.key_id !== "string") {
      throw new Error("not a unit key document");
    }
    const x25519 = base64ToBytes(key.x25519);
    const ed25519 = base64ToBytes(key.ed25519);
    checkLength(x25519, X25519_LEN, "x25519");
    checkLength(ed25519, 32, "ed25519");
    const encoded = canonicalEncode("tipdrop/v1/key-id", [key.unit, x25519, ed25519]);
    const digest = new Uint8Array(await subtle.digest("SHA-256", encoded));
    if (bytesToHex(digest.slice(0, KEY_ID_LEN)) !== key.key_id) {
      throw new Error("the key document's key id does not match its keys");
    }
    return { keyId: hexToBytes(key.key_id), x25519 };
  }

  // What a report lists for one attachment (protocol.md section 14): SHA-256
  // (hex) of its attachment-info envelope and of its stream's 98-byte header.
  async function attachmentDigest(infoEnvelope, streamHeader) {
    const head = bytes(streamHeader, "streamHeader");
    if (head.length < STREAM_HEADER_LEN) throw new Error("a stream header is incomplete");
    const sha = async (data) => bytesToHex(new Uint8Array(await subtle.digest("SHA-256", data)));
    return { info: await sha(bytes(infoEnvelope, "infoEnvelope")),
             stream_header: await sha(head.subarray(0, STREAM_HEADER_LEN)) };
  }

  return Object.freeze({
    canonicalEncode, padme, pad, paddedLength, hpkeSeal, sealEnvelope, streamLength, encryptStream,
    attachmentDigest, recipientFromDocument,
    hexToBytes, bytesToHex, base64ToBytes, bytesToBase64, utf8, KINDS: Object.freeze({...KINDS}),
  });
})();
