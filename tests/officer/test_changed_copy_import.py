"""A re-export that carries a held tip changed is said, audited, and leaves the held copy.

docs/threat-model.md, a compromised server: anyone can seal a new,
authentic report to the unit's public key under a tip id the unit already
holds. A tip's sealed report and its arrival record never change on the
server, so another copy in a later export is tampering (or a bug). Real
exports from a real server database (the server's library), the second made
with --since-start after the database was changed the way such a server
would change it; the CLI's side is tests/e2e/test_officer_changed_copy.py.
"""

import hashlib
import json
import re

import pytest

from tests.officer import test_officer_app as base
from tests.officer.test_officer_app import _upload, get, outcome, tip_ids, unlocked
from tests.protocol.test_bundles import Server
from tipdrop.common import sqlite
from tipdrop.crypto import envelope
from tipdrop.errors import DecryptionError
from tipdrop.officer import copies
from tipdrop.officer.audit import ACTIONS
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol import bundles, documents, fields
from tipdrop.server import exchange

ORIGINAL = "Украли кабель со стройки на Абая."
FORGED = "Подменённый текст: ничего не случилось."


def forged_body(server, tip_id, description=FORGED):
    """A new report for ``tip_id``, sealed to the unit's key as the server itself seals one."""
    public = server.unit_keys.current("demo")
    document = documents.report_document(tip_id=tip_id, region="almaty", category="theft",
                                         description=description)
    return envelope.seal(document, public.recipient, kind="tip", tip_id=tip_id)


#: How a server changes a held tip between two exports: its sealed report, or its record.
CHANGES = {
    "sealed report": lambda server, tip_id: {"body": forged_body(server, tip_id)},
    "day received": lambda server, tip_id: {"received_day": "2020-01-01"},
    "region": lambda server, tip_id: {"region": "astana"},
}
#: A changed clear reply key is judged against the key the sealed report binds instead
#: (protocol.md section 14): see the test after the next one.
CHANGES_REPLY_KEY = {
    "reply key": lambda server, tip_id: {"reply_public": hashlib.sha256(b"other").digest()},
}


@pytest.fixture
def changed(tmp_path, demo_key, astana_key, request):
    """(first export, second export, the changed tip, the tip new in the second)."""
    server = Server(tmp_path / "server", demo_key, astana_key)
    held, _ = server.submit("almaty", ORIGINAL)
    other, _ = server.submit("almaty", "Велосипед у подъезда.")
    first = tmp_path / "first.tdx"
    server.export("demo", first)
    change = (CHANGES | CHANGES_REPLY_KEY)[request.param](server, held["id"]) \
        if request.param else {}
    if change:
        sets = ", ".join(f"{column} = ?" for column in change)
        server.db.execute(f"UPDATE tips SET {sets} WHERE id = ?", [*change.values(), held["id"]])
    new, _ = server.submit("almaty", "Разбили окно машины во дворе.")
    second = tmp_path / "second.tdx"
    exchange.export_unit(server.db, server.attachments, unit="demo", out=second,
                         since_start=True)
    server.db.close()
    return first, second, held["id"], new["id"], other["id"]


def _held_rows(workspace):
    return list(workspace.db.execute("SELECT * FROM tips ORDER BY id"))


@pytest.mark.parametrize("changed", list(CHANGES), indirect=True)
def test_a_held_tip_carried_changed_is_named_and_audited_and_the_held_copy_stays(
        changed, demo_key, tmp_path):
    first, second, tip_id, new_id, _ = changed
    keyring = Keyring.of(demo_key)
    workspace = Workspace(tmp_path / "cases")
    workspace.open_bundle(first, keyring)
    before = _held_rows(workspace)

    # When the second export, carrying the held tip changed, is opened
    counts = workspace.open_bundle(second, keyring)

    # Then the tip is counted and named, the rest of the bundle still opened
    assert counts["differs"] == 1 and counts["differs_tips"] == [tip_id]
    assert counts["tips"] == 1
    assert {row[0] for row in _held_rows(workspace)} == {row[0] for row in before} | {new_id}
    # and the held copy is as it was, byte for byte
    assert [row for row in _held_rows(workspace) if row[0] != new_id] == before
    shown = json.dumps(workspace.show(tip_id, keyring, mark_read=False), ensure_ascii=False,
                       default=str)
    assert ORIGINAL in shown and FORGED not in shown
    # and the audit log names it, authenticated like every entry
    entries = workspace.verify_audit(keyring)
    differs = [e for e in entries if e["action"] == "held-differs"]
    assert [e["info"] for e in differs] == [{"tip_ids": [tip_id]}]
    assert differs[0]["tip"] is None
    assert [e["info"]["tip_ids"] for e in entries if e["action"] == "import"][-1] == [new_id]
    log = (tmp_path / "cases" / "audit.log").read_text()
    assert FORGED not in log and ORIGINAL not in log
    workspace.close()


@pytest.mark.parametrize("changed", list(CHANGES_REPLY_KEY), indirect=True)
def test_a_held_tip_carried_with_another_clear_reply_key_keeps_the_reports_key_and_is_audited(
        changed, demo_key, tmp_path):
    first, second, tip_id, new_id, _ = changed
    keyring = Keyring.of(demo_key)
    workspace = Workspace(tmp_path / "cases")
    workspace.open_bundle(first, keyring)
    before = _held_rows(workspace)

    # When the second export carries the held tip with another clear reply key
    counts = workspace.open_bundle(second, keyring)

    # Then the key the sealed report binds stays, the tip is named and audited
    assert counts["rekeyed"] == [tip_id] and counts["tips"] == 1
    assert [row for row in _held_rows(workspace) if row[0] != new_id] == before
    entries = workspace.verify_audit(keyring)
    assert [(e["tip"], e["info"]) for e in entries if e["action"] == "clear-differs"] == [
        (tip_id, {"reply_key": True})]
    workspace.close()


def _carried_tip(bundle, tip_id):
    """The tip record ``bundle`` carries for ``tip_id`` (checked, body as bytes)."""
    with open(bundle, "rb") as f:
        for record in bundles.ExportReader(f):
            if record.kind == bundles.TIP and record.doc["id"] == tip_id:
                return fields.check(record.doc, fields.EXPORT_TIP, "a tip", bundles.BundleError)
    raise AssertionError("not carried")


@pytest.mark.parametrize("changed", list(CHANGES), indirect=True)
def test_the_copy_that_came_changed_is_kept_sealed_as_received_and_once(
        changed, demo_key, tmp_path):
    """An acknowledgement lets the server purge its copy: the evidence must stay here."""
    first, second, tip_id, _, _ = changed
    keyring = Keyring.of(demo_key)
    workspace = Workspace(tmp_path / "cases")
    workspace.open_bundle(first, keyring)
    workspace.open_bundle(second, keyring)
    carried = _carried_tip(second, tip_id)
    # Then the copy that came is in the workspace, sealed and recorded as it came
    [kept] = [dict(zip(("why", "export_seq", *copies.RECORD, "body"), row, strict=True)) for row in
              workspace.db.execute(f"SELECT why, export_seq, {', '.join(copies.RECORD)}, body "
                                   "FROM copies WHERE tip_id = ?", [tip_id])]
    assert kept["why"] == "changed" and kept["body"] == carried["body"]
    assert kept["export_seq"] == 2
    assert {c: kept[c] for c in ("key_id", "received_day", "reply_public", "status")} == {
        c: carried[c] for c in ("key_id", "received_day", "reply_public", "status")}
    assert kept["server_region"] == carried["region"]
    # and the officer is told, without its words
    shown = workspace.show(tip_id, keyring, mark_read=False)
    assert shown["other_copies"] == [{"n": 1, "why": "changed", "day": kept_day(workspace),
                                      "export_seq": 2}]
    assert ORIGINAL in shown["report"]["description"]
    # and only then may the tip be acknowledged: it is held, its evidence kept
    ack = json.loads(workspace.pending_ack(keyring)[0])
    assert ack["exports"] == [[1, 2, ack["exports"][0][2]]] and tip_id not in ack["except_tips"]
    # When the same changed copy comes again, it is not kept twice
    assert workspace.open_bundle(second, keyring, again=True)["differs"] == 1
    assert workspace.db.execute("SELECT COUNT(*) FROM copies").fetchone()[0] == 1
    workspace.close()


def kept_day(workspace):
    return workspace.db.execute("SELECT day FROM copies").fetchone()[0]


@pytest.mark.parametrize("changed", [None], indirect=True)
def test_an_unchanged_re_export_names_no_tip(changed, demo_key, tmp_path):
    first, second, _, _, _ = changed
    keyring = Keyring.of(demo_key)
    workspace = Workspace(tmp_path / "cases")
    workspace.open_bundle(first, keyring)
    counts = workspace.open_bundle(second, keyring)
    assert "differs" not in counts and counts["tips"] == 1
    assert not [e for e in workspace.verify_audit(keyring) if e["action"] == "held-differs"]
    workspace.close()


def test_a_workspace_from_before_device_sealing_names_no_unchanged_tip(
        demo_key, astana_key, tmp_path):
    # Given a tip held with no encrypted_on (imported before device sealing was recorded)
    server = Server(tmp_path / "server", demo_key, astana_key)
    server.submit("almaty", ORIGINAL)
    server.export("demo", tmp_path / "first.tdx")
    exchange.export_unit(server.db, server.attachments, unit="demo",
                         out=tmp_path / "again.tdx", since_start=True)
    server.db.close()
    keyring = Keyring.of(demo_key)
    workspace = Workspace(tmp_path / "cases")
    workspace.open_bundle(tmp_path / "first.tdx", keyring)
    workspace.db.execute("UPDATE tips SET encrypted_on = NULL")
    # Then its re-export is the same tip
    assert "differs" not in workspace.open_bundle(tmp_path / "again.tdx", keyring)
    workspace.close()


def test_a_changed_copy_said_to_be_sealed_on_a_device_cannot_excuse_a_bad_file(
        demo_key, astana_key, tmp_path):
    """The held copy, not the changed one, says how the tip was sealed: a server that
    marks a held tip "device" cannot get a file it forged for it taken as merely damaged."""
    server = Server(tmp_path / "server", demo_key, astana_key)
    held, _ = server.submit("almaty", ORIGINAL)
    other, _ = server.submit("almaty", "Велосипед у подъезда.", files=[("a.bin", b"x" * 999)])
    server.export("demo", tmp_path / "first.tdx")
    # Given a server that marks the held tip as sealed on a device, and gives it a file
    # (another tip's: sealed to the unit, but bound to the other tip, so it opens to nothing)
    server.db.execute("UPDATE tips SET encrypted_on = 'device', body = ? WHERE id = ?",
                      [forged_body(server, held["id"]), held["id"]])
    server.db.execute("INSERT INTO attachments (tip_id, part, info, blob, size, export_seq, "
                      "held_seq) SELECT ?, part, info, blob, size, 0, 0 FROM attachments "
                      "WHERE tip_id = ?", [held["id"], other["id"]])
    exchange.export_unit(server.db, server.attachments, unit="demo",
                         out=tmp_path / "second.tdx", since_start=True)
    server.db.close()
    keyring = Keyring.of(demo_key)
    workspace = Workspace(tmp_path / "cases")
    workspace.open_bundle(tmp_path / "first.tdx", keyring)
    before = {table: list(workspace.db.execute(f"SELECT * FROM {table} ORDER BY 1"))
              for table in ("tips", "attachments", "bundles")}

    # Then the file of a tip the server sealed does not open: the bundle is refused whole
    with pytest.raises(DecryptionError):
        workspace.open_bundle(tmp_path / "second.tdx", keyring)
    assert before == {table: list(workspace.db.execute(f"SELECT * FROM {table} ORDER BY 1"))
                      for table in before}
    workspace.close()


def test_every_audit_action_is_named_in_the_protocol_document():
    text = open("docs/protocol.md", encoding="utf-8").read()
    section = text[text.index("## 17."):text.index("## 18.")]
    assert [a for a in ACTIONS if f"`{a}`" not in section] == []


# The officer app's import result: tests/officer/test_officer_app.py's real workspace of
# four tips, opened from the first export of a server database kept in its tmp_path.
app, clock, desk, unit, workdir = base.app, base.clock, base.desk, base.unit, base.workdir


def test_the_apps_import_result_names_a_held_tip_carried_changed(app, unit, tmp_path):
    client = unlocked(app)
    tip_id = sorted(tip_ids(get(client, "/inbox")))[0]
    db = sqlite.connect(tmp_path / "server" / "instance" / "tipdrop.db")
    db.execute("UPDATE tips SET body = ? WHERE id = ?", [envelope.seal(
        documents.report_document(tip_id=tip_id, region="almaty", category="theft",
                                  description=FORGED),
        unit[1].public.recipient, kind="tip", tip_id=tip_id), tip_id])
    exchange.export_unit(db, tmp_path / "server" / "instance" / "attachments", unit="demo",
                         out=tmp_path / "again.tdx", since_start=True)
    db.close()

    page = outcome(client, _upload(client, tmp_path / "again.tdx", name="again.tdx"))

    text = page.get_data(as_text=True)
    assert page.status_code == 200
    # The one tip new since the workspace's export, and the changed one named by its short id
    assert "New: 1 tips" in text
    differs = re.search(r'<p class="warning" role="alert" id="differs">(.*?)</p>', text, re.S)
    assert differs and "1 tip already held here came with another sealed report" in differs[1]
    assert f"<code>{tip_id[:12]}</code>" in differs[1] and f'data-tip="{tip_id}"' in differs[1]
    assert FORGED not in text
    # and the tip's page says another copy came and is kept, without its words
    tip_page = get(client, f"/tip/{tip_id}").get_data(as_text=True)
    kept = re.search(r'<p class="warning" role="alert" data-copy="1">(.*?)</p>', tip_page, re.S)
    assert kept and "carried another sealed copy of this report" in kept[1]
    assert "kept in the workspace as it came" in kept[1]
    assert FORGED not in tip_page
