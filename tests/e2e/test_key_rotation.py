"""Key rotation through the real CLI and the real web app.

keygen → submit → reply → rotate (keygen --rotate, the new .pub installed,
server restarted) → submit, and a follow-up to the old tip → export → open
with a keyring of both keys; only the new key gives a clear error naming
the old one → replies signed with the new key import → the old key retired
(moved to keys/retired/) → new tips still work, old replies still show.
"""

import json
import re
import shutil

import pytest

from tests.e2e.conftest import PASS, assert_clean_error
from tests.e2e.test_officer_loop import _answer, _submit
from tests.serving import start_server
from tests.web_forms import check_on_web

pytestmark = pytest.mark.e2e


def _key_id(made):
    return re.search(r"key id:\s+([0-9a-f]{32})", made.stdout).group(1)


def _tips(run_cli, officer):
    return json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)


@pytest.fixture
def rotation(tmp_path, run_cli):
    # Given a unit key from the first ceremony, installed on a server
    ceremony = tmp_path / "ceremony"
    made = run_cli("keygen", "--unit", "demo", "--out", ceremony, env=PASS, check=True)
    server = start_server(tmp_path, public_key_file=ceremony / "demo.pub")
    yield server, ceremony, _key_id(made)
    server.stop()


def test_plain_keygen_refuses_a_second_key_and_points_to_rotate(rotation, run_cli):
    _, ceremony, _ = rotation
    again = run_cli("keygen", "--unit", "demo", "--out", ceremony, env=PASS)
    assert_clean_error(again, "already exists", "--rotate")
    assert sorted(p.name for p in ceremony.iterdir()) == ["demo.key", "demo.pub"]


def test_old_tips_open_with_the_old_key_and_new_ones_with_the_new(rotation, run_cli, tmp_path):
    server, ceremony, old_id = rotation
    old_only = {**PASS, "TIPDROP_WORKDIR": str(tmp_path / "cases"),
                "TIPDROP_KEY": str(ceremony / "demo.key")}
    keyring = old_only | {"TIPDROP_KEY": str(ceremony)}

    # Given a tip sealed to the old key, opened and answered with it
    receipt = _submit(server, "Tip for the old key.")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e1.tdx", env=server.env(), check=True)
    run_cli("officer", "open", tmp_path / "e1.tdx", env=old_only, check=True)
    [old_tip] = _tips(run_cli, old_only)
    run_cli("officer", "reply", old_tip["id"], "--status", "in-review", "--message",
            "Signed by the old key.", env=old_only, check=True)
    run_cli("officer", "outbox", "--out", tmp_path / "r1.json", env=old_only, check=True)
    run_cli("import-replies", tmp_path / "r1.json", env=server.env(), check=True)
    # and a second reply queued with the old key, not yet sent
    run_cli("officer", "reply", old_tip["id"], "--status", "need-info", "--message",
            "Queued before the rotation.", env=old_only, check=True)

    # When the unit rotates: a new key, its .pub installed, the server restarted
    rotated = run_cli("keygen", "--unit", "demo", "--out", ceremony, "--rotate", env=PASS,
                      check=True)
    new_id = _key_id(rotated)
    new_key = ceremony / f"demo-{new_id[:8]}.key"
    assert new_key.exists() and new_id != old_id
    shutil.copy(ceremony / f"demo-{new_id[:8]}.pub", server.keys_dir)
    server.stop()
    server.start()

    # And a new tip arrives, and the old tip's reporter adds information
    _submit(server, "Tip for the new key.")
    _answer(server, check_on_web(server, receipt), "Follow-up sealed to the new key.")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e2.tdx", env=server.env(), check=True)

    # Then the keyring of both keys opens it, and each item shows
    opened = run_cli("officer", "open", tmp_path / "e2.tdx", env=keyring, check=True)
    assert "1 new tips, 1 follow-ups" in opened.stdout
    shown_old = run_cli("officer", "show", old_tip["id"], env=keyring, check=True).stdout
    assert "Tip for the old key." in shown_old and "Follow-up sealed to the new key." in shown_old
    [new_tip] = [t for t in _tips(run_cli, keyring) if t["id"] != old_tip["id"]]
    assert "Tip for the new key." in run_cli("officer", "show", new_tip["id"], env=keyring,
                                             check=True).stdout

    # And a fresh workstation with a keyring of both keys sees both tips
    fresh = keyring | {"TIPDROP_WORKDIR": str(tmp_path / "fresh")}
    run_cli("export", "--unit", "demo", "--since-start", "--out", tmp_path / "all.tdx",
            env=server.env(), check=True)
    run_cli("officer", "open", tmp_path / "all.tdx", env=fresh, check=True)
    assert len(_tips(run_cli, fresh)) == 2

    # But with only the new key, the error names the missing old key; nothing is imported
    new_only = fresh | {"TIPDROP_WORKDIR": str(tmp_path / "new-only"), "TIPDROP_KEY": str(new_key)}
    refused = run_cli("officer", "open", tmp_path / "all.tdx", env=new_only)
    assert_clean_error(refused, f"key {old_id} of unit demo", "not in your keyring (--key)")
    assert _tips(run_cli, new_only) == []

    # When the officer replies: everything queued goes out signed by the new key
    run_cli("officer", "reply", new_tip["id"], "--status", "in-review", env=keyring, check=True)
    run_cli("officer", "outbox", "--out", tmp_path / "r2.json", env=keyring, check=True)
    bundle = json.loads((tmp_path / "r2.json").read_text())
    assert bundle["key_id"] == new_id and len(bundle["replies"]) == 2
    imported = run_cli("import-replies", tmp_path / "r2.json", env=server.env(), check=True)
    assert "0 replies already held, 2 new (for 2 tips)" in imported.stdout

    # When the old key is retired: its .pub moved to keys/retired/, the server restarted
    (server.keys_dir / "retired").mkdir()
    (server.keys_dir / "demo.pub").rename(server.keys_dir / "retired" / "demo.pub")
    server.stop()
    server.start()

    # Then new tips still work, and the reply the old key signed still shows
    _submit(server, "Tip after retiring the old key.")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e3.tdx", env=server.env(), check=True)
    assert "1 new tips" in run_cli("officer", "open", tmp_path / "e3.tdx", env=keyring,
                                   check=True).stdout
    page = check_on_web(server, receipt)
    assert "Signed by the old key." in page and "Queued before the rotation." in page
    assert 'data-status="need-info"' in page
