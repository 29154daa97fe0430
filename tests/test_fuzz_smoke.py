"""A few seconds of coverage-guided fuzzing of every target in fuzz/fuzz_parsers.py.

``make fuzz`` runs the same harness for minutes; this short run in ``make test``
keeps the harness working and replays the seed corpus (valid bundles and
ciphertexts from the test vectors, raw HTTP requests to every kind of route)
plus a few thousand mutations of it. For the ``http`` target a 5xx answer or
an error in the app's log is a crash.
"""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
TARGETS = ["envelope", "stream", "reply_bundle", "export", "http"]
SECONDS_PER_TARGET = 2

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("atheris") is None,
                       reason="atheris is not installed (pip install -e '.[test]')"),
]


def test_every_target_has_a_seed_corpus():
    for target in TARGETS:
        assert any((FUZZ / "corpus" / target).iterdir()), target


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_finds_no_crash_in_a_short_run(target, tmp_path):
    work = tmp_path / "corpus"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, str(FUZZ / "fuzz_parsers.py"), target,
         f"-max_total_time={SECONDS_PER_TARGET}", "-timeout=10", "-rss_limit_mb=2048",
         f"-artifact_prefix={tmp_path}/", str(work), str(FUZZ / "corpus" / target)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    output = result.stderr + result.stdout
    assert result.returncode == 0, output[-3000:]
    assert not list(tmp_path.glob("crash-*")), output[-3000:]
    runs = re.search(r"Done (\d+) runs", output)
    assert runs and int(runs.group(1)) > 100, output[-3000:]
