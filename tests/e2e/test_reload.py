"""Keys and routing change on a running server (gunicorn) with a SIGHUP, no request failing.

A new key for the unit and a new unit are installed, the unit's old key is
retired, and the server gets a SIGHUP while a loop of requests runs: every
request is answered, the next tip is sealed to the new key and the new
unit's region goes to the new unit, and `tipdrop doctor` said before the
reload that the files differ from what the server uses. A keys folder that
would not load is refused by the master: the server keeps serving.
"""

import json
import os
import signal
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.serving import multipart, start_server
from tipdrop.crypto import keys
from tipdrop.server import reload
from tipdrop.server.settings import Settings
from tipdrop.server.web.ratelimit import shared_dir

pytestmark = pytest.mark.e2e

ROUTES = {"astana": "demo", "almaty": "demo", "shymkent": "north"}
CHECKS = ["/healthz", "/submit?lang=ru", "/check?lang=kk", "/"]


@pytest.fixture
def server(tmp_path):
    # One worker, so the tests can tell which process serves; a worker started
    # later serves what the master checked, whatever is on disk (reload.py).
    running = start_server(tmp_path, workers=1)
    yield running
    running.stop()


def _settings(server):
    return Settings().replace(data_dir=server.data_dir, keys_dir=server.keys_dir)


def _put(path, data):
    """Install a file the way an operator should: whole, in one rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _in_use(server):
    """The digest the running server published, once it published one."""
    found = reload.read_loaded(shared_dir(_settings(server).runtime_dir, server.data_dir))
    return found and found[0]


def _wait_for(condition, what, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {seconds} s"
        time.sleep(0.05)


class _Checks(threading.Thread):
    """Requests one after the other, each on a new connection, until stopped."""

    def __init__(self, server, paths=CHECKS):
        super().__init__(daemon=True)
        self.server, self.paths, self.answered, self.failed = server, paths, 0, []
        self.slowest = 0.0
        self.running = threading.Event()
        self.running.set()

    def run(self):
        n = 0
        while self.running.is_set():
            path = self.paths[n % len(self.paths)]
            n += 1
            started = time.monotonic()
            try:
                status, _, _ = self.server.request("GET", path, timeout=30)
            except OSError as e:
                self.failed.append((path, repr(e)))
                continue
            self.slowest = max(self.slowest, time.monotonic() - started)
            if status not in (200, 203):  # 203: a form page (reporter.NOT_FOR_BACK)
                self.failed.append((path, status))
            self.answered += 1

    def stop(self):
        self.running.clear()
        self.join(timeout=60)


def _submit(server, region):
    content_type, body = multipart({"region": region, "category": "theft",
                                    "description": f"after the reload, {region}"})
    status, _, raw = server.request("POST", "/api/v1/tips", body,
                                    {"Content-Type": content_type})
    assert status == 201, raw
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as conn:
        return conn.execute("SELECT unit, key_id FROM tips ORDER BY rowid DESC LIMIT 1").fetchone()


def test_keys_and_routing_change_with_a_sighup_and_no_request_fails(server, run_cli):
    old = server.unit_key
    assert _submit(server, "almaty") == ("demo", old.key_id.hex())
    _wait_for(lambda: _in_use(server), "the digest of the loaded keys")
    before = _in_use(server)

    # Given a new key for the unit, a new unit, and the old key retired, on disk only
    newer = keys.generate("demo", created="2099-01-01T00:00:00Z")
    north = keys.generate("north")
    _put(server.keys_dir / "north.pub", north.public.to_json())
    _put(server.keys_dir / "demo-2.pub", newer.public.to_json())
    _put(server.keys_dir / "routing.json", json.dumps({"version": 1, "regions": ROUTES}).encode())
    (server.keys_dir / "retired").mkdir()
    os.replace(server.keys_dir / "demo.pub", server.keys_dir / "retired" / "demo.pub")

    # Then the doctor says the running server uses other files
    doctor = run_cli("doctor", env=server.env())
    assert "uses other unit keys or routing" in doctor.stdout, doctor.stdout
    # And the server still seals to the old key, and knows no unit north
    assert _submit(server, "almaty") == ("demo", old.key_id.hex())

    # When the server gets a SIGHUP while requests keep coming
    checks = _Checks(server)
    checks.start()
    _wait_for(lambda: checks.answered >= 20, "requests before the reload")
    os.kill(server.process.pid, signal.SIGHUP)
    _wait_for(lambda: _in_use(server) not in (None, before), "the reload")
    answered = checks.answered
    _wait_for(lambda: checks.answered >= answered + 40, "requests after the reload")
    checks.stop()

    # Then no request failed, before, during or after it
    print(f"{checks.answered} requests answered, the slowest in {checks.slowest:.2f} s")
    assert checks.failed == [], checks.failed
    # And a tip submitted right after goes to the new key, and the new region to the new unit
    assert _submit(server, "almaty") == ("demo", newer.key_id.hex())
    assert _submit(server, "shymkent") == ("north", north.key_id.hex())
    # And the doctor no longer sees a difference
    doctor = run_cli("doctor", env=server.env())
    assert "uses other unit keys or routing" not in doctor.stdout, doctor.stdout
    assert server.process.poll() is None


def test_a_keys_folder_that_does_not_load_is_refused_and_the_server_keeps_serving(
        server, run_cli):
    _wait_for(lambda: _in_use(server), "the digest of the loaded keys")
    before = _in_use(server)
    # Given routing.json names a unit that has no key
    _put(server.keys_dir / "routing.json", json.dumps({"version": 1, "regions": ROUTES}).encode())

    # When the server gets a SIGHUP (/healthz now rightly fails: the files on disk are wrong)
    checks = _Checks(server, [path for path in CHECKS if path != "/healthz"])
    checks.start()
    os.kill(server.process.pid, signal.SIGHUP)
    _wait_for(lambda: b"reload refused" in server.log_path.read_bytes(), "the refusal")
    answered = checks.answered
    _wait_for(lambda: checks.answered >= answered + 20, "requests after the refusal")
    checks.stop()

    # Then the master said why, kept its workers, and every request was answered
    assert b"'north', which has no .pub" in server.log_path.read_bytes()
    assert checks.failed == [] and server.process.poll() is None
    assert _in_use(server) == before
    assert _submit(server, "almaty")[0] == "demo"
    status, _, body = server.request("GET", "/healthz")
    assert (status, json.loads(body)["keys"]) == (503, "fail")
    # And the doctor says the server does not use the files on disk
    doctor = run_cli("doctor", env=server.env())
    assert "uses other unit keys or routing" in doctor.stdout, doctor.stdout


def _workers(server):
    """The process ids of the gunicorn master's workers."""
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


def test_a_worker_started_while_a_broken_file_is_installed_serves_what_the_master_checked(
        server):
    _wait_for(lambda: _in_use(server), "the digest of the loaded keys")
    before = _in_use(server)
    [worker] = _workers(server)
    # Given routing.json broken on disk (a unit without a key), not reloaded
    _put(server.keys_dir / "routing.json", json.dumps({"version": 1, "regions": ROUTES}).encode())
    # When the worker dies and gunicorn starts another one (a crash, the OOM killer)
    os.kill(worker, signal.SIGKILL)
    _wait_for(lambda: _workers(server) - {worker}, "a new worker")
    # Then the new worker boots with the keys and routing the master checked: the server
    # keeps serving, and seals as before
    checks = _Checks(server, [path for path in CHECKS if path != "/healthz"])
    checks.start()
    _wait_for(lambda: checks.answered >= 20, "requests to the new worker")
    checks.stop()
    assert checks.failed == [] and server.process.poll() is None
    assert _submit(server, "almaty")[0] == "demo"
    assert _in_use(server) == before
    assert b"failed to boot" not in server.log_path.read_bytes().lower()
