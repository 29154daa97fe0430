"""No tipdrop process can leave its memory in a core file (docs/threat-model.md, "Core dumps").

The shell the processes start from allows core dumps (``ulimit -c
unlimited``, as an operator debugging something would have it): a real
``tipdrop serve`` (gunicorn, two workers) and a real ``tipdrop officer app``
must still run with a core size limit of 0, and a server worker killed by
SIGSEGV right after storing a report sent through the form leaves no core
file holding it.
"""

import os
import resource
import signal
import subprocess
import time

import pytest

from tests.browser.test_officer_app_browser import _start_app
from tests.e2e.conftest import PASS
from tests.serving import start_server
from tests.web_forms import submit_on_web

pytestmark = pytest.mark.e2e


@pytest.fixture
def cores_allowed():
    """Core dumps allowed, as far as the hard limit lets, for the processes started here."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    yield hard
    resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


def _core_limit(pid):
    """The soft core size limit of process ``pid``, as /proc shows it ("0", "unlimited")."""
    with open(f"/proc/{pid}/limits") as f:
        [line] = [line for line in f if line.startswith("Max core file size")]
    return line.split()[4]


def _children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(child) for child in out.split()]


def _ended(pid):
    """Whether process ``pid`` has ended (gone, or a zombie: it runs no more)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def _wait_until_ended(pids, seconds=30):
    deadline = time.monotonic() + seconds
    while not all(_ended(pid) for pid in pids):
        assert time.monotonic() < deadline, f"{pids} still running {seconds} s after SIGSEGV"
        time.sleep(0.05)


def _core_files(root):
    return [path for path in root.rglob("core*") if path.is_file()]


def test_a_crashing_server_worker_leaves_no_core_file_whatever_the_shell_allowed(
        tmp_path, cores_allowed):
    # Given a server started where core dumps are allowed, with a report sent through the
    # form (sealed on arrival: its plaintext passed through a worker's memory)
    server = start_server(tmp_path)
    try:
        canary = f"CORE-CANARY-{os.urandom(4).hex()}"
        for _ in range(2):
            submit_on_web(server, {"region": "astana", "category": "drugs", "description": canary})
        workers = _children(server.process.pid)
        assert len(workers) == 2

        # Then the server and each of its workers run with a core size limit of 0
        assert [_core_limit(pid) for pid in (server.process.pid, *workers)] == ["0", "0", "0"]

        # And when the workers crash, no core file is written where the kernel would put it
        # (the working folder, with the default core_pattern "core")
        for pid in workers:
            os.kill(pid, signal.SIGSEGV)
        # (a core, if any, is written before the process ends: wait until both have)
        _wait_until_ended(workers)
    finally:
        server.kill()
    with open("/proc/sys/kernel/core_pattern") as f:
        pattern = f.read().strip()
    if not pattern.startswith("|"):
        found = _core_files(tmp_path)
        assert found == [], [(path, canary.encode() in path.read_bytes()) for path in found]


def test_the_officer_app_holding_the_unlocked_key_runs_with_no_core_dumps(
        ceremony, tmp_path, cores_allowed):
    _, officer = ceremony
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    env |= {k: v for k, v in officer.items() if k not in PASS}
    process, *_ = _start_app(env, tmp_path)
    try:
        assert _core_limit(process.pid) == "0"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
