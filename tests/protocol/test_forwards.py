"""Forwards: the known answer, a round trip from one unit's workspace to the other's, and
every forged, altered, stale or misdirected forward refused whole (nothing stored).

The server side runs in process over a real SQLite file (test_bundles.Server); the
CLI and gunicorn are exercised in tests/e2e/test_forwarding.py.
"""

import dataclasses
import io
import json
from pathlib import Path

import pytest

from tests.protocol.test_bundles import Server, signed
from tipdrop.crypto import canonical, keys, signing
from tipdrop.errors import SignatureError, TipdropError
from tipdrop.officer import forwarding as workstation
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.outbox import TipForwardedError
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol import acks, bundles, device, forwards
from tipdrop.server import alertconfig, exchange, forwarding, store
from tipdrop.server.store import alerts as store_alerts

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "forward.json").read_text())
EVIDENCE = bytes(range(256)) * 300


# --- the known answer ----------------------------------------------------------------


def test_forward_vector_encodes_signs_and_verifies_as_recorded():
    forward_entry, bundle_entry = VECTORS["vectors"]
    forward = forwards.from_json(forward_entry["json"])
    key_id = bytes.fromhex(VECTORS["from_key_id"])
    fields = forwards.forward_fields(VECTORS["from_unit"], key_id, forward)
    assert canonical.encode(forwards.LABEL, *fields).hex() == forward_entry["encoding"]
    public = bytes.fromhex(VECTORS["from_ed25519_public"])
    forwards.verify_forward(public, VECTORS["from_unit"], key_id, forward)
    private = signing.Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex(VECTORS["from_ed25519_private"]))
    assert forwards.sign_forward(private, VECTORS["from_unit"], key_id, forward).signature.hex() \
        == forward_entry["signature"]
    assert forwards.digest(VECTORS["from_unit"], key_id, forward).hex() == forward_entry["digest"]
    bundle = bundles.parse_reply_bundle(bundle_entry["file"].encode("ascii"))
    assert bundle.forwards == (forward,) and bundle.replies == ()
    bundles.verify_reply_bundle(bundle, public)


def test_forward_vector_opens_with_the_receiving_units_key():
    [forward_entry, _] = VECTORS["vectors"]
    forward = forwards.from_json(forward_entry["json"])
    opener = keys.Opener(bytes.fromhex(VECTORS["to_key_id"]),
                         keys.X25519PrivateKey.from_private_bytes(
                             bytes.fromhex(VECTORS["to_x25519_private"])), "north")
    from tipdrop.crypto import envelope, stream

    report = json.loads(envelope.open_(forward.report, opener, kind="tip",
                                       tip_id=VECTORS["tip_id"]))
    assert report["description"] == "Forwarded report."
    out = io.BytesIO()
    stream.decrypt_stream(io.BytesIO(forward.attachments[0].stream), out, opener,
                          kind="attachment", tip_id=VECTORS["tip_id"], part="a1")
    assert len(out.getvalue()) == 300


# --- a round trip between two units ------------------------------------------------------


@pytest.fixture
def setting(tmp_path, demo_key, astana_key):
    """demo holds a tip with a file and a follow-up in its workspace; astana-police has a key."""
    server = Server(tmp_path / "server", demo_key, astana_key)
    tip, receipt = server.submit("almaty", files=[("clip.bin", EVIDENCE)])
    server.tips.add_followup(tip_id=tip["id"], text="The car was blue.")
    server.export("demo", tmp_path / "demo.tdx")
    demo = Workspace(tmp_path / "demo-cases")
    demo.open_bundle(tmp_path / "demo.tdx", Keyring.of(demo_key))
    yield server, demo, tip, receipt
    demo.close()
    server.db.close()


def _forwarded(demo, demo_key, tip, target):
    keyring = Keyring.of(demo_key)
    workstation.forward(demo, keyring, tip["id"], target)
    data, _ = demo.pending_bundle(keyring)
    return data


def _state(server, tip_id):
    """Everything the server holds about a tip that a refused import must leave alone."""
    return (store.get_tip(server.db, tip_id), store.replies_for(server.db, tip_id),
            store.transfers_of(server.db, tip_id),
            list(server.db.query("SELECT * FROM followups WHERE tip_id = ?", [tip_id])),
            list(server.db.query("SELECT * FROM attachments WHERE tip_id = ?", [tip_id])),
            server.db.execute("SELECT COUNT(*) FROM blob_chunks").fetchone())


def test_a_forwarded_tip_opens_whole_at_the_other_unit_and_keeps_its_receipt(
        setting, demo_key, astana_key, tmp_path):
    server, demo, tip, receipt = setting
    keyring = Keyring.of(demo_key)
    demo.reply(tip["id"], keyring, message="We are checking.", status="in-review")
    data = _forwarded(demo, demo_key, tip, astana_key.public)

    counts = server.import_replies(data)
    assert counts == {"replies": 1, "tips": 1, "already_imported": 0, "forwards": 1,
                      "forwards_already": 0}
    moved = store.get_tip(server.db, tip["id"])
    assert (moved["unit"], moved["status"], moved["key_id"]) == (
        "astana-police", "transferred", astana_key.key_id.hex())

    # The other unit's export carries it all, and its workspace opens every item
    server.export("astana-police", tmp_path / "astana.tdx")
    astana = Workspace(tmp_path / "astana-cases")
    astana.open_bundle(tmp_path / "astana.tdx", Keyring.of(astana_key))
    shown = astana.show(tip["id"], Keyring.of(astana_key), save_to=tmp_path / "saved")
    assert shown["report"]["description"] == "A bicycle was stolen."
    assert [f["text"] for f in shown["followups"]] == ["The car was blue."]
    [saved] = shown["attachments"]
    assert Path(saved["saved_to"]).read_bytes() == EVIDENCE
    assert shown["tip"]["status"] == "transferred"

    # Its reply goes on from demo's numbers, and the reporter reads both
    seq = astana.reply(tip["id"], Keyring.of(astana_key), message="Astana police here.")
    assert seq == 2
    server.import_replies(astana.pending_bundle(Keyring.of(astana_key))[0])
    checked = server.tips.check(receipt=receipt.formatted)
    assert [r.message for r in checked.replies] == ["We are checking.", "Astana police here."]
    assert checked.status == "in-review"
    assert [(t.day, t.after_reply) for t in checked.transfers] == [(moved["status_day"], 1)]
    assert [getattr(e, "message", "") for e in checked.history] == [
        "We are checking.", "", "Astana police here."]
    astana.close()


def test_the_same_forward_imported_again_changes_nothing(setting, demo_key, astana_key):
    server, demo, tip, _ = setting
    data = _forwarded(demo, demo_key, tip, astana_key.public)
    server.import_replies(data)
    before = _state(server, tip["id"])
    assert server.import_replies(data)["forwards_already"] == 1
    assert _state(server, tip["id"]) == before
    # signed again by the same unit (a newer key would do the same): still the same forward
    assert len(store.transfers_of(server.db, tip["id"])) == 1


def test_the_old_units_replies_are_refused_after_the_forward(setting, demo_key, astana_key):
    server, demo, tip, _ = setting
    server.import_replies(_forwarded(demo, demo_key, tip, astana_key.public))
    before = _state(server, tip["id"])
    late = bundles.make_reply_bundle(demo_key.ed25519, "demo", demo_key.key_id, "2026-01-11",
                                     [signed(demo_key, tip, 1, "closed")])
    with pytest.raises(forwarding.TransferredTipError):
        server.import_replies(late)
    assert _state(server, tip["id"]) == before
    # and the workstation that forwarded it refuses to queue one at all
    with pytest.raises(TipForwardedError, match="astana-police"):
        demo.reply(tip["id"], Keyring.of(demo_key), message="late")


def test_an_acknowledgement_naming_a_forwarded_tip_is_accepted_without_touching_it(
        setting, demo_key, astana_key):
    server, demo, tip, _ = setting
    server.import_replies(_forwarded(demo, demo_key, tip, astana_key.public))
    ack, _ = demo.pending_ack(Keyring.of(demo_key))
    counts = exchange.import_ack(server.db, server.unit_keys, ack)
    # A compact acknowledgement names demo's exports; the tip is now astana-police's row,
    # first exported by none of them: nothing of it is recorded (or refused)
    assert (counts["tips"], counts["followups"], counts["attachments"]) == (0, 0, 0)
    assert store.get_tip(server.db, tip["id"])["held_seq"] == 0  # astana-police's to export
    # And a version-1 acknowledgement naming it item by item counts it as gone
    v1 = acks.sign_ack(demo_key.ed25519, "demo", demo_key.key_id, export_seq=1,
                       tips=[tip["id"]])
    assert exchange.import_ack(server.db, server.unit_keys, acks.dumps(v1))["gone"] == 1


def test_a_tip_too_large_for_one_bundle_is_refused_before_anything_is_sealed(
        setting, demo_key, astana_key):
    _, demo, tip, _ = setting
    # as if its file were 48 MiB: 64 MiB in base64, more than a bundle carries
    demo.db.execute("UPDATE attachments SET size = ? WHERE tip_id = ?", [48 * 2**20, tip["id"]])
    with pytest.raises(workstation.ForwardTooLargeError, match="MiB"):
        workstation.forward(demo, Keyring.of(demo_key), tip["id"], astana_key.public)
    assert demo.db["forwards"].count == 0
    assert demo.db.execute("SELECT status FROM tips").fetchone() == ("received",)


def _resigned(data, demo_key, change):
    """The bundle with its forward changed by ``change`` and everything signed again by demo:
    what a workstation with demo's key could send, checked by the server's own rules."""
    bundle = bundles.parse_reply_bundle(data)
    forward = forwards.sign_forward(demo_key.ed25519, "demo", demo_key.key_id,
                                    change(bundle.forwards[0]))
    return bundles.make_reply_bundle(demo_key.ed25519, "demo", demo_key.key_id,
                                     bundle.created_day, bundle.replies, [forward])


def _drop_followup(f):
    return dataclasses.replace(f, followups=())


def _sealed_to_demo(demo_key):
    def change(f):
        report = device.seal_report(b"{}", demo_key.public.recipient, f.tip_id)
        return dataclasses.replace(f, report=report)
    return change


def test_a_forward_missing_a_follow_up_the_server_holds_is_refused(setting, demo_key, astana_key):
    server, demo, tip, _ = setting
    data = _resigned(_forwarded(demo, demo_key, tip, astana_key.public), demo_key, _drop_followup)
    before = _state(server, tip["id"])
    with pytest.raises(forwarding.ForwardRefusedError, match="follow-ups"):
        server.import_replies(data)
    assert _state(server, tip["id"]) == before


def test_a_follow_up_that_arrived_after_the_export_makes_the_forward_wait(
        setting, demo_key, astana_key):
    server, demo, tip, _ = setting
    data = _forwarded(demo, demo_key, tip, astana_key.public)
    server.tips.add_followup(tip_id=tip["id"], text="Sealed to demo, not opened yet.")
    before = _state(server, tip["id"])
    with pytest.raises(forwarding.ForwardRefusedError, match="open the latest export"):
        server.import_replies(data)
    assert _state(server, tip["id"]) == before


def test_ciphertext_sealed_to_another_key_than_the_target_is_refused(
        setting, demo_key, astana_key):
    server, demo, tip, _ = setting
    data = _resigned(_forwarded(demo, demo_key, tip, astana_key.public), demo_key,
                     _sealed_to_demo(demo_key))
    with pytest.raises(forwarding.ForwardRefusedError, match="another key"):
        server.import_replies(data)


def test_a_forward_to_a_unit_with_no_key_is_refused_with_the_replies(
        setting, demo_key, tmp_path):
    server, demo, tip, _ = setting
    demo.reply(tip["id"], Keyring.of(demo_key), status="in-review")
    ghost = keys.generate("ghost")
    data = _forwarded(demo, demo_key, tip, ghost.public)
    before = _state(server, tip["id"])
    with pytest.raises(forwarding.NoSuchUnitKeyError, match="ghost"):
        server.import_replies(data)
    assert _state(server, tip["id"]) == before

    # withdrawn, the reply goes through on its own and the tip takes replies again
    workstation.cancel(demo, Keyring.of(demo_key), tip["id"])
    server.import_replies(demo.pending_bundle(Keyring.of(demo_key))[0])
    assert store.get_tip(server.db, tip["id"])["status"] == "in-review"
    demo.reply(tip["id"], Keyring.of(demo_key), status="closed")


def test_another_units_tip_cannot_be_forwarded(setting, demo_key, astana_key):
    server, demo, tip, _ = setting
    data = _forwarded(demo, demo_key, tip, astana_key.public)
    stolen = bundles.parse_reply_bundle(data).forwards[0]
    # astana-police signs a forward of demo's tip (to demo itself, or anywhere)
    forward = forwards.sign_forward(astana_key.ed25519, "astana-police", astana_key.key_id,
                                    dataclasses.replace(stolen, to_unit="demo",
                                                        to_key_id=demo_key.key_id))
    bundle = bundles.make_reply_bundle(astana_key.ed25519, "astana-police", astana_key.key_id,
                                       "2026-01-11", [], [forward])
    with pytest.raises(forwarding.ForwardRefusedError, match="not unit 'astana-police'"):
        server.import_replies(bundle)


# --- tampering: every signed field ---------------------------------------------------------


def _alter(name):
    def flip(data):
        return data[:-1] + bytes([data[-1] ^ 1])
    return {
        "to_unit": lambda f: dataclasses.replace(f, to_unit="demo"),
        "to_key_id": lambda f: dataclasses.replace(f, to_key_id=bytes(16)),
        "day": lambda f: dataclasses.replace(f, day="2026-01-12"),
        "report": lambda f: dataclasses.replace(f, report=flip(f.report)),
        "followup seq": lambda f: dataclasses.replace(f, followups=(
            dataclasses.replace(f.followups[0], seq=2),)),
        "followup day": lambda f: dataclasses.replace(f, followups=(
            dataclasses.replace(f.followups[0], received_day="2026-01-01"),)),
        "followup origin": lambda f: dataclasses.replace(f, followups=(
            dataclasses.replace(f.followups[0], encrypted_on="device"),)),
        "followup body": lambda f: dataclasses.replace(f, followups=(
            dataclasses.replace(f.followups[0], body=flip(f.followups[0].body)),)),
        "dropped followup": _drop_followup,
        "attachment info": lambda f: dataclasses.replace(f, attachments=(
            dataclasses.replace(f.attachments[0], info=flip(f.attachments[0].info)),)),
        "attachment stream": lambda f: dataclasses.replace(f, attachments=(
            dataclasses.replace(f.attachments[0], stream=flip(f.attachments[0].stream)),)),
        "dropped attachment": lambda f: dataclasses.replace(f, attachments=()),
    }[name]


@pytest.mark.parametrize("name", ["to_unit", "to_key_id", "day", "report", "followup seq",
                                  "followup day", "followup origin", "followup body",
                                  "dropped followup", "attachment info", "attachment stream",
                                  "dropped attachment"])
def test_any_change_to_a_signed_forward_breaks_its_signature(setting, demo_key, astana_key,
                                                             name):
    server, demo, tip, _ = setting
    data = _forwarded(demo, demo_key, tip, astana_key.public)
    bundle = bundles.parse_reply_bundle(data)
    altered = _alter(name)(bundle.forwards[0])
    with pytest.raises(SignatureError):
        forwards.verify_forward(demo_key.public.ed25519, "demo", demo_key.key_id, altered)
    # sent in the bundle as it is, with the bundle's own signature intact or not
    doc = json.loads(data)
    doc["forwards"] = [forwards.to_json(altered)]
    before = _state(server, tip["id"])
    with pytest.raises(SignatureError):
        server.import_replies(json.dumps(doc).encode())
    assert _state(server, tip["id"]) == before


def test_removing_the_forwards_from_a_bundle_breaks_the_bundle_signature(
        setting, demo_key, astana_key):
    server, demo, tip, _ = setting
    demo.reply(tip["id"], Keyring.of(demo_key), status="in-review")
    doc = json.loads(_forwarded(demo, demo_key, tip, astana_key.public))
    del doc["forwards"]
    with pytest.raises(SignatureError):
        server.import_replies(json.dumps(doc).encode())
    assert store.replies_for(server.db, tip["id"]) == []


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(forwards=[]), "non-empty list"),
    (lambda d: d["forwards"][0].update(to_key_id="xyz"), "to_key_id"),
    (lambda d: d["forwards"][0]["followups"].append(d["forwards"][0]["followups"][0]), "twice"),
    (lambda d: d["forwards"][0].pop("attachments"), "attachments"),
])
def test_a_malformed_forward_is_a_clear_bundle_error(setting, demo_key, astana_key, change,
                                                     message):
    _, demo, tip, _ = setting
    doc = json.loads(_forwarded(demo, demo_key, tip, astana_key.public))
    change(doc)
    with pytest.raises(bundles.BundleError, match=message):
        bundles.parse_reply_bundle(json.dumps(doc).encode())


def test_the_workstation_refuses_a_key_whose_fingerprint_differs(tmp_path, astana_key):
    path = tmp_path / "astana.pub"
    path.write_bytes(astana_key.public.to_json())
    good = keys.format_fingerprint(astana_key.public.fingerprint)
    assert workstation.target_key(path, to_unit="astana-police", fingerprint=good).key_id \
        == astana_key.key_id
    other = keys.format_fingerprint(keys.generate("astana-police").public.fingerprint)
    with pytest.raises(workstation.FingerprintMismatchError):
        workstation.target_key(path, to_unit="astana-police", fingerprint=other)
    with pytest.raises(TipdropError, match="not 'north'"):
        workstation.target_key(path, to_unit="north", fingerprint=good)


def test_a_forwarded_tip_counts_toward_the_receiving_units_duty_alerts(
        setting, demo_key, astana_key, tmp_path):
    server, demo, tip, _ = setting
    # Given duty alerts for the receiving unit (its webhook), theft being urgent for it
    hook = alertconfig.Webhook(url="https://duty.example.kz/hook", secret_file=tmp_path / "s")
    alerts = alertconfig.AlertConfig(units={"astana-police": alertconfig.UnitAlerts(
        unit="astana-police", interval=60, jitter=0, urgent=frozenset({"theft"}), webhook=hook)})
    data = _forwarded(demo, demo_key, tip, astana_key.public)

    # When the forward is imported
    exchange.import_replies(server.db, server.unit_keys, data, alerts=alerts)

    # Then it is one new, urgent report for that unit's next alert
    assert store_alerts.pending(server.db, "astana-police", "webhook") == (1, 1)
    # And imported again, it counts nothing more
    exchange.import_replies(server.db, server.unit_keys, data, alerts=alerts)
    assert store_alerts.pending(server.db, "astana-police", "webhook") == (1, 1)
