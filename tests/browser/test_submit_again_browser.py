"""A report the server refuses, typed in Chromium with JavaScript off, is still there.

Real gunicorn (tests/serving.py) and Debian's Chromium with JavaScript
disabled, as Tor Browser's safest mode runs: the reporter types a whole
report, the server refuses it (a required answer missing, the form open
longer than its token lives, the rate limit), and the page that answers is
the form again in the reporter's language, with the refusal's status, every
field as it was typed, the field at fault marked, and the files named to
be chosen again; pressing the button again then stores the report.
The same refusals through the test client: tests/server/web/test_submit_again.py.
"""

import json
import re

import pytest

from tests.browser.conftest import choose_category
from tests.browser.recording_proxy import RecordingProxy
from tests.server.web.test_questions import required_categories
from tests.server.web.test_submit_again import stale_token
from tests.serving import multipart, start_server
from tipdrop.common import sqlite

pytestmark = pytest.mark.e2e

LOCALES = {"kk": "kk-KZ", "ru": "ru-RU"}
TYPED = {
    "kk": {"#what": "Есік алдында төбелес", "#where": "Астана, Кенесары к-сі 12",
           "#when": "кеше 22:00 шамасында",
           "#description": "Екі ер адам төбелесті.\nБіреуі құлады, <b>қан</b> болды.",
           "#contact": "хабарласпаңыз"},
    "ru": {"#what": "Драка у входа", "#where": "Астана, ул. Кенесары 12",
           "#when": "вчера около 22:00",
           "#description": "Двое мужчин дрались.\nОдин упал, </textarea><script>x()</script>",
           "#contact": "не звонить"},
}
MARKED = {"kk": "ол міндетті", "ru": "он обязательный"}
CHOOSE_AGAIN = {"kk": "қайта таңдаңыз", "ru": "выберите эти файлы заново"}
EXPIRED = {"kk": "мерзімі өтіп кеткен", "ru": "Срок действия формы истёк"}
TOO_MANY = {"kk": "Тым көп әрекет жасалды", "ru": "Слишком много попыток"}


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    """A server whose operator made the kind of place required for drugs."""
    folder = tmp_path_factory.mktemp("strict")
    required_categories(folder / "categories.json", "drugs.place")
    text = json.dumps(json.loads((folder / "categories.json").read_text(encoding="utf-8")))
    running = start_server(folder, keys_files={"categories.json": text})
    yield running
    running.stop()


@pytest.fixture
def one_report_an_hour(tmp_path):
    running = start_server(tmp_path, extra_env={"TIPDROP_SUBMITS_PER_HOUR": "1"})
    yield running
    running.stop()


def type_report(page, lang, *, place=None):
    """Type a drugs report from Astana with every text field, the place only if given."""
    choose_category(page, "drugs")
    page.select_option("#region", "astana")
    page.check("#q-drugs-ongoing-yes")
    if place:
        page.select_option("#q-drugs-place", place)
    for selector, text in TYPED[lang].items():
        page.fill(selector, text)


def send(page):
    """Press the button; the status of the answer to the POST."""
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("#report-form button[type=submit]")
    page.wait_for_load_state()
    return answer.value.status


def assert_still_typed(page, lang, *, place=""):
    for selector, text in TYPED[lang].items():
        assert page.input_value(selector) == text, selector
    assert page.input_value("#region") == "astana"
    assert page.input_value("#category") == "drugs"
    assert page.is_checked("#q-drugs-ongoing-yes")
    assert page.input_value("#q-drugs-place") == place
    # The chosen category's questions are open, so what is marked there is seen.
    assert page.locator("#q-drugs-place").is_visible()


def tips(server):
    return sqlite.connect(server.data_dir / "tipdrop.db")["tips"].count


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_a_missing_required_answer_without_javascript_keeps_the_whole_report(
        browser, strict_server, tmp_path, lang):
    server = strict_server
    before = tips(server)
    photo = tmp_path / "аула.jpg"
    photo.write_bytes(b"not really a photo")
    context = browser.new_context(locale=LOCALES[lang], java_script_enabled=False)
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{server.port}/submit?lang={lang}")
    first_token = page.get_attribute("input[name=token]", "value")
    # The question says it is required, in the reporter's language.
    assert "*" in page.text_content('label[for="q-drugs-place"]')
    assert page.locator('label[for="q-drugs-place"] .required-note').count() == 1

    # Given a whole report typed, with a file, but the required place left unanswered
    type_report(page, lang)
    page.set_input_files("#files", [str(photo)])
    # When it is sent, then the server refuses it with the form again, everything in it
    assert send(page) == 400
    assert page.locator("html").get_attribute("lang") == lang
    assert_still_typed(page, lang)
    assert MARKED[lang] in page.inner_text("#q-drugs-place-error")
    assert page.get_attribute("#q-drugs-place", "aria-invalid") == "true"
    assert page.get_attribute("input[name=token]", "value") != first_token
    assert CHOOSE_AGAIN[lang] in page.inner_text("#refusal")
    assert page.inner_text("#files-to-choose") == photo.name
    assert page.locator("script", has_text="x()").count() == 0
    assert tips(server) == before

    # And once the answer is chosen and the file chosen again, the report is stored
    page.select_option("#q-drugs-place", "school")
    page.set_input_files("#files", [str(photo)])
    assert send(page) == 303  # to the receipt page
    assert page.locator("#receipt").count() == 1
    assert tips(server) == before + 1
    context.close()


def test_a_form_open_longer_than_its_token_lives_is_renewed_with_the_text(browser, strict_server):
    server = strict_server
    before = tips(server)
    context = browser.new_context(locale="kk-KZ", java_script_enabled=False)

    # Given the form opened five hours ago (its token older than tokens.FORM_MAX_AGE)
    def opened_long_ago(route):
        if route.request.method != "GET":
            route.continue_()
            return
        page_text = route.fetch().text()
        token = re.search(r'name="token" value="([^"]+)"', page_text).group(1)
        route.fulfill(status=200, content_type="text/html; charset=utf-8",
                      body=page_text.replace(token, stale_token(server.data_dir, token)))

    context.route(re.compile(r"/submit\?lang=kk$"), opened_long_ago)
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{server.port}/submit?lang=kk")
    type_report(page, "kk", place="home")
    # When it is sent, then it is refused as expired and comes back renewed, text and all
    assert send(page) == 403
    assert EXPIRED["kk"] in page.inner_text("#error")
    assert_still_typed(page, "kk", place="home")
    context.unroute(re.compile(r"/submit\?lang=kk$"))
    # And pressing the button again stores it
    assert send(page) == 303
    assert page.locator("#receipt").count() == 1
    assert tips(server) == before + 1
    context.close()


def test_another_sites_form_posted_with_origin_null_is_not_shown_on_ours(strict_server):
    # What an older browser (no Fetch Metadata) sends for another site's
    # no-referrer page that auto-submits a form to us: Origin null, no
    # Sec-Fetch-Site, and a token this server did not sign. Real gunicorn.
    server = strict_server
    genuine = server.form_token("/submit?lang=ru")
    attacker = {"region": "astana", "category": "drugs", "q.drugs.place": "school",
                "description": "ATTACKER-CHOSEN TEXT", "contact": "+7 700 ATTACKER"}
    for token in ("bogus", genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB")):
        content_type, body = multipart(attacker | {"token": token})
        status, _, page = server.request("POST", "/submit?lang=ru", body,
                                         {"Content-Type": content_type, "Origin": "null"})
        assert status == 403
        assert EXPIRED["ru"] in page.decode()
        assert b"ATTACKER" not in page and b'id="report-form"' not in page
    # Our own form, open past its token's four hours, still comes back with its text
    content_type, body = multipart(attacker | {"token": stale_token(server.data_dir, genuine)})
    status, _, page = server.request("POST", "/submit?lang=ru", body,
                                     {"Content-Type": content_type, "Origin": "null"})
    assert status == 403
    assert b'id="report-form"' in page and b"ATTACKER-CHOSEN TEXT" in page


def test_a_rate_limited_report_without_javascript_keeps_its_text(browser, one_report_an_hour):
    server = one_report_an_hour
    context = browser.new_context(locale="ru-RU", java_script_enabled=False)
    page = context.new_page()
    for status in (303, 429):  # one report an hour: the second is refused
        page.goto(f"http://127.0.0.1:{server.port}/submit?lang=ru")
        type_report(page, "ru", place="school")
        assert send(page) == status
    assert TOO_MANY["ru"] in page.inner_text("#error")
    assert_still_typed(page, "ru", place="school")
    # Changing the language empties the form: the text goes into no other page.
    page.click('nav.languages a[lang="kk"]')
    page.wait_for_load_state()
    assert page.input_value("#description") == ""
    context.close()
    log = server.log_path.read_text(encoding="utf-8", errors="replace")
    for text in TYPED["ru"].values():
        assert text not in log


def test_every_text_and_the_photo_choice_are_sent_before_the_files(browser, strict_server, tmp_path):
    """The server reads the form in order and stores each file as it arrives (upload.py):
    a file refused mid-stream leaves every text typed, and the keep-location
    choice is known before the first photo is cleaned."""
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not really a photo")
    proxy = RecordingProxy(strict_server.port)
    context = browser.new_context(locale="ru-RU", java_script_enabled=False)
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{proxy.port}/submit?lang=ru")
    type_report(page, "ru", place="school")
    page.check("input[name=keep_location]")
    page.set_input_files("#files", [str(photo)])
    assert send(page) == 303
    context.close()
    proxy.close()
    body = proxy.sent.split(b"POST /submit", 1)[1]
    names = re.findall(rb'Content-Disposition: form-data; name="([^"]+)"', body)
    assert {b"contact", b"keep_location", b"description"} <= set(names)
    assert names[-1] == b"files", names
