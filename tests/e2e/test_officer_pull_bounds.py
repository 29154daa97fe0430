"""A hostile server cannot exhaust the workstation's memory or disk through `officer pull`.

docs/threat-model.md: the server is the workstation's adversary. The real
CLI pulls from a real separate process (hostile_api.py) that answers with
an error of any length, or an export larger than the workstation accepts.
"""

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import PASS, TIPDROP, assert_clean_error
from tipdrop.crypto import kdf
from tipdrop.officer.keyfiles import create_unit_key

pytestmark = pytest.mark.e2e

HOSTILE = Path(__file__).with_name("hostile_api.py")
MB = 1024 * 1024


def _limits():
    """In the pulling process: a code that reads without end dies instead of filling the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (3 * 1024 * MB, 3 * 1024 * MB))
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * MB, 64 * MB))


@pytest.fixture
def hostile(tmp_path):
    """Start hostile_api.py answering (status, bytes); its URL."""
    started = []

    def start(status, size):
        proc = subprocess.Popen([sys.executable, str(HOSTILE), str(status), str(size)],
                                stdout=subprocess.PIPE, text=True)
        started.append(proc)
        return f"http://127.0.0.1:{proc.stdout.readline().strip()}"

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


@pytest.fixture
def officer(tmp_path):
    create_unit_key("demo", tmp_path / "keys", PASS["TIPDROP_PASSPHRASE"], params=kdf.TEST_PARAMS)
    return {**PASS, "TIPDROP_WORKDIR": str(tmp_path / "cases"),
            "TIPDROP_KEY": str(tmp_path / "keys" / "demo.key")}


def _pull(tmp_path, url, env):
    """Run `tipdrop officer pull` to its end; (returncode, stdout, stderr, peak RSS in bytes)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    full_env.update(env)
    out, err = tmp_path / "pull.out", tmp_path / "pull.err"
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen([str(TIPDROP), "officer", "pull", "--server", url],
                                stdout=o, stderr=e, env=full_env, cwd=tmp_path, text=True,
                                preexec_fn=_limits)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.read_text(),
                                       err.read_text()), usage.ru_maxrss * 1024


def test_a_long_error_answer_is_refused_without_reading_it_into_memory(tmp_path, hostile, officer):
    peaks = []
    for size in (16 * MB, 256 * MB):
        result, peak = _pull(tmp_path, hostile(500, size), officer)
        assert_clean_error(result, "more than 64 KiB")
        peaks.append(peak)
    # A body 16 times longer costs the same memory (before: read whole, +240 MB)
    assert peaks[1] - peaks[0] < 32 * MB, peaks


def test_an_endless_error_answer_ends_in_one_line(tmp_path, hostile, officer):
    result, _ = _pull(tmp_path, hostile(503, -1), officer)
    assert_clean_error(result, "HTTP 503", "more than 64 KiB")


def test_an_export_larger_than_the_cap_is_refused_and_nothing_is_left_on_disk(
        tmp_path, hostile, officer):
    result, _ = _pull(tmp_path, hostile(200, 3 * MB), {**officer, "TIPDROP_PULL_MAX_MB": "1"})
    assert_clean_error(result, "larger than 1 MB", "--max-mb")
    assert not [p for p in Path(officer["TIPDROP_WORKDIR"]).iterdir() if p.name.startswith(".pull-")]


def test_an_endless_export_stops_at_the_cap(tmp_path, hostile, officer):
    result, _ = _pull(tmp_path, hostile(200, -1), {**officer, "TIPDROP_PULL_MAX_MB": "2"})
    assert_clean_error(result, "larger than 2 MB")
    assert not [p for p in Path(officer["TIPDROP_WORKDIR"]).iterdir() if p.name.startswith(".pull-")]
