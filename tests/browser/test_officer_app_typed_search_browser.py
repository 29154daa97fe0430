"""Words typed in the inbox's search box survive its other controls, with JavaScript off and on.

The officer app served as serve.run serves it (tests/browser/
test_officer_app_typed_text_browser.py), a real Chromium: the officer types
words, does not press Show, and presses the language, Exchange, then Inbox:
the words are still in the box, never in an address, until Show (or Enter)
searches for them (tipdrop/officer/app/inboxform.py). With the page's
script, a tip's link carries them too.
"""

import pytest

from tests.browser.conftest import collect_errors
from tests.browser.test_officer_app_typed_text_browser import served
from tests.officer.test_officer_app import (  # noqa: F401 (fixtures)
    PASSPHRASE,
    clock,
    desk,
    unit,
    workdir,
)

pytestmark = pytest.mark.e2e

WORDS = "велосипед"


@pytest.fixture(params=[False, True], ids=["without-script", "with-script"])
def inbox(request, browser, desk, tmp_path):  # noqa: F811
    """The English inbox, unlocked, with JavaScript off or on; the questions it asked."""
    with served(desk, tmp_path) as url:
        context = browser.new_context(locale="en-US", java_script_enabled=request.param)
        page = context.new_page()
        errors = collect_errors(page)
        asked = []
        page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
        page.goto(url)
        page.fill("#passphrase", PASSPHRASE)
        page.click("#unlock")
        page.wait_for_selector("#counts", timeout=60_000)
        yield page, request.param
        assert asked == [] and errors == [], (asked, errors)
        context.close()


def _click(page, selector):
    with page.expect_navigation():
        page.click(selector)


def _assert_kept(page, status="received"):
    assert page.input_value("#q") == WORDS
    assert page.input_value("#status") == status
    assert page.locator("#typed-search").is_visible()
    assert WORDS not in page.url and "%D0%B2" not in page.url  # never in the history


def test_unsearched_words_survive_the_language_the_header_and_the_counts(inbox):
    page, _ = inbox
    # Given words typed and a filter chosen, not searched for
    page.fill("#q", WORDS)
    page.select_option("#status", "received")
    # When the officer switches the language, the inbox comes back with them
    _click(page, "button[name=lang][value=ru]")
    page.wait_for_selector("html[lang=ru]")
    _assert_kept(page)
    # and so after Exchange, then Inbox, and a status count
    _click(page, "#exchange")
    _click(page, "#inbox")
    _assert_kept(page)
    _click(page, "#counts button[data-status=closed]")
    assert "status=closed" in page.url  # the count's own list: the words not searched yet
    _assert_kept(page)
    # When they press Enter in the box, the words are searched for and no longer "kept"
    page.fill("#q", WORDS)
    page.select_option("#status", "")
    with page.expect_navigation():
        page.press("#q", "Enter")
    assert page.locator("tr.tip").count() == 1
    assert page.input_value("#q") == WORDS and page.locator("#typed-search").count() == 0


@pytest.mark.parametrize("inbox", [True], ids=["with-script"], indirect=True)
def test_with_a_script_a_tips_link_carries_the_unsearched_words(inbox):
    page, _ = inbox
    page.fill("#q", WORDS)
    page.select_option("#status", "received")
    _click(page, "table.tips a")
    page.wait_for_selector("#message")
    _click(page, "#inbox")
    _assert_kept(page)
