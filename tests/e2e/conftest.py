"""Fixtures for end-to-end tests: the real ``tipdrop`` command in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serving import start_server
from tipdrop.crypto import kdf
from tipdrop.officer.keyfiles import create_unit_key

TIPDROP = Path(sys.executable).with_name("tipdrop")


@pytest.fixture
def run_cli(tmp_path):
    """Run ``tipdrop ARGS`` as a real process; returns CompletedProcess (text)."""

    def run(*args, env=None, input=None, check=False):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
        full_env.update(env or {})
        result = subprocess.run(
            [str(TIPDROP), *map(str, args)],
            capture_output=True,
            text=True,
            env=full_env,
            input=input,
            cwd=tmp_path,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"tipdrop {args} failed: {result.stderr}")
        return result

    return run


def assert_clean_error(result, *fragments):
    """A user error: exit 2, exactly one line on stderr, no traceback."""
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path)
    yield running
    running.stop()


#: The passphrase of the key made at the ceremony (``ceremony`` fixture).
PASS = {"TIPDROP_PASSPHRASE": "ceremony passphrase"}


@pytest.fixture
def ceremony(tmp_path):
    """A unit key made at a key ceremony, a server that holds its public half,
    and the environment of the officer who holds the private half.

    The key files are made as ``tipdrop keygen`` makes them (keyfiles.create_unit_key),
    but under the cheap test Argon2 parameters: every officer command unlocks the
    key, and at the real cost (kdf.KEY_FILE_PARAMS, 256 MiB) each unlock takes
    seconds. ``tipdrop keygen`` itself is run by test_cli_keys.py, and officer
    commands on a key it made at the real cost by test_key_rotation.py and
    test_officer_team.py.
    """
    create_unit_key("demo", tmp_path / "ceremony", PASS["TIPDROP_PASSPHRASE"],
                    params=kdf.TEST_PARAMS)
    server = start_server(tmp_path, public_key_file=tmp_path / "ceremony" / "demo.pub")
    officer = {**PASS, "TIPDROP_WORKDIR": str(tmp_path / "cases"),
               "TIPDROP_KEY": str(tmp_path / "ceremony" / "demo.key")}
    yield server, officer
    server.stop()


def assert_nothing_left(everything, pieces_by_name, root, what="purged bytes"):
    """No piece of any named secret in any file's bytes (``everything``: path -> bytes)."""
    for name, pieces in pieces_by_name.items():
        for piece in pieces:
            where = [str(p.relative_to(root)) for p, data in everything.items() if piece in data]
            assert not where, f"{name}: {what} left in {where}"
