"""Device-sealed content on the workstation: untrusted, so a bad item is marked, not fatal.

A reporter's device chooses every byte inside what it seals, and the server
cannot look. One malformed report must not block the unit's imports, and
whatever a report says must not reach the officer's terminal as control codes.
"""

import io
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.acked import acknowledged
from tests.protocol.test_bundles import Server
from tipdrop.crypto import envelope, kdf, keys, padding
from tipdrop.errors import DecryptionError, FormatError
from tipdrop.officer.cli import officer
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol import device, documents
from tipdrop.server import exchange, sealed


@pytest.fixture
def server(tmp_path, demo_key, astana_key):
    running = Server(tmp_path / "server", demo_key, astana_key)
    yield running
    running.db.close()


def garbage_envelope(kind, key_id):
    """Bytes that pass every check the server can make, yet open to nothing."""
    return bytes([1, envelope.KINDS[kind]]) + key_id + os.urandom(envelope.OVERHEAD - 18 + 256)


def submit_sealed(server, key, *, body=None, report=None, files=(), stream_for=None,
                  tip_id=None):
    tip_id = tip_id or device.new_tip_id()
    recipient = key.public.recipient
    parts = [f"a{n}" for n in range(1, len(files) + 1)]
    if report is None:
        report = documents.report_document(tip_id=tip_id, region="almaty", category="theft",
                                        description="sealed on a phone", parts=parts)
    draft = sealed.start(server.tips, fields={"region": "almaty", "tip_id": tip_id},
                         max_stream=1 << 30)
    draft.new_file("tip", "tip", "").write(
        body if body is not None else device.seal_report(report, recipient, tip_id))
    for part, data in zip(parts, files, strict=False):
        info = documents.attachment_info_document(name="clip.bin", content_type="", size=len(data))
        draft.new_file(f"{part}-info", "info", "").write(
            device.seal_attachment_info(info, recipient, tip_id, part))
        out = io.BytesIO()
        device.encrypt_attachment(io.BytesIO(data), out, recipient, tip_id, part)
        sealed_stream = stream_for(out.getvalue()) if stream_for else out.getvalue()
        writer = draft.new_file(part, "stream", "")
        writer.write(sealed_stream)
    sealed.submit(server.tips, draft, region="almaty", category="theft")
    return tip_id


@pytest.fixture
def workspace(tmp_path):
    ws = Workspace(tmp_path / "cases")
    yield ws
    ws.close()


def open_export(server, workspace, key, tmp_path):
    server.export("demo", tmp_path / "e.tdx")
    return workspace.open_bundle(tmp_path / "e.tdx", Keyring.of(key))


def test_a_device_report_that_does_not_open_is_imported_as_damaged_with_the_rest(
        server, workspace, demo_key, tmp_path):
    good, _ = server.submit("almaty", description="server-sealed, fine")
    bad = submit_sealed(server, demo_key, body=garbage_envelope("tip", demo_key.public.key_id))
    fine = submit_sealed(server, demo_key)

    counts = open_export(server, workspace, demo_key, tmp_path)

    assert counts["tips"] == 3 and counts["damaged"] == 1
    listed = {row["id"]: row["damaged"] for row in workspace.list()}
    assert listed == {good["id"]: False, bad: True, fine: False}
    shown = workspace.show(bad, Keyring.of(demo_key))
    assert shown["tip"]["damaged"] and shown["report"] == {}
    assert shown["tip"]["region"] == "almaty"  # the server's copy, flagged as unverified
    assert workspace.show(fine, Keyring.of(demo_key))["report"]["description"] == "sealed on a phone"


def _report_with(**fields):
    def make(tip_id):
        doc = json.loads(documents.report_document(tip_id=tip_id, region="almaty", category="theft",
                                                description="x"))
        return json.dumps(doc | fields).encode()
    return make


@pytest.mark.parametrize("report", [
    b"not json", b"[1, 2]", json.dumps({"format": "tipdrop-report", "version": 2}).encode(),
    json.dumps({"format": "tipdrop-report", "version": 1, "tip_id": "0" * 32}).encode(),
    _report_with(description="\ud800 a lone surrogate"),
    _report_with(region="\x1b]0;owned\x07"),
    _report_with(category="Theft Of Bicycles"),
    _report_with(attachments=["../../etc/passwd"]),
    _report_with(answers={"plate": "123"}),
    _report_with(answers=[{"id": "day", "kind": "date", "label": "Day", "value": "2023-02-30"}]),
    _report_with(answers=[{"id": "x", "kind": "text", "label": "\ud800", "value": "a"}]),
], ids=["not-json", "not-an-object", "version-2", "another-tip", "lone-surrogate",
        "escape-in-region", "not-a-category-code", "bad-part-name", "answers-not-a-list",
        "answer-not-a-real-day", "answer-label-lone-surrogate"])
def test_a_device_report_that_is_not_a_valid_document_is_marked_damaged(
        server, workspace, demo_key, tmp_path, report):
    tip_id = device.new_tip_id()
    if callable(report):
        report = report(tip_id)
    tip_id = submit_sealed(server, demo_key, report=report, tip_id=tip_id)
    open_export(server, workspace, demo_key, tmp_path)
    [listed] = workspace.list()
    assert listed["damaged"] and listed["id"] == tip_id
    assert listed["region"] == "almaty"  # the server's code stands in for a damaged one
    assert workspace.show(tip_id, Keyring.of(demo_key))["report"] == {}


def test_damaged_items_are_not_acknowledged_so_the_server_keeps_its_copy(
        server, workspace, demo_key, tmp_path):
    bad = submit_sealed(server, demo_key, body=garbage_envelope("tip", demo_key.public.key_id))
    fine = submit_sealed(server, demo_key)
    open_export(server, workspace, demo_key, tmp_path)
    data, _ = workspace.pending_ack(Keyring.of(demo_key))
    named = acknowledged(data, server.db)["tips"]
    assert fine in named and bad not in named


def test_a_device_file_with_a_forged_chunk_is_marked_damaged_and_the_report_still_reads(
        server, workspace, demo_key, tmp_path):
    def flip_last_byte(data):
        return data[:-1] + bytes([data[-1] ^ 1])

    tip_id = submit_sealed(server, demo_key, files=[b"frame" * 30_000], stream_for=flip_last_byte)
    counts = open_export(server, workspace, demo_key, tmp_path)
    assert counts["damaged"] == 1
    shown = workspace.show(tip_id, Keyring.of(demo_key), save_to=tmp_path / "out")
    assert shown["report"]["description"] == "sealed on a phone"
    [entry] = shown["attachments"]
    assert "damaged" in entry and not (tmp_path / "out").exists()


def test_server_sealed_content_that_does_not_open_still_refuses_the_whole_bundle(
        server, workspace, demo_key, tmp_path):
    tip, _ = server.submit("almaty")
    server.db.execute("UPDATE tips SET body = ? WHERE id = ?",
                      [garbage_envelope("tip", demo_key.public.key_id), tip["id"]])
    submit_sealed(server, demo_key)
    with pytest.raises(DecryptionError):
        open_export(server, workspace, demo_key, tmp_path)
    assert workspace.list() == []


def officer_env(key, tmp_path):
    """The environment of `tipdrop officer` with ``key`` in a cheap key file."""
    key_file = tmp_path / "demo.key"
    key_file.write_bytes(keys.private_to_file(key, "pw", kdf.TEST_PARAMS))
    return {"TIPDROP_WORKDIR": str(tmp_path / "cases"), "TIPDROP_KEY": str(key_file),
            "TIPDROP_PASSPHRASE": "pw"}


def test_control_characters_in_a_report_never_reach_the_officers_terminal(
        server, demo_key, tmp_path):
    tip_id = device.new_tip_id()
    hostile = "look\x1b]0;owned\x07 here\u202eexe.pdf\x1b[2J"
    report = documents.report_document(tip_id=tip_id, region="almaty", category="theft",
                                    description=hostile, where="\x1b[31mred")
    draft = sealed.start(server.tips, fields={"region": "almaty", "tip_id": tip_id},
                         max_stream=1 << 20)
    draft.new_file("tip", "tip", "").write(
        device.seal_report(report, demo_key.public.recipient, tip_id))
    sealed.submit(server.tips, draft, region="almaty", category="theft")
    server.export("demo", tmp_path / "e.tdx")
    env = officer_env(demo_key, tmp_path)
    runner = CliRunner()
    assert runner.invoke(officer, ["open", str(tmp_path / "e.tdx")], env=env).exit_code == 0
    shown = runner.invoke(officer, ["show", tip_id], env=env)
    assert shown.exit_code == 0, shown.output
    assert "\x1b" not in shown.output and "\u202e" not in shown.output and "\x07" not in shown.output
    assert "look\\u001b]0;owned\\u0007 here\\u202eexe.pdf" in shown.output


def test_padding_of_garbage_envelope_matches_what_the_server_accepts(demo_key):
    data = garbage_envelope("tip", demo_key.public.key_id)
    assert envelope.check_sealed(data, kind="tip", max_len=1 << 20) == demo_key.public.key_id
    assert padding.padme(len(data) - envelope.OVERHEAD) == len(data) - envelope.OVERHEAD


# --- follow-ups sealed on the device --------------------------------------------------


def add_device_followup(server, key, tip_id, seq, *, text="A red car, plate 017.", body=None,
                        document=None):
    if body is None:
        document = document if document is not None else documents.followup_document(text)
        body = device.seal_followup(document, key.public.recipient, tip_id, seq)
    return sealed.add_followup(server.tips, tip_id=tip_id, part=f"f{seq}", body=body)


def test_a_device_follow_up_that_does_not_open_is_imported_damaged_and_not_acknowledged(
        server, workspace, demo_key, tmp_path):
    # Given a report with a follow-up sealed here, a garbage one and a good one from a device
    tip, _ = server.submit("almaty", description="server-sealed report")
    server.tips.add_followup(tip_id=tip["id"], text="Typed on the page.")
    add_device_followup(server, demo_key, tip["id"], 2,
                        body=garbage_envelope("followup", demo_key.public.key_id))
    add_device_followup(server, demo_key, tip["id"], 3)

    # When the officer opens the export
    counts = open_export(server, workspace, demo_key, tmp_path)

    # Then everything is imported, the garbage one marked damaged, the rest readable
    assert (counts["tips"], counts["followups"], counts["damaged"]) == (1, 3, 1)
    [listed] = workspace.list()
    assert listed["damaged"] and listed["unread_followups"] == 3
    shown = workspace.show(tip["id"], Keyring.of(demo_key))
    assert shown["report"]["description"] == "server-sealed report"
    by_seq = {f["seq"]: f for f in shown["followups"]}
    assert by_seq[1]["text"] == "Typed on the page."
    assert "text" not in by_seq[2] and by_seq[2]["damaged"]
    assert by_seq[3]["text"] == "A red car, plate 017."
    # And the damaged one is not acknowledged, so the server keeps its copy
    data, _ = workspace.pending_ack(Keyring.of(demo_key))
    assert acknowledged(data, server.db)["followups"] == [[tip["id"], 1], [tip["id"], 3]]


def test_a_damaged_device_follow_up_is_not_acknowledged_when_exported_again(
        server, workspace, demo_key, tmp_path):
    tip, _ = server.submit("almaty")
    add_device_followup(server, demo_key, tip["id"], 1,
                        body=garbage_envelope("followup", demo_key.public.key_id))
    open_export(server, workspace, demo_key, tmp_path)
    workspace.write_ack(Keyring.of(demo_key), tmp_path / "ack1.json")
    from tipdrop.server import exchange

    exchange.export_unit(server.db, server.attachments, unit="demo", out=tmp_path / "again.tdx",
                         since_start=True)
    counts = workspace.open_bundle(tmp_path / "again.tdx", Keyring.of(demo_key))
    assert counts["followups"] == 0
    data, _ = workspace.pending_ack(Keyring.of(demo_key))
    assert acknowledged(data, server.db)["followups"] == []


def _followup_with(**fields):
    return json.dumps({"format": "tipdrop-followup", "version": 1, "text": "x"} | fields).encode()


@pytest.mark.parametrize("document", [
    b"not json", b"[1, 2]", b'"just text"',
    _followup_with(format="tipdrop-report"), _followup_with(version=2),
    _followup_with(text=17), _followup_with(text=None),
    _followup_with(text="\ud800 a lone surrogate"),
], ids=["not-json", "not-an-object", "a-string", "another-format", "version-2",
        "text-a-number", "text-missing", "lone-surrogate"])
def test_a_device_follow_up_that_is_not_a_valid_document_is_marked_damaged(
        server, workspace, demo_key, tmp_path, document):
    tip_id = submit_sealed(server, demo_key)
    add_device_followup(server, demo_key, tip_id, 1, document=document)
    add_device_followup(server, demo_key, tip_id, 2, text="fine")
    counts = open_export(server, workspace, demo_key, tmp_path)
    assert counts["damaged"] == 1
    shown = workspace.show(tip_id, Keyring.of(demo_key))
    assert [("damaged" in f, f.get("text")) for f in shown["followups"]] == [
        (True, None), (False, "fine")]
    assert shown["report"]["description"] == "sealed on a phone"


@pytest.mark.parametrize("damage", ["does not open", "not a follow-up document"])
def test_a_bad_follow_up_sealed_on_the_server_still_refuses_the_whole_bundle(
        server, workspace, demo_key, tmp_path, damage):
    tip, _ = server.submit("almaty")
    server.tips.add_followup(tip_id=tip["id"], text="Typed on the page.")
    body = garbage_envelope("followup", demo_key.public.key_id)
    if damage == "not a follow-up document":
        body = device.seal_followup(b"not json", demo_key.public.recipient, tip["id"], 1)
    server.db.execute("UPDATE followups SET body = ? WHERE tip_id = ?", [body, tip["id"]])
    submit_sealed(server, demo_key)
    with pytest.raises((DecryptionError, FormatError)):
        open_export(server, workspace, demo_key, tmp_path)
    assert workspace.list() == []


def test_officer_show_prints_a_damaged_follow_up_as_damaged_and_escapes_the_others(
        server, demo_key, tmp_path):
    tip_id = submit_sealed(server, demo_key)
    add_device_followup(server, demo_key, tip_id, 1,
                        body=garbage_envelope("followup", demo_key.public.key_id))
    add_device_followup(server, demo_key, tip_id, 2, text="plate\x1b[2J 017\u202e")
    server.export("demo", tmp_path / "e.tdx")
    env = officer_env(demo_key, tmp_path)
    runner = CliRunner()
    opened = runner.invoke(officer, ["open", str(tmp_path / "e.tdx")], env=env)
    assert opened.exit_code == 0 and "1 items sealed on reporters' devices" in opened.output
    assert "DAMAGED" in runner.invoke(officer, ["list"], env=env).output
    shown = runner.invoke(officer, ["show", tip_id], env=env)
    assert shown.exit_code == 0, shown.output
    assert "follow-up 1" in shown.output and "DAMAGED" in shown.output
    assert "\x1b" not in shown.output and "\u202e" not in shown.output
    assert "plate\\u001b[2J 017\\u202e" in shown.output


def test_a_damaged_copy_is_acknowledged_only_once_an_intact_copy_replaced_it(
        server, workspace, demo_key, tmp_path):
    # Given a device report that a faulty server damaged on the first export
    tip_id = submit_sealed(server, demo_key)
    intact = submit_sealed(server, demo_key)
    good = server.db.execute("SELECT body FROM tips WHERE id = ?", [tip_id]).fetchone()[0]
    server.db.execute("UPDATE tips SET body = ? WHERE id = ?",
                      [garbage_envelope("tip", demo_key.public.key_id), tip_id])
    open_export(server, workspace, demo_key, tmp_path)
    assert {row["id"]: row["damaged"] for row in workspace.list()} == {tip_id: True, intact: False}
    # When a later export carries the same damaged copy, it stays, not acknowledged
    exchange.export_unit(server.db, server.attachments, unit="demo",
                         out=tmp_path / "same.tdx", since_start=True)
    counts = workspace.open_bundle(tmp_path / "same.tdx", Keyring.of(demo_key))
    assert "replaced" not in counts
    data, _ = workspace.pending_ack(Keyring.of(demo_key), everything=True)
    assert acknowledged(data, server.db)["tips"] == [intact]
    # When one carries an intact copy (the server's copy was mended)
    server.db.execute("UPDATE tips SET body = ? WHERE id = ?", [good, tip_id])
    exchange.export_unit(server.db, server.attachments, unit="demo",
                         out=tmp_path / "again.tdx", since_start=True)
    counts = workspace.open_bundle(tmp_path / "again.tdx", Keyring.of(demo_key))
    # Then it replaces the damaged one, and only now is the report acknowledged
    assert (counts["replaced"], counts["replaced_tips"]) == (1, [tip_id])
    assert "differs" not in counts  # an intact copy of a damaged one is no changed copy
    assert workspace.db.execute("SELECT COUNT(*) FROM copies").fetchone()[0] == 0
    assert {row["id"]: row["damaged"] for row in workspace.list()} == {tip_id: False,
                                                                       intact: False}
    data, _ = workspace.pending_ack(Keyring.of(demo_key), everything=True)
    assert acknowledged(data, server.db)["tips"] == sorted([intact, tip_id])


def _export_again(server, workspace, demo_key, out):
    exchange.export_unit(server.db, server.attachments, unit="demo", out=out, since_start=True)
    return workspace.open_bundle(out, Keyring.of(demo_key))


def test_an_intact_copy_of_a_damaged_device_follow_up_replaces_it(
        server, workspace, demo_key, tmp_path):
    tip, _ = server.submit("almaty")
    add_device_followup(server, demo_key, tip["id"], 1,
                        body=garbage_envelope("followup", demo_key.public.key_id))
    open_export(server, workspace, demo_key, tmp_path)
    good = device.seal_followup(documents.followup_document("Mended on the server."),
                                demo_key.public.recipient, tip["id"], 1)
    server.db.execute("UPDATE followups SET body = ? WHERE tip_id = ?", [good, tip["id"]])

    counts = _export_again(server, workspace, demo_key, tmp_path / "again.tdx")

    assert (counts["replaced"], counts["followups"]) == (1, 0)
    [followup] = workspace.show(tip["id"], Keyring.of(demo_key))["followups"]
    assert followup["text"] == "Mended on the server." and followup["new"]
    data, _ = workspace.pending_ack(Keyring.of(demo_key), everything=True)
    assert acknowledged(data, server.db)["followups"] == [[tip["id"], 1]]


def test_an_intact_copy_of_a_damaged_device_file_replaces_it_and_the_old_file_goes(
        server, workspace, demo_key, tmp_path):
    def flip_last_byte(data):
        return data[:-1] + bytes([data[-1] ^ 1])

    frames = b"frame" * 30_000
    tip_id = submit_sealed(server, demo_key, files=[frames], stream_for=flip_last_byte)
    open_export(server, workspace, demo_key, tmp_path)
    [damaged_blob] = [r[0] for r in workspace.db.execute("SELECT blob FROM attachments")]
    # When the server's copy is mended (its last byte flipped back) and exported again
    (blob,) = server.db.execute("SELECT blob FROM attachments WHERE tip_id = ?",
                                [tip_id]).fetchone()
    seq, data = server.db.execute("SELECT seq, data FROM blob_chunks WHERE blob = ? "
                                  "ORDER BY seq DESC LIMIT 1", [blob]).fetchone()
    server.db.execute("UPDATE blob_chunks SET data = ? WHERE blob = ? AND seq = ?",
                      [flip_last_byte(data), blob, seq])
    counts = _export_again(server, workspace, demo_key, tmp_path / "again.tdx")

    # Then the intact file replaces the damaged one, which is deleted, and it saves
    assert counts["replaced"] == 1
    assert not (workspace.blobs / damaged_blob).exists()
    shown = workspace.show(tip_id, Keyring.of(demo_key), save_to=tmp_path / "out")
    [entry] = shown["attachments"]
    assert "damaged" not in entry
    assert Path(entry["saved_to"]).read_bytes() == frames
    assert sorted(p.name for p in workspace.blobs.iterdir()) == sorted(
        ["tmp"] + [r[0] for r in workspace.db.execute("SELECT blob FROM attachments")])


def test_a_device_report_claiming_the_server_sealed_it_cannot_block_the_bundle(
        server, workspace, demo_key, tmp_path):
    # Anyone with the unit's public key can seal a report that says "sealed_by":
    # "server". Were that claim to take away a device report's tolerance, one
    # anonymous reporter's forged file would refuse every export of the unit.
    def flip_last_byte(data):
        return data[:-1] + bytes([data[-1] ^ 1])

    honest, _ = server.submit("almaty", description="an honest report")
    tip_id = device.new_tip_id()
    report = documents.report_document(tip_id=tip_id, region="almaty", category="theft",
                                       description="claims the server", parts=["a1"],
                                       sealed_by="server")
    submit_sealed(server, demo_key, report=report, tip_id=tip_id, files=[b"frame" * 30_000],
                  stream_for=flip_last_byte)
    counts = open_export(server, workspace, demo_key, tmp_path)
    # The bundle opens whole: the forged file is marked damaged, the rest is in
    assert counts["damaged"] == 1
    assert {row["id"] for row in workspace.list()} == {honest["id"], tip_id}
    # and the labels that differ are named, the report shown as the more careful
    # of the two (the plaintext may have passed through the server)
    assert [tip_id, "report"] in counts["relabelled"]
    shown = workspace.show(tip_id, Keyring.of(demo_key))
    assert shown["report"]["description"] == "claims the server"
    assert shown["tip"]["encrypted_on"] == "server"
