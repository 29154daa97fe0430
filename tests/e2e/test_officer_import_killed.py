"""`tipdrop officer open` killed with SIGKILL mid-import leaves litter that the next opening removes.

A real ``tipdrop officer open`` of a bundle with large files is stopped
while it stages them (attachments/tmp/<token>/ holds its spill and a
staged file). Another command opening the workspace then must leave that
running import's files alone; once the import is killed (kill -9, which
nothing can clean up after), the next opening removes them, while a
second import, itself still running, keeps its own and finishes
(tipdrop/officer/scratch.py).
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import TIPDROP
from tests.protocol.test_bundles import Server
from tipdrop.crypto import kdf, keys

pytestmark = pytest.mark.e2e
PASS = "killed pass"
FILES = 12
FILE_BYTES = 4 * 1024 * 1024


@pytest.fixture
def bundle(tmp_path):
    """An export of FILES tips with a large file each, and the officer's environment."""
    demo, astana = keys.generate("demo"), keys.generate("astana-police")
    server = Server(tmp_path / "server", demo, astana)
    for n in range(FILES):
        server.submit("almaty", f"Отчёт {n}", files=[(f"video{n}.mp4", os.urandom(FILE_BYTES))])
    server.export("demo", tmp_path / "big.tdx")
    server.db.close()
    key_file = tmp_path / "demo.key"
    key_file.write_bytes(keys.private_to_file(demo, PASS, kdf.TEST_PARAMS))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    env |= {"TIPDROP_PASSPHRASE": PASS, "TIPDROP_WORKDIR": str(tmp_path / "cases"),
            "TIPDROP_KEY": str(key_file)}
    return tmp_path / "big.tdx", env


def _staging(tmp, skip=()):
    """Start waiting for an import's folder under ``tmp`` that holds a staged file."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for folder in tmp.iterdir() if tmp.exists() else ():
            if folder.is_dir() and folder.name not in skip and any(
                    p.suffix == ".bin" for p in folder.iterdir()):
                return folder
        time.sleep(0.002)
    raise AssertionError("the import never staged a file")


def _open(path, env):
    return subprocess.Popen([str(TIPDROP), "officer", "open", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _list(env):
    listed = subprocess.run([str(TIPDROP), "officer", "list", "--json"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


def test_an_import_killed_mid_way_leaves_files_the_next_opening_removes(bundle):
    path, env = bundle
    tmp = Path(env["TIPDROP_WORKDIR"]) / "attachments" / "tmp"
    _list(env)  # the workspace exists

    # Given an import stopped while it stages the bundle's files
    first = _open(path, env)
    try:
        mine = _staging(tmp)
        first.send_signal(signal.SIGSTOP)
        staged = sorted(p.name for p in mine.iterdir())
        assert any(name.endswith(".spill") for name in staged)
        # When another command opens the workspace meanwhile
        _list(env)
        # Then the running import's files are left alone
        assert mine.is_dir() and (tmp / f"{mine.name}.lock").exists()
        assert set(staged) <= {p.name for p in mine.iterdir()}

        # When the import is killed (nothing of it can clean up)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == -signal.SIGKILL
    assert mine.is_dir() and any(p.suffix == ".bin" for p in mine.iterdir())

    # Then the next import, itself still running, has the killed one's files removed
    # by a command that opens the workspace, and keeps its own
    second = _open(path, env)
    try:
        own = _staging(tmp, skip={mine.name})
        second.send_signal(signal.SIGSTOP)
        _list(env)
        assert not mine.exists() and not (tmp / f"{mine.name}.lock").exists()
        assert own.is_dir()
        second.send_signal(signal.SIGCONT)
        out, err = second.communicate(timeout=300)
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()
    assert second.returncode == 0, err
    assert f"opened: {FILES} new tips, 0 follow-ups, {FILES} attachments" in out
    # and, done, leaves nothing under tmp
    assert list(tmp.iterdir()) == []
