"""Switching the language never drops typed text without saying so, and carries none of it.

Nothing typed may travel in an address, so the language links cannot keep it:
on a page with a form they say that the form will be emptied (with JavaScript
or without), and with JavaScript the page asks first when something was typed.
"""

import re
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import choose_category

pytestmark = pytest.mark.e2e

NOTE = {"kk": "Тілді ауыстырсаңыз, осы беттегі форма тазартылады.",
        "ru": "При смене языка форма на этой странице очищается.",
        "en": "Changing the language empties the form on this page."}


def only_the_language(href):
    parts = urlsplit(href)
    return parts.path in ("/submit", "/check") and re.fullmatch(r"lang=(kk|ru|en)", parts.query)


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_the_language_links_of_a_form_say_it_will_be_emptied_and_carry_nothing(
        browser, server, js, lang):
    context = browser.new_context(java_script_enabled=js)
    page = context.new_page()
    for path in ("/submit", "/check"):
        page.goto(f"http://127.0.0.1:{server.port}{path}?lang={lang}")
        assert page.inner_text("#language-note") == NOTE[lang]
        links = page.locator("nav.languages a")
        assert links.count() == 2
        for i in range(2):
            assert links.nth(i).get_attribute("aria-describedby") == "language-note"
            assert only_the_language(links.nth(i).get_attribute("href"))
    # A page with no form to type in has no such note
    page.goto(f"http://127.0.0.1:{server.port}/?lang={lang}")
    assert page.locator("#language-note").count() == 0
    context.close()


def test_with_javascript_the_language_link_asks_before_dropping_typed_text(browser, server):
    page = browser.new_page(locale="ru-RU")
    base = f"http://127.0.0.1:{server.port}"
    asked = []

    def answer(dialog, accept):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    # Given nothing typed: the link changes the language at once
    page.goto(f"{base}/submit?lang=ru")
    page.click("nav.languages a[hreflang=kk]")
    page.wait_for_url(f"{base}/submit?lang=kk")
    assert asked == []
    # Given a report being typed, in Russian
    page.goto(f"{base}/submit?lang=ru")
    choose_category(page, "theft")
    page.fill("#description", "Украли велосипед")
    # When the reporter taps Қазақша and says no: nothing is lost
    page.once("dialog", lambda dialog: answer(dialog, False))
    page.click("nav.languages a[hreflang=kk]")
    assert asked == ["Если сменить язык, всё, что вы ввели на этой странице, будет потеряно. "
                     "Всё равно сменить?"]
    assert page.url == f"{base}/submit?lang=ru"
    assert page.input_value("#description") == "Украли велосипед"
    # When she says yes: the page changes language, and the address carries nothing typed
    page.once("dialog", lambda dialog: answer(dialog, True))
    page.click("nav.languages a[hreflang=kk]")
    page.wait_for_url(f"{base}/submit?lang=kk")
    assert page.input_value("#description") == ""
    page.close()
