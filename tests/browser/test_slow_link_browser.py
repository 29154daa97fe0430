"""A report with a file sent from the submit page over a slow uplink, in a real Chromium.

Chromium's own network emulation (the DevTools protocol's
Network.emulateNetworkConditions) adds a 3G round trip, and the recording
proxy between the browser and the server lets the uplink through at a rate
at which one 1 MiB piece takes longer than the server's rate window, in
bursts as a radio link delivers them: on a 3G uplink (250 kbit/s) against
the default 30 s window, the same as here at 800 kbit/s against a 5 s one.
Every byte the browser sends passes the proxy, so what was sent again is
counted, including what Chromium retries on its own without telling the
page (it resends a request answered 408 on a kept-alive connection). bench/slow_link.py measures the
same at 3G speed; docs/deploy.md, "Reporters on a bad link".
"""

import re
import secrets

import pytest

from tests.browser.conftest import fill_report_with_file
from tests.browser.recording_proxy import RecordingProxy
from tests.serving import start_server
from tests.stored import tip_ids

pytestmark = pytest.mark.e2e

SIZE = 1_200_000  # two pieces once sealed: one whole 1 MiB piece and a small one
WINDOW = 5
UPLINK = 100_000  # bytes/s: a whole piece takes about twice the window


def test_a_slow_honest_upload_is_not_ended_and_is_sent_once(browser, tmp_path):
    server = start_server(tmp_path, extra_env={"TIPDROP_RATE_WINDOW": str(WINDOW)})
    proxy = RecordingProxy(server.port, uplink=UPLINK)
    try:
        (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(SIZE))
        context = browser.new_context(locale="ru-RU")
        page = context.new_page()
        fill_report_with_file(page, f"http://127.0.0.1:{proxy.port}", "ru", tmp_path / "clip.bin")
        page.wait_for_function("() => document.getElementById('protection')"
                               ".dataset.encryptedOn === 'device'")
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": 100, "downloadThroughput": 3 * UPLINK,
            "uploadThroughput": 2 * UPLINK})
        before = len(proxy.sent)

        # When the reporter sends the report with the file over the slow uplink
        page.click("#report-form button[type=submit]")

        # Then the receipt page opens, the report is stored once, and the file
        # went up once: nothing was ended for being slow and sent again
        page.wait_for_url(re.compile(r"/receipt/"), timeout=60_000)
        sent = proxy.sent[before:]
        context.close()
        assert len(tip_ids(server.data_dir)) == 1
        assert sent.count(b"PUT /api/v1/uploads/pieces/0") == 1
        assert len(sent) < SIZE * 1.15, len(sent)
    finally:
        proxy.close()
        server.stop()


def test_a_piece_stalled_on_a_dead_connection_is_given_up_and_resumed(browser, tmp_path):
    # A radio fade, or a link back with another address: the piece's
    # connection stays open with nothing moving on it, no error, no answer
    # (TCP would keep trying for a quarter of an hour). The page names the
    # server's read timeout and some more as its own limit (submit.html).
    server = start_server(tmp_path, extra_env={"TIPDROP_READ_TIMEOUT": "2"})
    try:
        (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(2_200_000))  # three pieces
        context = browser.new_context(locale="ru-RU")
        page = context.new_page()
        seen, held = [], []

        def piece(route):
            index = int(re.search(r"/pieces/([0-9]+)", route.request.url).group(1))
            seen.append(index)
            if index == 1 and seen.count(1) == 1:
                held.append(route)  # never answered, never failed
                return
            route.continue_()

        page.route(re.compile(r".*/api/v1/uploads/pieces/.*"), piece)
        fill_report_with_file(page, f"http://127.0.0.1:{server.port}", "ru", tmp_path / "clip.bin")
        assert page.get_attribute("#report-form", "data-stall-seconds") == "12"

        # When the reporter sends it and the link goes dead under piece 1
        page.click("#report-form button[type=submit]")

        # Then the page gives the dead request up and says the connection was lost
        offline = page.get_attribute("#report-form", "data-msg-offline")
        page.wait_for_function("(text) => document.getElementById('form-status').textContent"
                               " === text", arg=offline, timeout=30_000)

        # And it resumes over a new connection: piece 1 again, piece 0 not,
        # the receipt page opens and the report is stored once
        page.wait_for_url(re.compile(r"/receipt/"), timeout=30_000)
        assert held and seen.count(0) == 1 and seen.count(1) == 2
        context.close()
        assert len(tip_ids(server.data_dir)) == 1
    finally:
        server.stop()


def test_while_the_connection_is_lost_the_page_guesses_no_time_left(browser, server, tmp_path):
    # A 3G-class uplink (Chromium's emulation): the time left is shown while
    # piece 0 goes up; then the phone loses its network as piece 1 leaves
    (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(2_200_000))
    context = browser.new_context(locale="ru-RU")
    page = context.new_page()
    pieces = []

    def piece(route):
        pieces.append(route.request.url)
        if "/pieces/1" in route.request.url and len(pieces) == 2:
            context.set_offline(True)
            route.abort("internetdisconnected")
            return
        route.continue_()

    page.route(re.compile(r".*/api/v1/uploads/pieces/.*"), piece)
    fill_report_with_file(page, f"http://127.0.0.1:{server.port}", "ru", tmp_path / "clip.bin")
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 100, "downloadThroughput": 500_000,
        "uploadThroughput": 250_000})
    form = page.locator("#report-form")
    seconds = form.get_attribute("data-msg-seconds-left").split("{")[0]
    minutes = form.get_attribute("data-msg-minutes-left").split("{")[0]
    page.click("#report-form button[type=submit]")
    page.wait_for_function("(left) => document.getElementById('send-progress-text')"
                           ".textContent.includes(left)", arg=seconds, timeout=60_000)

    # When the connection is lost, the page says so and guesses no time left
    offline = form.get_attribute("data-msg-offline")
    page.wait_for_function("(text) => document.getElementById('form-status').textContent"
                           " === text", arg=offline, timeout=60_000)
    text = page.inner_text("#send-progress-text")
    assert "МБ" in text and seconds not in text and minutes not in text, text

    # And back online it goes on to the receipt, the report stored once
    context.set_offline(False)
    page.wait_for_url(re.compile(r"/receipt/"), timeout=60_000)
    context.close()
    assert len(tip_ids(server.data_dir)) == 1
