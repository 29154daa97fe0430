"""What a server keeps in RAM goes with it, even when it is killed (web/ratelimit.py).

A server's folder in ``TIPDROP_RUNTIME_DIR`` holds its rate-limit key and
the keys of the receipt pages. A clean stop removes it; a server killed with
SIGKILL cannot, so the next ``tipdrop serve`` removes every folder a dead
server left (its own included), and none of a live server's. Each test runs
servers on a runtime folder of its own in /dev/shm, so other servers on the
machine count for nothing.
"""

import os
import re
import secrets
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.serving import multipart, start_server
from tipdrop.server.web import pagelinks
from tipdrop.server.web.ratelimit import HELD, hold, shared_dir

pytestmark = pytest.mark.e2e


@pytest.fixture
def runtime_dir():
    folder = Path("/dev/shm") / f"td-runtime-test-{secrets.token_hex(6)}"
    folder.mkdir(mode=0o700)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _folders(runtime_dir):
    return sorted(p.name for p in runtime_dir.glob("tipdrop-*"))


def _plant(runtime_dir, name, with_held=True):
    folder = runtime_dir / f"tipdrop-{name}"
    folder.mkdir(mode=0o700)
    (folder / pagelinks.FOLDER).mkdir(mode=0o700)
    (folder / pagelinks.FOLDER / ("0" * 32)).write_bytes(b"k" * 40)
    if with_held:
        (folder / HELD).write_bytes(b"")
    return folder


def _report_through_the_form(server):
    """Submit without JavaScript; return the receipt page's address (a one-time link)."""
    token = server.form_token("/submit?lang=kk")
    content_type, body = multipart({"token": token, "region": "astana", "category": "drugs",
                                    "description": "a report before the crash"})
    status, answer, _ = server.request("POST", "/submit?lang=kk", body,
                                       {"Content-Type": content_type}, follow=False)
    assert status == 303, status
    target = urlsplit(answer["Location"])
    return target.path + (f"?{target.query}" if target.query else "")


def test_a_server_killed_with_sigkill_leaves_no_page_key_past_the_next_start(
        tmp_path, runtime_dir):
    # Given a server that showed a receipt page, then was killed
    server = start_server(tmp_path, extra_env={"TIPDROP_RUNTIME_DIR": str(runtime_dir)})
    live_hold = None
    try:
        own = shared_dir(runtime_dir, server.data_dir)
        page = _report_through_the_form(server)
        assert server.request("GET", page)[0] == 203
        keys_before = set(os.listdir(own / pagelinks.FOLDER))
        assert keys_before, "the receipt page's key is not where the test looks"
        server.kill()
        # (the kill left its folder and the page's key in RAM)
        assert set(os.listdir(own / pagelinks.FOLDER)) == keys_before
        # And folders another dead server left (a HELD file no one holds), one a
        # live server holds (here this test process), one of an older tipdrop
        # (no HELD file) and one tipdrop would not name so
        dead = _plant(runtime_dir, "0123456789abcdef")
        live = _plant(runtime_dir, "fedcba9876543210")
        live_hold = hold(live)
        older = _plant(runtime_dir, "00000000ffffffff", with_held=False)
        stranger = runtime_dir / "tipdrop-not-ours"
        stranger.mkdir(mode=0o700)
        (stranger / HELD).write_bytes(b"")
        assert len(_folders(runtime_dir)) == 5

        # When the server starts again
        server.start()

        # Then what the dead servers left is gone, the page's key with it, so
        # the page no longer opens ...
        assert not dead.exists()
        assert not keys_before & set(os.listdir(own / pagelinks.FOLDER))
        assert server.request("GET", page)[0] == 410
        # ... and the live server's, the older tipdrop's and a stranger's are untouched
        assert (live / pagelinks.FOLDER / ("0" * 32)).exists()
        assert (older / pagelinks.FOLDER / ("0" * 32)).exists() and stranger.is_dir()
        assert _folders(runtime_dir) == sorted(
            p.name for p in (own, live, older, stranger))

        # And a clean stop removes the server's own folder
        server.stop()
        assert not own.exists()
        assert _folders(runtime_dir) == sorted(p.name for p in (live, older, stranger))
    finally:
        if live_hold is not None:
            os.close(live_hold)
        server.stop()


def test_a_running_server_s_folder_survives_another_server_s_start(tmp_path, runtime_dir):
    # Given a running server
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    first = start_server(tmp_path / "one", extra_env={"TIPDROP_RUNTIME_DIR": str(runtime_dir)})
    try:
        own = shared_dir(runtime_dir, first.data_dir)
        page = _report_through_the_form(first)
        # When a second server starts on the same runtime folder (its start sweeps)
        second = start_server(tmp_path / "two",
                              extra_env={"TIPDROP_RUNTIME_DIR": str(runtime_dir)})
        second.stop()
        # Then the first one's folder and receipt page are still there
        assert own.is_dir()
        status, _, body = first.request("GET", page)
        assert status == 203 and re.search(rb'id="receipt"', body)
    finally:
        first.stop()
    assert _folders(runtime_dir) == []
