"""No address a reporter's browser visits carries anything about the report.

The browser's history on a shared phone and a proxy's log keep every address:
the whole journey (form, receipt, check, status, follow-up), with JavaScript
and without, must leave in them neither the category chosen nor an answer
nor anything typed. Real Chromium; the history is read from the browser
itself (DevTools' navigation history) and every request it made is recorded.
"""

import re
import secrets

import pytest

from tests.browser.conftest import choose_category

pytestmark = pytest.mark.e2e

CATEGORY = "domestic-violence"


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_no_visited_address_or_history_entry_carries_the_category_or_typed_text(
        browser, server, js):
    base = f"http://127.0.0.1:{server.port}"
    mark = secrets.token_hex(4)
    typed = {"description": f"муж бьёт меня {mark}", "where": f"Абая {mark}",
             "followup": f"он снова пришёл {mark}"}
    context = browser.new_context(java_script_enabled=js, locale="ru-RU")
    page = context.new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    # Given a report of domestic violence, with one of its questions answered
    page.goto(f"{base}/?lang=ru")
    page.click("a[href^='/submit']")
    choose_category(page, CATEGORY)
    page.check(f"#q-{CATEGORY}-danger-now-yes")
    page.select_option("#region", "astana")
    page.fill("#description", typed["description"])
    page.fill("#where", typed["where"])
    # When it is sent, its code confirmed, checked and followed up
    page.click("#report-form button[type=submit]")
    page.wait_for_url(re.compile(r"/receipt/"))
    receipt = page.inner_text("#receipt").strip()
    page.fill("#confirm", receipt[-4:])
    page.check("#saved")
    page.click("#done-form button[type=submit]")
    page.wait_for_url(re.compile(r"/submit/done"))
    page.goto(f"{base}/check?lang=ru")
    page.fill("#receipt", receipt)
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/status/"))
    page.fill("#text", typed["followup"])
    page.click("main form[action^='/followup'] button[type=submit]")
    page.wait_for_url(re.compile(r"/followup/done"))

    # Then no address asked for and no entry of the tab's history says any of it
    cdp = context.new_cdp_session(page)
    history = [entry["url"] for entry in cdp.send("Page.getNavigationHistory")["entries"]]
    assert len(history) >= 6, history
    addresses = requested + history
    for address in addresses:
        for secret in (CATEGORY, "danger-now", *typed.values(), mark, receipt,
                       receipt.replace("-", "")):
            assert secret not in address, (secret, address)
    context.close()
