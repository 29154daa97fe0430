"""Key files with unlock slots: known answers, round trips, and every kind of bad file refused."""

import json
import unicodedata
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from tipdrop.crypto import kdf, keys, keyslots
from tipdrop.errors import KeyFileError, TipdropError, WrongPassphraseError
from tipdrop.officer import keyfiles

VECTORS = Path(__file__).parents[1] / "vectors"
SLOTTED = json.loads((VECTORS / "keyslots.json").read_text(encoding="utf-8"))["vectors"]
LEGACY = [v for v in json.loads((VECTORS / "keyfile.json").read_text(encoding="utf-8"))["vectors"]
          if v["params_name"] == "test"]
P = kdf.TEST_PARAMS


def _key(vector):
    return keys.UnitPrivateKey(
        vector["unit"],
        X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["x25519_private"])),
        Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["ed25519_private"])),
        vector["created"])


def _raw(private):
    return private.x25519.private_bytes_raw() + private.ed25519.private_bytes_raw()


def _file(*slots, unit="demo"):
    private = keys.generate(unit)
    data = keyslots.to_file(private, slots[0][0], slots[0][1], P)
    for name, passphrase in slots[1:]:
        data = keyslots.add_slot(data, keyslots.unlock(data, slots[0][1]), name, passphrase, P)
    return private, data


def _edit(data, change):
    doc = json.loads(data)
    change(doc)
    return json.dumps(doc, indent=2).encode()


@pytest.mark.parametrize("vector", SLOTTED, ids=[v["unit"] for v in SLOTTED])
def test_slotted_vector_is_reproduced_and_each_slot_opens_it(vector):
    private = _key(vector)
    made = keyslots._to_file(private, [
        (s["name"], s["passphrase"], kdf.Argon2Params(**vector["kdf_params"]),
         {"salt": bytes.fromhex(s["salt"]), "nonce": bytes.fromhex(s["nonce"])})
        for s in vector["slots"]])
    assert made.decode("ascii") == vector["private_file"]
    for slot in vector["slots"]:
        wrap = kdf.key_slot_wrapping_key(
            unicodedata.normalize("NFC", slot["passphrase"]).encode(), bytes.fromhex(slot["salt"]),
            kdf.Argon2Params(**vector["kdf_params"]))
        assert wrap.hex() == slot["wrapping_key"]
        opened = keyslots.unlock(vector["private_file"].encode(), slot["passphrase"])
        assert opened.slot == slot["name"] and _raw(opened.private) == _raw(private)


@pytest.mark.parametrize("vector", LEGACY, ids=[v["unit"] for v in LEGACY])
def test_a_single_passphrase_file_of_today_still_opens_as_the_shared_slot(vector):
    data = vector["private_file"].encode()
    opened = keyslots.unlock(data, vector["passphrase"])
    assert opened.slot == keyslots.LEGACY_SLOT
    assert _raw(opened.private) == _raw(_key(vector))
    assert keyslots.slot_names(data) == ["shared"]
    with pytest.raises(keyslots.SlotError):
        keyslots.unlock(data, vector["passphrase"], "aigerim")


def test_adding_a_slot_to_a_single_passphrase_file_keeps_the_old_passphrase_as_shared():
    [vector] = [v for v in LEGACY if v["unit"] == "vector-unit"]
    data = vector["private_file"].encode()
    opened = keyslots.unlock(data, vector["passphrase"])
    slotted = keyslots.add_slot(data, opened, "aigerim", "her own", P,
                                legacy_passphrase=vector["passphrase"])
    assert keyslots.slot_names(slotted) == ["shared", "aigerim"]
    assert keyslots.unlock(slotted, vector["passphrase"]).slot == "shared"
    assert keyslots.unlock(slotted, "her own").slot == "aigerim"
    assert keyslots.public_part(slotted).key_id == opened.private.key_id


def test_each_officer_opens_with_their_own_passphrase_and_only_their_slot():
    private, data = _file(("aigerim", "one"), ("daniyar", "two"))
    assert keyslots.unlock(data, "two").slot == "daniyar"
    assert keyslots.unlock(data, "one", "aigerim").slot == "aigerim"
    with pytest.raises(WrongPassphraseError):
        keyslots.unlock(data, "two", "aigerim")
    with pytest.raises(WrongPassphraseError):
        keyslots.unlock(data, "three")
    with pytest.raises(keyslots.SlotError):
        keyslots.unlock(data, "one", "nobody")


def test_a_removed_slot_no_longer_opens_and_the_last_cannot_be_removed():
    _, data = _file(("aigerim", "one"), ("daniyar", "two"))
    fewer = keyslots.remove_slot(data, "daniyar")
    with pytest.raises(WrongPassphraseError):
        keyslots.unlock(fewer, "two")
    with pytest.raises(keyslots.SlotError, match="last slot"):
        keyslots.remove_slot(fewer, "aigerim")
    with pytest.raises(keyslots.SlotError, match="no slot"):
        keyslots.remove_slot(fewer, "daniyar")


def test_a_taken_or_invalid_slot_name_is_refused():
    _, data = _file(("aigerim", "one"))
    opened = keyslots.unlock(data, "one")
    with pytest.raises(keyslots.SlotError, match="already exists"):
        keyslots.add_slot(data, opened, "aigerim", "x", P)
    for bad in ("", "Aigerim", "a b", "x" * 33, "-a", "a/b", "ä"):
        with pytest.raises(keyslots.SlotError):
            keyslots.add_slot(data, opened, bad, "x", P)


def test_changing_a_passphrase_changes_only_that_slot():
    _, data = _file(("aigerim", "one"), ("daniyar", "two"))
    changed = keyslots.replace_slot(data, keyslots.unlock(data, "one"), "new one", P)
    with pytest.raises(WrongPassphraseError):
        keyslots.unlock(changed, "one")
    assert keyslots.unlock(changed, "new one").slot == "aigerim"
    assert keyslots.unlock(changed, "two").slot == "daniyar"


def test_a_renamed_slot_does_not_open():
    _, data = _file(("aigerim", "one"), ("daniyar", "two"))

    def rename(doc):
        doc["slots"][0]["name"] = "boss"

    with pytest.raises(WrongPassphraseError):
        keyslots.unlock(_edit(data, rename), "one")


def test_a_slot_moved_into_another_units_file_does_not_open():
    _, theirs = _file(("aigerim", "one"), unit="other")
    _, ours = _file(("daniyar", "two"))

    def graft(doc):
        doc["slots"].append(json.loads(theirs)["slots"][0])

    with pytest.raises(WrongPassphraseError):
        keyslots.unlock(_edit(ours, graft), "one")


@pytest.mark.parametrize("change", [
    lambda d: d.update(version=3),
    lambda d: d.update(version=True),
    lambda d: d.update(slots=[]),
    lambda d: d.update(slots={}),
    lambda d: d.update(slots=[1]),
    lambda d: d["slots"].append(dict(d["slots"][0])),
    lambda d: d.update(slots=d["slots"] * 65),
    lambda d: d["slots"][0].pop("kdf"),
    lambda d: d["slots"][0].update(name="A"),
    lambda d: d["slots"][0]["kdf"].update(name="scrypt"),
    lambda d: d["slots"][0]["kdf"].update(time_cost=0),
    lambda d: d["slots"][0]["kdf"].update(salt="!!"),
    lambda d: d["slots"][0].update(nonce="AAAA"),
    lambda d: d["slots"][0].update(ciphertext="AAAA"),
    lambda d: d.update(unit="someone-else"),
    lambda d: d.update(key_id="00" * 16),
    lambda d: d.pop("public"),
], ids=lambda f: "")
def test_a_malformed_slotted_file_is_refused_with_a_key_error(change):
    _, data = _file(("aigerim", "one"))
    with pytest.raises((KeyFileError, WrongPassphraseError)):
        keyslots.unlock(_edit(data, change), "one")


def test_every_truncation_of_a_slotted_file_is_refused_cleanly():
    _, data = _file(("aigerim", "one"), ("daniyar", "two"))
    for cut in range(0, len(data) - 2, 7):
        with pytest.raises(TipdropError):
            keyslots.unlock(data[:cut], "two")
        with pytest.raises(TipdropError):
            keyslots.slot_names(data[:cut])


def test_every_single_byte_change_is_refused_or_opens_the_same_key():
    private, data = _file(("aigerim", "one"))
    for at in range(0, len(data), 11):
        changed = bytearray(data)
        changed[at] ^= 0x01
        try:
            opened = keyslots.unlock(bytes(changed), "one")
        except TipdropError:
            continue
        # Whitespace and JSON escapes may change without meaning anything.
        assert _raw(opened.private) == _raw(private) and opened.slot == "aigerim"


def test_team_changes_rewrite_every_key_file_of_a_folder(tmp_path):
    first, second = keys.generate("demo", "2026-01-01"), keys.generate("demo", "2026-06-01")
    for private, name in ((first, "demo.key"), (second, "demo-2.key")):
        (tmp_path / name).write_bytes(keys.private_to_file(private, "shared pw", P))
    keyfiles.add_member(tmp_path, "shared pw", None, "aigerim", "hers", P)
    keyfiles.remove_member(tmp_path, "hers", "aigerim", "shared")
    for name in ("demo.key", "demo-2.key"):
        assert keyfiles.slot_names(tmp_path / name) == ["aigerim"]
        assert keyfiles.open_slot(tmp_path / name, "hers").slot == "aigerim"
    slot, changed = keyfiles.change_passphrase(tmp_path, "hers", None, "hers too", P)
    assert slot == "aigerim" and len(changed) == 2
    with pytest.raises(WrongPassphraseError):
        keyfiles.unlock(tmp_path / "demo-2.key", "hers")


def test_a_wrong_passphrase_in_one_file_of_a_folder_changes_none(tmp_path):
    first, second = keys.generate("demo", "2026-01-01"), keys.generate("demo", "2026-06-01")
    (tmp_path / "a.key").write_bytes(keys.private_to_file(first, "pw", P))
    (tmp_path / "b.key").write_bytes(keys.private_to_file(second, "other", P))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(WrongPassphraseError):
        keyfiles.add_member(tmp_path, "pw", None, "aigerim", "hers", P)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_adding_an_officer_skips_key_files_that_already_have_their_slot(tmp_path):
    old, new = keys.generate("demo", "2026-01-01"), keys.generate("demo", "2026-06-01")
    (tmp_path / "a.key").write_bytes(keys.private_to_file(old, "pw", P))
    keyfiles.add_member(tmp_path / "a.key", "pw", None, "aigerim", "hers", P)
    b = keyslots.to_file(new, "aigerim", "hers", P)
    b = keyslots.add_slot(b, keyslots.unlock(b, "hers"), "daniyar", "his", P)
    (tmp_path / "b.key").write_bytes(b)
    keyfiles.add_member(tmp_path, "hers", "aigerim", "daniyar", "his", P)
    assert keyfiles.slot_names(tmp_path / "a.key") == ["shared", "aigerim", "daniyar"]
    assert (tmp_path / "b.key").read_bytes() == b
    with pytest.raises(keyslots.SlotError, match="already exists"):
        keyfiles.add_member(tmp_path, "hers", "aigerim", "daniyar", "his", P)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**70) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6)
_PATHS = [("version",), ("unit",), ("key_id",), ("public",), ("slots",), ("slots", 0),
          ("slots", 0, "name"), ("slots", 0, "kdf"), ("slots", 0, "kdf", "salt"),
          ("slots", 0, "kdf", "memory_cost_kib"), ("slots", 0, "aead"), ("slots", 0, "nonce"),
          ("slots", 1, "ciphertext")]
_FUZZED = _file(("aigerim", "one"), ("daniyar", "two"))[1]


@settings(max_examples=150, deadline=None)
@given(path=st.sampled_from(_PATHS), value=_json_values)
def test_any_value_in_any_field_opens_the_same_key_or_raises_a_tipdrop_error(path, value):
    doc = json.loads(_FUZZED)
    where = doc
    for step in path[:-1]:
        where = where[step]
    where[path[-1]] = value
    data = json.dumps(doc).encode()
    for call in (lambda: keyslots.unlock(data, "two"), lambda: keyslots.slot_names(data),
                 lambda: keyslots.public_part(data)):
        try:
            call()
        except TipdropError:
            pass


@settings(max_examples=150, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1,
                      max_size=4))
def test_random_byte_edits_never_escape_as_another_exception(edits):
    data = bytearray(_FUZZED)
    for at, value in edits:
        data[at % len(data)] = value
    try:
        opened = keyslots.unlock(bytes(data), "two")
    except TipdropError:
        return
    assert opened.slot == "daniyar"
