"""Export acknowledgements: the format, and what the server records from one.

An acknowledgement is the unit's signed word that its workstation holds
exported items; the server deletes ciphertext on the strength of it, so
everything forged, changed, misdirected or signed by a key that may no
longer sign is refused whole, and nothing is recorded.
"""

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.acked import acknowledged
from tests.protocol.test_bundles import Server
from tipdrop.crypto import canonical, signing
from tipdrop.errors import InputError, SignatureError
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol import acks
from tipdrop.server import exchange, store
from tipdrop.server.unitkeys import RETIRED, UnitKeys

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "export_ack.json").read_text())


@pytest.fixture
def server(tmp_path, demo_key, astana_key):
    """A server holding a demo tip with a file and a follow-up, and an astana tip, exported."""
    running = Server(tmp_path / "server", demo_key, astana_key)
    tip, running.receipt = running.submit("almaty", files=[("photo.bin", b"evidence " * 50)])
    running.tip_id = tip["id"]
    running.tips.add_followup(tip_id=tip["id"], text="It happened again.")
    running.astana_tip = running.submit("astana")[0]["id"]
    running.export("demo", tmp_path / "demo-1.tdx")
    running.export("astana-police", tmp_path / "astana-1.tdx")
    yield running
    running.db.close()


def ack_for(key, tip_id, export_seq=1, unit=None, **items):
    items = {"tips": [tip_id], "followups": [(tip_id, 1)], "attachments": [(tip_id, "a1")]} | items
    return acks.sign_ack(key.ed25519, unit or key.unit, key.key_id, export_seq=export_seq,
                         **items)


def held(server):
    """held_seq of every row of the three tables, by table and key."""
    return {
        "tips": dict(server.db.execute("SELECT id, held_seq FROM tips").fetchall()),
        "followups": {(t, s): h for t, s, h in server.db.execute(
            "SELECT tip_id, seq, held_seq FROM followups")},
        "attachments": {(t, p): h for t, p, h in server.db.execute(
            "SELECT tip_id, part, held_seq FROM attachments")},
    }


def refused(server, data, error, **kwargs):
    before = held(server)
    with pytest.raises(error) as caught:
        exchange.import_ack(server.db, server.unit_keys, data, **kwargs)
    assert held(server) == before
    return caught.value


# --- the format ----------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: f"export-{v['export_seq']}")
def test_ack_reproduces_the_known_answer_vectors(vector):
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["ed25519_private"]))
    key_id = bytes.fromhex(VECTORS["key_id"])
    ack = acks.sign_ack(private, VECTORS["unit"], key_id, export_seq=vector["export_seq"],
                        tips=vector["tips"], followups=map(tuple, vector["followups"]),
                        attachments=map(tuple, vector["attachments"]))
    fields = acks.ack_fields(ack.unit, key_id, ack.export_seq, ack.tips, ack.followups,
                             ack.attachments)
    assert canonical.encode(acks.LABEL, *fields).hex() == vector["encoding"]
    assert ack.signature.hex() == vector["signature"]
    assert acks.dumps(ack).decode() == vector["file"]
    parsed = acks.parse(vector["file"].encode())
    assert parsed == ack
    acks.verify_ack(parsed, bytes.fromhex(VECTORS["ed25519_public"]))


def test_ack_round_trips_with_its_lists_in_one_canonical_order(demo_key):
    a, b = "0a" * 16, "0b" * 16
    ack = acks.sign_ack(demo_key.ed25519, "demo", demo_key.key_id, export_seq=3,
                        tips=[b, a, b], followups=[(b, 1), (a, 2), (a, 1)],
                        attachments=[(a, "a2"), (a, "a10")])
    assert ack.tips == (a, b)
    assert ack.followups == ((a, 1), (a, 2), (b, 1))
    assert ack.attachments == ((a, "a10"), (a, "a2"))
    parsed = acks.parse(acks.dumps(ack))
    assert parsed == ack
    acks.verify_ack(parsed, demo_key.public.ed25519)


def _edit(data, change):
    doc = json.loads(data)
    change(doc)
    return json.dumps(doc).encode()


TAMPERING = {
    "export_seq": lambda d: d.update(export_seq=d["export_seq"] + 1),
    "tip dropped": lambda d: d.update(tips=[]),
    "follow-up number": lambda d: d["followups"][0].__setitem__(1, 2),
    "attachment part": lambda d: d["attachments"][0].__setitem__(1, "a2"),
    "unit": lambda d: d.update(unit="astana-police"),
    "signature": lambda d: d.update(signature=d["signature"][:10] + (
        "A" if d["signature"][10] != "A" else "B") + d["signature"][11:]),
}


@pytest.mark.parametrize("change", TAMPERING.values(), ids=TAMPERING.keys())
def test_a_tampered_ack_is_refused_and_nothing_is_recorded(change, server, demo_key):
    data = _edit(acks.dumps(ack_for(demo_key, server.tip_id)), change)
    refused(server, data, SignatureError)


MALFORMED = {
    "not json": b"\xff{",
    "a list": b"[]",
    "other format": b'{"format": "tipdrop-replies", "version": 1}',
    "version 2": None,
    "unsorted tips": None,
    "repeated follow-up": None,
    "bad part": None,
    "seq zero": None,
    "key id": None,
}


def _malformed(name, demo_key):
    if MALFORMED[name] is not None:
        return MALFORMED[name]
    a, b = "0a" * 16, "0b" * 16
    data = acks.dumps(ack_for(demo_key, a))
    return _edit(data, {
        "version 2": lambda d: d.update(version=2),
        "unsorted tips": lambda d: d.update(tips=[b, a]),
        "repeated follow-up": lambda d: d.update(followups=[[a, 1], [a, 1]]),
        "bad part": lambda d: d.update(attachments=[[a, "../x"]]),
        "seq zero": lambda d: d.update(export_seq=0),
        "key id": lambda d: d.update(key_id="00"),
    }[name])


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_ack_is_refused_as_a_format_error(name, demo_key):
    with pytest.raises(acks.AckFormatError):
        acks.parse(_malformed(name, demo_key))


VALID = json.loads(VECTORS["vectors"][1]["file"])
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200).map(lambda raw: (raw, None))
       | st.tuples(st.sampled_from(sorted(VALID)), ANY_JSON))
def test_parse_raises_only_format_errors_on_any_input(case):
    raw, value = case
    data = raw if value is None and isinstance(raw, bytes) else json.dumps(
        VALID | {raw: value}).encode()
    try:
        acks.parse(data)
    except acks.AckFormatError:
        pass


def test_the_ack_label_is_its_own():
    # A signature over the same fields made for another record type never counts.
    assert acks.LABEL in signing.LABELS
    assert acks.LABEL not in {"tipdrop/v1/reply", "tipdrop/v1/bundle", "tipdrop/v1/request"}


# --- what the server records ---------------------------------------------------------------


def test_a_valid_ack_marks_exactly_the_items_it_names(server, demo_key):
    counts = exchange.import_ack(server.db, server.unit_keys,
                                 acks.dumps(ack_for(demo_key, server.tip_id)))
    assert counts == {"tips": 1, "followups": 1, "attachments": 1, "already": 0, "gone": 0}
    recorded = held(server)
    assert recorded["tips"] == {server.tip_id: 1, server.astana_tip: 0}
    assert recorded["followups"] == {(server.tip_id, 1): 1}
    assert recorded["attachments"] == {(server.tip_id, "a1"): 1}


def test_replaying_an_ack_changes_nothing(server, demo_key):
    data = acks.dumps(ack_for(demo_key, server.tip_id))
    exchange.import_ack(server.db, server.unit_keys, data)
    first = held(server)
    again = exchange.import_ack(server.db, server.unit_keys, data)
    assert again == {"tips": 0, "followups": 0, "attachments": 0, "already": 3, "gone": 0}
    # A later acknowledgement naming the same items keeps the first number.
    exchange.import_ack(server.db, server.unit_keys,
                        acks.dumps(ack_for(demo_key, server.tip_id, export_seq=5)))
    assert held(server) == first


def test_an_ack_signed_by_another_units_key_is_refused(server, demo_key, astana_key):
    # astana's key, claiming to be demo (the key id names astana's key)
    forged = acks.sign_ack(astana_key.ed25519, "demo", astana_key.key_id, export_seq=1,
                           tips=[server.tip_id])
    refused(server, acks.dumps(forged), SignatureError)
    # astana's signature under demo's key id
    forged = acks.sign_ack(astana_key.ed25519, "demo", demo_key.key_id, export_seq=1,
                           tips=[server.tip_id])
    refused(server, acks.dumps(forged), SignatureError)


def test_an_ack_naming_another_units_tip_is_refused_whole(server, astana_key):
    data = acks.dumps(acks.sign_ack(astana_key.ed25519, "astana-police", astana_key.key_id,
                                    export_seq=1, tips=[server.astana_tip, server.tip_id]))
    error = refused(server, data, exchange.AckItemsError)
    assert "astana-police" in error.message


def test_an_ack_naming_items_not_yet_exported_is_refused(server, demo_key):
    # A follow-up that arrived after the export: no export carried it yet
    server.tips.add_followup(tip_id=server.tip_id, text="Later news.")
    refused(server, acks.dumps(ack_for(demo_key, server.tip_id, followups=[(server.tip_id, 2)])),
            exchange.AckItemsError)


def test_an_ack_sent_online_by_another_unit_is_refused(server, demo_key):
    refused(server, acks.dumps(ack_for(demo_key, server.tip_id)), exchange.NotYourAckError,
            sender="astana-police")


def test_an_ack_signed_by_a_retired_key_is_refused(server, demo_key, astana_key, tmp_path):
    keys_dir = tmp_path / "keys-after-rotation"
    (keys_dir / RETIRED).mkdir(parents=True)
    (keys_dir / RETIRED / "demo.pub").write_bytes(demo_key.public.to_json())
    (keys_dir / "astana-police.pub").write_bytes(astana_key.public.to_json())
    before = held(server)
    with pytest.raises(SignatureError, match="not installed"):
        exchange.import_ack(server.db, UnitKeys.load(keys_dir),
                            acks.dumps(ack_for(demo_key, server.tip_id)))
    assert held(server) == before


def test_items_purged_since_the_export_are_counted_as_gone(server, demo_key):
    data = acks.dumps(ack_for(demo_key, server.tip_id, tips=[server.tip_id, "ff" * 16]))
    counts = exchange.import_ack(server.db, server.unit_keys, data)
    assert (counts["tips"], counts["gone"]) == (1, 1)


def test_an_older_database_gets_the_held_columns(server):
    for table in ("tips", "followups", "attachments"):
        server.db.execute(f"ALTER TABLE {table} DROP COLUMN held_seq")
    store.init(server.db)
    store.init(server.db)
    assert held(server)["tips"] == {server.tip_id: 0, server.astana_tip: 0}


def test_follow_ups_of_an_older_database_count_as_sealed_on_the_server(server):
    # Given a version-4 database (no encrypted_on for follow-ups) holding one
    server.db.execute("ALTER TABLE followups DROP COLUMN encrypted_on")
    server.db.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    assert store.count_followups(server.db, server.tip_id) == 1
    # When this version opens it, twice
    store.init(server.db)
    store.init(server.db)
    # Then the follow-up is marked as sealed here, as every one was before device sealing
    assert server.db.execute("SELECT encrypted_on FROM followups").fetchall() == [("server",)]
    assert server.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() \
        == (str(store.SCHEMA_VERSION),)


# --- the workstation's side ------------------------------------------------------------------


def test_workspace_acknowledges_exactly_what_it_opened_once(server, demo_key, tmp_path):
    workspace = Workspace(tmp_path / "cases")
    keyring = Keyring.of(demo_key)
    try:
        with pytest.raises(InputError, match="already acknowledged"):
            workspace.write_ack(keyring, tmp_path / "none.json")
        workspace.open_bundle(tmp_path / "demo-1.tdx", keyring)
        numbers = workspace.write_ack(keyring, tmp_path / "ack.json")
        assert numbers == [1]
        data = (tmp_path / "ack.json").read_bytes()
        ack = acks.parse(data)
        assert (ack.unit, ack.key_id, ack.export_seq) == ("demo", demo_key.key_id, 1)
        assert acknowledged(data, server.db) == {
            "tips": [server.tip_id], "followups": [[server.tip_id, 1]],
            "attachments": [[server.tip_id, "a1"]]}
        # Written once; --all writes it again
        with pytest.raises(InputError, match="already acknowledged"):
            workspace.write_ack(keyring, tmp_path / "again.json")
        assert workspace.write_ack(keyring, tmp_path / "again.json", everything=True) == [1]
        assert acks.parse((tmp_path / "again.json").read_bytes()) == ack
    finally:
        workspace.close()


def test_an_acknowledgement_set_aside_is_not_pending_until_named_again(server, demo_key,
                                                                       tmp_path):
    workspace = Workspace(tmp_path / "cases")
    keyring = Keyring.of(demo_key)
    try:
        workspace.open_bundle(tmp_path / "demo-1.tdx", keyring)
        _, numbers = workspace.pending_ack(keyring)
        # When the server refused it, it is set aside: nothing is pending any more
        workspace.set_aside_ack(numbers, "export 1 did not carry this tip")
        assert not workspace.ack_pending()
        with pytest.raises(InputError, match="already acknowledged"):
            workspace.pending_ack(keyring)
        # And --all names it again; once delivered it is acknowledged, no longer set aside
        data, again = workspace.pending_ack(keyring, everything=True)
        assert again == [1] and acknowledged(data, server.db)["tips"] == [server.tip_id]
        workspace.mark_acked(again)
        assert workspace.db.execute("SELECT acked_day IS NOT NULL, ack_refused FROM held"
                                    ).fetchall() == [(1, None)]
    finally:
        workspace.close()
