"""The submit page starts over when the server lost its upload (docs/protocol.md section 19,
"Starting over"), in a real Chromium against a real server (gunicorn) whose uploads
live a few seconds (TIPDROP_UPLOAD_LIFETIME_SECONDS) or go idle in a few seconds.

The phone loses its connection mid-way for longer than the upload may live;
back online, the server answers that it swept the upload. The page begins a
new one by itself, sends the same sealed report from the start, says so in
the reporter's language with its progress bar back at zero, and the report
arrives exactly once, its file whole. The same after the server gave the
upload's place to another while it was idle. A server that sweeps every
upload (a slow link, a lifetime too short for it) is given up after two new
uploads: the page says the report was not sent and what to do, and keeps
what the reporter wrote.
"""

import re
import secrets
import sqlite3
import time
from contextlib import closing

import pytest

from tests.browser.conftest import FILE_REPORT_TEXT, collect_errors, fill_report_with_file
from tests.resumable import officer_reads, post_json, sealed_upload
from tests.serving import start_server
from tests.stored import tip_ids

pytestmark = pytest.mark.e2e

LIFETIME = 6  # seconds, TIPDROP_UPLOAD_LIFETIME_SECONDS: a new upload is sent well within it
SIZE = 1_600_000  # two pieces of 1 MiB once sealed
IDLE = 2  # seconds, TIPDROP_UPLOAD_IDLE_SECONDS for the idle test

#: Records every text the status line shows, with the progress bar's value then.
RECORD_STATUS = """
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("form-status");
  const bar = document.getElementById("send-progress-bar");
  if (!box || !bar) return;
  new MutationObserver(() => window.statusShown(box.textContent, Number(bar.value)))
    .observe(box, { childList: true, characterData: true, subtree: true });
});
"""


def _server(tmp_path, **env):
    return start_server(tmp_path, extra_env={"TIPDROP_SUBMITS_PER_HOUR": "1000", **env})


@pytest.fixture
def short_lived(tmp_path):
    running = _server(tmp_path, TIPDROP_UPLOAD_LIFETIME_SECONDS=str(LIFETIME))
    yield running
    running.stop()


@pytest.fixture
def sweeping(tmp_path):
    """A server whose uploads live 2 s: too short for the page's emulated slow link."""
    running = _server(tmp_path, TIPDROP_UPLOAD_LIFETIME_SECONDS="2")
    yield running
    running.stop()


@pytest.fixture
def idle_server(tmp_path):
    running = _server(tmp_path, TIPDROP_OPEN_UPLOADS="1", TIPDROP_UPLOAD_IDLE_SECONDS=str(IDLE))
    yield running
    running.stop()


def _uploads(server):
    """[(state, pieces)] of every upload the server holds."""
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db:
        return db.execute("SELECT state, pieces FROM uploads ORDER BY rowid").fetchall()


def _watched_page(browser, server):
    """A Russian page whose status lines are recorded, and the upload requests it had
    answered, as (upload key, what); returns (context, page, shown, requests)."""
    context = browser.new_context(locale="ru-RU")
    shown, requests = [], []
    context.expose_function("statusShown", lambda text, bar: shown.append((text, bar)))
    context.add_init_script(RECORD_STATUS)
    page = context.new_page()

    def request(sent):
        found = re.search(r"/api/v1/uploads(/pieces/[0-9]+|/finish)?", sent.url)
        if found:
            requests.append((sent.headers.get("idempotency-key"), found.group(1) or "begin"))

    page.on("requestfinished", request)
    return context, page, shown, requests


def _keys(requests):
    """The upload keys in the order first used."""
    return list(dict.fromkeys(key for key, _ in requests))


def _message(page, name):
    return page.locator("#report-form").get_attribute(f"data-msg-{name}")


def _cut_off_mid_way(context, page, cut):
    """The page's first upload loses the network as its piece 1 leaves (the piece never
    arrives); ``cut`` records when."""
    def piece(route):
        key = route.request.headers.get("idempotency-key")
        if not cut and route.request.url.split("?")[0].endswith("/pieces/1"):
            cut.append((key, time.monotonic()))
            context.set_offline(True)
            route.abort("internetdisconnected")
            return
        route.continue_()

    page.route(re.compile(r".*/api/v1/uploads/pieces/.*"), piece)


def _sent_until_offline(browser, server, file):
    """A report with ``file`` sent in Russian until the network goes after piece 0.

    Returns the page's context, page, shown statuses and requests, the
    started-over message it will show, and the first upload's key and the
    moment its connection was cut.
    """
    context, page, shown, requests = _watched_page(browser, server)
    errors = collect_errors(page)
    cut = []
    _cut_off_mid_way(context, page, cut)
    fill_report_with_file(page, f"http://127.0.0.1:{server.port}", "ru", file)
    said = _message(page, "restarted")
    page.click("#report-form button[type=submit]")
    page.wait_for_function("(text) => document.getElementById('form-status').textContent === text",
                           arg=_message(page, "offline"), timeout=60_000)
    [(first_key, cut_at)] = cut
    return context, page, shown, requests, errors, said, first_key, cut_at


def test_an_upload_swept_while_the_phone_was_offline_starts_over_and_arrives_once(
        browser, short_lived, tmp_path, run_cli):
    server = short_lived
    evidence = secrets.token_bytes(SIZE)
    (tmp_path / "clip.bin").write_bytes(evidence)

    # Given a report with a file, whose upload loses the network after piece 0
    context, page, shown, requests, errors, said, first_key, cut_at = _sent_until_offline(
        browser, server, tmp_path / "clip.bin")

    # When the connection comes back only after the upload's lifetime (the server sweeps it)
    time.sleep(max(0.0, cut_at + LIFETIME + 1.5 - time.monotonic()))
    context.set_offline(False)

    # Then the page begins a new upload by itself and the receipt page opens
    page.wait_for_url(re.compile(r"/receipt/"), timeout=90_000)
    assert len(page.inner_text("#receipt").strip()) == 29
    second_key = _keys(requests)[1]
    assert _keys(requests) == [first_key, second_key]
    assert [what for key, what in requests if key == second_key] == [
        "begin", "/pieces/0", "/pieces/1", "/finish"]

    # And it said, in Russian, that sending started over, its progress bar back at zero
    assert [bar for text, bar in shown if text == said] == [0], shown
    assert "заново" in said
    assert errors == [] or all("ERR_INTERNET_DISCONNECTED" in e or "409" in e
                               or "Failed to load resource" in e for e in errors), errors
    context.close()

    # And the server holds exactly one report, its file whole, and no unfinished upload
    [tip_id] = tip_ids(server.data_dir)
    assert _uploads(server) == [("done", 2)]
    shown_text, saved = officer_reads(run_cli, server, tmp_path, tip_id)
    assert FILE_REPORT_TEXT in shown_text and saved == evidence


def test_an_upload_given_up_while_idle_starts_over_and_arrives_once(
        browser, idle_server, tmp_path):
    server = idle_server
    (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(SIZE))
    context, page, shown, requests, _, said, first_key, cut_at = _sent_until_offline(
        browser, server, tmp_path / "clip.bin")

    # While the phone is offline its upload goes idle, and another takes its one place
    # (deleting it), then goes idle in turn
    time.sleep(max(0.0, cut_at + IDLE + 1.5 - time.monotonic()))
    request, _ = sealed_upload(server, tmp_path, b"took the place")
    assert post_json(server, "/api/v1/uploads", request, secrets.token_hex(16))[0] == 201
    time.sleep(IDLE + 1.5)
    context.set_offline(False)

    # Then, asking how far it got, the page finds a new empty upload (201): it starts over
    page.wait_for_url(re.compile(r"/receipt/"), timeout=90_000)
    assert [what for key, what in requests if key == first_key] == [
        "begin", "/pieces/0", "begin", "/pieces/0", "/pieces/1", "/finish"]
    assert [bar for text, bar in shown if text == said] == [0], shown
    context.close()
    assert len(tip_ids(server.data_dir)) == 1


def test_a_server_that_keeps_sweeping_the_upload_is_given_up_and_the_page_says_what_to_do(
        browser, sweeping, tmp_path):
    server = sweeping
    (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(SIZE))
    context, page, shown, requests = _watched_page(browser, server)
    # A slow uplink (Chromium's own emulation): a piece takes some 4 s, longer than the
    # 2 s the server lets an upload live, so it sweeps every upload mid-way
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 100, "downloadThroughput": 1_000_000,
        "uploadThroughput": 250_000})
    fill_report_with_file(page, f"http://127.0.0.1:{server.port}", "ru", tmp_path / "clip.bin")
    limit = page.evaluate("() => window.TipdropResume.MAX_RESTARTS")
    page.click("#report-form button[type=submit]")

    # Then the page starts over twice, then stops and says the report was not sent
    spent = _message(page, "started-over")
    page.wait_for_function("(text) => document.getElementById('form-status').textContent === text",
                           arg=spent, timeout=120_000)
    assert limit == 2 and len(_keys(requests)) == 1 + limit
    restarted = [bar for text, bar in shown if text == _message(page, "restarted")]
    assert restarted == [0] * limit, shown
    assert "не отправлено" in spent or "не было отправлено" in spent
    # And it keeps what the reporter wrote, gives the button back, hides the progress bar
    assert page.input_value("#description") == FILE_REPORT_TEXT
    assert page.is_enabled("#report-form button[type=submit]")
    assert not page.locator("#send-progress").is_visible()
    context.close()

    # And nothing was stored, and nothing is left on the server
    assert tip_ids(server.data_dir) == [] and _uploads(server) == []

