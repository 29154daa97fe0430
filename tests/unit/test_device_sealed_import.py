"""Device-sealed content on the workstation: untrusted, so a bad item is marked, not fatal.

A reporter's device chooses every byte inside what it seals, and the server
cannot look. One malformed report must not block the unit's imports, and
whatever a report says must not reach the officer's terminal as control codes.
"""

import io
import json
import os

import pytest
from click.testing import CliRunner

from tipdrop import device, sealed
from tipdrop.crypto import envelope, kdf, keys, padding
from tipdrop.errors import DecryptionError
from tipdrop.officer.cli import officer
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace

from .test_bundles import Server


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
        report = device.report_document(tip_id=tip_id, region="almaty", category="theft",
                                        description="sealed on a phone", parts=parts)
    draft = sealed.start(server.tips, fields={"region": "almaty", "tip_id": tip_id},
                         max_stream=1 << 30)
    draft.new_file("tip", "tip", "").write(
        body if body is not None else device.seal_report(report, recipient, tip_id))
    for part, data in zip(parts, files):
        info = device.attachment_info_document(name="clip.bin", content_type="", size=len(data))
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
        doc = json.loads(device.report_document(tip_id=tip_id, region="almaty", category="theft",
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
], ids=["not-json", "not-an-object", "version-2", "another-tip", "lone-surrogate",
        "escape-in-region", "not-a-category-code", "bad-part-name"])
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
    named = json.loads(data)["tips"]
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


def test_control_characters_in_a_report_never_reach_the_officers_terminal(
        server, demo_key, tmp_path):
    tip_id = device.new_tip_id()
    hostile = "look\x1b]0;owned\x07 here\u202eexe.pdf\x1b[2J"
    report = device.report_document(tip_id=tip_id, region="almaty", category="theft",
                                    description=hostile, where="\x1b[31mred")
    draft = sealed.start(server.tips, fields={"region": "almaty", "tip_id": tip_id},
                         max_stream=1 << 20)
    draft.new_file("tip", "tip", "").write(
        device.seal_report(report, demo_key.public.recipient, tip_id))
    sealed.submit(server.tips, draft, region="almaty", category="theft")
    key_file = tmp_path / "demo.key"
    key_file.write_bytes(keys.private_to_file(demo_key, "pw", kdf.TEST_PARAMS))
    server.export("demo", tmp_path / "e.tdx")
    env = {"TIPDROP_WORKDIR": str(tmp_path / "cases"), "TIPDROP_KEY": str(key_file),
           "TIPDROP_PASSPHRASE": "pw"}
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
