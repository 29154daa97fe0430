"""A re-export that carries a held follow-up or file changed: said, audited, kept sealed.

docs/threat-model.md, a compromised server: a follow-up's sealed text, an
attachment's sealed description and its stream never change on the server
once they arrived, so another copy of one in a later export is tampering (or
a bug). The held copy stays the workspace's; the copy that came is kept,
sealed as it came, before the acknowledgement lets the server purge it.
Real exports from a real server database (the server's library), the second
made with --since-start after the database was changed the way such a server
would change it. The tip's own report: tests/officer/test_changed_copy_import.py.
"""

import io
import json
import re

import pytest

from tests.officer import test_officer_app as base
from tests.officer.test_changed_copy_import import ORIGINAL
from tests.officer.test_officer_app import _upload, get, outcome, tip_ids, unlocked
from tests.protocol.test_bundles import Server
from tipdrop.common import sqlite
from tipdrop.crypto import envelope, stream
from tipdrop.errors import DecryptionError
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol import bundles, documents, fields
from tipdrop.server import exchange
from tipdrop.server.store import blobs

SAID = "Они снова там сегодня."
FORGED = "Подменённое продолжение: ничего не было."
PHOTO = b"\xff\xd8" + b"evidence" * 600
FORGED_PHOTO = b"\xff\xd8" + b"innocent" * 600


def _recipient(server):
    return server.unit_keys.current("demo").recipient


def _forged_followup(server, tip_id):
    return {"table": "followups", "where": "seq = 1", "set": {"body": envelope.seal(
        documents.followup_document(FORGED), _recipient(server), kind="followup",
        tip_id=tip_id, part="f1")}}


def _forged_info(server, tip_id):
    return {"table": "attachments", "where": "part = 'a1'", "set": {"info": envelope.seal(
        documents.attachment_info_document(name="другое.jpg", content_type="image/jpeg",
                                           size=len(PHOTO)),
        _recipient(server), kind="attachment-info", tip_id=tip_id, part="a1")}}


def _forged_stream(server, tip_id):
    """The file's stream replaced by another of its length, sealed to the unit as the server
    seals one."""
    out = io.BytesIO()
    stream.encrypt_stream(io.BytesIO(FORGED_PHOTO), out, _recipient(server), kind="attachment",
                          tip_id=tip_id, part="a1")
    return {"table": "attachments", "where": "part = 'a1'",
            "set": {"blob": blobs.insert(server.db, out.getvalue())}}


#: How a server changes a held follow-up or file between two exports, and its part name.
CHANGES = {
    "follow-up's sealed text": (_forged_followup, "f1"),
    "follow-up's day": (lambda server, tip_id: {"table": "followups", "where": "seq = 1",
                                                "set": {"received_day": "2020-01-01"}}, "f1"),
    "file's description": (_forged_info, "a1"),
    "file's stream": (_forged_stream, "a1"),
}


@pytest.fixture
def changed(tmp_path, demo_key, astana_key, request):
    """(first export, second export, the tip whose item changed, its part name)."""
    server = Server(tmp_path / "server", demo_key, astana_key)
    held, _ = server.submit("almaty", ORIGINAL, files=[("фото.jpg", PHOTO)])
    server.tips.add_followup(tip_id=held["id"], text=SAID)
    first = tmp_path / "first.tdx"
    server.export("demo", first)
    part = None
    if request.param:
        forge, part = CHANGES[request.param]
        change = forge(server, held["id"])
        sets = ", ".join(f"{column} = ?" for column in change["set"])
        server.db.execute(f"UPDATE {change['table']} SET {sets} "  # noqa: S608 (the test's)
                          f"WHERE tip_id = ? AND {change['where']}",
                          [*change["set"].values(), held["id"]])
    second = tmp_path / "second.tdx"
    exchange.export_unit(server.db, server.attachments, unit="demo", out=second,
                         since_start=True)
    server.db.close()
    return first, second, held["id"], part


def _held_items(workspace):
    followups = list(workspace.db.execute("SELECT * FROM followups ORDER BY tip_id, seq"))
    files = []
    for row in workspace.db.execute("SELECT tip_id, part, info, size, blob FROM attachments"):
        files.append((*row[:4], (workspace.blobs / row[4]).read_bytes()))
    return followups, files


@pytest.mark.parametrize("changed", list(CHANGES), indirect=True)
def test_a_held_item_carried_changed_is_named_kept_sealed_and_audited(
        changed, demo_key, tmp_path, request):
    first, second, tip_id, part = changed
    keyring = Keyring.of(demo_key)
    workspace = Workspace(tmp_path / "cases")
    workspace.open_bundle(first, keyring)
    before = _held_items(workspace)

    # When the second export, carrying a held follow-up or file changed, is opened
    counts = workspace.open_bundle(second, keyring)

    # Then the item is counted and named, and the held copy is as it was, byte for byte
    assert counts["differs_items"] == [[tip_id, part]]
    assert "differs" not in counts  # the tip's own report came unchanged
    assert _held_items(workspace) == before
    shown = workspace.show(tip_id, keyring, mark_read=False)
    assert [f["text"] for f in shown["followups"]] == [SAID]
    assert [f["name"] for f in shown["attachments"]] == ["фото.jpg"]
    # and the copy that came is kept, sealed as it came, once
    kept = list(workspace.db.execute("SELECT part, export_seq, body, stream FROM item_copies "
                                      "WHERE tip_id = ?", [tip_id]))
    assert [(k[0], k[1]) for k in kept] == [(part, 2)]
    carried = _carried(second, tip_id, part)
    assert kept[0][2] == carried["body"]
    # (a file's stream only when it is not the held one)
    held_stream = before[1][0][4]
    assert kept[0][3] == (None if carried.get("stream") in (None, held_stream)
                          else carried["stream"])
    assert (kept[0][3] is None) == (request.node.callspec.params["changed"] != "file's stream")
    # and the officer is told, without its words
    assert shown["other_item_copies"] == [{"part": part, "n": 1, "export_seq": 2,
                                           "day": _kept_day(workspace)}]
    # and the audit log names it, authenticated like every entry
    entries = workspace.verify_audit(keyring)
    assert [(e["tip"], e["info"]) for e in entries if e["action"] == "held-item-differs"] == [
        (tip_id, {"parts": [part]})]
    log = (tmp_path / "cases" / "audit.log").read_text()
    assert FORGED not in log and SAID not in log
    # and only then is the item acknowledged: it is held, its evidence kept
    ack = json.loads(workspace.pending_ack(keyring)[0])
    assert ack["exports"][0][:2] == [1, 2]
    # When the same changed copy comes again, it is not kept twice
    assert workspace.open_bundle(second, keyring, again=True)["differs_items"] == [[tip_id, part]]
    assert workspace.db.execute("SELECT COUNT(*) FROM item_copies").fetchone()[0] == 1
    workspace.close()


def _carried(bundle, tip_id, part):
    """What ``bundle`` carries for the item: the sealed body (a follow-up's, a file's
    description) and, of a file, its stream."""
    found = {}
    with open(bundle, "rb") as f:
        reader = bundles.ExportReader(f)
        current = None
        for record in reader:
            if record.kind == bundles.FOLLOWUP and record.doc["tip_id"] == tip_id \
                    and f"f{record.doc['seq']}" == part:
                found["body"] = _checked(record.doc, fields.EXPORT_FOLLOWUP)["body"]
            elif record.kind == bundles.ATTACHMENT:
                current = _checked(record.doc, fields.EXPORT_ATTACHMENT)
                if current["tip_id"] == tip_id and current["part"] == part:
                    found["body"] = current["info"]
            elif record.kind == bundles.STREAM:
                chunks = []
                reader.copy_stream(chunks.append)
                if current["tip_id"] == tip_id and current["part"] == part:
                    found["stream"] = b"".join(chunks)
    return found


def _checked(doc, rules):
    return fields.check(doc, rules, "a record", bundles.BundleError)


def _kept_day(workspace):
    return workspace.db.execute("SELECT day FROM item_copies").fetchone()[0]


@pytest.mark.parametrize("changed", [None], indirect=True)
def test_an_unchanged_re_export_names_no_item(changed, demo_key, tmp_path):
    first, second, _, _ = changed
    keyring = Keyring.of(demo_key)
    workspace = Workspace(tmp_path / "cases")
    workspace.open_bundle(first, keyring)
    counts = workspace.open_bundle(second, keyring)
    assert "differs_items" not in counts
    assert workspace.db.execute("SELECT COUNT(*) FROM item_copies").fetchone()[0] == 0
    assert not [e for e in workspace.verify_audit(keyring) if e["action"] == "held-item-differs"]
    workspace.close()


def test_another_stream_of_a_held_file_that_does_not_open_refuses_the_bundle(
        demo_key, astana_key, tmp_path):
    """A copy is kept only once it is authentic, as a new file must be (staging.py)."""
    server = Server(tmp_path / "server", demo_key, astana_key)
    held, _ = server.submit("almaty", ORIGINAL, files=[("фото.jpg", PHOTO)])
    server.export("demo", tmp_path / "first.tdx")
    # Given a stream sealed to the unit for another part: it cannot open as this one
    out = io.BytesIO()
    stream.encrypt_stream(io.BytesIO(FORGED_PHOTO), out, _recipient(server), kind="attachment",
                          tip_id=held["id"], part="a2")
    server.db.execute("UPDATE attachments SET blob = ? WHERE tip_id = ?",
                      [blobs.insert(server.db, out.getvalue()), held["id"]])
    exchange.export_unit(server.db, server.attachments, unit="demo",
                         out=tmp_path / "second.tdx", since_start=True)
    server.db.close()
    keyring = Keyring.of(demo_key)
    workspace = Workspace(tmp_path / "cases")
    workspace.open_bundle(tmp_path / "first.tdx", keyring)

    with pytest.raises(DecryptionError):
        workspace.open_bundle(tmp_path / "second.tdx", keyring)
    assert workspace.db.execute("SELECT COUNT(*) FROM item_copies").fetchone()[0] == 0
    assert workspace.db.execute("SELECT COUNT(*) FROM bundles").fetchone()[0] == 1
    workspace.close()


#: How a hostile server repeats a held item in one export: which list, and the copy's
#: changed sealed field (None: repeated as it is held).
REPEATS = {
    "follow-up, changed": (1, lambda server, row: {"body": envelope.seal(
        documents.followup_document(FORGED), _recipient(server), kind="followup",
        tip_id=row["tip_id"], part="f1")}),
    "follow-up, as held": (1, lambda server, row: {}),
    "file, its description changed": (2, lambda server, row: {"info": _forged_info(
        server, row["tip_id"])["set"]["info"]}),
}


@pytest.mark.parametrize("repeat", list(REPEATS))
def test_a_bundle_naming_a_held_item_twice_is_refused_whole(
        repeat, demo_key, astana_key, tmp_path, monkeypatch):
    """A bundle names each item once, held or not: otherwise a server could repeat a
    held item in every export, each copy kept and warned about (bundlechecks.carry_once)."""
    server = Server(tmp_path / "server", demo_key, astana_key)
    held, _ = server.submit("almaty", ORIGINAL, files=[("фото.jpg", PHOTO)])
    server.tips.add_followup(tip_id=held["id"], text=SAID)
    server.export("demo", tmp_path / "first.tdx")
    # Given a server whose next export (signed and chained as ever) repeats a held item
    which, change = REPEATS[repeat]
    export_rows = exchange.store.export_rows

    def repeating(db, unit, since_start):
        rows = list(export_rows(db, unit, since_start))
        rows[which] = rows[which] + [row | change(server, row)
                                     for row in rows[which] for _ in range(3)]
        return tuple(rows)

    monkeypatch.setattr(exchange.store, "export_rows", repeating)
    exchange.export_unit(server.db, server.attachments, unit="demo",
                         out=tmp_path / "second.tdx", since_start=True)
    server.db.close()
    keyring = Keyring.of(demo_key)
    workspace = Workspace(tmp_path / "cases")
    workspace.open_bundle(tmp_path / "first.tdx", keyring)
    before = _held_items(workspace)

    # When it is opened, the whole bundle is refused, and nothing of it is written
    with pytest.raises(bundles.BundleError, match="the same item appears twice"):
        workspace.open_bundle(tmp_path / "second.tdx", keyring)
    assert _held_items(workspace) == before
    assert workspace.db.execute("SELECT COUNT(*) FROM item_copies").fetchone()[0] == 0
    assert workspace.db.execute("SELECT COUNT(*) FROM bundles").fetchone()[0] == 1
    assert workspace.show(held["id"], keyring, mark_read=False)["other_item_copies"] == []
    assert not [e for e in workspace.verify_audit(keyring) if e["action"] == "held-item-differs"]
    workspace.close()


# The officer app: tests/officer/test_officer_app.py's real workspace of four tips, opened
# from the first export of a server database kept in its tmp_path (one tip has a follow-up).
app, clock, desk, unit, workdir = base.app, base.clock, base.desk, base.unit, base.workdir


def test_the_apps_tip_page_says_a_follow_up_came_changed(app, unit, tmp_path):
    client = unlocked(app)
    db = sqlite.connect(tmp_path / "server" / "instance" / "tipdrop.db")
    (tip_id,) = db.execute("SELECT tip_id FROM followups").fetchone()
    assert tip_id in tip_ids(get(client, "/inbox"))
    db.execute("UPDATE followups SET body = ? WHERE tip_id = ? AND seq = 1", [envelope.seal(
        documents.followup_document(FORGED), unit[1].public.recipient, kind="followup",
        tip_id=tip_id, part="f1"), tip_id])
    exchange.export_unit(db, tmp_path / "server" / "instance" / "attachments", unit="demo",
                         out=tmp_path / "again.tdx", since_start=True)
    db.close()

    page = outcome(client, _upload(client, tmp_path / "again.tdx", name="again.tdx"))

    text = page.get_data(as_text=True)
    assert page.status_code == 200
    differs = re.search(r'<p class="warning" role="alert" id="differs-items">(.*?)</p>',
                        text, re.S)
    assert differs and f'data-tip="{tip_id}"' in differs[1]
    assert FORGED not in text
    tip_page = get(client, f"/tip/{tip_id}").get_data(as_text=True)
    kept = re.search(r'<p class="warning" role="alert" data-item-copy="f1-1">(.*?)</p>',
                     tip_page, re.S)
    assert kept and "follow-up 1" in kept[1] and "kept in the workspace as it came" in kept[1]
    assert FORGED not in tip_page
