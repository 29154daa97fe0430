"""`tipdrop officer open` killed with SIGKILL in the middle of a bundle, through the real CLI.

The import is one transaction, so nothing of it is held; but its scratch
files (the spill, the staged attachment streams: as large as the bundle)
stayed under ``attachments/tmp`` for good. The next import sweeps them
(tipdrop/officer/opening.py, one_import).
"""

import os
import signal
import subprocess
import time

import pytest

from tests.e2e.conftest import TIPDROP
from tests.protocol.test_bundles import Server
from tipdrop.crypto import kdf, keys

pytestmark = pytest.mark.e2e

PASS = "officer pass"
#: Large enough that copying and checking it takes the import a while.
FILE_BYTES = 48 * 1024 * 1024


@pytest.fixture
def officer(tmp_path, demo_key):
    key_file = tmp_path / "demo.key"
    key_file.write_bytes(keys.private_to_file(demo_key, PASS, kdf.TEST_PARAMS))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    return env | {"TIPDROP_PASSPHRASE": PASS, "TIPDROP_WORKDIR": str(tmp_path / "cases"),
                  "TIPDROP_KEY": str(key_file)}


@pytest.fixture
def bundle(tmp_path, demo_key, astana_key):
    server = Server(tmp_path / "server", demo_key, astana_key)
    server.submit("almaty", "Night-time unloading at the garages.",
                  files=[("video.bin", os.urandom(FILE_BYTES))])
    server.export("demo", tmp_path / "demo.tdx")
    server.db.close()
    return tmp_path / "demo.tdx"


def _killed_midway(officer, bundle, scratch):
    """Start `officer open`; SIGKILL it once its scratch files hold a few megabytes."""
    process = subprocess.Popen([str(TIPDROP), "officer", "open", str(bundle)], env=officer,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            held = sum(p.stat().st_size for p in scratch.iterdir())
        except (FileNotFoundError, OSError):
            held = 0  # the folder is not there yet, or a file went meanwhile
        if held > 4 * 1024 * 1024:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    code = process.wait(timeout=30)
    assert code == -signal.SIGKILL, f"the import ended by itself first ({code})"


def test_the_next_import_sweeps_what_a_killed_one_left(officer, bundle, tmp_path):
    cases = tmp_path / "cases"
    scratch = cases / "attachments" / "tmp"

    # When an import is killed in the middle of the bundle
    _killed_midway(officer, bundle, scratch)

    # Then nothing of it is held, but its scratch files are there
    left = sum(p.stat().st_size for p in scratch.iterdir())
    assert left > 4 * 1024 * 1024
    listed = subprocess.run([str(TIPDROP), "officer", "list"], env=officer,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "almaty" not in listed.stdout, listed

    # And the next import opens the bundle whole and leaves no scratch file behind
    again = subprocess.run([str(TIPDROP), "officer", "open", str(bundle)], env=officer,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert list(scratch.iterdir()) == []
    [blob] = list((cases / "attachments").glob("*.bin"))
    assert blob.stat().st_size > FILE_BYTES
