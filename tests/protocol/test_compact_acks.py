"""Compact export acknowledgements: runs of chained exports, bounded whatever is held.

The server chains its exports (each header carries the export's id, the
previous chain value and its own, over the items it carries); the
workstation checks the chain against what it read and acknowledges runs of
exports plus the items of them it does not hold. These tests prove the
file stays small, that it means exactly the items read, and that whatever
breaks the chain (an export lost, altered on the way, or a server whose
history differs) is refused rather than taken for something else.
"""

import hashlib
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.acked import acknowledged
from tests.officer.test_device_sealed_import import garbage_envelope, submit_sealed
from tests.protocol.test_binding import read_records, rechain, write_records
from tests.protocol.test_bundles import Server
from tipdrop.crypto import canonical
from tipdrop.errors import InputError, SignatureError
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol import acks, bundles, device, documents
from tipdrop.server import exchange

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "export_ack_compact.json")
                     .read_text())


@pytest.fixture
def server(tmp_path, demo_key, astana_key):
    running = Server(tmp_path / "server", demo_key, astana_key)
    yield running
    running.db.close()


@pytest.fixture
def workspace(tmp_path):
    ws = Workspace(tmp_path / "cases")
    yield ws
    ws.close()


def export(server, tmp_path, name, since_start=False):
    path = tmp_path / name
    exchange.export_unit(server.db, server.attachments, unit="demo", out=path,
                         since_start=since_start)
    return path


def held_seqs(server):
    return dict(server.db.execute("SELECT id, held_seq FROM tips").fetchall())


def import_ack(server, data):
    return exchange.import_ack(server.db, server.unit_keys, data)


# --- the format ----------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_compact_acks_reproduce_the_known_answer_vectors(vector):
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["ed25519_private"]))
    key_id = bytes.fromhex(VECTORS["key_id"])
    listed = (vector["items"]["tips"], [tuple(f) for f in vector["items"]["followups"]],
              [tuple(a) for a in vector["items"]["attachments"]])
    assert acks.items_encoding(*listed).hex() == vector["items_encoding"]
    items = acks.items_digest(*listed)
    assert items.hex() == vector["items_digest"]
    chain = acks.chain_link(bytes.fromhex(vector["previous_chain"]), VECTORS["unit"],
                            vector["export_seq"], bytes.fromhex(vector["export_id"]), items)
    assert chain.hex() == vector["chain"]
    ranges = [(first, last, bytes.fromhex(value)) for first, last, value in vector["ranges"]]
    ack = acks.sign_range_ack(private, VECTORS["unit"], key_id, ranges=ranges,
                              except_tips=vector["except_tips"],
                              except_followups=map(tuple, vector["except_followups"]),
                              except_attachments=map(tuple, vector["except_attachments"]))
    fields = acks.range_ack_fields(ack.unit, key_id, ack.ranges, ack.except_tips,
                                   ack.except_followups, ack.except_attachments)
    assert canonical.encode(acks.LABEL_V2, *fields).hex() == vector["encoding"]
    assert ack.signature.hex() == vector["signature"]
    assert acks.dumps(ack).decode() == vector["file"]
    parsed = acks.parse(vector["file"].encode())
    assert parsed == ack
    acks.verify_ack(parsed, bytes.fromhex(VECTORS["ed25519_public"]))


def _compact(key, ranges, **excepted):
    return acks.sign_range_ack(key.ed25519, key.unit, key.key_id, ranges=ranges, **excepted)


@pytest.mark.parametrize("ranges, message", [
    ([], "no run"),
    ([(2, 1, bytes(32))], "not in order"),
    ([(1, 3, bytes(32)), (3, 4, bytes(32))], "not in order"),
    ([(3, 4, bytes(32)), (1, 2, bytes(32))], "not in order"),
    ([(n, n, bytes(32)) for n in range(1, acks.MAX_RANGES + 2)], "more than"),
])
def test_a_compact_ack_with_runs_out_of_order_or_too_many_is_refused(demo_key, ranges,
                                                                    message):
    good = acks.dumps(_compact(demo_key, [(1, 1, bytes(32))]))
    doc = json.loads(good)
    doc["exports"] = [[first, last, chain.hex()] for first, last, chain in ranges]
    with pytest.raises(acks.AckFormatError, match=message):
        acks.parse(json.dumps(doc).encode())
    with pytest.raises(acks.AckFormatError, match=message):
        _compact(demo_key, ranges)


def test_a_compact_ack_naming_too_many_items_not_held_is_refused(demo_key):
    tips = [f"{n:032x}" for n in range(acks.MAX_EXCEPT + 1)]
    with pytest.raises(acks.AckFormatError, match="more than"):
        _compact(demo_key, [(1, 1, bytes(32))], except_tips=tips)


@pytest.mark.parametrize("change", [
    lambda d: d["exports"][0].__setitem__(1, 2),
    lambda d: d["exports"][0].__setitem__(2, "00" * 32),
    lambda d: d.update(except_tips=[]),
])
def test_a_changed_compact_ack_fails_its_signature(demo_key, change):
    doc = json.loads(acks.dumps(_compact(demo_key, [(1, 1, b"\x01" * 32)],
                                         except_tips=["0a" * 16])))
    change(doc)
    with pytest.raises(SignatureError):
        acks.verify_ack(acks.parse(json.dumps(doc).encode()), demo_key.public.ed25519)


# --- what the workstation sends, and what the server records ----------------------------


def test_many_exports_and_items_acknowledge_in_one_small_run(server, workspace, demo_key,
                                                             tmp_path):
    keyring = Keyring.of(demo_key)
    for n in range(1, 6):
        for _ in range(3):
            server.submit("almaty", files=[("a.bin", b"x" * 100)])
        workspace.open_bundle(export(server, tmp_path, f"e{n}.tdx"), keyring)
    data, numbers = workspace.pending_ack(keyring)
    ack = acks.parse(data)
    assert numbers == [1, 2, 3, 4, 5]
    assert isinstance(ack, acks.RangeAck) and [r[:2] for r in ack.ranges] == [(1, 5)]
    assert len(data) < 400  # 15 tips and 15 files: no list of them
    counts = import_ack(server, data)
    assert (counts["tips"], counts["attachments"]) == (15, 15)
    assert set(held_seqs(server).values()) == {1, 2, 3, 4, 5}


def test_a_lost_export_splits_the_runs_and_its_items_stay_unacknowledged(
        server, workspace, demo_key, tmp_path):
    keyring = Keyring.of(demo_key)
    paths = []
    for n in range(1, 4):
        server.submit("almaty")
        paths.append(export(server, tmp_path, f"e{n}.tdx"))
    workspace.open_bundle(paths[0], keyring)
    workspace.open_bundle(paths[2], keyring)  # export 2 never reached the workstation
    data, numbers = workspace.pending_ack(keyring)
    assert [r[:2] for r in acks.parse(data).ranges] == [(1, 1), (3, 3)]
    import_ack(server, data)
    workspace.mark_acked(numbers)
    assert sorted(held_seqs(server).values()) == [0, 1, 3]
    # Once it arrives, it joins: its acknowledgement is a run of its own
    workspace.open_bundle(paths[1], keyring)
    data, numbers = workspace.pending_ack(keyring)
    assert numbers == [2] and [r[:2] for r in acks.parse(data).ranges] == [(2, 2)]
    import_ack(server, data)
    assert sorted(held_seqs(server).values()) == [1, 2, 3]


def test_exports_opened_out_of_order_still_form_one_run(server, workspace, demo_key, tmp_path):
    keyring = Keyring.of(demo_key)
    paths = []
    for n in range(1, 4):
        server.submit("almaty")
        paths.append(export(server, tmp_path, f"e{n}.tdx"))
    for path in (paths[2], paths[0], paths[1]):
        workspace.open_bundle(path, keyring)
    data, _ = workspace.pending_ack(keyring)
    assert [r[:2] for r in acks.parse(data).ranges] == [(1, 3)]


def test_an_item_the_workspace_could_not_take_is_named_and_kept_by_the_server(
        server, workspace, demo_key, tmp_path):
    bad = submit_sealed(server, demo_key, body=garbage_envelope("tip", demo_key.public.key_id))
    good = submit_sealed(server, demo_key)
    workspace.open_bundle(export(server, tmp_path, "e.tdx"), Keyring.of(demo_key))
    data, _ = workspace.pending_ack(Keyring.of(demo_key))
    assert acks.parse(data).except_tips == (bad,)
    import_ack(server, data)
    assert held_seqs(server) == {bad: 0, good: 1}


def test_an_export_altered_on_the_way_is_refused_when_opened(server, workspace, demo_key,
                                                             tmp_path):
    # Given an export of two reports, from which someone drops one and fixes the checksum
    server.submit("almaty", description="first")
    server.submit("almaty", description="second")
    records = read_records(export(server, tmp_path, "e.tdx").read_bytes())
    tips = [i for i, (kind, _) in enumerate(records) if kind == 0x02]
    altered = tmp_path / "altered.tdx"
    altered.write_bytes(_unchained(records[:tips[1]] + records[tips[1] + 1:]))
    # Then the workstation refuses it: its items are not the ones the server chained
    with pytest.raises(bundles.BundleError, match="altered"):
        workspace.open_bundle(altered, Keyring.of(demo_key))
    assert workspace.list() == []


def test_an_export_altered_and_rechained_opens_but_the_server_refuses_its_acknowledgement(
        server, workspace, demo_key, tmp_path):
    # Given someone who drops a report and recomputes the checksum and the chain value
    server.submit("almaty", description="first")
    server.submit("almaty", description="second")
    records = read_records(export(server, tmp_path, "e.tdx").read_bytes())
    tips = [i for i, (kind, _) in enumerate(records) if kind == 0x02]
    altered = tmp_path / "altered.tdx"
    altered.write_bytes(write_records(records[:tips[1]] + records[tips[1] + 1:]))
    workspace.open_bundle(altered, Keyring.of(demo_key))
    data, _ = workspace.pending_ack(Keyring.of(demo_key))
    before = held_seqs(server)
    # Then the server cannot take it for its export 1: nothing is recorded as held
    with pytest.raises(exchange.AckHistoryError):
        import_ack(server, data)
    assert held_seqs(server) == before


def test_a_server_restored_to_before_an_export_refuses_the_run_it_did_not_make(
        server, workspace, demo_key, tmp_path):
    server.submit("almaty")
    workspace.open_bundle(export(server, tmp_path, "e1.tdx"), Keyring.of(demo_key))
    data, _ = workspace.pending_ack(Keyring.of(demo_key))
    # A restore from a backup older than export 1: the server forgets it, exports again
    server.db.execute("DELETE FROM exports")
    server.db.execute("UPDATE tips SET export_seq = 0")
    export(server, tmp_path, "e1-again.tdx")
    with pytest.raises(exchange.AckHistoryError, match="export 1"):
        import_ack(server, data)
    assert set(held_seqs(server).values()) == {0}


def test_an_intact_copy_brought_later_makes_the_export_pending_again(
        server, workspace, demo_key, tmp_path):
    # Given a device report whose follow-up did not open, acknowledged without it
    from tests.officer.test_device_sealed_import import add_device_followup

    tip_id = submit_sealed(server, demo_key)
    add_device_followup(server, demo_key, tip_id, 1,
                        body=garbage_envelope("followup", demo_key.public.key_id))
    keyring = Keyring.of(demo_key)
    workspace.open_bundle(export(server, tmp_path, "e1.tdx"), keyring)
    data, numbers = workspace.pending_ack(keyring)
    assert acks.parse(data).except_followups == ((tip_id, 1),)
    import_ack(server, data)
    workspace.mark_acked(numbers)
    assert not workspace.ack_pending()
    # When an intact copy arrives in a later export and replaces it
    intact = device.seal_followup(documents.followup_document("ok"), demo_key.public.recipient,
                                  tip_id, 1)
    server.db.execute("UPDATE followups SET body = ? WHERE tip_id = ?", [intact, tip_id])
    workspace.open_bundle(export(server, tmp_path, "e2.tdx", since_start=True), keyring)
    # Then export 1 is pending again, this time without the follow-up as not held
    data, numbers = workspace.pending_ack(keyring)
    assert 1 in numbers and acks.parse(data).except_followups == ()
    import_ack(server, data)
    assert server.db.execute("SELECT held_seq FROM followups").fetchall() == [(1,)]


def test_exports_from_an_older_server_are_acknowledged_item_by_item(
        server, workspace, demo_key, tmp_path):
    tip, _ = server.submit("almaty")
    records = read_records(export(server, tmp_path, "e.tdx").read_bytes())
    header = json.loads(records[0][1])
    for name in ("export_id", "previous_chain", "chain"):
        del header[name]
    old = tmp_path / "old.tdx"
    old.write_bytes(_unchained([(0x01, json.dumps(header).encode())] + records[1:]))
    workspace.open_bundle(old, Keyring.of(demo_key))
    data, _ = workspace.pending_ack(Keyring.of(demo_key))
    ack = acks.parse(data)
    assert isinstance(ack, acks.Ack) and ack.tips == (tip["id"],)
    assert acknowledged(data, server.db)["tips"] == [tip["id"]]
    import_ack(server, data)
    assert held_seqs(server) == {tip["id"]: 1}


def _unchained(records):
    """Rebuild a bundle with its checksum right again and its chain value as it is."""
    out = bytearray(b"TDEXPRT1")
    for kind, payload in records:
        out += struct.pack(">BQ", kind, len(payload)) + payload
    end = json.dumps({"records": len(records), "sha256": hashlib.sha256(out).hexdigest()})
    return bytes(out + struct.pack(">BQ", 0xFF, len(end)) + end.encode())


def test_an_older_workspace_gets_the_columns_compact_acks_need(tmp_path, demo_key, server):
    ws = Workspace(tmp_path / "old")
    for column in ("export_id", "previous_chain", "chain", "missing"):
        ws.db.execute(f"ALTER TABLE held DROP COLUMN {column}")
    ws.close()
    ws = Workspace(tmp_path / "old")
    try:
        server.submit("almaty")
        ws.open_bundle(export(server, tmp_path, "e.tdx"), Keyring.of(demo_key))
        assert isinstance(acks.parse(ws.pending_ack(Keyring.of(demo_key))[0]), acks.RangeAck)
    finally:
        ws.close()


def test_the_tests_rechain_computes_the_chain_value_the_server_wrote(server, tmp_path):
    server.submit("almaty")
    records = read_records(export(server, tmp_path, "e.tdx").read_bytes())
    assert json.loads(rechain(records)[0][1]) == json.loads(records[0][1])


def test_exports_that_carried_nothing_neither_wait_nor_split_the_runs(
        server, workspace, demo_key, tmp_path):
    keyring = Keyring.of(demo_key)
    server.submit("almaty")
    workspace.open_bundle(export(server, tmp_path, "e1.tdx"), keyring)
    for n in (2, 3):  # pulls with nothing new
        workspace.open_bundle(export(server, tmp_path, f"e{n}.tdx"), keyring)
    server.submit("almaty")
    workspace.open_bundle(export(server, tmp_path, "e4.tdx"), keyring)
    data, numbers = workspace.pending_ack(keyring)
    assert [r[:2] for r in acks.parse(data).ranges] == [(1, 4)] and numbers == [1, 2, 3, 4]
    import_ack(server, data)
    workspace.mark_acked(numbers)
    # And once acknowledged, more empty pulls leave nothing to acknowledge
    workspace.open_bundle(export(server, tmp_path, "e5.tdx"), keyring)
    assert not workspace.ack_pending()
    with pytest.raises(InputError, match="already acknowledged"):
        workspace.pending_ack(keyring)


def test_a_compact_ack_naming_a_tip_forwarded_since_counts_it_gone(
        server, workspace, demo_key, tmp_path):
    # Given a damaged device report, named as not held, then forwarded to astana's unit
    bad = submit_sealed(server, demo_key, body=garbage_envelope("tip", demo_key.public.key_id))
    workspace.open_bundle(export(server, tmp_path, "e1.tdx"), Keyring.of(demo_key))
    data, _ = workspace.pending_ack(Keyring.of(demo_key))
    assert acks.parse(data).except_tips == (bad,)
    server.db.execute("UPDATE tips SET unit = 'astana-police', export_seq = 0 WHERE id = ?",
                      [bad])
    server.db.execute("INSERT INTO transfers (tip_id, n, day, from_unit, to_unit, after_reply, "
                      "digest) VALUES (?, 1, '2026-12-06', 'demo', 'astana-police', 0, ?)",
                      [bad, b"\x00" * 32])
    # Then the server takes the acknowledgement, and leaves the other unit's tip alone
    counts = import_ack(server, data)
    assert counts["gone"] == 1
    assert held_seqs(server)[bad] == 0


def test_a_second_workspace_that_opened_only_a_later_full_export_is_acknowledged(
        server, workspace, demo_key, tmp_path):
    # Given a first workspace that opened export 1 and acknowledged it (the server cleared it)
    first, _ = server.submit("almaty", description="held by the first workspace")
    workspace.open_bundle(export(server, tmp_path, "e1.tdx"), Keyring.of(demo_key))
    data, numbers = workspace.pending_ack(Keyring.of(demo_key))
    import_ack(server, data)
    server.db.execute("UPDATE tips SET body = X'' WHERE id = ?", [first["id"]])
    # When a second workspace opens only a later since-start export: the first tip is a
    # bodiless record it cannot have, named as not held
    second, _ = server.submit("almaty", description="new")
    other = Workspace(tmp_path / "other")
    try:
        other.open_bundle(export(server, tmp_path, "e2.tdx", since_start=True),
                          Keyring.of(demo_key))
        data, _ = other.pending_ack(Keyring.of(demo_key))
    finally:
        other.close()
    assert acks.parse(data).except_tips == (first["id"],)
    # Then the server takes it: the new tip is held, the first stays as it was
    counts = import_ack(server, data)
    assert counts["tips"] == 1 and held_seqs(server) == {first["id"]: 1, second["id"]: 2}
