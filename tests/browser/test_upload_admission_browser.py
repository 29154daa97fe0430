"""When the server takes no new upload, the submit page says so and stops (docs/protocol.md
section 19, "Idle uploads"), in a real Chromium against a real server.

The server's open uploads (TIPDROP_OPEN_UPLOADS, 1 here) are all taken and
busy, so every begin is answered 503 ``TooManyUploadsError``. The page asks
again a few times, waiting longer each time, then tells the reporter in
their language that nothing was sent and to try again later, and gives the
button back, instead of waiting for ever. The form without JavaScript, which
does not use the resumable uploads, still sends the report. And a page whose
upload the server gave up while it was idle begins it again and sends it.
"""

import re
import secrets
import sqlite3
import time
from contextlib import closing

import pytest

from tests.browser.conftest import (
    FILE_REPORT_TEXT,
    collect_errors,
    fill_report_with_file,
    send_without_javascript,
)
from tests.resumable import post_json, sealed_upload
from tests.serving import start_server
from tests.stored import tip_ids

pytestmark = pytest.mark.e2e

MAX_BUSY = 4  # resume.js: busy answers to a begin before the page gives up


IDLE = 3  # seconds, TIPDROP_UPLOAD_IDLE_SECONDS for the last test


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path, extra_env={"TIPDROP_OPEN_UPLOADS": "1"})
    yield running
    running.stop()


@pytest.fixture
def idle_server(tmp_path):
    running = start_server(tmp_path, extra_env={"TIPDROP_OPEN_UPLOADS": "1",
                                                "TIPDROP_UPLOAD_IDLE_SECONDS": str(IDLE)})
    yield running
    running.stop()


def test_when_every_begin_gets_503_the_page_says_so_instead_of_waiting_for_ever(
        browser, server, tmp_path):
    # Given the one open upload the server takes is held (begun just now: not idle)
    request, _ = sealed_upload(server, tmp_path, b"holding the only place")
    assert post_json(server, "/api/v1/uploads", request, secrets.token_hex(16))[0] == 201
    (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(200_000))
    context = browser.new_context(locale="ru-RU")
    page = context.new_page()
    errors = collect_errors(page)
    begins = []
    page.on("response", lambda r: begins.append(r.status) if re.search(
        r"/api/v1/uploads\?", r.url) and r.request.method == "POST" else None)

    # When a reporter sends a report from the page
    fill_report_with_file(page, f"http://127.0.0.1:{server.port}", "ru", tmp_path / "clip.bin")
    form = page.locator("#report-form")
    waiting, busy = form.get_attribute("data-msg-busy-waiting"), form.get_attribute("data-msg-busy")
    assert re.search("[а-я]", busy) and re.search("[а-я]", waiting), (busy, waiting)
    page.click("#report-form button[type=submit]")

    # Then, while it asks again, it says the server is busy (not that the connection was lost)
    status = "(text) => document.getElementById('form-status').textContent === text"
    page.wait_for_function(status, arg=waiting, timeout=30_000)

    # And after a few tries it stops and says, in Russian, that nothing was sent
    page.wait_for_function(status, arg=busy, timeout=90_000)
    assert begins == [503] * (MAX_BUSY + 1)
    assert page.locator("#report-form button[type=submit]").is_enabled()
    assert page.input_value("#description") == FILE_REPORT_TEXT
    page.wait_for_timeout(2000)  # and it does not go on asking
    assert len(begins) == MAX_BUSY + 1 and tip_ids(server.data_dir) == []
    assert all("503" in e or "Failed to load resource" in e for e in errors), errors
    context.close()

    # And the form without JavaScript, which holds no open upload, still sends the report
    send_without_javascript(browser, server, tmp_path / "clip.bin")
    assert len(tip_ids(server.data_dir)) == 1
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db:
        assert db.execute("SELECT COUNT(*) FROM uploads").fetchone() == (1,)


def test_a_page_whose_idle_upload_was_given_up_begins_again_and_stores_the_report(
        browser, idle_server, tmp_path):
    server = idle_server
    (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(1_600_000))  # two pieces
    context = browser.new_context(locale="ru-RU")
    page = context.new_page()
    seen = []

    def piece(route):
        index = int(re.search(r"/pieces/([0-9]+)", route.request.url).group(1))
        seen.append(index)
        if seen == [0, 1]:
            # The page stalls after piece 0 until its upload is idle; another upload takes
            # the one place (the page's is deleted), and goes idle in turn
            time.sleep(IDLE + 1.5)
            request, _ = sealed_upload(server, tmp_path, b"took the place")
            assert post_json(server, "/api/v1/uploads", request, secrets.token_hex(16))[0] == 201
            time.sleep(IDLE + 1.5)
        route.continue_()

    page.route(re.compile(r".*/api/v1/uploads/pieces/.*"), piece)
    fill_report_with_file(page, f"http://127.0.0.1:{server.port}", "ru", tmp_path / "clip.bin")
    page.click("#report-form button[type=submit]")

    # Then piece 1 is answered 404, the page begins again and sends from the start
    page.wait_for_url(re.compile(r"/receipt/"), timeout=90_000)
    assert seen == [0, 1, 0, 1]
    assert len(tip_ids(server.data_dir)) == 1
    context.close()
