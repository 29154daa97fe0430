"""Files and follow-ups a reporter never sent are refused or flagged on the workstation.

The export bundle's checksum has no key, and anyone with the unit's public
key can seal an attachment or a follow-up for any tip and part. These tests
play the attacker who edits the bundle on the transfer stick (or a
compromised server that writes its own ciphertext), and check that the
workstation never shows such an item as the reporter's (docs/protocol.md
section 14).
"""

import base64
import hashlib
import io
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.protocol.test_bundles import Server
from tipdrop.crypto import canonical, kdf, keys
from tipdrop.errors import SignatureError
from tipdrop.officer import provenance
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol import acks, binding, bundles, device, documents, receipts
from tipdrop.reporter.client import MadeReceipt
from tipdrop.server import sealed

# --- a bundle editor, as an attacker with the file would write one -----------------


def read_records(data):
    """[(type, payload)] of an export bundle, end record excluded."""
    assert data[:8] == b"TDEXPRT1"
    records, pos = [], 8
    while True:
        kind, length = struct.unpack(">BQ", data[pos:pos + 9])
        payload = data[pos + 9:pos + 9 + length]
        pos += 9 + length
        if kind == 0xFF:
            return records
        records.append((kind, payload))


def write_records(records):
    """Rebuild a bundle as a compromised server would: its checksum and chain right again."""
    records = rechain(records)
    out = bytearray(b"TDEXPRT1")
    for kind, payload in records:
        out += struct.pack(">BQ", kind, len(payload)) + payload
    end = json.dumps({"records": len(records), "sha256": hashlib.sha256(out).hexdigest()})
    return bytes(out + struct.pack(">BQ", 0xFF, len(end)) + end.encode())


def rechain(records):
    """The records with the header's chain value made over the items they now carry."""
    header = json.loads(records[0][1])
    items = {"tips": [], "followups": [], "attachments": []}
    for kind, payload in records[1:]:
        if kind == 0x02:
            items["tips"].append(json.loads(payload)["id"])
        elif kind == 0x03:
            doc = json.loads(payload)
            items["followups"].append((doc["tip_id"], doc["seq"]))
        elif kind == 0x04:
            doc = json.loads(payload)
            items["attachments"].append((doc["tip_id"], doc["part"]))
    header["chain"] = acks.chain_link(
        bytes.fromhex(header["previous_chain"]), header["unit"], header["export_seq"],
        bytes.fromhex(header["export_id"]), acks.items_digest(**items)).hex()
    return [(0x01, json.dumps(header).encode())] + records[1:]


def forged_attachment(public, tip_id, part, data=b"planted evidence"):
    """An attachment-info record and stream anyone with the unit's public key can make."""
    recipient = public.recipient
    info = device.seal_attachment_info(documents.attachment_info_document(
        name="planted.jpg", content_type="image/jpeg", size=len(data)), recipient, tip_id, part)
    out = io.BytesIO()
    device.encrypt_attachment(io.BytesIO(data), out, recipient, tip_id, part)
    record = json.dumps({"tip_id": tip_id, "part": part, "info": bundles.b64(info),
                         "size": len(out.getvalue())}).encode()
    return [(bundles.ATTACHMENT, record), (bundles.STREAM, out.getvalue())]


def attachment_records(records, part):
    """Indexes of the attachment record of ``part`` and of its stream."""
    for i, (kind, payload) in enumerate(records):
        if kind == bundles.ATTACHMENT and json.loads(payload)["part"] == part:
            return i, i + 1
    raise AssertionError(part)


def add_file(records, key, tip_id):
    return records + forged_attachment(key.public, tip_id, "a3")


def drop_file(records, key, tip_id):
    i, j = attachment_records(records, "a2")
    return records[:i] + records[j + 1:]


def swap_file(records, key, tip_id):
    i, j = attachment_records(records, "a2")
    return records[:i] + forged_attachment(key.public, tip_id, "a2") + records[j + 1:]


def drop_every_file(records, key, tip_id):
    # The tip is left with no file in the bundle at all: its report's list is
    # all that says something is missing.
    return [(kind, payload) for kind, payload in records
            if kind not in (bundles.ATTACHMENT, bundles.STREAM)]


TAMPERING = [add_file, drop_file, swap_file, drop_every_file]


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


def export_records(server, tmp_path):
    server.export("demo", tmp_path / "e.tdx")
    return read_records((tmp_path / "e.tdx").read_bytes())


def open_records(workspace, key, records, tmp_path):
    path = tmp_path / "altered.tdx"
    path.write_bytes(write_records(records))
    return workspace.open_bundle(path, Keyring.of(key))


def submit_on_device(server, key, *, files=(), made=None, bind=True):
    """A report sealed as the reference client seals it; returns the tip id."""
    tip_id, recipient = device.new_tip_id(), key.public.recipient
    fields = {"region": "almaty", "tip_id": tip_id}
    if made is not None:
        fields["receipt"] = made.field()
    draft = sealed.start(server.tips, fields=fields, max_stream=1 << 30)
    parts = [f"a{n}" for n in range(1, len(files) + 1)]
    digests = {}
    for part, data in zip(parts, files, strict=False):
        info = device.seal_attachment_info(documents.attachment_info_document(
            name=f"{part}.bin", content_type="", size=len(data)), recipient, tip_id, part)
        out = io.BytesIO()
        header = device.encrypt_attachment(io.BytesIO(data), out, recipient, tip_id, part)
        digests[part] = binding.attachment_digest(info, header)
        draft.new_file(f"{part}-info", "info", "").write(info)
        draft.new_file(part, "stream", "").write(out.getvalue())
    report = documents.report_document(
        tip_id=tip_id, region="almaty", category="theft", description="sealed on a phone",
        parts=parts, digests=digests if bind else None,
        followup_public=made.followup_public if made else None)
    draft.new_file("tip", "tip", "").write(device.seal_report(report, recipient, tip_id))
    sealed.submit(server.tips, draft, region="almaty", category="theft")
    return tip_id


# --- attachments -----------------------------------------------------------------


@pytest.mark.parametrize("tamper", TAMPERING, ids=lambda f: f.__name__)
def test_an_altered_file_list_of_a_server_sealed_report_refuses_the_bundle(
        tamper, server, workspace, demo_key, tmp_path):
    # Given a report the server sealed with two files, exported to the stick
    tip, _ = server.submit("almaty", files=[("a.bin", b"first"), ("b.bin", b"second")])
    records = export_records(server, tmp_path)
    # When someone adds, drops or replaces a file and fixes the keyless checksum
    with pytest.raises(bundles.BundleError, match=f"tip {tip['id'][:8]}.*altered"):
        open_records(workspace, demo_key, tamper(records, demo_key, tip["id"]), tmp_path)
    # Then nothing at all was imported
    assert workspace.list() == []


def test_the_untouched_bundle_opens_and_every_file_is_bound(server, workspace, demo_key,
                                                            tmp_path):
    tip, _ = server.submit("almaty", files=[("a.bin", b"first"), ("b.bin", b"second")])
    counts = open_records(workspace, demo_key, export_records(server, tmp_path), tmp_path)
    assert counts["attachments"] == 2 and "not_bound" not in counts
    shown = workspace.show(tip["id"], Keyring.of(demo_key))
    assert [f["binding"] for f in shown["attachments"]] == ["bound", "bound"]
    assert shown["files_bound"] and shown["missing_attachments"] == []


@pytest.mark.parametrize("tamper, verdicts, missing", [
    (add_file, {"a1": "bound", "a2": "bound", "a3": "not-listed"}, []),
    (drop_file, {"a1": "bound"}, ["a2"]),
    (swap_file, {"a1": "bound", "a2": "differs"}, []),
], ids=["added", "dropped", "swapped"])
def test_an_altered_file_list_of_a_device_report_is_flagged_never_shown_as_the_reporters(
        tamper, verdicts, missing, server, workspace, demo_key, tmp_path):
    tip_id = submit_on_device(server, demo_key, files=[b"first", b"second"])
    records = tamper(export_records(server, tmp_path), demo_key, tip_id)

    counts = open_records(workspace, demo_key, records, tmp_path)

    assert counts["not_bound"] == 1
    shown = workspace.show(tip_id, Keyring.of(demo_key), save_to=tmp_path / "saved")
    assert {f["part"]: f["binding"] for f in shown["attachments"]} == verdicts
    assert shown["missing_attachments"] == missing
    for f in shown["attachments"]:
        if f["binding"] != "bound":
            # Marked, not readable as evidence, never saved, never acknowledged.
            assert "NOT THE REPORTER'S" in f["damaged"] and "saved_to" not in f
    # The acknowledgement names the export, which commits to the items the
    # workstation read, and names every file it read but does not hold
    ack = acks.parse(workspace.pending_ack(Keyring.of(demo_key))[0])
    assert {part for _, part in ack.except_attachments} == {
        part for part, verdict in verdicts.items() if verdict != "bound"}
    assert [p.name.split("-")[1] for p in sorted((tmp_path / "saved").iterdir())] == sorted(
        part for part, verdict in verdicts.items() if verdict == "bound")


def test_a_report_sealed_before_binding_says_its_files_are_unbound(server, workspace,
                                                                   demo_key, tmp_path):
    tip_id = submit_on_device(server, demo_key, files=[b"first"], bind=False)
    open_records(workspace, demo_key, export_records(server, tmp_path), tmp_path)
    shown = workspace.show(tip_id, Keyring.of(demo_key))
    assert not shown["files_bound"]
    assert [f["binding"] for f in shown["attachments"]] == ["unbound"]
    assert "NOT BOUND" in shown["attachments"][0]["binding_text"]


def test_a_report_whose_digests_do_not_match_its_file_list_is_damaged(
        server, workspace, demo_key, tmp_path):
    tip_id, recipient = device.new_tip_id(), demo_key.public.recipient
    doc = json.loads(documents.report_document(tip_id=tip_id, region="almaty", category="theft",
                                            description="x", parts=["a1"]))
    doc["attachment_digests"] = {}
    draft = sealed.start(server.tips, fields={"region": "almaty", "tip_id": tip_id},
                         max_stream=1 << 30)
    draft.new_file("tip", "tip", "").write(device.seal_report(
        json.dumps(doc).encode(), recipient, tip_id))
    sealed.submit(server.tips, draft, region="almaty", category="theft")
    open_records(workspace, demo_key, export_records(server, tmp_path), tmp_path)
    assert "digests do not match" in workspace.show(tip_id, Keyring.of(demo_key))["tip"][
        "damaged"]


# --- follow-ups ------------------------------------------------------------------


@pytest.fixture
def made(server):
    """A receipt made on the device, on a locator the server reserved, with its (test) costs."""
    reservation = server.tips.reserve_locator()
    receipt = receipts.generate(reservation.locator)
    salt = bytes(range(16))
    derived = kdf.receipt_keys(receipt.secret_bytes, salt, kdf.TEST_PARAMS, followup=True)
    protected = receipts.Protected(receipt.locator, salt, kdf.TEST_PARAMS, derived.verifier,
                                   derived.reply_public)
    return MadeReceipt(receipt, protected, derived.followup_public, reservation.token)


def device_followup(server, key, tip_id, seq, text, signer=None, signature=None):
    if signer is not None:
        signature = binding.sign_followup(signer, tip_id=tip_id, seq=seq, text=text)
    body = device.seal_followup(documents.followup_document(text, signature), key.public.recipient,
                                tip_id, seq)
    return sealed.add_followup(server.tips, tip_id=tip_id, part=f"f{seq}", body=body)


def test_follow_ups_are_labelled_by_who_can_be_proven_to_have_written_them(
        server, workspace, demo_key, tmp_path, made):
    # Given a report whose receipt was made on the device (server never saw it)
    tip_id = submit_on_device(server, demo_key, made=made)
    checked = server.tips.check(receipt=made.receipt.formatted)
    assert checked.tip_id == tip_id
    reporter = kdf.receipt_keys(made.receipt.secret_bytes, checked.receipt_salt,
                                kdf.Argon2Params(**checked.receipt_params), followup=True)
    # When the reporter's device signs one, the no-JS page has the server seal one,
    # and a compromised server seals one itself and one with a made-up signature
    device_followup(server, demo_key, tip_id, 1, "the reporter, signed", reporter.followup_key)
    server.tips.add_followup(tip_id=tip_id, text="typed without JavaScript")
    device_followup(server, demo_key, tip_id, 3, "forged by the server")
    device_followup(server, demo_key, tip_id, 4, "forged with a signature",
                    keys.generate("x").ed25519)

    counts = open_records(workspace, demo_key, export_records(server, tmp_path), tmp_path)

    # Then only the first is the reporter's; the forged ones are counted at open
    assert counts["not_signed"] == 2
    shown = workspace.show(tip_id, Keyring.of(demo_key))
    assert [(f["seq"], f["origin"]) for f in shown["followups"]] == [
        (1, "signed"), (2, "server"), (3, "unsigned"), (4, "bad-signature")]
    assert shown["followups"][0]["origin_text"] == provenance.FOLLOWUP_WORDS["signed"]
    assert shown["followup_key"] is True


def test_a_signature_is_not_valid_for_another_number_or_text(made):
    key = kdf.receipt_keys(made.receipt.secret_bytes, bytes(16), kdf.TEST_PARAMS,
                           followup=True)
    tip_id = "0" * 32
    signature = base64.b64encode(binding.sign_followup(key.followup_key, tip_id=tip_id, seq=2,
                                                       text="hello")).decode()
    binding.verify_followup(key.followup_public, signature, tip_id=tip_id, seq=2, text="hello")
    for changed in ({"seq": 3, "text": "hello"}, {"seq": 2, "text": "hello!"}):
        with pytest.raises(SignatureError):
            binding.verify_followup(key.followup_public, signature, tip_id=tip_id, **changed)


# --- a receipt made on the device --------------------------------------------------


def test_a_receipt_made_on_the_device_is_stored_without_the_server_seeing_it(server, demo_key,
                                                                              made):
    tip_id = submit_on_device(server, demo_key, made=made)
    row = server.db.execute("SELECT locator, receipt_salt, verifier, reply_public FROM tips "
                            "WHERE id = ?", [tip_id]).fetchone()
    assert tuple(row) == (made.receipt.locator, made.protected.salt, made.protected.verifier,
                          made.protected.reply_public)
    assert server.tips.check(receipt=made.receipt.formatted).tip_id == tip_id


@pytest.mark.parametrize("change, error", [
    ({"time_cost": 1, "memory_cost_kib": 8, "parallelism": 1},
     sealed.ReceiptSettingsChangedError),
    ({"salt": "AAAA"}, sealed.SealedFormatError),
    ({"locator": "ILOU0"}, sealed.SealedFormatError),
    ({"verifier": "not base64"}, sealed.SealedFormatError),
    # A low-order point: no reply could ever be sealed to it
    ({"reply_public": "A" * 43 + "="}, sealed.SealedFormatError),
])
def test_a_device_receipt_with_other_costs_or_bad_fields_is_refused(server, made, change,
                                                                    error):
    doc = json.loads(made.field()) | change
    with pytest.raises(error):
        sealed.start(server.tips, fields={"region": "almaty", "tip_id": device.new_tip_id(),
                                          "receipt": json.dumps(doc)}, max_stream=1 << 20)


def test_a_locators_reservation_is_spent_by_its_submit_and_refused_with_409_after(
        server, demo_key, made):
    submit_on_device(server, demo_key, made=made)
    with pytest.raises(sealed.LocatorNotReservedError) as refused:
        submit_on_device(server, demo_key, made=made)
    assert refused.value.http_status == 409


# --- the document formats against the vectors ----------------------------------------


VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "binding.json")
                     .read_text(encoding="utf-8"))


def test_binding_vectors_reproduce():
    for case in VECTORS["followup_keys"]:
        derived = kdf.receipt_keys(case["secret_ascii"].encode(), bytes.fromhex(case["salt"]),
                                   kdf.Argon2Params(**case["params"]), followup=True)
        assert derived.followup_key.private_bytes_raw().hex() == case["followup_seed"]
        assert derived.followup_public.hex() == case["followup_public"]
        assert derived.reply_public.hex() == case["reply_public"]
    report = VECTORS["report"]
    assert binding.reply_public_of(report).hex() == VECTORS["followup_keys"][0]["reply_public"]
    assert binding.sealed_by_of(report) == "device"
    assert documents.read_report(json.dumps(report).encode(), report["tip_id"]) == report
    for case in VECTORS["attachment_digests"]:
        assert binding.attachment_digest(bytes.fromhex(case["info_envelope"]),
                                         bytes.fromhex(case["stream_header"])) == case["digest"]
    for case in VECTORS["followup_signatures"]:
        signer = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(case["followup_seed"]))
        fields = (case["tip_id"], case["seq"], case["text"])
        assert canonical.encode(binding.FOLLOWUP_LABEL, 1, *fields).hex() == case["encoding"]
        signature = binding.sign_followup(signer, tip_id=fields[0], seq=fields[1],
                                          text=fields[2])
        assert signature.hex() == case["signature"]
        assert json.loads(documents.followup_document(case["text"], signature, "device")) \
            == case["document"]


def test_an_unsigned_device_follow_up_of_a_report_without_a_key_is_labelled_not_alarming(
        server, workspace, demo_key, tmp_path):
    # A browser-sent report has no follow-up key; its status page seals without signing
    tip_id = submit_on_device(server, demo_key)
    device_followup(server, demo_key, tip_id, 1, "typed on the status page")
    counts = open_records(workspace, demo_key, export_records(server, tmp_path), tmp_path)
    assert "not_signed" not in counts
    [followup] = workspace.show(tip_id, Keyring.of(demo_key))["followups"]
    assert followup["origin"] == "device" and "not signed" in followup["origin_text"]
