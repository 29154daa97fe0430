"""The category's questions in a real Chromium, with JavaScript on and off, in Kazakh and Russian.

Without JavaScript the reporter chooses the category and opens its questions,
a closed part of the one form; with it the questions appear when the category
changes and the answers are sealed in the page. Either way the officer's
tool shows each answer under the question as the reporter read it.
"""

import json

import pytest

from tests.browser.conftest import choose_category
from tests.server.web.test_questions import required_categories
from tests.serving import start_server
from tipdrop.common import sqlite


@pytest.fixture
def server_requiring(tmp_path):
    """Start a server with an operator categories file making the questions given
    required (the shipped ones are all optional); it is stopped after the test."""
    started = []

    def start(*questions):
        path = tmp_path / "required-categories.json"
        required_categories(path, *questions)
        text = json.dumps(json.loads(path.read_text(encoding="utf-8")))
        started.append(start_server(tmp_path, keys_files={"categories.json": text}))
        return started[-1]

    yield start
    for server in started:
        server.stop()

pytestmark = pytest.mark.e2e

PASS = {"TIPDROP_PASSPHRASE": "officer pass"}
CASES = {
    # lang: category, what to answer, what the officer must see
    "kk": ("theft", [("fill", "#q-theft-day", "2024-03-08"), ("select", "#q-theft-stolen", "phone")],
           ["Бұл қай күні болды?: 2024-03-08", "Не ұрланды?: Телефон [phone]"]),
    "ru": ("drugs", [("select", "#q-drugs-place", "school"), ("check", "#q-drugs-ongoing-yes", None)],
           ["Где это происходит?: Возле школы или колледжа [school]",
            "Это продолжается сейчас?: Да [yes]"]),
}


def _answer(page, steps):
    for action, selector, value in steps:
        if action == "fill":
            page.fill(selector, value)
        elif action == "select":
            page.select_option(selector, value)
        else:
            page.check(selector)


@pytest.mark.parametrize("lang", ["kk", "ru"])
@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_answers_reach_the_officer_labelled_in_the_reporters_language(
        browser, server, run_cli, tmp_path, lang, javascript):
    category, steps, shown = CASES[lang]
    context = browser.new_context(locale={"kk": "kk-KZ", "ru": "ru-RU"}[lang],
                                  java_script_enabled=javascript)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"http://127.0.0.1:{server.port}/submit?lang={lang}")

    # Given the form, whole: without JavaScript each category's questions are closed in it
    assert page.locator("#report-form").is_visible()
    assert page.locator("#questions-note").is_visible() is not javascript
    if javascript:
        page.wait_for_function("document.getElementById('protection').dataset.encryptedOn === 'device'")
        # No category, no questions; another category's questions stay hidden
        assert page.locator("fieldset.questions:visible").count() == 0
        page.select_option("#category", "traffic")
        assert page.locator("#questions-traffic").is_visible()

    # When the reporter chooses the category, its questions show, and she answers them
    choose_category(page, category)
    assert page.locator(f"#questions-{category}").is_visible()
    assert page.locator("fieldset.questions:visible").count() == 1
    page.select_option("#region", "astana")
    page.fill("#description", "Бәрін өз көзіммен көрдім." if lang == "kk" else "Видел своими глазами.")
    _answer(page, steps)
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#receipt:not(:empty)", timeout=30_000)
    assert errors == []
    context.close()

    # Then the report was sealed where the page said, with the answers inside
    [tip] = list(sqlite.connect(server.data_dir / "tipdrop.db")["tips"].rows)
    assert tip["encrypted_on"] == ("device" if javascript else "server")
    officer = {**PASS, "TIPDROP_WORKDIR": str(tmp_path / "cases"),
               "TIPDROP_KEY": str(server.key_file)}
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e.tdx", env=server.env(), check=True)
    run_cli("officer", "open", tmp_path / "e.tdx", env=officer, check=True)
    text = run_cli("officer", "show", tip["id"], env=officer, check=True).stdout
    for line in shown:
        assert f"  {line}" in text
    assert f"(asked in {lang})" in text
    detail = json.loads(run_cli("officer", "show", tip["id"], "--json", env=officer,
                                check=True).stdout)
    assert [a["id"] for a in detail["report"]["answers"]] == [s[1].split("-")[2] for s in steps]


def test_a_required_question_is_explained_before_anything_is_encrypted(browser, server_requiring):
    server = server_requiring("drugs.place")
    page = browser.new_page(locale="ru-RU")
    posts = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    page.goto(f"http://127.0.0.1:{server.port}/submit?lang=ru")
    page.wait_for_function("document.getElementById('protection').dataset.encryptedOn === 'device'")
    page.select_option("#region", "astana")
    page.select_option("#category", "drugs")
    page.fill("#description", "Закладки во дворе.")
    page.click("#report-form button[type=submit]")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert "ответьте на все вопросы" in page.inner_text("#error-summary")
    assert page.get_attribute("#q-drugs-place", "aria-invalid") == "true"
    assert posts == []
    page.close()


def test_a_required_question_without_javascript_is_explained_by_the_server(browser, server_requiring):
    server = server_requiring("domestic-violence.danger-now")
    context = browser.new_context(locale="kk-KZ", java_script_enabled=False)
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{server.port}/submit?lang=kk")
    choose_category(page, "domestic-violence")
    page.select_option("#region", "astana")
    page.fill("#description", "Көршілер айқайлап жатыр.")
    # Every category's questions are in the form without JavaScript, so none is required
    # in the page (another category's would block it): the server refuses, in Kazakh
    page.click("#report-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#receipt").count() == 0
    assert "барлық сұраққа жауап беріңіз" in page.inner_text("main")
    assert counts_of_tips(server) == 0
    page.go_back()
    choose_category(page, "domestic-violence")
    page.select_option("#region", "astana")
    page.fill("#description", "Көршілер айқайлап жатыр.")
    page.check("#q-domestic-violence-danger-now-no")
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#receipt:not(:empty)")
    context.close()


def counts_of_tips(server):
    return sqlite.connect(server.data_dir / "tipdrop.db")["tips"].count
