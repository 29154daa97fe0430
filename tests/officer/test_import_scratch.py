"""What a killed import leaves under attachments/tmp is removed, never a running one's (scratch.py).

The kill -9 of a real ``tipdrop officer open`` is in tests/e2e/test_crash.py;
these leave the files as a killed import would.
"""

import fcntl
import os
import secrets
import time

import pytest

from tests.protocol.test_bundles import Server
from tipdrop.errors import TipdropError
from tipdrop.officer import scratch
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.scratch import LEGACY_AGE_SECONDS, Scratch
from tipdrop.officer.spill import Spill
from tipdrop.officer.workspace import Workspace


def _killed_import(tmp):
    """The files of an import killed mid-way: its lock (no longer held), spill and staged file."""
    token = secrets.token_hex(16)
    (tmp / f"{token}.lock").write_bytes(b"")
    (tmp / token).mkdir()
    spill = Spill(tmp / token)
    spill.put(b"sealed envelope")
    spill.flush()
    os.close(spill._fd)  # the process died: nothing closed or removed it
    (tmp / token / f"{secrets.token_hex(16)}.bin").write_bytes(b"staged stream")
    return token


def test_opening_the_workspace_removes_what_a_killed_import_left(tmp_path):
    Workspace(tmp_path / "cases").close()
    tmp = tmp_path / "cases" / "attachments" / "tmp"
    _killed_import(tmp)
    _killed_import(tmp)
    Workspace(tmp_path / "cases").close()
    assert list(tmp.iterdir()) == []


def test_a_running_imports_folder_is_left_alone_then_removed_by_its_import(tmp_path):
    Workspace(tmp_path / "cases").close()
    tmp = tmp_path / "cases" / "attachments" / "tmp"
    running = Scratch(tmp)  # holds its lock, as an import in another process does
    spill = Spill(running.folder)
    spill.put(b"sealed envelope")
    dead = _killed_import(tmp)
    Workspace(tmp_path / "cases").close()
    assert sorted(p.name for p in tmp.iterdir()) == sorted(
        [running.folder.name, f"{running.folder.name}.lock"])
    assert spill.path.exists()
    assert not (tmp / dead).exists()
    spill.close()
    running.close()
    assert list(tmp.iterdir()) == []


def test_a_lock_held_by_another_process_keeps_its_folder(tmp_path):
    """flock is per open file: a second descriptor, as another process has, is refused too."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    token = _killed_import(tmp)
    fd = os.open(tmp / f"{token}.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert scratch.clean(tmp) == 0
        assert (tmp / token).is_dir()
    finally:
        os.close(fd)
    assert scratch.clean(tmp) == 1
    assert list(tmp.iterdir()) == []


def test_files_from_before_import_folders_are_removed_only_once_old(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    spill = tmp / f"import-{secrets.token_hex(16)}.spill"
    staged = tmp / f"{secrets.token_hex(16)}.bin"
    fresh = tmp / f"{secrets.token_hex(16)}.bin"
    other = tmp / "not-ours.txt"
    for path in (spill, staged, fresh, other):
        path.write_bytes(b"x")
    old = time.time() - LEGACY_AGE_SECONDS - 60
    for path in (spill, staged, other):
        os.utime(path, (old, old))
    assert scratch.clean(tmp) == 2
    assert sorted(p.name for p in tmp.iterdir()) == sorted([fresh.name, other.name])


def test_an_import_done_or_refused_leaves_nothing_under_tmp(tmp_path, demo_key, astana_key):
    server = Server(tmp_path / "server", demo_key, astana_key)
    server.submit("almaty", "A bicycle was stolen.", files=[("photo.jpg", b"x" * 70_000)])
    good = tmp_path / "good.tdx"
    server.export("demo", good)
    server.db.close()
    cut = tmp_path / "cut.tdx"
    cut.write_bytes(good.read_bytes()[:-40])
    keyring = Keyring.of(demo_key)
    workspace = Workspace(tmp_path / "cases")
    tmp = tmp_path / "cases" / "attachments" / "tmp"
    with pytest.raises(TipdropError):
        workspace.open_bundle(cut, keyring)
    assert list(tmp.iterdir()) == []
    assert workspace.open_bundle(good, keyring)["attachments"] == 1
    assert list(tmp.iterdir()) == []
    workspace.close()


def test_an_import_removes_what_a_killed_import_left_since_the_workspace_was_opened(
        tmp_path, demo_key, astana_key):
    """The officer app keeps one workspace open for days; a CLI import may die meanwhile."""
    server = Server(tmp_path / "server", demo_key, astana_key)
    server.submit("almaty", "A bicycle was stolen.")
    server.export("demo", tmp_path / "one.tdx")
    server.db.close()
    workspace = Workspace(tmp_path / "cases")
    tmp = tmp_path / "cases" / "attachments" / "tmp"
    _killed_import(tmp)
    assert workspace.open_bundle(tmp_path / "one.tdx", Keyring.of(demo_key))["tips"] == 1
    assert list(tmp.iterdir()) == []
    workspace.close()
