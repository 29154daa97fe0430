"""A tired officer's typed reply is not lost without a question, in a real Chromium.

The officer app (served as serve.run serves it, in a thread: its clock is the
test's) with the workspace of tests/officer/test_officer_app.py. Choosing a
ready-made text or another reply language, Lock, or another page replaces or
drops a typed reply: the page's script asks first, and "Cancel" keeps the
text. A template named after a status suggests that status. When the app
locks itself, the unlock page says the typed text was discarded (it is kept
nowhere). Closing the tab or reloading it with text the app does not have
makes the browser ask ("Leave site?"); the app's own controls never do.
"""

import threading
from contextlib import contextmanager

import pytest
from werkzeug.serving import make_server

from tests.browser.conftest import collect_errors
from tests.officer.test_officer_app import (  # noqa: F401 (fixtures)
    PASSPHRASE,
    clock,
    desk,
    unit,
    workdir,
)
from tipdrop.officer.app import create_app
from tipdrop.officer.app.serve import QuietHandler, Serialised

pytestmark = pytest.mark.e2e

TYPED = "Уточните, пожалуйста, номер дома и подъезд."
ASK = "The text you typed has not been sent and will be lost. Continue?"


@contextmanager
def served(desk, tmp_path):  # noqa: F811
    httpd = make_server("127.0.0.1", 0, None, threaded=True, request_handler=QuietHandler)
    app = create_app(desk, httpd.server_port, outbox_dir=tmp_path / "outbox")
    app.config["NEWS_SECONDS"] = 1
    httpd.app = Serialised(app, desk.mutex)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield app.extensions["officer_gate"].launch_url()
    finally:
        httpd.shutdown()
        httpd.server_close()
        app.extensions["officer_courier"].close()


@pytest.fixture
def tip_page(browser, desk, tmp_path):  # noqa: F811
    """An English page of the drugs tip, unlocked; the dialogs the page opened, as they come."""
    with served(desk, tmp_path) as url:
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        errors = collect_errors(page)
        dialogs = []
        page.goto(url)
        page.fill("#passphrase", PASSPHRASE)
        page.click("#unlock")
        page.wait_for_selector("#counts", timeout=60_000)
        page.goto(page.url.split("/inbox")[0] + "/inbox?category=drugs")
        page.click("table.tips a")
        page.wait_for_selector("#message")
        yield page, dialogs
        assert errors == [], errors
        context.close()


def _answer(page, dialogs, accept):
    def handle(dialog):
        dialogs.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()
    page.once("dialog", handle)


def test_a_ready_made_text_asks_before_replacing_a_typed_reply_and_suggests_its_status(tip_page):
    page, dialogs = tip_page
    page.fill("#message", TYPED)
    page.select_option("#template", "need-info")

    _answer(page, dialogs, accept=False)
    page.click("#use-template")
    assert dialogs == [ASK]
    assert page.input_value("#message") == TYPED  # kept: the officer said no
    assert "template=" not in page.url

    _answer(page, dialogs, accept=True)
    with page.expect_navigation():
        page.click("#use-template")
    assert page.input_value("#message").startswith("Thank you for your report.")
    # A template that asks for information sets "Information needed"; the officer may change it.
    assert page.input_value("#new-status") == "need-info"


def test_an_untouched_ready_made_text_is_replaced_without_a_question(tip_page):
    page, dialogs = tip_page
    page.select_option("#template", "need-info")
    with page.expect_navigation():
        page.click("#use-template")
    page.select_option("#reply_lang", "ru")
    with page.expect_navigation():
        page.click("#use-template")
    assert dialogs == []
    assert page.input_value("#message").startswith("Спасибо за сообщение")


def test_lock_asks_before_dropping_a_typed_reply(tip_page):
    page, dialogs = tip_page
    page.fill("#message", TYPED)
    _answer(page, dialogs, accept=False)
    page.click("#lock")
    assert dialogs == [ASK] and page.input_value("#message") == TYPED
    _answer(page, dialogs, accept=True)
    with page.expect_navigation():
        page.click("#lock")
    page.wait_for_selector("#passphrase")
    assert page.locator("#unsent-notice").count() == 0  # the officer chose to drop it


def test_the_idle_lock_says_a_typed_reply_was_discarded(tip_page, desk, clock):  # noqa: F811
    page, _ = tip_page
    page.fill("#message", TYPED)
    clock.now += 16 * 60
    assert desk.check_idle()  # what the watchdog does when nobody works in the app
    page.wait_for_selector("#unsent-notice", timeout=30_000)
    assert "discarded" in page.inner_text("#unsent-notice")
    assert TYPED not in page.content() and "unsent=1" in page.url


@pytest.fixture
def tip_page_without_script(browser, desk, tmp_path):  # noqa: F811
    """The drugs tip's English page in a browser with JavaScript turned off."""
    with served(desk, tmp_path) as url:
        context = browser.new_context(locale="en-US", java_script_enabled=False)
        page = context.new_page()
        page.goto(url)
        page.fill("#passphrase", PASSPHRASE)
        page.click("#unlock")
        page.wait_for_selector("#counts", timeout=60_000)
        page.goto(page.url.split("/inbox")[0] + "/inbox?category=drugs")
        page.click("table.tips a")
        page.wait_for_selector("#message")
        yield page
        context.close()


def test_without_a_script_a_ready_made_text_never_replaces_a_typed_reply(
        tip_page_without_script):
    page = tip_page_without_script
    # Given a reply the officer typed, and a status they chose
    page.fill("#message", TYPED)
    page.select_option("#new-status", "in-review")

    # When they choose a ready-made text and press "Use" (nobody can ask them first)
    page.select_option("#template", "need-info")
    with page.expect_navigation():
        page.click("#use-template")

    # Then their reply and status are still in the form, and the ready-made text is beside it
    assert page.input_value("#message") == TYPED
    assert page.input_value("#new-status") == "in-review"
    assert "kept" in page.inner_text("#template-kept")
    assert page.input_value("#template-text").startswith("Thank you for your report.")
    # And what they typed is what goes to the outbox
    with page.expect_navigation():
        page.click("#queue-reply")
    assert TYPED in page.inner_text("main")


def test_without_a_script_a_ready_made_text_fills_an_empty_or_untouched_box(
        tip_page_without_script):
    page = tip_page_without_script
    page.select_option("#template", "need-info")
    with page.expect_navigation():
        page.click("#use-template")
    assert page.input_value("#message").startswith("Thank you for your report.")
    assert page.input_value("#new-status") == "need-info"
    assert page.locator("#template-kept").count() == 0
    # An untouched ready-made text is not the officer's work: another language replaces it
    page.select_option("#reply_lang", "ru")
    with page.expect_navigation():
        page.click("#use-template")
    assert page.input_value("#message").startswith("Спасибо за сообщение")
    assert page.locator("#template-kept").count() == 0


NOTE = "Позвонил дежурному, ждём ответа."


def test_without_a_script_adding_a_note_keeps_the_typed_reply_and_sending_it_the_note(
        tip_page_without_script):
    page = tip_page_without_script
    # Given a reply and a note typed on the same page
    page.fill("#message", TYPED)
    page.select_option("#new-status", "in-review")
    page.fill("#note", NOTE)

    # When the officer adds the note, then the reply is still in its box, status and all
    with page.expect_navigation():
        page.click("#add-note")
    assert NOTE in page.inner_text("#notes")
    assert page.input_value("#message") == TYPED
    assert page.input_value("#new-status") == "in-review"
    assert page.input_value("#note") == ""
    assert TYPED not in page.url and NOTE not in page.url  # kept in memory, never in the address

    # And when they type another note and send the reply, the note is still there
    page.fill("#note", NOTE + " Ещё раз.")
    with page.expect_navigation():
        page.click("#queue-reply")
    assert TYPED in page.inner_text("main")
    assert page.input_value("#message") == ""
    assert page.input_value("#note") == NOTE + " Ещё раз."


def test_with_a_script_adding_a_note_keeps_the_typed_reply_without_a_question(tip_page):
    page, dialogs = tip_page
    page.fill("#message", TYPED)
    page.fill("#note", NOTE)
    with page.expect_navigation():
        page.click("#add-note")
    assert dialogs == []  # nothing is dropped, so nothing to ask
    assert page.input_value("#message") == TYPED
    # A reply given back is still typed text: Lock asks before dropping it
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.click("#lock")
    assert dialogs == [ASK] and page.input_value("#message") == TYPED


# --- leaving the page by the browser's own ways ---------------------------------------------


def _type(page, selector, text):
    """Type as the officer does, with the keyboard (the browser asks before leaving a page
    only if a person used it)."""
    page.click(selector)
    page.keyboard.type(text)


def _close_asks(page):
    """Close the tab as the officer does, the page's beforeunload run; the question the browser
    asked, answered "Stay": None if it asked none and the tab closed."""
    from playwright.sync_api import Error as PlaywrightError

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.close(run_before_unload=True)
    for _ in range(50):
        if asked or page.is_closed():
            break
        try:
            page.wait_for_timeout(100)  # (the dialog event comes while Playwright waits)
        except PlaywrightError:
            break  # closed meanwhile
    assert asked or page.is_closed(), "the tab neither closed nor asked"
    return asked[0] if asked else None


def test_closing_or_reloading_a_page_with_a_typed_reply_asks_first(tip_page):
    page, _ = tip_page
    _type(page, "#message", TYPED)
    # The browser asks ("Leave site?"); "Stay" keeps the page and the reply
    assert _close_asks(page) == "beforeunload"
    assert not page.is_closed() and page.input_value("#message") == TYPED
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.evaluate("location.reload()")
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"] and page.input_value("#message") == TYPED
    # A note typed is asked about too, alone
    page.fill("#message", "")
    _type(page, "#note", NOTE)
    assert _close_asks(page) == "beforeunload"


def test_leaving_by_the_apps_own_controls_or_with_nothing_typed_asks_nothing(tip_page):
    page, dialogs = tip_page

    def record(dialog):
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", record)
    # Given a reply typed, when the officer goes to the inbox by the page's link (a button of
    # its form), then nothing is asked: the app keeps the reply for the tip
    _type(page, "#message", TYPED)
    with page.expect_navigation():
        page.click("#inbox")
    page.wait_for_selector("#counts")
    page.go_back()
    page.wait_for_selector("#message")
    assert page.input_value("#message") == TYPED
    # Nor when a note is added: the reply the app gave back is the app's to keep
    _type(page, "#note", NOTE)
    with page.expect_navigation():
        page.click("#add-note")
    assert page.input_value("#message") == TYPED and NOTE in page.inner_text("#notes")
    # Nor when the reply is sent
    with page.expect_navigation():
        page.click("#queue-reply")
    assert dialogs == []
    page.remove_listener("dialog", record)
    # And a page holding nothing typed closes without a question
    assert _close_asks(page) is None
