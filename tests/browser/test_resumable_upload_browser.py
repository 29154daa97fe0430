"""The submit page's upload survives a cut connection (docs/protocol.md section 19), in a real Chromium.

The browser goes offline in the middle of the upload (a piece is cut off as
it leaves), the page says so and waits; back online it asks the server how
far it got and goes on. The answer to the final request is then lost on its
way back (the server stored the report, the page sees a network error): the
page asks again and gets the same answer. Exactly one report results, and the
officer's tool decrypts the very bytes of the file chosen. The progress bar
shows bytes, percent and time left; nothing of the upload stays in the
browser's storage; axe-core finds nothing on the page while it works.
"""

import json
import re
import secrets
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.browser.conftest import (
    FILE_REPORT_TEXT,
    choose_category,
    collect_errors,
    fill_report_with_file,
    open_profile,
    send_without_javascript,
)
from tests.browser.test_shared_device_browser import AXE, AXE_VIOLATIONS, search_profile
from tests.resumable import officer_reads
from tests.stored import tip_ids

pytestmark = pytest.mark.e2e

SIZE = 2_600_000  # three pieces of 1 MiB once sealed


def test_a_cut_connection_resumes_and_makes_exactly_one_report(browser, server, tmp_path,
                                                              run_cli):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test` installs axe-core from npm")
    evidence = secrets.token_bytes(SIZE)
    (tmp_path / "clip.bin").write_bytes(evidence)
    base = f"http://127.0.0.1:{server.port}"
    context = browser.new_context(locale="ru-RU", bypass_csp=True)
    page = context.new_page()
    errors = collect_errors(page)
    seen = {"pieces": [], "finish": 0}

    def piece(route):
        index = int(re.search(r"/pieces/([0-9]+)", route.request.url).group(1))
        seen["pieces"].append(index)
        if index == 1 and seen["pieces"].count(1) == 1:
            # The network goes away while piece 1 is on its way: it never arrives
            context.set_offline(True)
            route.abort("internetdisconnected")
            return
        route.continue_()

    def finish(route):
        seen["finish"] += 1
        if seen["finish"] == 1:
            # The server stores the report, but its answer is lost on the way back
            route.fetch()
            route.abort("connectionreset")
            return
        route.continue_()

    page.route(re.compile(r".*/api/v1/uploads/pieces/.*"), piece)
    page.route(re.compile(r".*/api/v1/uploads/finish.*"), finish)

    # When the reporter sends a report with a file
    fill_report_with_file(page, base, "ru", tmp_path / "clip.bin")
    page.click("#report-form button[type=submit]")

    # Then, cut off mid-way, the page says it will go on, with the progress so far
    offline = page.locator("#report-form").get_attribute("data-msg-offline")
    page.wait_for_function("(text) => document.getElementById('form-status').textContent === text",
                           arg=offline, timeout=60_000)
    assert page.locator("#send-progress").is_visible()
    bar = int(page.get_attribute("#send-progress-bar", "value"))
    assert 0 < bar < 1000
    progress = page.inner_text("#send-progress-text")
    assert re.search(r"из 2,6 МБ", progress) and "%" in progress, progress
    page.add_script_tag(path=str(AXE))
    assert page.evaluate(AXE_VIOLATIONS) == []
    assert tip_ids(server.data_dir) == []

    # And back online it resumes, the lost answer is asked for again, and the receipt page opens
    context.set_offline(False)
    page.wait_for_url(re.compile(r"/receipt/"), timeout=60_000)
    receipt = page.inner_text("#receipt").strip()
    assert len(receipt) == 29
    assert page.get_attribute(".protection", "data-encrypted-on") == "device"
    # Piece 1 was sent again, piece 0 was not; finish was asked twice
    assert seen["pieces"].count(0) == 1 and seen["pieces"].count(1) == 2
    assert seen["finish"] == 2

    # And the browser keeps nothing of the upload: no storage, no key
    kept = page.evaluate("""async () => ({
        session: sessionStorage.length, local: localStorage.length,
        databases: (await indexedDB.databases()).length })""")
    assert kept == {"session": 0, "local": 0, "databases": 0}
    assert errors == [] or all("ERR_INTERNET_DISCONNECTED" in e or "ERR_CONNECTION_RESET" in e
                               or "Failed to load resource" in e for e in errors), errors
    context.close()

    # And exactly one report is stored
    [tip_id] = tip_ids(server.data_dir)

    # And the officer's tool decrypts the very bytes that were chosen
    shown, saved = officer_reads(run_cli, server, tmp_path, tip_id)
    assert FILE_REPORT_TEXT in shown and "encrypted on: device" in shown
    assert saved == evidence


def test_without_javascript_the_form_posts_as_before(browser, server, tmp_path):
    (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(300_000))
    send_without_javascript(browser, server, tmp_path / "clip.bin")
    assert len(tip_ids(server.data_dir)) == 1
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db:
        assert db.execute("SELECT COUNT(*) FROM uploads").fetchone() == (0,)


def test_resume_js_computes_the_upload_vectors(browser, server):
    vectors = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "uploads.json")
                         .read_text())
    context = browser.new_context()
    page = context.new_page()
    errors = collect_errors(page)
    page.goto(f"http://127.0.0.1:{server.port}/submit")
    page.wait_for_function("() => window.TipdropResume !== undefined")
    found = page.evaluate("""async (v) => {
      const R = window.TipdropResume, C = window.TipdropCrypto;
      const body = new Uint8Array(v.body_length).map((_, i) => i % 251);
      const id = await R.uploadId(v.key);
      let chain = await R.chainStart(id);
      const steps = [C.bytesToHex(chain)];
      for (const step of v.pieces) {
        const at = step.index * v.piece_bytes;
        const piece = body.subarray(at, at + v.piece_bytes);
        const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", piece));
        chain = await R.chainNext(chain, step.index, digest);
        steps.push(C.bytesToHex(digest), C.bytesToHex(chain));
      }
      return { id, steps };
    }""", vectors)
    expected = [vectors["chain_start"]]
    for step in vectors["pieces"]:
        expected += [step["digest"], step["chain"]]
    assert found == {"id": vectors["upload_id"], "steps": expected}
    assert expected[-1] == vectors["chain"] and errors == []
    context.close()


def test_on_a_slow_link_the_progress_says_bytes_percent_and_time_left(browser, server, tmp_path):
    # Chromium's own network emulation: a 3G-class uplink of 250 kB/s, 300 ms latency
    (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(SIZE))
    context = browser.new_context(locale="kk-KZ")
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 300, "downloadThroughput": 500_000,
        "uploadThroughput": 250_000})
    fill_report_with_file(page, f"http://127.0.0.1:{server.port}", "kk", tmp_path / "clip.bin")
    page.click("#report-form button[type=submit]")
    left = page.locator("#report-form").get_attribute("data-msg-seconds-left").split("{")[0]
    page.wait_for_function("(left) => document.getElementById('send-progress-text')"
                           ".textContent.includes(left)", arg=left, timeout=60_000)
    text = page.inner_text("#send-progress-text")
    # "Жіберілуде: 2,6 МБ-тың 0,4 МБ-ы (17 %), шамамен 10 с қалды" (the browser's
    # number format for the language: its decimal mark and percent spacing)
    assert re.search(r"2[.,]6 МБ-тың [0-9][.,][0-9] МБ-ы \([0-9]+\s?%\), шамамен [0-9]+ с қалды",
                     text), text
    page.wait_for_url(re.compile(r"/receipt/"), timeout=60_000)
    assert len(tip_ids(server.data_dir)) == 1
    context.close()


def test_an_upload_cut_off_by_closing_the_browser_leaves_nothing_in_the_profile(
        playwright_driver, server, tmp_path):
    # A shared phone: the reporter sends a report with a file, and the browser
    # is closed (or killed) while a piece is on its way; then whoever holds
    # the phone opens the same profile (docs/threat-model.md, "Resumable uploads")
    mark = secrets.token_hex(4)
    name = f"evidence-{mark}.bin"
    (tmp_path / name).write_bytes(secrets.token_bytes(SIZE))
    description = f"Муж бьёт меня {mark}"
    profile = tmp_path / "profile"
    context = open_profile(playwright_driver, profile, locale="ru-RU")
    page = context.pages[0] if context.pages else context.new_page()
    base = f"http://127.0.0.1:{server.port}"
    held = []
    # Piece 1 never arrives (the network is gone): the page waits to resume
    # when the browser is closed
    page.route(re.compile(r".*/api/v1/uploads/pieces/1.*"),
               lambda route: (held.append(route.request.url), route.abort("internetdisconnected")))
    page.goto(f"{base}/submit?lang=ru")
    choose_category(page, "corruption")
    page.select_option("#region", "almaty")
    page.fill("#description", description)
    page.set_input_files("#files", [str(tmp_path / name)])
    page.click("#report-form button[type=submit]")
    for _ in range(600):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the upload never reached its second piece"
    context.close()
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db:
        assert db.execute("SELECT state, pieces FROM uploads").fetchall() == [("open", 1)]
    assert tip_ids(server.data_dir) == []

    # When the same profile is opened again, the site keeps nothing in its storage...
    context = open_profile(playwright_driver, profile, locale="ru-RU")
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{base}/?lang=ru")
    kept = page.evaluate("""async () => ({
        session: sessionStorage.length, local: localStorage.length,
        databases: (await indexedDB.databases()).length, caches: (await caches.keys()).length,
        workers: (await navigator.serviceWorker.getRegistrations()).length })""")
    assert kept == {"session": 0, "local": 0, "databases": 0, "caches": 0, "workers": 0}
    context.close()
    # ... and no file of the profile holds the text or the file's name
    assert search_profile(profile, {"description": description, "file name": name,
                                    "mark": mark}) == []
