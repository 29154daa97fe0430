"""A real headless Chromium (Debian's) driven by Playwright, and a real server."""

import os
import re
from pathlib import Path

import pytest

from tests.browser.recording_proxy import RecordingProxy
from tests.e2e.conftest import run_cli  # noqa: F401  (the real CLI, for the officer's side)
from tests.serving import start_server

CHROMIUM = os.environ.get("TIPDROP_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def playwright_driver():
    """One Playwright driver for the session: for ``browser`` and for persistent profiles."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` / .ci/run install Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_driver):
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    yield browser
    browser.close()


def open_profile(playwright_driver, folder, **options):
    """Chromium with a persistent profile in ``folder``, as a phone keeps one:
    history, session files, autofill and caches are written there."""
    return playwright_driver.chromium.launch_persistent_context(
        str(folder), executable_path=CHROMIUM, headless=True, args=ARGS, **options)


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def proxy(server):
    """A RecordingProxy between the browser and ``server``: load pages from its port to
    search every byte the browser sent (the tests that prove what was in no request)."""
    running = RecordingProxy(server.port)
    yield running
    running.close()


@pytest.fixture
def screenshots():
    """Where browser tests leave screenshots for a person to look at."""
    folder = Path(os.environ.get("TIPDROP_SCREENSHOTS", "/tmp/tipdrop-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def collect_errors(page):
    """The page's console errors and uncaught exceptions, as a list that fills as they come.

    Pages link their icon (/assets/favicon.<digest>.svg); a browser that
    still asks for /favicon.ico gets a 404, which is not an error here.
    """
    errors = []

    def console(message):
        if message.type == "error" and "favicon" not in (message.location or {}).get("url", ""):
            errors.append(f"{message.text} {message.location}")

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def choose_category(page, category):
    """Choose the report's category; without JavaScript also open its questions
    (a closed <details> of the form), which the page's script opens by itself."""
    page.select_option("#category", category)
    summary = page.locator(f'details.questions[data-category="{category}"] > summary')
    if summary.count() and summary.is_visible():
        if page.get_attribute(f'details.questions[data-category="{category}"]', "open") is None:
            summary.click()


#: What fill_report_with_file writes as the report's description.
FILE_REPORT_TEXT = "Отправлено по плохой связи"


def fill_report_with_file(page, base, lang, path):
    """Open the submit page in ``lang`` and fill a corruption report from Almaty with
    the file at ``path`` attached, ready to send."""
    page.goto(f"{base}/submit?lang={lang}")
    choose_category(page, "corruption")
    page.select_option("#region", "almaty")
    page.fill("#description", FILE_REPORT_TEXT)
    page.set_input_files("#files", [str(path)])


def send_without_javascript(browser, server, path):
    """Send a report with the file at ``path`` from the form with JavaScript off, which
    the server encrypts on arrival (no resumable upload): the form works as it always did."""
    context = browser.new_context(locale="ru-RU", java_script_enabled=False)
    page = context.new_page()
    fill_report_with_file(page, f"http://127.0.0.1:{server.port}", "ru", path)
    assert not page.locator("#send-progress").is_visible()
    page.click("#report-form button[type=submit]")
    page.wait_for_url(re.compile(r"/receipt/"))
    assert page.get_attribute(".protection", "data-encrypted-on") == "server"
    context.close()
