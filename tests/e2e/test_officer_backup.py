"""`tipdrop officer backup` through the real CLI: a copy that is the same workspace.

The export is the server's own code's; the workspace is made by `officer
open` and `officer note`, then backed up, and the copy is used as a
workspace by the same commands.
"""

import os

import pytest

from tests.e2e.conftest import assert_clean_error
from tests.protocol.test_bundles import Server
from tipdrop.crypto import kdf, keys

pytestmark = pytest.mark.e2e

PASS = "officer pass"


@pytest.fixture
def officer(tmp_path, demo_key, astana_key):
    key_file = tmp_path / "demo.key"
    key_file.write_bytes(keys.private_to_file(demo_key, PASS, kdf.TEST_PARAMS))
    server = Server(tmp_path / "server", demo_key, astana_key)
    server.submit("almaty", "Copper cable cut at the depot.", files=[("cable.bin", b"c" * 9000)])
    server.submit("almaty", "A car without plates by the school.")
    server.export("demo", tmp_path / "demo.tdx")
    server.db.close()
    return {"TIPDROP_PASSPHRASE": PASS, "TIPDROP_WORKDIR": str(tmp_path / "cases"),
            "TIPDROP_KEY": str(key_file)}


def test_a_backup_is_used_as_the_workspace_it_copies(officer, run_cli, tmp_path):
    run_cli("officer", "open", tmp_path / "demo.tdx", env=officer, check=True)
    first = run_cli("officer", "list", env=officer, check=True).stdout.splitlines()[0].split()[0]
    run_cli("officer", "note", first, "Called the depot's guard.", env=officer,
            check=True)

    # When the officer backs the workspace up
    done = run_cli("officer", "backup", "--out", tmp_path / "backup", env=officer)

    # Then the copy lists, shows and verifies as the workspace does
    assert done.returncode == 0 and "backed up 2 tip(s) and 1 attachment file(s)" in done.stdout, \
        done.stderr
    copy = officer | {"TIPDROP_WORKDIR": str(tmp_path / "backup")}
    assert run_cli("officer", "list", env=copy, check=True).stdout == \
        run_cli("officer", "list", env=officer, check=True).stdout
    shown = run_cli("officer", "show", first, env=copy, check=True).stdout
    assert "Called the depot's guard." in shown
    assert run_cli("officer", "audit", "--verify", env=copy).returncode == 0
    # and a second backup into the same folder overwrites nothing
    assert_clean_error(run_cli("officer", "backup", "--out", tmp_path / "backup", env=officer),
                       "new or empty folder")
    assert_clean_error(run_cli("officer", "backup", "--out", tmp_path / "b2",
                               env=officer | {"TIPDROP_WORKDIR": str(tmp_path / "nothing")}),
                       "not a workspace")
    assert not os.path.exists(tmp_path / "nothing")
