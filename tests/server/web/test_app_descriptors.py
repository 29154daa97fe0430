"""An app made and dropped leaves no file descriptor open behind it.

Each app opens its server's shared counts in RAM (web/ratelimit.py): the
counts file, the lock file the processes take turns through, the HELD file.
One app per process is the rule in production, but `tipdrop serve` makes one
in the master only to check the set-up, and tests make hundreds in one
process; a descriptor left open by each pushed the test process past 1024,
where select() fails ("filedescriptor out of range").
"""

import gc
import os
import secrets
import shutil
from pathlib import Path

import pytest

from tipdrop.server.web import create_app
from tipdrop.server.web.ratelimit import HELD, SharedCounts, sweep_stale

APPS = 20


def _open_descriptors():
    gc.collect()  # an app is a cycle (Flask): dropped, it goes at the next collection
    return len(os.listdir("/proc/self/fd"))


def test_apps_made_and_dropped_leave_no_descriptor_open(app_config):
    create_app(app_config)  # the first: imports and caches that stay for the process
    before = _open_descriptors()
    for _ in range(APPS):
        create_app(app_config)
    # One descriptor an app (the lock file) stayed open on the code before
    assert _open_descriptors() - before == 0


def test_closed_counts_hold_no_descriptor_and_let_go_of_their_folder(tmp_path, runtime):
    counts = SharedCounts.for_server(runtime, tmp_path / "instance")
    held = counts.folder / HELD
    assert sweep_stale(runtime) == 0  # held while open
    counts.close()
    opened = {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}
    assert not any(path.startswith(str(counts.folder)) for path in opened), opened
    # Then no process holds it: a sweep takes it as a stopped server's
    assert sweep_stale(runtime) == 1 and not held.exists()


@pytest.fixture
def runtime():
    """A runtime folder in RAM of this test's own: no other server's folder is in it."""
    folder = Path("/dev/shm") / f"td-close-test-{secrets.token_hex(6)}"
    folder.mkdir(mode=0o700)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
