"""One import at a time per workspace, and nothing a killed import left stays for good.

Real exports by the server's own code, opened into real workspaces; a second
import starts in the middle of the first, as the officer app's automatic
pull does while ``tipdrop officer open`` reads an export of the same tips from a stick
(before, the second transaction ended in an internal error: UNIQUE constraint failed).
"""

import os

import pytest

from tests.protocol.test_bundles import Server
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.opening import LOCK_NAME, ImportRunningError
from tipdrop.officer.workspace import Workspace
from tipdrop.server import exchange


@pytest.fixture
def exports(tmp_path, demo_key, astana_key):
    """Two real exports of the same two tips, one with a file: the unit's export, and a
    pull of everything since the start (``officer pull --since-start``)."""
    server = Server(tmp_path / "server", demo_key, astana_key)
    server.submit("almaty", "Copper cable cut at the depot.", files=[("a.bin", b"x" * 5000)])
    server.submit("almaty", "A car without plates parked by the school.")
    server.export("demo", tmp_path / "demo.tdx")
    exchange.export_unit(server.db, server.attachments, unit="demo",
                         out=tmp_path / "again.tdx", since_start=True)
    server.db.close()
    return tmp_path / "demo.tdx", tmp_path / "again.tdx"


@pytest.fixture
def export(exports):
    return exports[0]


@pytest.fixture
def workspace(tmp_path):
    opened = Workspace(tmp_path / "cases")
    yield opened
    opened.close()


def test_an_import_started_while_another_runs_is_refused_and_the_first_ends_well(
        workspace, exports, demo_key, tmp_path):
    export, again = exports
    keyring = Keyring.of(demo_key)
    second = Workspace(workspace.dir)  # another process on the same folder
    refused = []

    def meanwhile(_done):
        if not refused:  # once, in the middle of reading the bundle
            try:
                second.open_bundle(again, keyring)  # the same tips, another export
                refused.append(None)
            except ImportRunningError as e:
                refused.append(e)

    try:
        # When a second import of the same tips starts while the first reads its bundle
        counts = workspace.open_bundle(export, keyring, progress=meanwhile)

        # Then the second is refused in one clear sentence, and the first imports everything
        assert isinstance(refused[0], ImportRunningError)
        assert "another import into this workspace is running" in refused[0].message.lower()
        assert (counts["tips"], counts["attachments"]) == (2, 1)
        # And once it is over the workspace takes imports again (nothing new in it here)
        assert second.open_bundle(again, keyring)["tips"] == 0
    finally:
        second.close()
    assert (workspace.dir / LOCK_NAME).stat().st_mode & 0o777 == 0o600


def test_what_a_killed_import_left_is_swept_by_the_next_and_nothing_held_is(
        workspace, export, demo_key, tmp_path):
    keyring = Keyring.of(demo_key)
    workspace.open_bundle(export, keyring)
    [held] = list(workspace.blobs.glob("*.bin"))
    # What `kill -9` in the middle of an import leaves: its spill and the files it staged,
    # and a file moved into place by a transaction that never committed.
    tmp = workspace.blobs / "tmp"
    spill = tmp / f"import-{'0' * 32}.spill"
    staged = tmp / f"{'1' * 32}.bin"
    moved = workspace.blobs / f"{'2' * 32}.bin"
    for path in (spill, staged, moved):
        path.write_bytes(os.urandom(64 * 1024))
    # and files the officer put there, named otherwise (a file saved there by mistake)
    mine = [workspace.blobs / "cable.bin", tmp / "notes.txt"]
    for path in mine:
        path.write_bytes(b"the officer's")

    # When the next import runs (here a bundle opened before: nothing new)
    assert workspace.open_bundle(export, keyring)["already_opened"]

    # Then the leftovers are gone, and every file a row names is still there and opens
    assert list(tmp.iterdir()) == [tmp / "notes.txt"]
    assert sorted(workspace.blobs.glob("*.bin")) == sorted([held, workspace.blobs / "cable.bin"])
    assert all(path.read_bytes() == b"the officer's" for path in mine)
    [tip] = [row["id"] for row in workspace.db["tips"].rows_where("id IN (SELECT tip_id FROM "
                                                                   "attachments)")]
    [file] = workspace.show(tip, keyring, mark_read=False)["attachments"]
    assert file["name"] == "a.bin" and "damaged" not in file
