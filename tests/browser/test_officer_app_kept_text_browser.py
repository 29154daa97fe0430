"""Every control of a tip's page carries the text typed in it, with JavaScript off and on.

The officer app served as serve.run serves it (tests/browser/
test_officer_app_typed_text_browser.py), a real Chromium. A reply and a
note typed and not sent come back when the officer comes back to the tip,
whatever button or link of the page they pressed: the header's (Write the
outbox, the language, Inbox, Exchange), the duplicates', the forward's; even
when the action was refused. Only Lock forgets them (docs/officer-guide.md,
"A report").
"""

import re

import pytest

from tests.browser.conftest import collect_errors
from tests.browser.test_officer_app_typed_text_browser import NOTE, TYPED, served
from tests.officer.test_officer_app import (  # noqa: F401 (fixtures)
    PASSPHRASE,
    clock,
    desk,
    unit,
    workdir,
)

pytestmark = pytest.mark.e2e

FINGERPRINT = "not the fingerprint the other unit read out"


def _unlock(page, url):
    page.goto(url)
    page.fill("#passphrase", PASSPHRASE)
    page.click("#unlock")
    page.wait_for_selector("#counts", timeout=60_000)


@pytest.fixture(params=[False, True], ids=["without-script", "with-script"])
def tip_page(request, browser, desk, tmp_path):  # noqa: F811
    """The drugs tip's English page, with JavaScript off or on; the questions it asked."""
    with served(desk, tmp_path) as url:
        context = browser.new_context(locale="en-US", java_script_enabled=request.param)
        page = context.new_page()
        errors = collect_errors(page)
        asked = []
        page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
        _unlock(page, url)
        page.goto(page.url.split("/inbox")[0] + "/inbox?category=drugs")
        page.click("table.tips a")
        page.wait_for_selector("#message")
        yield page, asked
        # A refused action's page is a 400 on purpose; nothing else may go wrong.
        assert [e for e in errors if "status of 400" not in e] == [], errors
        context.close()


def _tip_id(page):
    return re.search(r"/tip/([0-9a-f]{32})", page.url).group(1)


def _type_a_reply_and_a_note(page):
    page.fill("#message", TYPED)
    page.select_option("#new-status", "in-review")
    page.fill("#note", NOTE)


def _assert_kept(page):
    assert page.input_value("#message") == TYPED
    assert page.input_value("#new-status") == "in-review"
    assert page.input_value("#note") == NOTE
    assert TYPED not in page.url and NOTE not in page.url  # never in the browser's history


def _click(page, selector):
    with page.expect_navigation():
        page.click(selector)


def _write_the_outbox(page, tip):
    _click(page, "#write-outbox")  # nothing queued: refused, with a way back to the tip
    assert "outbox is empty" in page.inner_text("#message")
    _click(page, "#back-to-tip")


def _write_the_outbox_then_go_back(page, tip):
    _click(page, "#write-outbox")
    page.go_back()
    page.wait_for_selector("#message")


def _switch_the_language(page, tip):
    _click(page, "button[name=lang][value=ru]")
    assert page.get_attribute("html", "lang") == "ru"


def _go_to_the_inbox(page, tip):
    _click(page, "#inbox")
    _click(page, f"tr[data-tip='{tip}'] a")


def _go_to_the_exchange(page, tip):
    _click(page, "#exchange")
    assert page.locator("#import-form").count() == 1
    _click(page, "#inbox")
    _click(page, f"tr[data-tip='{tip}'] a")


@pytest.mark.parametrize("leave_and_come_back", [
    _write_the_outbox, _write_the_outbox_then_go_back, _switch_the_language, _go_to_the_inbox,
    _go_to_the_exchange,
], ids=["write-the-outbox", "browser-back", "language", "inbox", "exchange"])
def test_the_headers_buttons_and_links_keep_a_typed_reply_and_note(tip_page,
                                                                   leave_and_come_back):
    page, asked = tip_page
    tip = _tip_id(page)
    # Given a reply (with its status) and a note typed, not sent
    _type_a_reply_and_a_note(page)
    # When the officer presses a control of the header and comes back to the tip
    leave_and_come_back(page, tip)
    # Then what they typed is in its boxes again, and nobody had to be asked
    assert _tip_id(page) == tip
    _assert_kept(page)
    assert asked == []


def test_duplicates_marked_followed_and_undone_keep_a_typed_reply_and_note(tip_page, desk):  # noqa: F811
    page, asked = tip_page
    tip = _tip_id(page)
    other = next(t["id"] for t in desk.workspace.list() if t["category"] == "theft")
    _type_a_reply_and_a_note(page)

    # Marked as a duplicate of another tip: the link shows, the typed text stays
    page.fill("#duplicate-of-tip", other[:8])
    _click(page, "#mark-duplicate")
    assert page.get_attribute("#duplicate-of", "data-tip") == other
    _assert_kept(page)

    # Followed to the other tip, and back by the other tip's link to this one
    _click(page, "#duplicate-of button.link")
    assert _tip_id(page) == other and page.input_value("#message") == ""
    _click(page, f"li.duplicate[data-tip='{tip}'] button.link")
    _assert_kept(page)

    # Undone
    _click(page, "#undo-duplicate")
    assert page.locator("#duplicate-of").count() == 0
    _assert_kept(page)
    assert page.input_value("#duplicate-of-tip") == ""  # done, so not kept
    assert asked == []


def test_a_refused_forward_keeps_every_box_of_the_page(tip_page):
    page, asked = tip_page
    _type_a_reply_and_a_note(page)
    page.fill("#forward-to", "north")
    page.fill("#forward-key", '{"not": "a key"}')
    page.fill("#forward-fingerprint", FINGERPRINT)
    # When the forward is refused (not a key file), the error page leads back to the tip
    _click(page, "#forward-tip")
    assert page.inner_text("h1") == "Not done"
    _click(page, "#back-to-tip")
    # Then nothing typed is lost: the reply, the note and the forward's own boxes
    _assert_kept(page)
    assert page.input_value("#forward-to") == "north"
    assert page.input_value("#forward-key") == '{"not": "a key"}'
    assert page.input_value("#forward-fingerprint") == FINGERPRINT
    assert asked == []


def test_every_control_of_a_tip_page_but_lock_sends_its_typed_text(browser, desk, tmp_path):  # noqa: F811
    # The class, not the instances: a button of another form, or a link, would drop the text.
    with served(desk, tmp_path) as url:
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        _unlock(page, url)
        ids = [t["id"] for t in desk.workspace.list()]
        base = page.url.split("/inbox")[0]
        page.goto(f"{base}/tip/{ids[0]}")
        page.fill("#duplicate-of-tip", ids[1][:8])
        _click(page, "#mark-duplicate")  # so the duplicates' links and buttons are shown
        for tip in ids[:2]:
            page.goto(f"{base}/tip/{tip}")
            others = page.eval_on_selector_all(
                "button", "all => all.filter(b => !b.form || b.form.id !== 'reply-form')"
                          ".map(b => b.id || b.outerHTML)")
            assert others == ["lock"], others
            links = page.eval_on_selector_all(
                "a[href]", "all => all.filter(a => !a.hasAttribute('download'))"
                           ".map(a => a.outerHTML)")
            assert links == [], links
            assert page.locator("#duplicates button.link").count() == 1
        context.close()


def test_lock_forgets_the_typed_text_without_a_script(browser, desk, tmp_path):  # noqa: F811
    with served(desk, tmp_path) as url:
        context = browser.new_context(locale="en-US", java_script_enabled=False)
        page = context.new_page()
        _unlock(page, url)
        page.goto(page.url.split("/inbox")[0] + "/inbox?category=drugs")
        page.click("table.tips a")
        tip_address = page.url
        _type_a_reply_and_a_note(page)
        _click(page, "#inbox")  # kept for the tip, in the app's memory
        _click(page, "#lock")
        _unlock(page, tip_address.split("/tip/")[0] + "/")
        page.goto(tip_address)
        assert page.input_value("#message") == "" and page.input_value("#note") == ""
        context.close()


def test_with_a_script_lock_asks_before_dropping_a_typed_one_line_box(browser, desk, tmp_path):  # noqa: F811
    with served(desk, tmp_path) as url:
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        asked = []
        page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
        _unlock(page, url)
        page.click("table.tips a")
        page.fill("#forward-fingerprint", FINGERPRINT)
        page.click("#lock")
        assert len(asked) == 1 and page.input_value("#forward-fingerprint") == FINGERPRINT
        context.close()
