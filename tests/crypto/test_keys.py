"""Unit keys and key files: known answers, round trips, and edited files refused."""

import base64
import json
import unicodedata
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from tipdrop.crypto import kdf, keys
from tipdrop.errors import (
    InputError,
    KeyFileError,
    TipdropError,
    WrongKeyError,
    WrongPassphraseError,
)

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "keyfile.json").read_text(encoding="utf-8")
)
TEST_VECTORS = [v for v in VECTORS["vectors"] if v["params_name"] == "test"]
REAL_VECTORS = [v for v in VECTORS["vectors"] if v["params_name"] == "real"]
REFUSED = (KeyFileError, WrongPassphraseError)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=300)
    | st.floats(allow_nan=False, width=32)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _vector_key(vector):
    return keys.UnitPrivateKey(
        vector["unit"],
        X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["x25519_private"])),
        Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["ed25519_private"])),
        vector["created"],
    )


def _raw_private(private):
    return private.x25519.private_bytes_raw() + private.ed25519.private_bytes_raw()


def _raw_public(public):
    return public.x25519.public_bytes_raw() + public.ed25519.public_bytes_raw()


def _edited(file_bytes, path, value):
    """The key file with the field at ``path`` (a tuple of keys) set to ``value``."""
    doc = json.loads(file_bytes)
    where = doc
    for name in path[:-1]:
        where = where[name]
    where[path[-1]] = value
    return json.dumps(doc, indent=2).encode()


def _without(file_bytes, path):
    doc = json.loads(file_bytes)
    where = doc
    for name in path[:-1]:
        where = where[name]
    del where[path[-1]]
    return json.dumps(doc, indent=2).encode()


def _b64(data):
    return base64.b64encode(data).decode()


PRIVATE_PATHS = [
    ("tipdrop",),
    ("version",),
    ("unit",),
    ("created",),
    ("key_id",),
    ("public",),
    ("public", "x25519"),
    ("public", "ed25519"),
    ("kdf",),
    ("kdf", "name"),
    ("kdf", "salt"),
    ("kdf", "time_cost"),
    ("kdf", "memory_cost_kib"),
    ("kdf", "parallelism"),
    ("aead",),
    ("nonce",),
    ("ciphertext",),
]
PUBLIC_PATHS = [("tipdrop",), ("version",), ("unit",), ("key_id",), ("x25519",), ("ed25519",)]


# --- known answers ---------------------------------------------------------------


@pytest.mark.parametrize("vector", TEST_VECTORS, ids=lambda v: v["unit"])
def test_key_files_match_vectors(vector):
    private = _vector_key(vector)
    written = keys._private_to_file(
        private,
        vector["passphrase"],
        kdf.Argon2Params(**vector["kdf_params"]),
        salt=bytes.fromhex(vector["salt"]),
        nonce=bytes.fromhex(vector["nonce"]),
    )
    assert written.decode("ascii") == vector["private_file"]
    assert private.public.to_json().decode("ascii") == vector["public_file"]
    assert private.key_id.hex() == vector["key_id"]
    assert private.public.fingerprint.hex() == vector["fingerprint"]
    assert keys.format_fingerprint(private.public.fingerprint) == vector["fingerprint_formatted"]


@pytest.mark.parametrize("vector", TEST_VECTORS, ids=lambda v: v["unit"])
def test_vector_key_files_open_to_the_vector_keys(vector):
    expected = _vector_key(vector)
    for passphrase in {vector["passphrase"], unicodedata.normalize("NFC", vector["passphrase"])}:
        opened = keys.parse_private(vector["private_file"].encode(), passphrase)
        assert _raw_private(opened) == _raw_private(expected)
        assert (opened.unit, opened.created) == (expected.unit, expected.created)
    public = keys.parse_public(vector["public_file"].encode())
    assert _raw_public(public) == _raw_public(expected.public)


@pytest.mark.slow
@pytest.mark.parametrize("vector", REAL_VECTORS, ids=lambda v: v["unit"])
def test_key_file_with_real_parameters_matches_vector(vector):
    # One Argon2id run at the application's key-file cost (~1 s, 256 MiB).
    assert kdf.Argon2Params(**vector["kdf_params"]) == kdf.KEY_FILE_PARAMS
    written = keys._private_to_file(
        _vector_key(vector),
        vector["passphrase"],
        kdf.KEY_FILE_PARAMS,
        salt=bytes.fromhex(vector["salt"]),
        nonce=bytes.fromhex(vector["nonce"]),
    )
    assert written.decode("ascii") == vector["private_file"]


def test_fingerprints_are_grouped_upper_case_hex():
    text = keys.format_fingerprint(bytes(range(32)))
    assert text.startswith("0001 0203 0405 0607 ")
    assert text.endswith(" 1C1D 1E1F")
    assert len(text.split(" ")) == 16


# --- round trips -----------------------------------------------------------------


def test_a_private_key_file_opens_to_the_same_keys(unit_key, private_key_file, passphrase):
    opened = keys.parse_private(private_key_file, passphrase)
    assert _raw_private(opened) == _raw_private(unit_key)
    assert (opened.unit, opened.created, opened.key_id) == (
        unit_key.unit,
        unit_key.created,
        unit_key.key_id,
    )


def test_key_files_on_disk_open(unit_key_files, unit_key):
    opened = keys.parse_private(unit_key_files.private.read_bytes(), unit_key_files.passphrase)
    public = keys.parse_public(unit_key_files.public.read_bytes())
    assert opened.key_id == public.key_id == unit_key.key_id


def test_a_public_key_file_round_trips(unit_key):
    public = keys.parse_public(unit_key.public.to_json())
    assert _raw_public(public) == _raw_public(unit_key.public)
    assert (public.unit, public.created, public.key_id) == (
        unit_key.unit,
        unit_key.created,
        unit_key.key_id,
    )


def test_each_private_file_has_its_own_salt_and_nonce(unit_key, private_key_file):
    again = json.loads(keys.private_to_file(unit_key, "another passphrase", kdf.TEST_PARAMS))
    first = json.loads(private_key_file)
    assert again["kdf"]["salt"] != first["kdf"]["salt"]
    assert again["nonce"] != first["nonce"]


def test_the_private_file_does_not_contain_the_private_keys(unit_key, private_key_file):
    for raw in (unit_key.x25519.private_bytes_raw(), unit_key.ed25519.private_bytes_raw()):
        assert raw not in private_key_file
        assert _b64(raw).encode() not in private_key_file
        assert raw.hex().encode() not in private_key_file


def test_composed_and_decomposed_passphrases_open_the_same_file(unit_key):
    composed = unicodedata.normalize("NFC", "Cr\u00e8me br\u00fbl\u00e9e")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    for written_with in (composed, decomposed):
        data = keys.private_to_file(unit_key, written_with, kdf.TEST_PARAMS)
        for opened_with in (composed, decomposed, composed.encode("utf-8")):
            assert keys.parse_private(data, opened_with).key_id == unit_key.key_id


def test_the_key_id_names_unit_and_both_public_keys(unit_key):
    assert unit_key.key_id == unit_key.public.fingerprint[: keys.KEY_ID_LEN]
    renamed = keys.UnitPrivateKey("renamed", unit_key.x25519, unit_key.ed25519, unit_key.created)
    assert renamed.key_id != unit_key.key_id
    other_signing = keys.UnitPrivateKey(
        unit_key.unit, unit_key.x25519, Ed25519PrivateKey.generate(), unit_key.created
    )
    assert other_signing.key_id != unit_key.key_id


def test_reply_recipient_and_opener_agree_on_the_key_id():
    reply_key = X25519PrivateKey.generate()
    recipient = keys.reply_recipient(reply_key.public_key().public_bytes_raw())
    opener = keys.reply_opener(reply_key)
    assert recipient.key_id == opener.key_id
    assert len(recipient.key_id) == keys.KEY_ID_LEN


def test_generated_keys_are_dated_by_day_only():
    created = keys.generate("some-unit").created
    assert len(created) == 10 and created[4] == created[7] == "-"


# --- refusals --------------------------------------------------------------------


def test_a_wrong_passphrase_is_refused(private_key_file):
    with pytest.raises(WrongPassphraseError):
        keys.parse_private(private_key_file, "wrong horse battery staple")


@pytest.mark.parametrize("empty", ["", b""], ids=["str", "bytes"])
def test_an_empty_passphrase_is_refused(unit_key, empty):
    with pytest.raises(InputError):
        keys.private_to_file(unit_key, empty, kdf.TEST_PARAMS)


@pytest.mark.parametrize(
    "path, value, error",
    [
        (("unit",), "other-unit", KeyFileError),
        (("unit",), "Not A Unit", KeyFileError),
        (("created",), "2030-01-01", WrongPassphraseError),
        (("key_id",), "00" * 16, KeyFileError),
        (("public", "x25519"), _b64(bytes(32)), KeyFileError),
        (("public", "ed25519"), _b64(bytes(32)), KeyFileError),
        (("public", "x25519"), _b64(bytes(31)), KeyFileError),
        (("kdf", "name"), "scrypt", KeyFileError),
        (("kdf", "salt"), _b64(bytes(16)), WrongPassphraseError),
        (("kdf", "salt"), _b64(bytes(15)), KeyFileError),
        (("kdf", "salt"), "not base64!", KeyFileError),
        (("kdf", "time_cost"), 2, WrongPassphraseError),
        (("kdf", "memory_cost_kib"), 128, WrongPassphraseError),
        (("kdf", "parallelism"), 2, WrongPassphraseError),
        (("kdf", "time_cost"), 0, KeyFileError),
        (("kdf", "time_cost"), "1", KeyFileError),
        (("kdf", "parallelism"), True, KeyFileError),
        (("kdf", "memory_cost_kib"), 8 * 1024 * 1024, KeyFileError),
        (("aead",), "chacha20-poly1305", KeyFileError),
        (("nonce",), _b64(bytes(12)), WrongPassphraseError),
        (("nonce",), _b64(bytes(16)), KeyFileError),
        (("ciphertext",), _b64(bytes(80)), WrongPassphraseError),
        (("ciphertext",), _b64(bytes(79)), KeyFileError),
        (("version",), 2, KeyFileError),
        (("version",), True, KeyFileError),
        (("version",), 1.0, KeyFileError),
        (("version",), "1", KeyFileError),
        (("tipdrop",), keys.PUBLIC_KIND, KeyFileError),
    ],
    ids=lambda x: x if isinstance(x, str) and len(x) < 20 else None,
)
def test_editing_a_private_file_field_is_refused(private_key_file, passphrase, path, value, error):
    with pytest.raises(error):
        keys.parse_private(_edited(private_key_file, path, value), passphrase)


@pytest.mark.parametrize("path", PRIVATE_PATHS, ids="/".join)
@pytest.mark.parametrize(
    "value", [None, 0, 2, -1, "", "x", [], {}, False, 1.5, "AAAA"], ids=repr
)
def test_replacing_any_private_file_field_is_refused(private_key_file, passphrase, path, value):
    with pytest.raises(REFUSED):
        keys.parse_private(_edited(private_key_file, path, value), passphrase)


@pytest.mark.parametrize("path", PRIVATE_PATHS, ids="/".join)
def test_removing_any_private_file_field_is_refused(private_key_file, passphrase, path):
    with pytest.raises(KeyFileError):
        keys.parse_private(_without(private_key_file, path), passphrase)


def test_flipping_any_private_file_byte_never_yields_other_keys(
    unit_key, private_key_file, passphrase
):
    # A flip either breaks the file, or lands in bits no decoder reads (e.g. a
    # base64 string's unused low bits): then the very same keys come out.
    for position in range(len(private_key_file)):
        for mask in (0x01, 0x20, 0x80):
            damaged = bytearray(private_key_file)
            damaged[position] ^= mask
            try:
                opened = keys.parse_private(bytes(damaged), passphrase)
            except REFUSED:
                continue
            assert _raw_private(opened) == _raw_private(unit_key)
            assert (opened.unit, opened.created) == (unit_key.unit, unit_key.created)


def test_truncated_private_files_are_refused(private_key_file, passphrase):
    complete = private_key_file.rstrip(b"\n")
    for length in range(len(complete)):
        with pytest.raises(KeyFileError):
            keys.parse_private(complete[:length], passphrase)


@pytest.mark.parametrize(
    "path, value",
    [
        (("unit",), "other-unit"),
        (("key_id",), "00" * 16),
        (("x25519",), _b64(bytes(32))),
        (("ed25519",), _b64(bytes(32))),
        (("x25519",), "short"),
        (("ed25519",), None),
        (("version",), 2),
        (("version",), True),
        (("tipdrop",), keys.PRIVATE_KIND),
    ],
    ids=lambda x: x if isinstance(x, str) and len(x) < 20 else None,
)
def test_editing_a_public_file_field_is_refused(public_key_file, path, value):
    with pytest.raises(KeyFileError):
        keys.parse_public(_edited(public_key_file, path, value))


@pytest.mark.parametrize("path", PUBLIC_PATHS, ids="/".join)
def test_removing_any_public_file_field_is_refused(public_key_file, path):
    with pytest.raises(KeyFileError):
        keys.parse_public(_without(public_key_file, path))


def test_flipping_any_public_file_byte_never_yields_other_keys(unit_key, public_key_file):
    # "created" is informational and not bound by the key id; unit and keys are.
    for position in range(len(public_key_file)):
        for mask in (0x01, 0x20, 0x80):
            damaged = bytearray(public_key_file)
            damaged[position] ^= mask
            try:
                opened = keys.parse_public(bytes(damaged))
            except KeyFileError:
                continue
            assert _raw_public(opened) == _raw_public(unit_key.public)
            assert opened.unit == unit_key.unit


def test_truncated_public_files_are_refused(public_key_file):
    complete = public_key_file.rstrip(b"\n")
    for length in range(len(complete)):
        with pytest.raises(KeyFileError):
            keys.parse_public(complete[:length])


def test_a_public_file_is_not_a_private_file(public_key_file, passphrase):
    with pytest.raises(KeyFileError):
        keys.parse_private(public_key_file, passphrase)


def test_a_private_file_is_not_a_public_file(private_key_file):
    with pytest.raises(KeyFileError):
        keys.parse_public(private_key_file)


@pytest.mark.parametrize(
    "data",
    [b"", b"null", b"[]", b'"unit-public-key"', b"{}", b"\xff\xfe", b"[" * 5000, b"1" * 5000,
     b'{"tipdrop": "unit-public-key", "version": ' + b"9" * 5000 + b"}",
     b" " * (keys.MAX_KEY_FILE + 1)],
    ids=["empty", "null", "list", "string", "object", "not-utf8", "deep-nesting",
         "huge-integer", "huge-version", "too-large"],
)
def test_files_that_are_not_key_files_are_refused(data, passphrase):
    with pytest.raises(KeyFileError):
        keys.parse_public(data)
    with pytest.raises(KeyFileError):
        keys.parse_private(data, passphrase)


def test_a_key_for_another_key_id_is_refused(unit_key, other_unit_key):
    with pytest.raises(WrongKeyError) as caught:
        unit_key.opener.require(other_unit_key.key_id)
    assert other_unit_key.key_id.hex() in str(caught.value)


# --- private key detection ---------------------------------------------------------


def _pem_and_openssh():
    ed = Ed25519PrivateKey.generate()
    none = serialization.NoEncryption()
    pem = serialization.Encoding.PEM
    return {
        "pkcs8-pem": ed.private_bytes(pem, serialization.PrivateFormat.PKCS8, none),
        "encrypted-pem": ed.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
        ),
        "openssh": ed.private_bytes(pem, serialization.PrivateFormat.OpenSSH, none),
        "pem-public": ed.public_key().public_bytes(
            pem, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "openssh-public": ed.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ),
    }


FOREIGN = _pem_and_openssh()


@pytest.mark.parametrize("name", ["pkcs8-pem", "encrypted-pem", "openssh"])
def test_foreign_private_keys_look_private(name):
    assert keys.looks_private(FOREIGN[name])


@pytest.mark.parametrize(
    "data",
    [b"AGE-SECRET-KEY-1QQQQ", b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n"],
    ids=["age", "pgp"],
)
def test_age_and_pgp_secret_keys_look_private(data):
    assert keys.looks_private(data)


def test_our_private_key_file_looks_private(private_key_file):
    assert keys.looks_private(private_key_file)


@pytest.mark.parametrize("name", ["pem-public", "openssh-public"])
def test_foreign_public_keys_do_not_look_private(name):
    assert not keys.looks_private(FOREIGN[name])


def test_our_public_key_file_does_not_look_private(public_key_file):
    assert not keys.looks_private(public_key_file)


# --- names and representations ------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "7", "unit-7", "brigade-nord-2", "a" * 32])
def test_plain_unit_names_are_accepted(name):
    assert keys.check_unit_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "", "-unit", "Unit", "unit_7", "unit 7", "unit.7", "a" * 33, "unit\u00e9", "unit\n",
        "../unit", None, 7,
    ],
)
def test_other_unit_names_are_refused(name):
    with pytest.raises(InputError):
        keys.check_unit_name(name)
    with pytest.raises(InputError):
        keys.generate(name)


def test_representations_hide_private_keys(unit_key):
    secret_hexes = [key.private_bytes_raw().hex() for key in (unit_key.x25519, unit_key.ed25519)]
    for shown in (repr(unit_key), str(unit_key), repr(unit_key.opener)):
        assert unit_key.key_id.hex() in shown
        for secret in secret_hexes:
            assert secret not in shown


# --- fuzzing -----------------------------------------------------------------------------


@given(data=st.binary(max_size=400))
@settings(max_examples=150, deadline=None)
def test_arbitrary_bytes_raise_only_tipdrop_errors(data):
    for parse in (keys.parse_public, lambda d: keys.parse_private(d, "pw")):
        try:
            parse(data)
        except TipdropError:
            pass


@given(path=st.sampled_from(PRIVATE_PATHS), value=json_values)
@settings(max_examples=200, deadline=None)
def test_arbitrary_field_values_raise_only_key_file_errors(
    private_key_file, passphrase, path, value
):
    try:
        keys.parse_private(_edited(private_key_file, path, value), passphrase)
    except REFUSED:
        pass


@given(doc=json_values)
@settings(max_examples=100, deadline=None)
def test_arbitrary_json_documents_are_refused(doc):
    data = json.dumps(doc).encode()
    with pytest.raises(KeyFileError):
        keys.parse_public(data)
    with pytest.raises(KeyFileError):
        keys.parse_private(data, "pw")


@given(
    doc=st.fixed_dictionaries(
        {"tipdrop": st.sampled_from([keys.PUBLIC_KIND, keys.PRIVATE_KIND]), "version": st.just(1)},
        optional={
            "unit": json_values | st.just("unit-a"),
            "created": json_values,
            "key_id": json_values,
            "x25519": json_values,
            "ed25519": json_values,
            "public": json_values,
            "kdf": json_values,
        },
    )
)
@settings(max_examples=150, deadline=None)
def test_key_file_shaped_documents_with_arbitrary_fields_are_refused(doc):
    data = json.dumps(doc).encode()
    with pytest.raises(KeyFileError):
        keys.parse_public(data)
    with pytest.raises((KeyFileError, WrongPassphraseError)):
        keys.parse_private(data, "pw")


# --- reply keys no reply could be sealed to ----------------------------------------

_P = 2**255 - 19


def _library_refuses(raw):
    """What the library says: an exchange with this public key fails (all-zero secret)."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    try:
        X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(raw))
    except ValueError:
        return True
    return False


def _encodings(u):
    """``u`` as 32 little-endian bytes, and with the top bit (which X25519 ignores) set."""
    return [u.to_bytes(32, "little"), (u | 1 << 255).to_bytes(32, "little")]


def test_every_small_order_point_is_refused_as_a_reply_key_as_the_library_refuses_it():
    for u in keys._SMALL_ORDER_U:
        for raw in _encodings(u):
            assert _library_refuses(raw)
            assert not keys.usable_reply_public(raw)


def test_the_reply_key_check_agrees_with_the_library_near_every_small_order_point():
    # The values around each listed point, the first and last of the field, and
    # the non-canonical encodings at or above p: refused by the check exactly
    # when an exchange with them fails.
    near = {u + d for u in keys._SMALL_ORDER_U | {2**255 - 1} for d in range(-40, 41)
            if 0 <= u + d < 2**255}
    for u in sorted(near):
        for raw in _encodings(u):
            assert keys.usable_reply_public(raw) is not _library_refuses(raw), u


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_the_reply_key_check_agrees_with_the_library_on_any_32_bytes(raw):
    assert keys.usable_reply_public(raw) is not _library_refuses(raw)


@pytest.mark.parametrize("length", [0, 31, 33])
def test_a_reply_key_of_another_length_is_refused(length):
    assert not keys.usable_reply_public(bytes([9]) * length)
