"""What the first export of a tip may decide: its status and reply numbering, bounded.

An export carries no signed reply, so a tip's status and ``reply_seq`` are
the server's word, and anyone who edits the file on its way can change them.
A real server (gunicorn) takes reports on the web; `tipdrop export` writes
them; each test edits the export as such an editor would, and the real CLI
opens it, replies, writes the outbox, and `tipdrop import-replies` stores
it (docs/protocol.md sections 10 and 11, docs/threat-model.md).
"""

import json

import pytest

from tests.e2e.conftest import assert_clean_error
from tests.e2e.test_export_history import _records, _write
from tests.e2e.test_officer_loop import _submit
from tipdrop.protocol import bundles, fields

pytestmark = pytest.mark.e2e


@pytest.fixture
def two_tips(server, run_cli, tmp_path):
    """The officer's environment, and the server's export of two fresh reports."""
    officer = {"TIPDROP_PASSPHRASE": "officer pass", "TIPDROP_WORKDIR": str(tmp_path / "cases"),
               "TIPDROP_KEY": str(server.key_file)}
    _submit(server, "Инспектор требует взятку за справку.")
    _submit(server, "Продают справки у входа в ЦОН.")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e1.tdx", env=server.env(),
            check=True)
    return officer


def _edit(tmp_path, change):
    """The export with ``change(doc)`` applied to its first tip; that tip's id."""
    records = _records(tmp_path / "e1.tdx")
    first = next(doc for kind, doc in records if kind == bundles.TIP)
    change(first)
    _write(records, tmp_path / "edited.tdx")
    return first["id"]


def _listed(run_cli, officer):
    out = run_cli("officer", "list", "--json", env=officer, check=True).stdout
    return {t["id"]: t for t in json.loads(out)}


def test_a_new_tip_said_to_have_no_reply_numbers_left_refuses_the_export(
        server, two_tips, run_cli, tmp_path):
    officer = two_tips
    _edit(tmp_path, lambda doc: doc.update(status="closed", status_day="2020-01-01",
                                           reply_seq=fields.MAX_NUMBER - 1))

    opened = run_cli("officer", "open", tmp_path / "edited.tdx", env=officer)

    assert_clean_error(opened, f"it says {fields.MAX_NUMBER - 1} replies were sent",
                       "it was altered")
    assert _listed(run_cli, officer) == {}


def test_a_new_tip_with_no_reply_sent_starts_received_whatever_its_export_says(
        server, two_tips, run_cli, tmp_path):
    officer = two_tips
    forged = _edit(tmp_path, lambda doc: doc.update(status="closed", status_day="2020-01-01"))

    run_cli("officer", "open", tmp_path / "edited.tdx", env=officer, check=True)

    # Then no reply could have closed it: it starts received, on the day it was received
    tip = _listed(run_cli, officer)[forged]
    assert tip["status"] == "received"
    shown = run_cli("officer", "show", forged, env=officer, check=True).stdout
    [line] = [line for line in shown.splitlines() if line.startswith(f"tip {forged}")]
    received = line.split("received ")[1].split()[0]
    assert line.endswith(f"status received ({received})") and "2020-01-01" not in shown


def test_a_tip_whose_numbering_was_altered_never_blocks_the_other_tips_replies(
        server, two_tips, run_cli, tmp_path):
    officer = two_tips
    # Given an export whose first tip says 5 replies were sent (none were)
    forged = _edit(tmp_path, lambda doc: doc.update(reply_seq=5, status="in-review"))
    run_cli("officer", "open", tmp_path / "edited.tdx", env=officer, check=True)
    [other] = set(_listed(run_cli, officer)) - {forged}
    for tip_id in (forged, other):
        run_cli("officer", "reply", tip_id, "--status", "need-info", "--message",
                "Когда это было?", env=officer, check=True)
    run_cli("officer", "outbox", "--out", tmp_path / "replies.json", env=officer, check=True)

    # When the server imports the outbox
    imported = run_cli("import-replies", tmp_path / "replies.json", env=server.env())

    # Then the other tip's reply is stored, and the altered one is named, not stored
    assert imported.returncode == 0, imported.stderr
    assert "1 new (for 1 tips)" in imported.stdout
    warning = [line for line in imported.stdout.splitlines() if line.startswith("WARNING")]
    assert len(warning) == 1 and f"tip {forged[:8]}: reply 6 arrived, 1 was expected" \
        in warning[0]
    assert other[:8] not in warning[0]


def test_a_push_keeps_the_replies_the_server_did_not_take_and_says_so(
        server, two_tips, run_cli, tmp_path):
    officer = two_tips
    url = f"http://127.0.0.1:{server.port}"
    forged = _edit(tmp_path, lambda doc: doc.update(reply_seq=5, status="in-review"))
    run_cli("officer", "open", tmp_path / "edited.tdx", env=officer, check=True)
    for tip_id in _listed(run_cli, officer):
        run_cli("officer", "reply", tip_id, "--status", "need-info", env=officer, check=True)

    # When the officer pushes the replies of both tips
    pushed = run_cli("officer", "push", "--server", url, env=officer)

    # Then the other tip's reply is sent, and the altered tip's is named and kept
    assert pushed.returncode == 0, pushed.stderr
    assert "1 replies sent to the server" in pushed.stdout
    [warning] = [line for line in pushed.stdout.splitlines() if line.startswith("WARNING")]
    assert "did not take the replies of 1 tips" in warning and warning.endswith(forged[:12])
    again = run_cli("officer", "push", "--server", url, env=officer, check=True)
    assert "0 replies sent" in again.stdout and forged[:12] in again.stdout
