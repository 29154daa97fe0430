"""(Re)write tipdrop's own known-answer vectors in tests/vectors/.

Files: envelope.json, stream.json, keyfile.json, signing.json, padding.json, kdf.json,
officer_request.json, export_ack.json, binding.json, receipt_keys.json, records.json,
page_link.json, backup.json, keyslots.json, audit.json, export_ack_compact.json, uploads.json,
alerts.json, puzzle.json.

Run from the repository root:

    .venv/bin/python tests/vectors/generate.py

Every key, ephemeral key, payload key, salt and nonce comes from a fixed seed
(SHA-256 of a label), and the internal ``_...`` helpers take them as
parameters, so the output is the same on every run. HPKE sealing with a
fixed ephemeral key is the test-only rfc9180.py beside this script (tipdrop
itself seals with the library, which draws its own). The unit tests never call
this script: they check that the code still reproduces the frozen files. Only
regenerate on purpose (a deliberate format change, which also bumps the
format version and docs/protocol.md), and review the diff.

These vectors are produced by tipdrop itself, not by an independent
implementation; the HPKE layer underneath is checked against RFC 9180's own
vectors (hpke-rfc9180.json).
"""

import base64
import hashlib
import io
import json
import unicodedata
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from rfc9180 import envelope_with_ephemeral, stream_encryptor

from tipdrop.crypto import (
    canonical,
    chain,
    envelope,
    kdf,
    keys,
    keyslots,
    padding,
    signing,
    stream,
)

HERE = Path(__file__).resolve().parent
CREATED = "2024-05-01"

#: Ciphertexts (and stream chunks) up to this size are stored in full hex;
#: larger ones as SHA-256 + length, plus their first bytes and tag.
FULL_HEX_LIMIT = 2048
CHUNK_FULL_HEX_LIMIT = 16 * 1024
HEAD_LEN = 64


def seed(label):
    """32 fixed bytes named by ``label``."""
    return hashlib.sha256(label.encode("utf-8")).digest()


def pattern(length):
    """The deterministic data used for long plaintexts: byte i is i mod 251."""
    block = bytes(range(251))
    return (block * (length // 251 + 1))[:length]


def unit_key(unit):
    """A unit key pair from fixed seeds."""
    return keys.UnitPrivateKey(
        unit,
        X25519PrivateKey.from_private_bytes(seed(f"tipdrop test vector {unit} x25519")),
        Ed25519PrivateKey.from_private_bytes(seed(f"tipdrop test vector {unit} ed25519")),
        CREATED,
    )


def ephemeral(label):
    return X25519PrivateKey.from_private_bytes(seed(f"tipdrop test vector ephemeral {label}"))


def x_raw(private):
    return private.private_bytes_raw().hex()


def write(name, doc):
    path = HERE / name
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(HERE.parents[1])}")


# --- envelope ------------------------------------------------------------------


def envelope_vectors():
    unit = unit_key("vector-unit")
    reply_key = X25519PrivateKey.from_private_bytes(seed("tipdrop test vector reply key"))
    cases = [
        ("tip", "T-0001", "", b"Stolen bicycles are sold behind the station."),
        ("tip", "T-0002", "", b""),
        ("tip", "T-0003", "", pattern(300)),
        ("followup", "T-0001", "1", b"The seller came back on Tuesday, around noon."),
        ("attachment", "T-0001", "photo-1", pattern(5000)),
        ("attachment-info", "T-0001", "photo-1", b'{"name": "shed.jpg", "type": "image/jpeg"}'),
        ("reply", "T-0001", "1", b"Thank you. Can you tell us what the seller wore?"),
        ("note", "T-0001", "n1", b"Called the station guard: matches the description."),
    ]
    entries = []
    for number, (kind, tip_id, part, plaintext) in enumerate(cases):
        eph = ephemeral(f"envelope {number}")
        if kind == "reply":
            # Replies go to the reporter's reply key (derived from the receipt), not a unit key.
            recipient = keys.reply_recipient(reply_key.public_key().public_bytes_raw())
            key_fields = {
                "recipient": "reply-key",
                "unit": None,
                "x25519_private": x_raw(reply_key),
                "ed25519_private": None,
            }
        else:
            recipient = unit.public.recipient
            key_fields = {
                "recipient": "unit",
                "unit": unit.unit,
                "x25519_private": x_raw(unit.x25519),
                "ed25519_private": unit.ed25519.private_bytes_raw().hex(),
            }
        sealed = envelope_with_ephemeral(
            plaintext, recipient, eph, kind=kind, tip_id=tip_id, part=part
        )
        entries.append(
            {
                **key_fields,
                "key_id": recipient.key_id.hex(),
                "kind": kind,
                "tip_id": tip_id,
                "part": part,
                "plaintext": plaintext.hex(),
                "ephemeral_private": x_raw(eph),
                "info": envelope.context_info(
                    "tipdrop/v1/envelope", kind, tip_id, part, recipient.key_id
                ).hex(),
                "envelope": sealed.hex(),
            }
        )
    return {
        "description": (
            "Sealed envelopes (docs/protocol.md, section 'Envelope'): version | kind | key id | "
            "HPKE enc | AES-256-GCM ciphertext of the Padme-padded plaintext, with HPKE info = "
            "canonical('tipdrop/v1/envelope', version, kind, tip id, part, key id). Produced by "
            "tipdrop itself (tests/vectors/generate.py) from fixed keys and ephemeral keys; "
            f"unit keys are dated {CREATED}. 'recipient' is 'unit' (key id from unit name and "
            "both public keys) or 'reply-key' (a reporter's reply key: key id from the X25519 "
            "key alone)."
        ),
        "created": CREATED,
        "vectors": entries,
    }


# --- stream --------------------------------------------------------------------


def _chunks(body):
    return [body[i : i + stream.SEALED_CHUNK] for i in range(0, len(body), stream.SEALED_CHUNK)]


def _chunk_entry(chunk):
    entry = {"length": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest()}
    if len(chunk) <= CHUNK_FULL_HEX_LIMIT:
        entry["hex"] = chunk.hex()
    else:
        entry["head"] = chunk[:HEAD_LEN].hex()
        entry["tag"] = chunk[-stream.TAG_LEN :].hex()
    return entry


def stream_vectors():
    unit = unit_key("vector-unit")
    entries = []
    for length in (0, 1, 65535, 65536, 65537, 140000):
        data = pattern(length)
        payload_key = seed(f"tipdrop test vector payload key {length}")
        eph = ephemeral(f"stream {length}")
        part = f"file-{length}"
        out = io.BytesIO()
        with stream_encryptor(
            out,
            unit.public.recipient,
            kind="attachment",
            tip_id="T-0001",
            part=part,
            payload_key=payload_key,
            ephemeral=eph,
        ) as enc:
            enc.write(data)
        ciphertext = out.getvalue()
        entry = {
            "unit": unit.unit,
            "x25519_private": x_raw(unit.x25519),
            "ed25519_private": unit.ed25519.private_bytes_raw().hex(),
            "key_id": unit.key_id.hex(),
            "kind": "attachment",
            "tip_id": "T-0001",
            "part": part,
            "data": {
                "rule": "byte i is i mod 251",
                "length": length,
                "sha256": hashlib.sha256(data).hexdigest(),
            },
            "payload_key": payload_key.hex(),
            "ephemeral_private": x_raw(eph),
            "ciphertext_length": len(ciphertext),
            "ciphertext_sha256": hashlib.sha256(ciphertext).hexdigest(),
            "header": ciphertext[: stream.HEADER_LEN].hex(),
            "chunks": [_chunk_entry(c) for c in _chunks(ciphertext[stream.HEADER_LEN :])],
        }
        if len(ciphertext) < FULL_HEX_LIMIT:
            entry["ciphertext"] = ciphertext.hex()
        entries.append(entry)
    return {
        "description": (
            "STREAM ciphertexts (docs/protocol.md, section 'Stream'): version | kind | key id | "
            "HPKE-sealed 32-byte payload key (info = canonical('tipdrop/v1/stream', version, "
            "kind, tip id, part, key id)) | 64 KiB AES-256-GCM chunks of the Padme-padded data, "
            "nonce = 11-byte big-endian counter | last-chunk flag. Produced by tipdrop itself "
            "(tests/vectors/generate.py) from a fixed unit key, payload keys and ephemeral "
            "keys. The data is given by its rule (byte i is i mod 251), length and SHA-256. "
            f"Ciphertexts under {FULL_HEX_LIMIT} bytes are given in full; otherwise by SHA-256 "
            "and length, the header in full, and per chunk its length and SHA-256, in full hex "
            f"if at most {CHUNK_FULL_HEX_LIMIT} bytes, else its first {HEAD_LEN} bytes and its "
            "tag."
        ),
        "chunk_size": stream.CHUNK_SIZE,
        "vectors": entries,
    }


# --- key files -----------------------------------------------------------------


#: A passphrase with accents, stored decomposed (NFD) in the vector file.
CREME = "Cr\u00e8me br\u00fbl\u00e9e"


def keyfile_vectors():
    entries = []
    cases = [
        ("vector-unit", "correct horse", kdf.TEST_PARAMS, "test"),
        # Given in NFD (decomposed accents): the file must open with NFC input too.
        ("second-unit", unicodedata.normalize("NFD", CREME), kdf.TEST_PARAMS, "test"),
        ("vector-unit", "correct horse", kdf.KEY_FILE_PARAMS, "real"),
    ]
    for number, (unit_name, passphrase, params, which) in enumerate(cases):
        unit = unit_key(unit_name)
        salt = seed(f"tipdrop test vector key file salt {number}")[: kdf.SALT_LEN]
        nonce = seed(f"tipdrop test vector key file nonce {number}")[:12]
        private_file = keys._private_to_file(unit, passphrase, params, salt=salt, nonce=nonce)
        public = unit.public
        entries.append(
            {
                "params_name": which,
                "unit": unit.unit,
                "created": unit.created,
                "x25519_private": x_raw(unit.x25519),
                "ed25519_private": unit.ed25519.private_bytes_raw().hex(),
                "passphrase": passphrase,
                "passphrase_utf8": passphrase.encode("utf-8").hex(),
                "kdf_params": params.as_dict(),
                "salt": salt.hex(),
                "nonce": nonce.hex(),
                "wrapping_key": kdf.key_file_wrapping_key(
                    unicodedata.normalize("NFC", passphrase).encode("utf-8"), salt, params
                ).hex(),
                "key_id": public.key_id.hex(),
                "fingerprint": public.fingerprint.hex(),
                "fingerprint_formatted": keys.format_fingerprint(public.fingerprint),
                "private_file": private_file.decode("ascii"),
                "public_file": public.to_json().decode("ascii"),
            }
        )
    return {
        "description": (
            "Unit key files (docs/protocol.md, section 'Key files'): the public file (.pub) and "
            "the private file (.key, keys wrapped with AES-256-GCM under an Argon2id+HKDF key "
            "from the NFC-normalised UTF-8 passphrase; the header fields are the associated "
            "data). Produced by tipdrop itself (tests/vectors/generate.py) from fixed keys, "
            "salts and nonces. params_name 'test' uses the cheap unit-test Argon2 parameters, "
            "'real' the key-file parameters the application uses (slow: ~1 s, 256 MiB)."
        ),
        "vectors": entries,
    }


# --- signatures ----------------------------------------------------------------


def _field_json(field):
    if isinstance(field, bytes):
        return {"bytes": field.hex()}
    if isinstance(field, int):
        return {"int": field}
    return {"str": field}


def signing_vectors():
    unit = unit_key("vector-unit")
    reply_envelope_hash = hashlib.sha256(b"a reply envelope").digest()
    body_hash = hashlib.sha256(b'{"tip": "T-0001", "status": "closed"}').digest()
    cases = [
        ("tipdrop/v1/reply", ["T-0001", 1, reply_envelope_hash]),
        ("tipdrop/v1/reply", ["T-0001", 2, b""]),
        ("tipdrop/v1/status", ["T-0001", 3, "in-progress"]),
        ("tipdrop/v1/status", ["T-0002", 1, "closed", "Gendarmerie \u00e9quipe 7"]),
        (
            "tipdrop/v1/request",
            ["POST", "/api/officer/replies", 1714557600, seed("request nonce")[:16], body_hash],
        ),
        ("tipdrop/v1/request", ["GET", "/api/officer/tips", 1714557601, b"\x00" * 16, b""]),
    ]
    entries = []
    for label, fields in cases:
        entries.append(
            {
                "label": label,
                "fields": [_field_json(f) for f in fields],
                "encoding": canonical.encode(label, *fields).hex(),
                "signature": signing.sign(unit.ed25519, label, *fields).hex(),
            }
        )
    return {
        "description": (
            "Ed25519 signatures over canonical encodings (docs/protocol.md, sections 'Canonical "
            "encoding' and 'Signatures'): encoding = u16 label length | label | (u32 length | "
            "field)*, str as UTF-8, int as 8-byte big-endian. Produced by tipdrop itself "
            "(tests/vectors/generate.py); Ed25519 is deterministic, so the signatures are exact."
        ),
        "ed25519_private": unit.ed25519.private_bytes_raw().hex(),
        "ed25519_public": unit.ed25519.public_key().public_bytes_raw().hex(),
        "vectors": entries,
    }


# --- padding -------------------------------------------------------------------


def padding_vectors():
    lengths = list(range(0, 20)) + [
        31, 32, 33, 63, 64, 65, 100, 255, 256, 257, 511, 512, 513, 1000, 1023, 1024,
        1025, 4096, 4097, 5000, 65535, 65536, 65537, 140000, 10**6, 10**9, 2**30 + 1,
    ]
    return {
        "description": (
            "Padme bucket sizes (docs/protocol.md, section 'Padding'): padme(n), and "
            "padded_length(n, minimum) = padme(max(n + 1, minimum)), the length of n data bytes "
            f"followed by 0x80 and zeros. Envelopes use minimum = {padding.MIN_PADDED_LEN}, "
            "streams minimum = 0. Produced by tipdrop itself (tests/vectors/generate.py)."
        ),
        "min_padded_len": padding.MIN_PADDED_LEN,
        "padme": [[n, padding.padme(n)] for n in lengths],
        "padded_length": [
            [n, minimum, padding.padded_length(n, minimum)]
            for n in lengths
            for minimum in (0, padding.MIN_PADDED_LEN)
        ],
    }


# --- key derivation ------------------------------------------------------------


def kdf_vectors():
    receipt_cases = [
        (b"\x00" * 12, kdf.TEST_PARAMS, "test"),
        (seed("receipt secret 1")[:12], kdf.TEST_PARAMS, "test"),
        (seed("receipt secret 2")[:12], kdf.RECEIPT_PARAMS, "receipt"),
    ]
    receipt_entries = []
    for number, (secret, params, which) in enumerate(receipt_cases):
        salt = seed(f"tipdrop test vector receipt salt {number}")[: kdf.SALT_LEN]
        derived = kdf.receipt_keys(secret, salt, params)
        receipt_entries.append(
            {
                "params_name": which,
                "secret": secret.hex(),
                "salt": salt.hex(),
                "params": params.as_dict(),
                "argon2id": kdf.argon2id(secret, salt, params).hex(),
                "verifier": derived.verifier.hex(),
                "reply_private": derived.reply_key.private_bytes_raw().hex(),
                "reply_public": derived.reply_public.hex(),
            }
        )
    wrap_entries = []
    for number, passphrase in enumerate([b"correct horse", "pass\u00e9".encode("utf-8")]):
        salt = seed(f"tipdrop test vector wrap salt {number}")[: kdf.SALT_LEN]
        wrap_entries.append(
            {
                "params_name": "test",
                "passphrase": passphrase.hex(),
                "salt": salt.hex(),
                "params": kdf.TEST_PARAMS.as_dict(),
                "key": kdf.key_file_wrapping_key(passphrase, salt, kdf.TEST_PARAMS).hex(),
            }
        )
    return {
        "description": (
            "Key derivation (docs/protocol.md, section 'Key derivation'): Argon2id (version "
            "0x13, 32-byte output) over a receipt secret, then HKDF-Expand-SHA256 under "
            "'tipdrop/v1/receipt/verifier' and 'tipdrop/v1/receipt/reply-key' (the latter is an "
            "X25519 private key); and the key-file wrapping key, HKDF-Expand under "
            "'tipdrop/v1/key-file/wrap'. Produced by tipdrop itself (tests/vectors/generate.py). "
            "params_name 'test' is the cheap unit-test profile, 'receipt' the server's profile."
        ),
        "receipt_keys": receipt_entries,
        "key_file_wrapping_key": wrap_entries,
    }


# --- officer API requests ----------------------------------------------------------


def officer_request_vectors():
    from tipdrop.protocol import officer_auth

    unit = unit_key("vector-unit")
    reply_bundle = b'{"format": "tipdrop-replies", "version": 1}\n'
    cases = [
        ("GET", "/officer/v1/export?since_start=0", b"", 1764345600),
        ("GET", "/tipdrop/officer/v1/export?since_start=1", b"", 1764345601),
        ("POST", "/officer/v1/replies", reply_bundle, 1764345602),
    ]
    entries = []
    for number, (method, target, body, timestamp) in enumerate(cases):
        nonce = seed(f"tipdrop test vector request nonce {number}")[: officer_auth.NONCE_LEN]
        headers = officer_auth._sign_request_at(
            unit.ed25519, unit.unit, unit.key_id, method, target, body,
            timestamp=timestamp, nonce=nonce,
        )
        fields = officer_auth.request_fields(unit.unit, unit.key_id, method, target, timestamp,
                                             nonce, hashlib.sha256(body).digest())
        entries.append(
            {
                "method": method,
                "target": target,
                "body": body.hex(),
                "body_sha256": hashlib.sha256(body).hexdigest(),
                "timestamp": timestamp,
                "nonce": nonce.hex(),
                "encoding": canonical.encode(officer_auth.LABEL, *fields).hex(),
                "signature": base64.b64decode(headers[officer_auth.SIGNATURE]).hex(),
                "headers": headers,
            }
        )
    return {
        "description": (
            "Signed officer API requests (docs/protocol.md, section 'Officer API requests'): "
            "Ed25519 over canonical('tipdrop/v1/request', u64 1, unit, key id (16 bytes), "
            "method, target (path and query as sent), u64 timestamp, nonce (16 bytes), "
            "SHA-256(body)), sent in the headers Tipdrop-Unit, Tipdrop-Key-Id (hex), "
            "Tipdrop-Timestamp (decimal seconds), Tipdrop-Nonce (hex) and Tipdrop-Signature "
            "(base64). Produced by tipdrop itself (tests/vectors/generate.py) from a fixed unit "
            "key and fixed nonces; Ed25519 is deterministic, so the signatures are exact."
        ),
        "unit": unit.unit,
        "created": unit.created,
        "x25519_private": x_raw(unit.x25519),
        "ed25519_private": unit.ed25519.private_bytes_raw().hex(),
        "ed25519_public": unit.ed25519.public_key().public_bytes_raw().hex(),
        "key_id": unit.key_id.hex(),
        "window_seconds": 300,
        "vectors": entries,
    }


# --- export acknowledgements -------------------------------------------------------


def export_ack_vectors():
    from tipdrop.protocol import acks

    unit = unit_key("vector-unit")
    tip_a, tip_b = seed("ack tip a")[:16].hex(), seed("ack tip b")[:16].hex()
    cases = [
        (1, [tip_a], [], []),
        (4, [tip_b, tip_a], [(tip_a, 2), (tip_a, 1), (tip_b, 1)], [(tip_b, "a10"), (tip_b, "a2")]),
        (7, [], [(tip_a, 3)], []),
    ]
    entries = []
    for export_seq, tips, followups, attachments in cases:
        ack = acks.sign_ack(unit.ed25519, unit.unit, unit.key_id, export_seq=export_seq,
                            tips=tips, followups=followups, attachments=attachments)
        fields = acks.ack_fields(ack.unit, ack.key_id, ack.export_seq, ack.tips, ack.followups,
                                 ack.attachments)
        entries.append(
            {
                "export_seq": export_seq,
                "tips": list(ack.tips),
                "followups": [list(f) for f in ack.followups],
                "attachments": [list(a) for a in ack.attachments],
                "encoding": canonical.encode(acks.LABEL, *fields).hex(),
                "signature": ack.signature.hex(),
                "file": acks.dumps(ack).decode("ascii"),
            }
        )
    return {
        "description": (
            "Export acknowledgements (docs/protocol.md, section 'Export acknowledgements'): "
            "Ed25519 over canonical('tipdrop/v1/export-ack', u64 1, unit, key id (16 bytes), "
            "u64 export_seq, u64 number of tips, tip id..., u64 number of follow-ups, "
            "(tip id, u64 seq)..., u64 number of attachments, (tip id, part)...), each list "
            "sorted and without repeats; the file is the JSON given. Produced by tipdrop "
            "itself (tests/vectors/generate.py) from a fixed unit key; Ed25519 is "
            "deterministic, so the signatures are exact."
        ),
        "unit": unit.unit,
        "created": unit.created,
        "ed25519_private": unit.ed25519.private_bytes_raw().hex(),
        "ed25519_public": unit.ed25519.public_key().public_bytes_raw().hex(),
        "key_id": unit.key_id.hex(),
        "vectors": entries,
    }


def compact_ack_vectors():
    from tipdrop.protocol import acks

    unit = unit_key("vector-unit")
    tip_a, tip_b = seed("ack tip a")[:16].hex(), seed("ack tip b")[:16].hex()
    cases = [
        ("first export", 1, acks.GENESIS,
         {"tips": [tip_a], "followups": [], "attachments": [(tip_a, "a1")]}, {}),
        ("second export, one follow-up not held", 2, None,
         {"tips": [tip_b], "followups": [(tip_a, 1), (tip_b, 2)], "attachments": []},
         {"except_followups": [(tip_b, 2)]}),
    ]
    entries, previous, chains = [], None, []
    for name, export_seq, first_previous, items, excepted in cases:
        previous = first_previous if first_previous is not None else previous
        export_id = seed(f"export id {export_seq}")[:16]
        digest = acks.items_digest(items["tips"], items["followups"], items["attachments"])
        chain = acks.chain_link(previous, unit.unit, export_seq, export_id, digest)
        chains.append(chain)
        ranges = [(1, export_seq, chain)]
        ack = acks.sign_range_ack(unit.ed25519, unit.unit, unit.key_id, ranges=ranges,
                                  **excepted)
        fields = acks.range_ack_fields(ack.unit, ack.key_id, ack.ranges, ack.except_tips,
                                       ack.except_followups, ack.except_attachments)
        entries.append({
            "name": name, "export_seq": export_seq, "export_id": export_id.hex(),
            "previous_chain": previous.hex(),
            "items": {"tips": items["tips"], "followups": [list(f) for f in items["followups"]],
                      "attachments": [list(a) for a in items["attachments"]]},
            "items_encoding": acks.items_encoding(items["tips"], items["followups"],
                                                  items["attachments"]).hex(),
            "items_digest": digest.hex(), "chain": chain.hex(),
            "ranges": [[first, last, value.hex()] for first, last, value in ack.ranges],
            "except_tips": list(ack.except_tips),
            "except_followups": [list(f) for f in ack.except_followups],
            "except_attachments": [list(a) for a in ack.except_attachments],
            "encoding": canonical.encode(acks.LABEL_V2, *fields).hex(),
            "signature": ack.signature.hex(),
            "file": acks.dumps(ack).decode("ascii"),
        })
        previous = chain
    return {
        "description": (
            "Compact export acknowledgements and the export chain (docs/protocol.md, section "
            "'Compact acknowledgements'): items digest = SHA-256(canonical("
            "'tipdrop/v1/export-items', u64 n, tip id..., u64 m, (tip id, u64 seq)..., u64 k, "
            "(tip id, part)...)); chain = SHA-256(canonical('tipdrop/v1/export-chain', unit, "
            "u64 export_seq, export id (16 bytes), items digest (32 bytes), previous chain "
            "(32 bytes, zeros before the first))); signature = Ed25519 over canonical("
            "'tipdrop/v2/export-ack', u64 2, unit, key id (16 bytes), u64 number of runs, "
            "(u64 first, u64 last, chain of last (32 bytes))..., then the not-held lists "
            "encoded as in version 1). The second entry's run covers both exports."
        ),
        "unit": unit.unit,
        "ed25519_private": unit.ed25519.private_bytes_raw().hex(),
        "ed25519_public": unit.ed25519.public_key().public_bytes_raw().hex(),
        "key_id": unit.key_id.hex(),
        "vectors": entries,
    }


# --- binding files and follow-ups to the report (protocol.md section 14) -----------------


def binding_vectors():
    from tipdrop.protocol import binding, documents

    unit = unit_key("vector-unit")
    recipient = unit.public.recipient
    key_entries = []
    for number, secret in enumerate(["0123456789ABCDEFGH", "ZZZZZZZZZZZZZZZZZZ"]):
        salt = seed(f"tipdrop test vector followup salt {number}")[: kdf.SALT_LEN]
        derived = kdf.receipt_keys(secret.encode("ascii"), salt, kdf.TEST_PARAMS, followup=True)
        key_entries.append({
            "params_name": "test", "secret_ascii": secret, "salt": salt.hex(),
            "params": kdf.TEST_PARAMS.as_dict(),
            "argon2id": kdf.argon2id(secret.encode("ascii"), salt, kdf.TEST_PARAMS).hex(),
            "followup_seed": derived.followup_key.private_bytes_raw().hex(),
            "followup_public": derived.followup_public.hex(),
            "reply_public": derived.reply_public.hex(),
        })
    tip_id = seed("tipdrop test vector binding tip")[:16].hex()
    digest_entries, digests = [], {}
    for n, data in enumerate([b"", pattern(70000)], start=1):
        part = f"a{n}"
        info = envelope_with_ephemeral(
            documents.attachment_info_document(name=f"file{n}.bin",
                                            content_type="application/octet-stream",
                                            size=len(data)),
            recipient, ephemeral(f"binding info {n}"), kind="attachment-info", tip_id=tip_id,
            part=part)
        out = io.BytesIO()
        encryptor = stream_encryptor(
            out, recipient, kind="attachment", tip_id=tip_id, part=part,
            payload_key=seed(f"tipdrop test vector binding payload {n}"),
            ephemeral=ephemeral(f"binding stream {n}"))
        encryptor.close()
        digests[part] = binding.attachment_digest(info, encryptor.header)
        digest_entries.append({"part": part, "info_envelope": info.hex(),
                               "stream_header": encryptor.header.hex(),
                               "digest": digests[part]})
    signer = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(key_entries[0]["followup_seed"]))
    report = documents.report_document(
        tip_id=tip_id, region="almaty", category="theft", description="Test report.",
        parts=list(digests), digests=digests,
        followup_public=bytes.fromhex(key_entries[0]["followup_public"]),
        reply_public=bytes.fromhex(key_entries[0]["reply_public"]), sealed_by="device")
    signature_entries = []
    for seq, text in [(1, "The car was blue."), (2, "Машина")]:
        signature = binding.sign_followup(signer, tip_id=tip_id, seq=seq, text=text)
        signature_entries.append({
            "followup_seed": key_entries[0]["followup_seed"], "tip_id": tip_id, "seq": seq,
            "text": text,
            "encoding": canonical.encode(binding.FOLLOWUP_LABEL, 1, tip_id, seq, text).hex(),
            "signature": signature.hex(),
            "document": json.loads(documents.followup_document(text, signature, "device")),
        })
    return {
        "description": (
            "Binding a report's files and follow-ups (docs/protocol.md section 14). "
            "followup_keys: Argon2id over the receipt's secret_ascii as in section 8, then "
            "HKDF-Expand-SHA256 under 'tipdrop/v1/receipt/followup-key' gives the 32-byte "
            "Ed25519 seed of the follow-up key. attachment_digests: SHA-256 (hex) of the "
            "attachment-info envelope and of the stream's first 98 bytes. report: a report "
            "document binding those files, carrying the first follow-up key and the same "
            "receipt's reply public key (reply_public, the X25519 half of section 8, also "
            "given hex in followup_keys), and saying it was sealed on the device "
            "(sealed_by). "
            "followup_signatures: Ed25519 by the follow-up key over encode('tipdrop/v1/"
            "followup', u64(1), tip_id, u64(seq), text), and the follow-up document carrying "
            "it. Produced by tipdrop itself (tests/vectors/generate.py)."
        ),
        "followup_keys": key_entries,
        "attachment_digests": digest_entries,
        "report": json.loads(report),
        "followup_signatures": signature_entries,
    }


# --- receipt codes to receipt keys (sections 7, 8 and 6) ---------------------------


def receipt_key_vectors():
    """From the text a reporter types to the server's verifier and the reply key pair."""
    from tipdrop.protocol import receipts

    cases = [
        ("typed in lower case with spaces", "01va bekm hpct xy30 1vab ekm9", kdf.TEST_PARAMS,
         "test"),
        ("Cyrillic and Latin look-alikes, no separators",
         "\u041e\u0406UA-BEKM-HPCT-XY3o-luAB-EKM9", kdf.TEST_PARAMS, "test"),
        ("the server's profile", receipts._from_values(
            [v % 32 for v in seed("receipt code for receipt_keys.json")[:23]]).formatted,
         kdf.RECEIPT_PARAMS, "receipt"),
    ]
    entries = []
    for number, (comment, typed, params, which) in enumerate(cases):
        receipt = receipts.parse(typed)
        salt = seed(f"tipdrop test vector receipt code salt {number}")[: kdf.SALT_LEN]
        derived = kdf.receipt_keys(receipt.secret_bytes, salt, params)
        reply = keys.reply_recipient(derived.reply_public)
        entries.append(
            {
                "comment": comment,
                "typed": typed,
                "formatted": receipt.formatted,
                "locator": receipt.locator,
                "secret_ascii": receipt.secret,
                "params_name": which,
                "salt": salt.hex(),
                "params": params.as_dict(),
                "argon2id": kdf.argon2id(receipt.secret_bytes, salt, params).hex(),
                "verifier": derived.verifier.hex(),
                "reply_private": derived.reply_key.private_bytes_raw().hex(),
                "reply_public": derived.reply_public.hex(),
                "reply_key_id": reply.key_id.hex(),
            }
        )
    return {
        "description": (
            "From a receipt code as typed to what the server stores and the reporter's reply "
            "key (docs/protocol.md sections 7, 8 and 6): parse and normalise the text "
            "(section 7) to the canonical code; secret_ascii is its 18 secret symbols (after "
            "the 5-symbol locator, before the check symbol) as ASCII upper case; master = "
            "Argon2id version 0x13 (secret_ascii, salt, time_cost, memory_cost_kib, "
            "parallelism, 32 bytes, no secret key, no associated data); verifier and reply "
            "seed = HKDF-Expand-SHA256(master, label, 32) under 'tipdrop/v1/receipt/verifier' "
            "and 'tipdrop/v1/receipt/reply-key'; reply_private is the seed as an X25519 "
            "private key (clamped when used, RFC 7748), reply_public its public key, "
            "reply_key_id the first 16 bytes of SHA-256(canonical('tipdrop/v1/key-id', '', "
            "reply_public, '')). Produced by tipdrop itself (tests/vectors/generate.py). "
            "params_name 'test' is the cheap unit-test profile, 'receipt' the server's."
        ),
        "vectors": entries,
    }


# --- the signed records of sections 11 and 12, as sent ---------------------------------


def _record_entry(label, fields, **shown):
    return {
        **shown,
        "label": label,
        "fields": [_field_json(f) for f in fields],
        "encoding": canonical.encode(label, *fields).hex(),
    }


def record_vectors():
    """Replies and reply bundles exactly as the workstation signs and sends them."""
    from tipdrop.protocol import bundles

    unit = unit_key("vector-unit")
    tip_id = seed("records tip")[:16].hex()
    reporter = X25519PrivateKey.from_private_bytes(seed("tipdrop test vector records reply key"))
    reply_public = reporter.public_key().public_bytes_raw()
    message = "\u0421\u043f\u0430\u0441\u0438\u0431\u043e. Which entrance?"
    body = envelope_with_ephemeral(
        message.encode("utf-8"), keys.reply_recipient(reply_public), ephemeral("records r1"),
        kind="reply", tip_id=tip_id, part="r1")
    replies = [
        bundles.sign_reply(unit.ed25519, unit.unit, unit.key_id, tip_id=tip_id, seq=1,
                           day="2026-11-28", status="need-info", body=body),
        bundles.sign_reply(unit.ed25519, unit.unit, unit.key_id, tip_id=tip_id, seq=2,
                           day="2026-11-29", status="in-review", body=b""),
    ]
    entries = []
    for reply in replies:
        fields = bundles.reply_fields(unit.unit, unit.key_id, reply)
        entries.append(_record_entry(
            "tipdrop/v1/reply", fields, record="reply",
            json={"tip_id": reply.tip_id, "seq": reply.seq, "day": reply.day,
                  "status": reply.status, "body": bundles.b64(reply.body),
                  "signature": bundles.b64(reply.signature)},
            signature=reply.signature.hex()))
    created_day = "2026-11-29"
    bundle_fields = bundles._bundle_fields(unit.unit, unit.key_id, created_day, replies)
    file = bundles.make_reply_bundle(unit.ed25519, unit.unit, unit.key_id, created_day, replies)
    entries.append(_record_entry(
        "tipdrop/v1/bundle", bundle_fields, record="reply bundle",
        signature=bundles.parse_reply_bundle(file).signature.hex(),
        file=file.decode("ascii")))
    return {
        "description": (
            "The signed records of docs/protocol.md section 11 exactly as tipdrop signs and "
            "sends them: two replies (one with a message sealed to the reporter's reply key, "
            "one a status change with an empty body) and the reply bundle that carries them. "
            "Each gives the label, the fields in order (key_id as its 16 raw bytes, body as "
            "the raw envelope, each reply signature as its 64 raw bytes in the bundle's), the "
            "canonical encoding and the Ed25519 signature; the bundle entry gives the whole "
            "file (UTF-8 JSON: key_id as 32 hex digits, body and signatures as base64 with "
            "padding). Export acknowledgements are in export_ack.json, officer API requests "
            "in officer_request.json. Produced by tipdrop itself (tests/vectors/generate.py) "
            "from a fixed unit key, reply key and ephemeral key; Ed25519 is deterministic."
        ),
        "unit": unit.unit,
        "created": unit.created,
        "x25519_private": x_raw(unit.x25519),
        "ed25519_private": unit.ed25519.private_bytes_raw().hex(),
        "ed25519_public": unit.ed25519.public_key().public_bytes_raw().hex(),
        "key_id": unit.key_id.hex(),
        "reply_key_private": x_raw(reporter),
        "reply_key_public": reply_public.hex(),
        "reply_ephemeral_private": x_raw(ephemeral("records r1")),
        "tip_id": tip_id,
        "message": message,
        "vectors": entries,
    }


# --- forwards (protocol.md section 11a) -----------------------------------------------


def forward_vectors():
    """A tip forwarded from one unit to another, exactly as the workstation seals and signs it."""
    from tipdrop.protocol import binding, bundles, documents, forwards

    sender = unit_key("vector-unit")
    target = unit_key("vector-north")
    tip_id = seed("forward tip")[:16].hex()
    to = target.public.recipient

    def sealed(document, kind, part):
        return envelope_with_ephemeral(document, to, ephemeral(f"forward {kind} {part}"),
                                       kind=kind, tip_id=tip_id, part=part)

    info = sealed(documents.attachment_info_document(name="photo.jpg", content_type="image/jpeg",
                                                  size=300), "attachment-info", "a1")
    out = io.BytesIO()
    with stream_encryptor(out, to, kind="attachment", tip_id=tip_id, part="a1",
                          payload_key=seed("tipdrop test vector forward payload key"),
                          ephemeral=ephemeral("forward stream a1")) as enc:
        enc.write(pattern(300))
    stream_bytes = out.getvalue()
    report = sealed(documents.report_document(
        tip_id=tip_id, region="astana", category="theft", description="Forwarded report.",
        parts=["a1"], digests={"a1": binding.attachment_digest(info, stream_bytes)}),
        "tip", "")
    followup = sealed(documents.followup_document("One more detail."), "followup", "f1")
    draft = forwards.Forward(
        tip_id, target.unit, target.key_id, "2026-12-01", report,
        (forwards.FollowupCopy(1, "2026-11-30", "server", followup),),
        (forwards.AttachmentCopy("a1", info, stream_bytes),))
    forward = forwards.sign_forward(sender.ed25519, sender.unit, sender.key_id, draft)
    fields = forwards.forward_fields(sender.unit, sender.key_id, forward)
    created_day = "2026-12-01"
    file = bundles.make_reply_bundle(sender.ed25519, sender.unit, sender.key_id, created_day,
                                     [], [forward])
    bundle_fields = bundles._bundle_fields(sender.unit, sender.key_id, created_day, [],
                                           [forward])
    return {
        "description": (
            "A forward (docs/protocol.md section 11a): unit vector-unit hands tip tip_id, "
            "its report, one follow-up and one attachment, sealed again to unit "
            "vector-north's key, to that unit, in a reply bundle with no replies. The "
            "forward entry gives the label, the fields in order (key ids as 16 raw bytes, "
            "SHA-256 digests as 32 raw bytes), the canonical encoding, the Ed25519 "
            "signature and the digest the server keeps to recognise it again; the bundle "
            "entry gives its fields and the whole file. The sealed items are made with "
            "fixed ephemeral keys (rfc9180.py); the report binds the attachment "
            "(binding.json). Produced by tests/vectors/generate.py."
        ),
        "from_unit": sender.unit,
        "from_ed25519_private": sender.ed25519.private_bytes_raw().hex(),
        "from_ed25519_public": sender.ed25519.public_key().public_bytes_raw().hex(),
        "from_key_id": sender.key_id.hex(),
        "to_unit": target.unit,
        "to_x25519_private": x_raw(target.x25519),
        "to_key_id": target.key_id.hex(),
        "tip_id": tip_id,
        "vectors": [
            _record_entry(forwards.LABEL, fields, record="forward",
                          json=forwards.to_json(forward), signature=forward.signature.hex(),
                          digest=forwards.digest(sender.unit, sender.key_id, forward).hex()),
            _record_entry("tipdrop/v1/bundle", bundle_fields, record="reply bundle",
                          signature=bundles.parse_reply_bundle(file).signature.hex(),
                          file=file.decode("ascii")),
        ],
    }


# --- page links (protocol.md section 15) ---------------------------------------------


def page_link_vectors():
    from tipdrop.crypto import pagelink

    entries = []
    for n, (purpose, payload) in enumerate([
        ("receipt", {"receipt": "NG9Q-QN1E-K73T-PK5B-71CM-0FKW", "encrypted_on": "server"}),
        ("status", {"receipt": "NG9Q-QN1E-K73T-PK5B-71CM-0FKW"}),
    ]):
        key, nonce = seed(f"page link key {n}"), seed(f"page link nonce {n}")[:pagelink.NONCE_LEN]
        link_id = seed(f"page link id {n}")[:16].hex()
        plaintext = json.dumps(payload).encode()
        sealed = pagelink._seal_with_nonce(plaintext, key, nonce, purpose=purpose, link_id=link_id)
        entries.append({
            "purpose": purpose, "link_id": link_id, "key": key.hex(), "nonce": nonce.hex(),
            "plaintext": plaintext.decode(),
            "aad": canonical.encode(pagelink.LABEL, purpose, link_id).hex(),
            "sealed": sealed.hex(),
        })
    return {
        "description": (
            "Page links (docs/protocol.md section 15): u8 version 1 || 12-byte nonce || "
            "ChaCha20-Poly1305(key, nonce, plaintext, aad = canonical('tipdrop/v1/page-link', "
            "purpose, link id)). Produced by tipdrop itself (tests/vectors/generate.py) from "
            "fixed keys and nonces."
        ),
        "vectors": entries,
    }


# --- backups -------------------------------------------------------------------


def backup_archive(created):
    """A small archive in the record format of docs/protocol.md section 16."""
    import struct

    from tipdrop.server import backup

    def name(text):
        return struct.pack(">H", len(text)) + text.encode()

    header = backup._archive_header(created)
    sql = "CREATE TABLE notes (id TEXT PRIMARY KEY, n INTEGER, x REAL, body BLOB)"
    records = [
        bytes([backup.SQL]) + struct.pack(">I", len(sql)) + sql.encode(),
        bytes([backup.TABLE]) + name("notes") + b"\x01" + struct.pack(">H", 4)
        + name("id") + name("n") + name("x") + name("body"),
        bytes([backup.ROW]) + backup._value(1) + backup._value("T-0001") + backup._value(-7)
        + backup._value(0.5) + backup._value(b"\x00\xff ciphertext"),
        bytes([backup.ROW]) + backup._value(2) + backup._value("T-0002") + backup._value(None)
        + backup._value(None) + backup._value(None),
        bytes([backup.FILE]) + name("token-secret") + struct.pack(">Q", 32) + seed("token secret"),
    ]
    return (struct.pack(">I", len(header)) + header + b"".join(records)
            + bytes([backup.END]) + struct.pack(">Q", len(records)))


def backup_vectors():
    from tipdrop.crypto import backupkey
    from tipdrop.server import backup

    created = "2024-05-01T04:00:00Z"
    private = backupkey.BackupPrivateKey(
        X25519PrivateKey.from_private_bytes(seed("tipdrop test vector backup x25519")), created)
    archive = backup_archive(created)
    payload_key = seed("tipdrop test vector backup payload key")
    eph = ephemeral("backup")
    out = io.BytesIO()
    out.write(backup.MAGIC + created.encode("ascii"))
    with stream_encryptor(out, private.public.recipient, kind="backup", tip_id="backup",
                          part=created, payload_key=payload_key, ephemeral=eph) as enc:
        enc.write(archive)
    salt, nonce = seed("backup key file salt")[:kdf.SALT_LEN], seed("backup key file nonce")[:12]
    key_file = backupkey._private_to_file(private, CREME, kdf.TEST_PARAMS, salt=salt, nonce=nonce)
    return {
        "description": (
            "Backups (docs/protocol.md section 16): 'TDBACKUP' || created (20 ASCII bytes) || "
            "STREAM (section 5) of kind backup (0x07), tip id 'backup', part = created, sealed "
            "to the backup key; its plaintext is the archive of records given here in full. "
            "The backup key files (public and passphrase-wrapped private, Argon2id test "
            "parameters) are given too. Produced by tipdrop itself (tests/vectors/generate.py) "
            "from a fixed key, payload key and ephemeral key."
        ),
        "vectors": [{
            "created": created,
            "x25519_private": x_raw(private.x25519),
            "key_id": private.public.key_id.hex(),
            "public_key_file": private.public.to_json().decode(),
            "private_key_file": key_file.decode(),
            "passphrase": unicodedata.normalize("NFD", CREME),
            "archive": archive.hex(),
            "payload_key": payload_key.hex(),
            "ephemeral_private": x_raw(eph),
            "backup": out.getvalue().hex(),
            "rows": [[1, "T-0001", -7, 0.5, "00ff2063697068657274657874"],
                     [2, "T-0002", None, None, None]],
        }],
    }


# --- questions and answers (protocol.md section 13) ----------------------------------


#: One category's questions in the categories file's format: every kind.
QUESTIONNAIRE = [
    {"id": "plate", "kind": "text", "required": False, "max_length": 20,
     "label": {"kk": "Көліктің мемлекеттік нөмірі", "ru": "Госномер автомобиля", "en": "Number plate"}},
    {"id": "place", "kind": "choice", "required": True,
     "label": {"kk": "Бұл қай жерде болып жатыр?", "ru": "Где это происходит?", "en": "Where does it happen?"},
     "options": [
         {"id": "street", "label": {"kk": "Көшеде немесе аулада", "ru": "На улице или во дворе", "en": "In the street or a yard"}},
         {"id": "school", "label": {"kk": "Мектептің немесе колледждің маңында", "ru": "Возле школы или колледжа", "en": "Near a school or college"}}]},
    {"id": "ongoing", "kind": "yes-no", "required": False,
     "label": {"kk": "Бұл қазір де жалғасып жатыр ма?", "ru": "Это продолжается сейчас?", "en": "Is it still going on?"}},
    {"id": "day", "kind": "date", "required": False,
     "label": {"kk": "Бұл қай күні болды?", "ru": "В какой день это произошло?", "en": "On what day did it happen?"}},
]


def questionnaire_vectors():
    from tipdrop.protocol import documents, questions

    unit = unit_key("vector-unit")
    asked = questions.parse_questions(QUESTIONNAIRE, "vector")
    cases = [
        ("kk", {"plate": " 123 ABC 02 ", "place": "school", "ongoing": "yes", "day": "2024-02-29"}),
        ("ru", {"place": "street", "ongoing": "no", "plate": ""}),
        ("en", {"place": "school", "day": "2024-05-01"}),
    ]
    entries = []
    for n, (lang, values) in enumerate(cases):
        tip_id = seed(f"tipdrop test vector questionnaire tip {n}")[:16].hex()
        answers = questions.answers_document(asked, values, lang)
        document = documents.report_document(tip_id=tip_id, region="almaty", category="drugs",
                                          description="Test report.", language=lang,
                                          answers=answers)
        eph = ephemeral(f"questionnaire {n}")
        sealed = envelope_with_ephemeral(document, unit.public.recipient, eph, kind="tip",
                                         tip_id=tip_id, part="")
        entries.append({"language": lang, "values": values, "answers": answers,
                        "tip_id": tip_id, "document": document.hex(),
                        "x25519_private": x_raw(unit.x25519),
                        "key_id": unit.public.recipient.key_id.hex(),
                        "ephemeral_private": x_raw(eph), "envelope": sealed.hex()})
    refused = [
        ("a required question unanswered", {"ongoing": "yes"}),
        ("an option not in the list", {"place": "garage"}),
        ("yes-no answered otherwise", {"place": "street", "ongoing": "maybe"}),
        ("not a real day", {"place": "street", "day": "2023-02-29"}),
        ("not written YYYY-MM-DD", {"place": "street", "day": "29.02.2024"}),
        ("a text longer than its max_length", {"place": "street", "plate": "X" * 21}),
    ]
    return {
        "description": (
            "A category's questions and the report's answers (docs/protocol.md section 13). "
            "questions: one category's questions in the categories file's format "
            "(GET /api/v1/categories). vectors: what the reporter typed or chose (values), "
            "the answers list made from them in the report's language (answered questions "
            "only, in the questions' order, text trimmed; a choice or yes-no answer also "
            "carries its option's label), the report document as tipdrop/protocol/device.py writes it "
            "(UTF-8 hex) and that document sealed as a 'tip' envelope to the vector unit "
            "(envelope.json's key) with a fixed ephemeral key. refused: values a reporter's "
            "device and the server must refuse. Produced by tipdrop itself "
            "(tests/vectors/generate.py)."
        ),
        "questions": QUESTIONNAIRE,
        "vectors": entries,
        "refused": [{"why": why, "values": values} for why, values in refused],
    }


def keyslot_vectors():
    """Version 2 key files: one unit key under named slots (docs/protocol.md section 6)."""
    entries = []
    cases = [
        ("vector-unit", [("aigerim", "correct horse"), ("daniyar", CREME)], kdf.TEST_PARAMS),
        ("second-unit", [("shared", "correct horse")], kdf.TEST_PARAMS),
    ]
    for number, (unit_name, slots, params) in enumerate(cases):
        unit = unit_key(unit_name)
        made = []
        for index, (name, passphrase) in enumerate(slots):
            fixed = {"salt": seed(f"tipdrop test vector key slot salt {number}.{index}")[:16],
                     "nonce": seed(f"tipdrop test vector key slot nonce {number}.{index}")[:12]}
            made.append((name, passphrase, params, fixed))
        private_file = keyslots._to_file(unit, made)
        entries.append({
            "unit": unit.unit,
            "created": unit.created,
            "x25519_private": x_raw(unit.x25519),
            "ed25519_private": unit.ed25519.private_bytes_raw().hex(),
            "key_id": unit.public.key_id.hex(),
            "kdf_params": params.as_dict(),
            "slots": [{
                "name": name,
                "passphrase": passphrase,
                "salt": fixed["salt"].hex(),
                "nonce": fixed["nonce"].hex(),
                "wrapping_key": kdf.key_slot_wrapping_key(
                    unicodedata.normalize("NFC", passphrase).encode("utf-8"), fixed["salt"],
                    params).hex(),
            } for name, passphrase, params, fixed in made],
            "private_file": private_file.decode("ascii"),
        })
    return {
        "description": (
            "Key files with unlock slots (docs/protocol.md section 6, 'Key files with slots'): "
            "version 2 private key files where each named slot wraps the same unit keys with "
            "AES-256-GCM under an Argon2id+HKDF key from that officer's NFC-normalised UTF-8 "
            "passphrase; the header, the public keys and the slot's name and parameters are "
            "the associated data. Produced by tipdrop itself from fixed keys, salts and nonces, "
            "with the cheap unit-test Argon2 parameters."
        ),
        "vectors": entries,
    }


def audit_vectors():
    """An audit log of three entries and its head (docs/protocol.md section 17)."""
    unit = unit_key("vector-unit")
    key = chain.audit_key(unit)
    key_id = unit.public.key_id.hex()
    tip = "00112233445566778899aabbccddeeff"
    steps = [
        ("2026-12-06T03:00:00Z", "aigerim", "unlock", "", {"keys": 1}),
        ("2026-12-06T03:00:01Z", "aigerim", "show", tip, {}),
        ("2026-12-06T03:00:05Z", "daniyar", "status", tip, {"seq": 1, "status": "in-progress"}),
    ]
    prev = chain.GENESIS
    entries = []
    for seq, (time, officer, action, tip_id, info) in enumerate(steps, 1):
        text = json.dumps(info, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        digest = chain.entry_hash(prev, seq, time, officer, action, tip_id, text, key_id)
        entries.append({
            "seq": seq, "time": time, "officer": officer, "action": action,
            "tip": tip_id or None, "info": info, "key_id": key_id, "prev": prev.hex(),
            "hash": digest.hex(), "mac": chain.entry_mac(key, unit.unit, digest).hex(),
            "info_text": text,
        })
        prev = digest
    return {
        "description": (
            "The workstation's audit log (docs/protocol.md section 17): each entry's SHA-256 "
            "hash over the previous hash and its fields, its HMAC-SHA256 under the audit key "
            "derived from the unit key, and the head's HMAC. 'info_text' is the canonical JSON "
            "of 'info' that enters the hash; it is not a field of the log line."
        ),
        "unit": unit.unit,
        "x25519_private": x_raw(unit.x25519),
        "ed25519_private": unit.ed25519.private_bytes_raw().hex(),
        "audit_key": key.hex(),
        "entries": entries,
        "head": {"seq": len(entries), "hash": prev.hex(), "key_id": key_id,
                 "mac": chain.head_mac(key, unit.unit, len(entries), prev).hex()},
    }


def upload_vectors():
    """A resumable upload's id, piece digests and chain (docs/protocol.md section 19)."""
    from tipdrop.protocol import uploads

    key = seed("upload key for uploads.json")[:16].hex()
    upload = uploads.upload_id(key)
    body = pattern(2 * uploads.PIECE_BYTES + 1000)
    pieces = [body[at:at + uploads.PIECE_BYTES]
              for at in range(0, len(body), uploads.PIECE_BYTES)]
    digests = [uploads.piece_digest(piece) for piece in pieces]
    chain_value = uploads.chain_start(upload)
    steps = []
    for index, digest in enumerate(digests):
        chain_value = uploads.chain_next(chain_value, index, digest)
        steps.append({"index": index, "length": len(pieces[index]), "digest": digest.hex(),
                      "chain": chain_value.hex()})
    return {
        "description": (
            "Resumable uploads (docs/protocol.md section 19): the upload id of a key, and an "
            "upload body of 'body_length' bytes where byte i is i mod 251, cut into pieces of "
            "'piece_bytes': each piece's SHA-256 and the chain after it. 'chain_start' is the "
            "chain before any piece; the last 'chain' is what the finish request carries. "
            "'report_digest' is the begin's report digest of that body sealed under 'tip_id' "
            "(section 19, \"Lost answers\"); 'report_input' the bytes it is the SHA-256 of."
        ),
        "key": key,
        "upload_id": upload,
        "id_input": canonical.encode(uploads.ID_LABEL, bytes.fromhex(key)).hex(),
        "piece_bytes": uploads.PIECE_BYTES,
        "body_length": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "chain_start": uploads.chain_start(upload).hex(),
        "pieces": steps,
        "chain": chain_value.hex(),
        "tip_id": TIP_ID_FOR_UPLOADS,
        "report_input": canonical.encode(uploads.REPORT_LABEL, TIP_ID_FOR_UPLOADS,
                                         *digests).hex(),
        "report_digest": uploads.report_digest(TIP_ID_FOR_UPLOADS, digests).hex(),
    }


TIP_ID_FOR_UPLOADS = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def alert_vectors():
    """Duty alert webhooks (docs/protocol.md section 20): body, signed bytes, signature."""
    from tipdrop.protocol import alerts

    secret = "7f1c0e5a9b2d4c6e8a0f1b3d5c7e9a2b4d6f8a0c2e4b6d8f0a1c3e5b7d9f1a3c"
    cases = [
        ("one urgent report", "almaty-city", 1, 1, 1796522400),
        ("a burst, some urgent", "demo", 50, 10, 1796522999),
        ("heartbeat: nothing new", "north", 0, 0, 1796523600),
        ("the most one alert counts", "a" * 32, alerts.MAX_COUNT, alerts.MAX_COUNT, 1796524200),
    ]
    entries = []
    for comment, unit, new, urgent, timestamp in cases:
        nonce = seed(f"tipdrop test vector alert nonce {comment}")[:alerts.NONCE_LEN]
        body = alerts.webhook_body(alerts.Alert(unit, new, urgent), nonce)
        entries.append({
            "comment": comment, "unit": unit, "new": new, "urgent": urgent,
            "nonce": nonce.hex(), "timestamp": timestamp,
            "body": body.decode("ascii"), "body_hex": body.hex(),
            "signed": canonical.encode(alerts.LABEL, timestamp, body).hex(),
            "signature_header": alerts.signature(secret.encode("ascii"), timestamp, body),
        })
    return {
        "description": (
            "Duty alert webhooks (docs/protocol.md section 20): the body is compact JSON "
            "padded with spaces to 256 bytes; X-Tipdrop-Signature is 'v1=' and the hex "
            "HMAC-SHA256, keyed with the ASCII bytes of the unit's secret, of "
            "encode('tipdrop/v1/alert', u64(timestamp), body); X-Tipdrop-Timestamp is the "
            "timestamp in decimal. Produced by tipdrop itself from fixed nonces."
        ),
        "secret": secret,
        "vectors": entries,
    }


# --- proof-of-work puzzles (protocol.md section 21) ------------------------------------


def puzzle_vectors():
    from tipdrop.crypto import puzzle as primitives
    from tipdrop.protocol import puzzle

    secret = seed("puzzle token secret")
    entries = []
    # 2024-05-01 10:10 UTC and 23:59:00 (its key is that day's); 2024-05-02 00:00 (the next day's).
    for n, (purpose, difficulty, expires) in enumerate([
        ("submit", 12, 1714558200), ("check", 16, 1714607940), ("locator", 4, 1714608000),
    ]):
        challenge = puzzle._make_with_id(secret, purpose, difficulty, expires,
                                         seed(f"puzzle id {n}")[:puzzle.ID_LEN])
        header = challenge.token[:puzzle.HEADER.size]
        nonce = primitives.solve(challenge.token, difficulty)
        digest = primitives.work(challenge.token, nonce)
        # The nonce just before the solution does not solve it (the search starts at 0).
        before = (int.from_bytes(nonce, "big") - 1).to_bytes(8, "big") if nonce != bytes(8) else None
        entries.append({
            "purpose": purpose, "difficulty": difficulty, "expires": expires,
            "day": expires // puzzle.SECONDS_PER_DAY,
            "id": challenge.id.hex(),
            "day_key": primitives.day_key(secret, expires // puzzle.SECONDS_PER_DAY).hex(),
            "header": header.hex(),
            "mac_input": canonical.encode(primitives.MAC_LABEL, header).hex(),
            "token": challenge.token.hex(),
            "challenge": challenge.text,
            "nonce": nonce.hex(),
            "work": digest.hex(),
            "zero_bits": primitives.zero_bits(digest),
            "solution": challenge.solution(nonce),
            "not_a_solution": (None if before is None else {
                "nonce": before.hex(),
                "zero_bits": primitives.zero_bits(primitives.work(challenge.token, before))}),
        })
    return {
        "description": (
            "Proof-of-work challenges (docs/protocol.md section 21). day_key = "
            "HKDF-Expand(SHA-256, token secret, info = canonical('tipdrop/v1/puzzle-key', day), "
            "32) with day = expires // 86400; header = u8 version 1 || u8 purpose (1 submit, "
            "2 check, 3 followup, 4 locator) || u8 difficulty || u64 expires || 16-byte id; "
            "token = header || HMAC-SHA256(day_key, canonical('tipdrop/v1/puzzle', header)); "
            "challenge = base64url without padding of the token; work = SHA-256(token || "
            "8-byte nonce), which must start with `difficulty` zero bits; nonce is the first "
            "solving one counting from 0 as u64; solution = challenge '.' hex(nonce). Produced "
            "by tipdrop itself (tests/vectors/generate.py) from a fixed secret and ids."
        ),
        "token_secret": secret.hex(),
        "vectors": entries,
    }


def main():
    write("envelope.json", envelope_vectors())
    write("stream.json", stream_vectors())
    write("keyfile.json", keyfile_vectors())
    write("signing.json", signing_vectors())
    write("padding.json", padding_vectors())
    write("kdf.json", kdf_vectors())
    write("officer_request.json", officer_request_vectors())
    write("export_ack.json", export_ack_vectors())
    write("export_ack_compact.json", compact_ack_vectors())
    write("binding.json", binding_vectors())
    write("receipt_keys.json", receipt_key_vectors())
    write("records.json", record_vectors())
    write("page_link.json", page_link_vectors())
    write("backup.json", backup_vectors())
    write("questionnaire.json", questionnaire_vectors())
    write("keyslots.json", keyslot_vectors())
    write("audit.json", audit_vectors())
    write("uploads.json", upload_vectors())
    write("alerts.json", alert_vectors())
    write("forward.json", forward_vectors())
    write("puzzle.json", puzzle_vectors())


if __name__ == "__main__":
    main()
