"""A tip forwarded to another unit and forwarded back is taken back, not named a changed copy.

In process, on a real server database (the server's library) and two real
workspaces: demo forwards a tip to astana, astana forwards it back, demo
opens its next export (tipdrop/officer/copies.py). The same through the
real CLI and gunicorn: tests/e2e/test_forwarding.py. A server that passes a
swapped report off as a return is still named.
"""

import re

import pytest

from tests.officer import test_officer_app as base
from tests.officer.test_changed_copy_import import ORIGINAL, forged_body
from tests.officer.test_officer_app import _upload, get, outcome, tip_ids, unlocked
from tests.protocol.test_bundles import Server
from tipdrop.common import sqlite
from tipdrop.crypto import keys
from tipdrop.officer import forwarding
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.server import exchange
from tipdrop.server.unitkeys import UnitKeys


@pytest.fixture
def back(tmp_path, demo_key, astana_key):
    """(server, demo's workspace and keyring, the tip), the tip gone to astana and back."""
    server = Server(tmp_path / "server", demo_key, astana_key)
    tip, _ = server.submit("almaty", ORIGINAL, files=[("photo.jpg", b"\xff\xd8" + b"x" * 5000)])
    tip_id = tip["id"]
    demo, astana = Keyring.of(demo_key), Keyring.of(astana_key)
    ours = Workspace(tmp_path / "demo")
    server.export("demo", tmp_path / "demo1.tdx")
    ours.open_bundle(tmp_path / "demo1.tdx", demo)
    ours.reply(tip_id, demo, "Спасибо, проверяем.", "in-review")
    forwarding.forward(ours, demo, tip_id, astana_key.public)
    ours.outbox(demo, tmp_path / "out.json")
    server.import_replies((tmp_path / "out.json").read_bytes())
    theirs = Workspace(tmp_path / "astana")
    server.export("astana-police", tmp_path / "astana1.tdx")
    theirs.open_bundle(tmp_path / "astana1.tdx", astana)
    theirs.reply(tip_id, astana, "Передано нам.", "in-review")
    forwarding.forward(theirs, astana, tip_id, demo_key.public)
    theirs.outbox(astana, tmp_path / "astana-out.json")
    server.import_replies((tmp_path / "astana-out.json").read_bytes())
    theirs.close()
    yield server, ours, demo, tip_id
    ours.close()
    server.db.close()


def test_a_tip_forwarded_back_is_taken_back_and_can_be_answered_again(back, tmp_path):
    server, ours, demo, tip_id = back
    server.export("demo", tmp_path / "demo2.tdx")
    counts = ours.open_bundle(tmp_path / "demo2.tdx", demo)
    assert "differs" not in counts
    assert counts["returned"] == 1 and counts["returned_to"] == {tip_id: "astana-police"}
    # The forward is over here: the tip takes the server's status and reply number
    assert not ours.has("forwards", "tip_id = ?", tip_id)
    assert ours.tip_row(tip_id)["reply_seq"] == 2  # demo's reply, then astana's
    assert ours.reply(tip_id, demo, "Вернулось к нам.", "confirmed") == 3
    # and the held report stays the tip's; the returned copy is kept, sealed, beside it
    shown = ours.show(tip_id, demo, mark_read=False)
    assert shown["report"]["description"] == ORIGINAL
    assert [c["why"] for c in shown["other_copies"]] == ["returned"]
    entries = ours.verify_audit(demo)
    assert [(e["action"], e["tip"], e["info"]) for e in entries
            if e["action"] in ("forward-returned", "held-differs")] == [
        ("forward-returned", tip_id, {"to_unit": "astana-police"})]
    # When a re-export from the start carries the returned copy again: nothing to say
    server.db.execute("UPDATE tips SET export_seq = 0")
    server.export("demo", tmp_path / "demo3.tdx")
    again = ours.open_bundle(tmp_path / "demo3.tdx", demo)
    assert "differs" not in again and "returned" not in again


def test_a_swapped_report_passed_off_as_a_return_is_still_a_changed_copy(back, tmp_path):
    server, ours, demo, tip_id = back
    # Given a server that swaps the returned report for another, sealed to demo all the same
    server.db.execute("UPDATE tips SET body = ? WHERE id = ?", [forged_body(server, tip_id),
                                                                tip_id])
    server.export("demo", tmp_path / "demo2.tdx")
    counts = ours.open_bundle(tmp_path / "demo2.tdx", demo)
    assert counts["differs_tips"] == [tip_id] and "returned" not in counts
    assert ours.has("forwards", "tip_id = ?", tip_id)  # still forwarded, as far as demo knows


def test_a_returned_copy_carried_again_with_another_record_is_named(back, tmp_path):
    server, ours, demo, tip_id = back
    server.export("demo", tmp_path / "demo2.tdx")
    assert ours.open_bundle(tmp_path / "demo2.tdx", demo)["returned"] == 1
    # Given a server that carries the returned report again with another arrival day (a
    # clear reply key of its own is not taken at all: the sealed report binds the key)
    server.db.execute("UPDATE tips SET export_seq = 0, received_day = '2020-01-01' "
                      "WHERE id = ?", [tip_id])
    server.export("demo", tmp_path / "demo3.tdx")
    counts = ours.open_bundle(tmp_path / "demo3.tdx", demo)
    assert counts["differs_tips"] == [tip_id] and "returned" not in counts
    assert [c["why"] for c in ours.show(tip_id, demo, mark_read=False)["other_copies"]] == [
        "returned", "changed"]


# The officer app: tests/officer/test_officer_app.py's real workspace of four tips, opened
# from the first export of a server database kept in its tmp_path.
app, clock, desk, unit, workdir = base.app, base.clock, base.desk, base.unit, base.workdir


def test_the_apps_import_result_names_a_tip_that_came_back(app, desk, unit, tmp_path):
    client = unlocked(app)
    tip_id = sorted(tip_ids(get(client, "/inbox")))[0]
    # Given a tip forwarded from the app's workspace to north, and forwarded back
    north = keys.generate("north")
    keys_dir = tmp_path / "server" / "keys"
    (keys_dir / "north.pub").write_bytes(north.public.to_json())
    db = sqlite.connect(tmp_path / "server" / "instance" / "tipdrop.db")
    files = tmp_path / "server" / "instance" / "attachments"
    unit_keys = UnitKeys.load(keys_dir)
    forwarding.forward(desk.workspace, desk.keyring, tip_id, north.public)
    data, rows = desk.workspace.pending_bundle(desk.keyring)
    exchange.import_replies(db, unit_keys, data)
    desk.workspace.mark_sent(rows)
    theirs, their_keys = Workspace(tmp_path / "north"), Keyring.of(north)
    exchange.export_unit(db, files, unit="north", out=tmp_path / "north.tdx")
    theirs.open_bundle(tmp_path / "north.tdx", their_keys)
    forwarding.forward(theirs, their_keys, tip_id, unit[1].public)
    theirs.outbox(their_keys, tmp_path / "north-out.json")
    exchange.import_replies(db, unit_keys, (tmp_path / "north-out.json").read_bytes())
    theirs.close()
    exchange.export_unit(db, files, unit="demo", out=tmp_path / "back.tdx")
    db.close()

    # When the app opens the export that carries it back
    page = outcome(client, _upload(client, tmp_path / "back.tdx", name="back.tdx"))

    # Then its result says it came back, and warns of no changed copy
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    returned = re.search(r'<p id="returned">(.*?)</p>', text, re.S)
    assert returned and "1 tip forwarded from here came back" in returned[1]
    assert f'data-tip="{tip_id}"' in returned[1]
    assert 'id="differs"' not in text
    tip_page = get(client, f"/tip/{tip_id}").get_data(as_text=True)
    assert "Forwarded back to this unit" in tip_page and "another sealed copy" not in tip_page
