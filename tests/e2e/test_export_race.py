"""Two exports for the same unit at once: `tipdrop export` and an online pull.

The server CLI and the officer API both number exports per unit and stamp
the rows they carried. Here the CLI export is frozen (SIGSTOP) right after
it read the unit's rows and its export number, while it writes the bundle;
a whole online pull (`tipdrop officer pull`, the real gunicorn) runs and a
new tip arrives; then the CLI goes on. The two exports must serialise: both
succeed, with consecutive numbers, and no item is in both bundles.
"""

import json
import os
import signal
import sqlite3
import subprocess
import time
from contextlib import closing

import pytest

from tests.serving import TIPDROP, multipart

pytestmark = pytest.mark.e2e

#: Large enough that writing and syncing the bundle outlasts the polling below.
VIDEO = b"\x00\x00\x00\x18ftypmp42" + os.urandom(6 * 1024 * 1024)


def _submit(server, description, files=()):
    content_type, data = multipart({"region": "almaty", "category": "theft",
                                    "description": description}, files)
    status, _, raw = server.request("POST", "/api/v1/tips", data, {"Content-Type": content_type})
    assert status == 201, raw


def _export_numbers(database):
    with closing(sqlite3.connect(database)) as conn:
        exports = [row[0] for row in conn.execute(
            "SELECT seq FROM exports WHERE unit = 'demo' ORDER BY seq")]
        tips = dict(conn.execute("SELECT id, export_seq FROM tips"))
    return exports, tips


def _frozen_while_writing(process, folder, name, timeout=60):
    """SIGSTOP ``process`` once its bundle's temporary file exists (rows read, number taken)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.startswith(f".{name}.") for p in os.listdir(folder)):
            os.kill(process.pid, signal.SIGSTOP)
            return
        if process.poll() is not None:
            raise AssertionError(f"the export ended before writing: {process.communicate()}")
        time.sleep(0.0005)
    raise AssertionError("the export never started writing")


def test_cli_export_and_online_pull_at_once_both_succeed_with_consecutive_numbers(
        ceremony, run_cli, tmp_path):
    server, officer = ceremony
    database = server.data_dir / "tipdrop.db"
    _submit(server, "Bicycles sold behind the station.", [("files", "clip.mp4", "video/mp4",
                                                           VIDEO)])
    folder = tmp_path / "usb"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")} | server.env()

    # Given a CLI export that has read the unit's rows and taken its number, frozen mid-write
    cli = subprocess.Popen([str(TIPDROP), "export", "--unit", "demo", "--out",
                            str(folder / "cli.tdx")], env=env, cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _frozen_while_writing(cli, folder, "cli.tdx")
        assert _export_numbers(database)[0] == [], "the CLI export finished before it was frozen"

        # When an online pull runs meanwhile, and then a new tip arrives
        pulled = run_cli("officer", "pull", "--server", f"http://127.0.0.1:{server.port}",
                         env=officer)
        assert pulled.returncode == 0, pulled.stderr
        assert "pulled: 1 new tips" in pulled.stdout
        _submit(server, "A second tip, after the pull.")
    finally:
        os.kill(cli.pid, signal.SIGCONT)
    out, err = cli.communicate(timeout=120)

    # Then the CLI export succeeds too, with the next number and only the new tip
    assert cli.returncode == 0, err
    assert "Traceback" not in err
    assert "exported 1 tips, 0 follow-ups, 0 attachments" in out
    exports, tips = _export_numbers(database)
    assert exports == [1, 2]
    assert sorted(tips.values()) == [1, 2]
    assert not [p for p in os.listdir(folder) if p != "cli.tdx"], "a temporary file was left"

    # And the workstation opens the CLI bundle after the pulled one: both tips, none twice
    opened = run_cli("officer", "open", folder / "cli.tdx", env=officer)
    assert opened.returncode == 0, opened.stderr
    listed = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    assert sorted(tip["id"] for tip in listed) == sorted(tips)
