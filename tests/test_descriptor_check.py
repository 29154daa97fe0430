"""The check of tests/conftest.py: a test module that leaves file descriptors open fails, by name."""

import subprocess
import sys
from pathlib import Path

from tests import descriptors

ROOT = Path(__file__).resolve().parent.parent

LEAKY = f"""
import os

KEPT = []


def test_opens_files_and_keeps_them():
    KEPT.extend(os.open(os.devnull, os.O_RDONLY) for _ in range({descriptors.MODULE_TOLERANCE + 8}))
"""

TIDY = """
import os


def test_opens_files_and_closes_them():
    for fd in [os.open(os.devnull, os.O_RDONLY) for _ in range(100)]:
        os.close(fd)
"""


def test_a_module_that_leaves_descriptors_open_fails_by_name_and_a_tidy_one_passes(tmp_path):
    (tmp_path / "test_leaky.py").write_text(LEAKY)
    (tmp_path / "test_tidy.py").write_text(TIDY)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    # Given this suite's conftest as a plugin of a run of those two modules
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.conftest",
         "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    out = run.stdout
    # Then the leaky one fails at its end, naming itself and what it left open
    assert run.returncode == 1, out
    assert f"test_leaky left {descriptors.MODULE_TOLERANCE + 8} file descriptors open" in out, out
    assert "null" in out, out
    # and the tidy one passes (both tests pass; the leaky module's teardown is the error)
    assert "test_tidy left" not in out and "2 passed, 1 error" in out, out
