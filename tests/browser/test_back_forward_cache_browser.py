"""Back after leaving never brings a report, a receipt or a reply back from the browser's memory.

Chromium keeps a page it leaves in its back/forward cache, `no-store` or not,
and with JavaScript off no `pagehide` handler empties its forms: Back then
showed the typed report, or a receipt page closed by the quick exit. Playwright
turns that cache off by default (``--disable-back-forward-cache``), so these
tests turn it on again, as on a phone. Pages that can hold typed text, a
receipt or a reply answer 203, which Chromium never keeps in that cache
(docs/threat-model.md, "Shared devices").
"""

import re
import secrets

import pytest

from tests.browser.conftest import ARGS, CHROMIUM, choose_category
from tests.serving import start_server

pytestmark = pytest.mark.e2e

EXIT = "https://www.google.com/"
NEUTRAL = "<!doctype html><html><head><title>Weather</title></head><body><p>Sunny.</p></body></html>"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("back-forward"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def phone_browser(playwright_driver):
    """Chromium with its back/forward cache on, as a phone has it."""
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=ARGS,
        ignore_default_args=["--disable-back-forward-cache"])
    yield browser
    browser.close()


def open_tab(browser, js):
    context = browser.new_context(java_script_enabled=js, locale="ru-RU")
    context.route(re.compile(r"^https://www\.google\.com/"),
                  lambda route: route.fulfill(status=200, content_type="text/html", body=NEUTRAL))
    return context, context.new_page()


def back_from_elsewhere(page):
    """Leave for another site, then press Back: the documents the browser fetched for it."""
    page.goto(EXIT)
    fetched = []
    page.on("request", lambda r: fetched.append(r.url) if r.is_navigation_request() else None)
    go_back(page)
    return fetched


def go_back(page):
    """Back, waiting only for the commit: Playwright sees no load event of a page
    restored from the cache, and the test must see what the cache would show."""
    page.go_back(wait_until="commit")
    page.locator("body").wait_for(state="attached")
    page.wait_for_timeout(300)


def send_report(page, base, text):
    page.goto(f"{base}/submit?lang=ru")
    choose_category(page, "theft")
    page.select_option("#region", "astana")
    page.fill("#description", text)
    page.click("#report-form button[type=submit]")
    page.wait_for_url(re.compile(r"/receipt/"))
    return page.inner_text("#receipt").strip()


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_back_after_leaving_shows_no_typed_report(phone_browser, server, js):
    base = f"http://127.0.0.1:{server.port}"
    context, page = open_tab(phone_browser, js)
    typed = f"муж бьёт меня {secrets.token_hex(4)}"
    # Given a report typed and not sent
    page.goto(f"{base}/submit?lang=ru")
    choose_category(page, "theft")
    page.fill("#description", typed)
    # When the reporter leaves for another site and someone presses Back
    fetched = back_from_elsewhere(page)
    # Then the form comes from the server again, empty
    assert "/submit" in page.url and fetched, fetched
    assert page.input_value("#description") == ""
    assert typed not in page.content()
    context.close()


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_back_after_the_quick_exit_shows_no_receipt(phone_browser, server, js):
    base = f"http://127.0.0.1:{server.port}"
    context, page = open_tab(phone_browser, js)
    receipt = send_report(page, base, "Велосипед ұрланды.")
    page.click("#quick-exit")
    page.wait_for_url(EXIT)
    go_back(page)
    assert receipt not in page.content() and page.locator("#receipt").count() == 0
    context.close()


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_back_after_leaving_the_status_page_shows_no_status(phone_browser, server, js):
    base = f"http://127.0.0.1:{server.port}"
    context, page = open_tab(phone_browser, js)
    receipt = send_report(page, base, "Телефон ұрланды.")
    # Given the status page, reached with the code (and a follow-up typed in it)
    page.goto(f"{base}/check?lang=ru")
    page.fill("#receipt", receipt)
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/status/"))
    assert page.locator("#status").count() == 1
    page.fill("#text", "он снова пришёл")
    # When the reporter leaves and someone presses Back
    fetched = back_from_elsewhere(page)
    # Then the one-time page is asked for again, and it is closed
    assert fetched, fetched
    assert page.locator("#status").count() == 0
    assert "он снова пришёл" not in page.content()
    context.close()
