"""Key derivation: known answers, parameter validation, independence of derived keys."""

import json
from pathlib import Path

import pytest

from tipdrop.crypto import kdf
from tipdrop.errors import FormatError

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "kdf.json").read_text(encoding="utf-8")
)
SALT = b"sixteen byte slt"


def _params(vector):
    return kdf.Argon2Params(**vector["params"])


@pytest.mark.parametrize(
    "vector", VECTORS["receipt_keys"], ids=lambda v: f"{v['params_name']}-{v['secret'][:8]}"
)
def test_receipt_keys_match_vectors(vector):
    secret, salt = bytes.fromhex(vector["secret"]), bytes.fromhex(vector["salt"])
    derived = kdf.receipt_keys(secret, salt, _params(vector))
    assert kdf.argon2id(secret, salt, _params(vector)).hex() == vector["argon2id"]
    assert derived.verifier.hex() == vector["verifier"]
    assert derived.reply_key.private_bytes_raw().hex() == vector["reply_private"]
    assert derived.reply_public.hex() == vector["reply_public"]


def test_vectors_cover_the_receipt_profile():
    assert any(v["params"] == kdf.RECEIPT_PARAMS.as_dict() for v in VECTORS["receipt_keys"])


@pytest.mark.parametrize("vector", VECTORS["key_file_wrapping_key"], ids=lambda v: v["passphrase"])
def test_key_file_wrapping_key_matches_vectors(vector):
    key = kdf.key_file_wrapping_key(
        bytes.fromhex(vector["passphrase"]), bytes.fromhex(vector["salt"]), _params(vector)
    )
    assert key.hex() == vector["key"]


def test_the_same_secret_and_salt_give_the_same_keys():
    first = kdf.receipt_keys(b"secret", SALT, kdf.TEST_PARAMS)
    again = kdf.receipt_keys(bytearray(b"secret"), bytearray(SALT), kdf.TEST_PARAMS)
    assert first.verifier == again.verifier
    assert first.reply_public == again.reply_public


@pytest.mark.parametrize(
    "secret, salt, params",
    [
        (b"secreT", SALT, kdf.TEST_PARAMS),
        (b"secret", b"sixteen byte slT", kdf.TEST_PARAMS),
        (b"secret", SALT, kdf.Argon2Params(time_cost=2, memory_cost_kib=64, parallelism=1)),
    ],
    ids=["other-secret", "other-salt", "other-params"],
)
def test_changing_secret_salt_or_params_changes_every_key(secret, salt, params):
    base = kdf.receipt_keys(b"secret", SALT, kdf.TEST_PARAMS)
    other = kdf.receipt_keys(secret, salt, params)
    assert other.verifier != base.verifier
    assert other.reply_public != base.reply_public


def test_verifier_reply_key_and_wrapping_key_are_independent():
    derived = kdf.receipt_keys(b"secret", SALT, kdf.TEST_PARAMS)
    wrap = kdf.key_file_wrapping_key(b"secret", SALT, kdf.TEST_PARAMS)
    outputs = {derived.verifier, derived.reply_key.private_bytes_raw(), wrap}
    assert len(outputs) == 3


def test_expand_separates_labels():
    material = bytes(range(32))
    assert kdf.expand(material, "tipdrop/v1/a") != kdf.expand(material, "tipdrop/v1/b")
    assert len(kdf.expand(material, "tipdrop/v1/a", 48)) == 48


def test_receipt_keys_repr_hides_the_secrets():
    derived = kdf.receipt_keys(b"secret", SALT, kdf.TEST_PARAMS)
    shown = repr(derived) + str(derived)
    assert derived.verifier.hex() not in shown
    assert derived.reply_key.private_bytes_raw().hex() not in shown
    assert "hidden" in shown


@pytest.mark.parametrize(
    "time_cost, memory_cost_kib, parallelism",
    [
        (0, 64, 1),
        (1, 0, 1),
        (1, 64, 0),
        (-1, 64, 1),
        (True, 64, 1),
        (1.0, 64, 1),
        ("1", 64, 1),
        (None, 64, 1),
        (1, 31, 4),
        (1, 4 * 1024 * 1024 + 1, 1),
        (65, 64, 1),
    ],
    ids=[
        "zero-time",
        "zero-memory",
        "zero-lanes",
        "negative",
        "bool",
        "float",
        "str",
        "none",
        "under-8-kib-per-lane",
        "memory-too-large",
        "time-too-large",
    ],
)
def test_implausible_argon2_parameters_are_refused(time_cost, memory_cost_kib, parallelism):
    with pytest.raises(FormatError):
        kdf.Argon2Params(time_cost, memory_cost_kib, parallelism)


@pytest.mark.parametrize(
    "params",
    [kdf.TEST_PARAMS, kdf.RECEIPT_PARAMS, kdf.KEY_FILE_PARAMS],
    ids=["test", "receipt", "key-file"],
)
def test_argon2_parameters_round_trip_through_a_dict(params):
    assert kdf.Argon2Params(**params.as_dict()) == params


def test_key_files_cost_more_than_receipts():
    assert kdf.KEY_FILE_PARAMS.memory_cost_kib > kdf.RECEIPT_PARAMS.memory_cost_kib
    assert kdf.KEY_FILE_PARAMS.time_cost >= kdf.RECEIPT_PARAMS.time_cost


def test_short_salts_are_refused():
    with pytest.raises(FormatError):
        kdf.argon2id(b"secret", b"7 bytes", kdf.TEST_PARAMS)


@pytest.mark.parametrize("secret, salt", [("secret", SALT), (b"secret", "sixteen byte slt")])
def test_text_is_refused_where_bytes_are_expected(secret, salt):
    with pytest.raises(TypeError):
        kdf.argon2id(secret, salt, kdf.TEST_PARAMS)
