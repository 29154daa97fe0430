"""Key rotation: which key is newest, the workstation keyring, retired keys on the server."""

import datetime
import json

import pytest

from tipdrop.crypto import envelope, kdf, keys
from tipdrop.errors import (
    DecryptionError,
    FormatError,
    InputError,
    KeyFileError,
    KeyOrderError,
    MissingKeyError,
    PrivateKeyInKeysDirError,
    UnknownUnitError,
    UsageError,
    WrongPassphraseError,
)
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.unsealing import open_envelope
from tipdrop.server.unitkeys import UnitKeys


@pytest.fixture(scope="module")
def old_key():
    return keys.generate("demo", "2026-11-28")


@pytest.fixture(scope="module")
def new_key():
    return keys.generate("demo", "2026-11-28T09:30:00Z")


def _write_key(folder, name, key, passphrase="pw"):
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(keys.private_to_file(key, passphrase, kdf.TEST_PARAMS))
    return path


# --- which key is the newest ---------------------------------------------------


@pytest.mark.parametrize("older, newer", [
    ("2026-11-27", "2026-11-28"),
    ("2026-11-28", "2026-11-28T00:00:00Z"),  # a day without a time counts as the older
    ("2026-11-28T09:30:00Z", "2026-11-28T09:30:01Z"),
    ("2025-12-31T23:59:59Z", "2026-01-01"),
])
def test_the_newest_key_is_the_one_created_last(older, newer):
    first, second = keys.generate("demo", older), keys.generate("demo", newer)
    for order in ([first.public, second.public], [second.public, first.public]):
        assert keys.newest(order) == second.public
        assert UnitKeys(order).current("demo") == second.public


def test_two_newest_keys_created_at_the_same_time_are_refused():
    # Given two keys with the same "created": neither can be called the newest
    twins = [keys.generate("demo", "2026-11-28").public for _ in range(2)]
    with pytest.raises(KeyOrderError) as caught:
        UnitKeys(twins)
    assert "demo" in caught.value.message and "2026-11-28" in caught.value.message


def test_a_tie_among_older_keys_does_not_matter():
    older = [keys.generate("demo", "2026-01-01").public for _ in range(2)]
    newest = keys.generate("demo", "2026-11-28T10:00:00Z").public
    assert UnitKeys([*older, newest]).current("demo") == newest


@pytest.mark.parametrize("created", [
    "28.11.2026", "2026-11-28 10:00", "2026-11-28T10:00:00+05:00", "",
])
def test_a_public_key_file_with_an_unordered_created_is_refused(created):
    # "created" orders a unit's keys, so it must be a day or a UTC second.
    doc = json.loads(keys.generate("demo", "2026-11-28").public.to_json())
    doc["created"] = created
    with pytest.raises(KeyFileError, match="created"):
        keys.parse_public(json.dumps(doc).encode())


def test_keys_created_by_keygen_carry_the_utc_second():
    moment = datetime.datetime(2026, 11, 28, 9, 5, 7, tzinfo=datetime.UTC)
    assert keys.now_created(moment) == "2026-11-28T09:05:07Z"


# --- the server: installed and retired keys ------------------------------------------


def test_new_tips_go_to_the_newest_key_and_old_ids_still_resolve(tmp_path, old_key, new_key):
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    (keys_dir / "demo.pub").write_bytes(old_key.public.to_json())
    (keys_dir / "demo-2.pub").write_bytes(new_key.public.to_json())
    loaded = UnitKeys.load(keys_dir)
    assert loaded.current("demo").key_id == new_key.key_id
    assert loaded.by_id(old_key.key_id).key_id == old_key.key_id


def test_a_retired_key_proves_only_the_replies_it_signed(tmp_path, old_key, new_key):
    # Given the old key moved to keys/retired/
    keys_dir = tmp_path / "keys"
    (keys_dir / "retired").mkdir(parents=True)
    (keys_dir / "retired" / "demo.pub").write_bytes(old_key.public.to_json())
    (keys_dir / "demo-2.pub").write_bytes(new_key.public.to_json())
    loaded = UnitKeys.load(keys_dir)
    # Then it takes no new tips and authenticates no new bundle or request ...
    assert loaded.current("demo").key_id == new_key.key_id
    with pytest.raises(UnknownUnitError, match=old_key.key_id.hex()):
        loaded.by_id(old_key.key_id)
    # ... but still verifies the replies already stored
    assert loaded.signer_of_stored_reply(old_key.key_id).key_id == old_key.key_id
    assert loaded.signer_of_stored_reply(new_key.key_id).key_id == new_key.key_id


def test_a_private_key_in_the_retired_folder_still_stops_the_server(tmp_path, old_key):
    retired = tmp_path / "keys" / "retired"
    retired.mkdir(parents=True)
    (retired / "demo.pub").write_bytes(keys.private_to_file(old_key, "pw", kdf.TEST_PARAMS))
    with pytest.raises(PrivateKeyInKeysDirError, match="private key"):
        UnitKeys.load(tmp_path / "keys")


# --- the workstation keyring --------------------------------------------------------


def test_each_item_opens_with_the_key_its_header_names(old_key, new_key):
    keyring = Keyring.of(old_key, new_key)
    for key in (old_key, new_key):
        sealed = envelope.seal(b"report", key.public.recipient, kind="tip", tip_id="t1")
        _, key_id = envelope.parse_header(sealed)
        opened = envelope.open_(sealed, keyring.opener_for(key_id), kind="tip", tip_id="t1")
        assert opened == b"report"


def test_a_missing_key_is_named_with_its_id_and_unit(new_key, old_key):
    keyring = Keyring.of(new_key)
    with pytest.raises(MissingKeyError) as caught:
        keyring.opener_for(old_key.key_id, "tip 1a2b3c4d")
    message = caught.value.message
    assert message.startswith("tip 1a2b3c4d was encrypted to key " + old_key.key_id.hex())
    assert "of unit demo" in message and "not in your keyring (--key)" in message


def test_an_envelope_finds_its_opener_by_its_header_and_a_bad_header_is_refused_as_ever(
        old_key, new_key):
    keyring = Keyring.of(new_key)
    sealed = envelope.seal(b"report", new_key.public.recipient, kind="tip", tip_id="t1")
    for _ in range(2):  # the first finds the key, the second the opener made then
        assert keyring.opener_of(sealed) is keyring.opener_for(new_key.key_id)
        assert open_envelope(sealed, keyring, "tip t1", kind="tip", tip_id="t1") == b"report"
        # The header is still read whole: a known key id behind a bad version or
        # kind is refused as before, and a key not in the keyring is named.
        with pytest.raises(FormatError, match="unsupported format version 9"):
            open_envelope(b"\x09" + sealed[1:], keyring, "tip t1", kind="tip", tip_id="t1")
        with pytest.raises(FormatError, match="unknown kind code 99"):
            open_envelope(sealed[:1] + b"\x63" + sealed[2:], keyring, "tip t1", kind="tip",
                          tip_id="t1")
        with pytest.raises(DecryptionError, match="expected a followup"):
            open_envelope(sealed, keyring, "tip t1", kind="followup", tip_id="t1")
        with pytest.raises(FormatError, match="too short"):
            open_envelope(sealed[:10], keyring, "tip t1", kind="tip", tip_id="t1")
        other = envelope.seal(b"report", old_key.public.recipient, kind="tip", tip_id="t1")
        with pytest.raises(MissingKeyError, match="^tip t1 was encrypted to key "):
            open_envelope(other, keyring, "tip t1", kind="tip", tip_id="t1")


def test_replies_are_signed_and_notes_sealed_with_the_newest_key(old_key, new_key):
    keyring = Keyring.of(new_key, old_key)
    assert keyring.signing_key.key_id == new_key.key_id
    assert keyring.newest_public.key_id == new_key.key_id


def test_a_keyring_holds_one_units_keys(old_key):
    with pytest.raises(UsageError, match="mixes units"):
        Keyring.of(old_key, keys.generate("other", "2026-11-29"))


def test_a_folder_of_keys_unlocks_each_key_only_when_needed(tmp_path, old_key, new_key):
    # Given a keyring folder whose old key has another passphrase
    folder = tmp_path / "keyring"
    old_path = _write_key(folder, "demo.key", old_key, passphrase="old pass")
    _write_key(folder, "demo-2.key", new_key)
    (folder / "demo.pub").write_bytes(old_key.public.to_json())  # ignored: not a .key
    keyring = Keyring.load(folder, "pw")
    assert keyring.unit == "demo" and keyring.key_ids == sorted([old_key.key_id, new_key.key_id])
    # Then the new key opens and signs with the passphrase given ...
    assert keyring.signing_key.key_id == new_key.key_id
    assert keyring.opener_for(new_key.key_id).key_id == new_key.key_id
    # ... and the old key's refusal names its file
    with pytest.raises(WrongPassphraseError, match=str(old_path)):
        keyring.opener_for(old_key.key_id)


def test_one_key_file_is_a_keyring_of_one(tmp_path, new_key):
    keyring = Keyring.load(_write_key(tmp_path, "demo.key", new_key), "pw")
    assert keyring.key_ids == [new_key.key_id]


def test_without_a_passphrase_the_keyring_only_seals(tmp_path, new_key):
    keyring = Keyring.load(_write_key(tmp_path, "demo.key", new_key))
    assert keyring.newest_public.key_id == new_key.key_id
    with pytest.raises(UsageError):
        _ = keyring.signing_key


@pytest.mark.parametrize("setup, message", [
    (lambda d, key: d.mkdir(), "holds no .key file"),
    (lambda d, key: (d.mkdir(), (d / "demo.key").write_bytes(key.public.to_json())), "public key"),
])
def test_a_keyring_without_private_keys_is_refused(tmp_path, new_key, setup, message):
    folder = tmp_path / "keyring"
    setup(folder, new_key)
    with pytest.raises(InputError, match=message):
        Keyring.load(folder, "pw")
