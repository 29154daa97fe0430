"""`tipdrop import-replies` and `import-ack` check the file they are given before reading it.

The file comes on a stick from a workstation, or from whoever can put a
file in the operator's way. A device (``/dev/zero`` never ends: reading it
whole ends in the kernel's OOM killer), a pipe (a read waits for ever) and a
file larger than its format's maximum (docs/protocol.md: 64 MiB for a reply
bundle, 16 MiB for an acknowledgement) are refused at once, from what the
file system says, with one ``error:`` line, exit code 2, and nothing written.
Each command runs as a real process, under a cap on its address space and a
timeout, so the old behaviour (read it all) fails the test instead of the
machine.
"""

import os
import resource
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import TIPDROP, assert_clean_error
from tests.e2e.test_bundle_metadata import exchange, unit_keys  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e

#: The cap on each command's address space: far below what reading a huge file whole takes.
ADDRESS_SPACE = 1 << 30
COMMANDS = ["import-replies", "import-ack"]


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _run(command, path, env, tmp_path, timeout=60):
    """The CLI as a process; returns (CompletedProcess, ru_maxrss in bytes: at least the
    size of this process when it forked, see the size test)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")} | env
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen([str(TIPDROP), command, str(path)], env=full_env,
                                   stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                   cwd=tmp_path, preexec_fn=_limited)  # noqa: PLW1509
        deadline = time.monotonic() + timeout
        while True:  # reaped here, so that its own peak memory is known (os.wait4)
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:  # a read that blocks on a pipe never returns
                process.kill()
                process.wait()
                pytest.fail(f"tipdrop {command} {path.name} still ran after {timeout} s")
            time.sleep(0.05)
    peak = usage.ru_maxrss * 1024  # kilobytes on Linux
    return subprocess.CompletedProcess(process.args, process.returncode, out.read_text(),
                                       err.read_text()), peak


def _nothing_imported(exchange):  # noqa: F811
    server = exchange["server"]
    assert server.replies_and_statuses()[0] == []
    assert server.db.execute("SELECT held_seq FROM tips").fetchall() == [(0,)]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_device_is_refused_at_once_without_reading_it(command, exchange,  # noqa: F811
                                                       tmp_path):
    result, _ = _run(command, Path("/dev/zero"), exchange["server_env"], tmp_path)

    assert_clean_error(result, "zero is not a regular file")
    _nothing_imported(exchange)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_pipe_is_refused_without_waiting_for_a_writer(command, exchange, tmp_path):  # noqa: F811
    fifo = tmp_path / "replies.json"
    os.mkfifo(fifo)

    result, _ = _run(command, fifo, exchange["server_env"], tmp_path, timeout=30)

    assert_clean_error(result, "replies.json is not a regular file")
    _nothing_imported(exchange)


@pytest.mark.parametrize("command, limit", [("import-replies", 64 << 20),
                                            ("import-ack", 16 << 20)])
def test_a_file_over_the_formats_maximum_is_refused_from_its_size_alone(
        command, limit, exchange, tmp_path):  # noqa: F811
    # Sparse: a size the file system reports, with no disk or time spent writing it.
    just_over = tmp_path / "just-over.json"
    with open(just_over, "wb") as f:
        f.truncate(limit + 1)
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(4 << 30)

    over, _ = _run(command, just_over, exchange["server_env"], tmp_path)
    refused, _ = _run(command, huge, exchange["server_env"], tmp_path)

    # Refused from the size the file system gives: read whole, 4 GiB could not fit
    # under the 1 GiB cap (a MemoryError, not this message). Its peak memory is not
    # asserted: wait4's ru_maxrss of a forked child starts at the size of the process
    # that forked it (this test session's, hundreds of MiB in a full run).
    assert_clean_error(over, f"just-over.json is {limit + 1} bytes", f"at most {limit} bytes")
    assert_clean_error(refused, f"huge.json is {4 << 30} bytes")
    _nothing_imported(exchange)
