"""A reporter on a shared phone leaves no trace in the browser and never loses a report.

Real Chromium with a persistent profile (a folder, as a phone keeps one), with
JavaScript on and off, in Kazakh and Russian: the whole journey (submit,
receipt, check, follow-up) with Back, Forward and Reload at each step; then
the browser is closed and every file of the profile (session files, history,
autofill, caches, local storage) is searched for each thing the reporter typed
and for the receipt code. The quick exit leads to a neutral site, which the
tests stand in for with a page of their own (the machine is offline).
"""

import re
import secrets
import shutil
import sqlite3
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.conftest import choose_category, open_profile
from tests.serving import start_server
from tipdrop.common import sqlite

pytestmark = pytest.mark.e2e

EXIT = "https://www.google.com/"
NEUTRAL = "<!doctype html><html><head><title>Weather</title></head><body><p>Sunny.</p></body></html>"
LOCALES = {"kk": "kk-KZ", "ru": "ru-RU", "en": "en-US"}
TITLE = "tipdrop"
# Latin receipt symbols and the Cyrillic letters that look the same (tipdrop/protocol/receipts.py).
CYRILLIC = str.maketrans("ABEKMHPCTXY03", "АВЕКМНРСТХУОЗ")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("shared-device"))
    yield running
    running.stop()


def counts(server):
    db = sqlite.connect(server.data_dir / "tipdrop.db")
    try:
        return db["tips"].count, db["followups"].count
    finally:
        db.close()


def neutral_site(context):
    context.route(re.compile(r"^https://www\.google\.com/"),
                  lambda route: route.fulfill(status=200, content_type="text/html", body=NEUTRAL))


class Visit:
    """One tab of a profile, checking what every reporter page must have."""

    def __init__(self, page, base):
        self.page, self.base = page, base

    def settle(self):
        page = self.page
        page.wait_for_load_state("domcontentloaded")
        assert page.title() == TITLE, page.url
        href = page.get_attribute("#quick-exit", "href")
        if "/receipt/" in page.url and page.locator("#receipt").count():
            # A live receipt page's quick exit closes it first (reporter.leave_receipt_page)
            assert re.fullmatch(r"/receipt/[^/?]+/leave\?lang=[a-z]+", href), href
            assert page.get_attribute("#quick-exit", "data-exit") == EXIT
        else:
            assert href == EXIT
        return page

    def path(self):
        return re.sub(r"^http://[^/]+", "", self.page.url)

    def back(self):
        self.page.go_back()
        return self.settle()

    def forward(self):
        self.page.go_forward()
        return self.settle()

    def reload(self):
        self.page.reload()
        return self.settle()


def search_profile(profile, secrets_by_name):
    """Every (file, name) where a secret's bytes appear, as UTF-8 or UTF-16."""
    found = []
    files = [p for p in profile.rglob("*") if p.is_file()]
    assert any("Sessions" in p.parts for p in files), "the browser wrote no session files"
    for path in files:
        data = path.read_bytes()
        for name, text in secrets_by_name.items():
            for encoding in ("utf-8", "utf-16-le"):
                if text.encode(encoding) in data:
                    found.append((str(path.relative_to(profile)), name, encoding))
    return found


def history_titles(profile, base):
    copy = profile.parent / "History.copy"
    shutil.copy(profile / "Default" / "History", copy)
    db = sqlite3.connect(copy)
    try:
        rows = db.execute("SELECT url, title FROM urls").fetchall()
    finally:
        db.close()
    return {(url, title) for url, title in rows if url.startswith(base)}


def typed_like_a_person(group):
    """The last group as someone on a Cyrillic keyboard might type it back."""
    return " " + group.translate(CYRILLIC).lower() + " "


@pytest.mark.parametrize("lang", ["kk", "ru"])
@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_whole_journey_is_safe_to_go_back_and_leaves_nothing_in_the_profile(
        playwright_driver, server, tmp_path, js, lang):
    base = f"http://127.0.0.1:{server.port}"
    mark = secrets.token_hex(4)
    typed = {
        "what": f"Күйеуім ұрады {mark}", "where": f"ул. Абая 44 {mark}",
        "when": f"вчера в 22:00 {mark}", "description": f"муж бьёт меня {mark}",
        "contact": f"+7 701 {mark}", "followup": f"он снова пришёл {mark}",
    }
    tips0, followups0 = counts(server)
    profile = tmp_path / "profile"
    context = open_profile(playwright_driver, profile, java_script_enabled=js, locale=LOCALES[lang],
                           viewport={"width": 390, "height": 844})
    neutral_site(context)
    page = context.pages[0] if context.pages else context.new_page()
    tab = Visit(page, base)

    # Given the start page, with its calm note about private windows
    page.goto(f"{base}/?lang={lang}")
    tab.settle()
    assert page.locator("#shared-device").count() == 1
    page.click("a[href^='/submit']")
    tab.settle()

    # When the reporter fills in the form and sends it
    choose_category(page, "theft")
    page.select_option("#region", "astana")
    for name in ("what", "where", "when", "description", "contact"):
        page.fill(f"#{name}", typed[name])
    page.click("#report-form button[type=submit]")
    page.wait_for_url(re.compile(r"/receipt/"))
    tab.settle()

    # Then the one-time receipt page shows the code and says who encrypted the report
    receipt = page.inner_text("#receipt").strip()
    assert re.fullmatch(r"([0-9A-Z]{4}-){5}[0-9A-Z]{4}", receipt)
    assert page.get_attribute("p.protection", "data-encrypted-on") == ("device" if js else "server")
    assert page.locator("html").get_attribute("lang") == lang
    assert counts(server) == (tips0 + 1, followups0)
    receipt_path = tab.path()

    # Reload shows the same code and sends nothing again
    assert tab.reload().inner_text("#receipt").strip() == receipt
    # The language links keep the code
    other = "ru" if lang == "kk" else "kk"
    page.click(f"nav.languages a[hreflang={other}]")
    tab.settle()
    assert page.locator("html").get_attribute("lang") == other
    assert page.inner_text("#receipt").strip() == receipt
    assert tab.back().inner_text("#receipt").strip() == receipt
    # Back leads to an empty form (no JS) or before it (JS replaced the form's entry)
    tab.back()
    if js:
        assert tab.path() == f"/?lang={lang}"
    else:
        assert tab.path().startswith("/submit")
        for name in ("what", "where", "when", "description", "contact"):
            assert page.input_value(f"#{name}") == "", name
    assert counts(server) == (tips0 + 1, followups0)
    assert tab.forward().inner_text("#receipt").strip() == receipt
    assert tab.path() == receipt_path

    # The confirmation accepts the last group as typed on a Cyrillic keyboard
    page.fill("#confirm", typed_like_a_person(receipt[-4:]))
    page.check("#saved")
    page.click("#done-form button[type=submit]")
    tab.settle()
    assert tab.path().startswith("/submit/done")
    # ... and after it the receipt page is closed for good
    tab.back()
    assert tab.path() == receipt_path
    assert receipt not in page.content()
    assert page.locator("#receipt").count() == 0
    tab.forward()
    tab.reload()
    assert counts(server) == (tips0 + 1, followups0)

    # Checking the code shows the status once
    page.click("main a[href^='/check']")
    tab.settle()
    page.fill("#receipt", receipt.lower())
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/status/"))
    tab.settle()
    assert page.get_attribute("#status", "data-status") == "received"
    status_path = tab.path()
    # Reload, Back then Forward: the status never comes back without the code
    tab.reload()
    assert page.locator("#status").count() == 0 and page.locator("#receipt-error").count() == 1
    tab.back()
    assert tab.path().startswith("/check") and page.input_value("#receipt") == ""
    tab.forward()
    assert tab.path() == status_path and page.locator("#status").count() == 0

    # A follow-up is added once, whatever Back and Reload do afterwards
    page.fill("#receipt", receipt)
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/status/"))
    tab.settle()
    page.fill("#text", typed["followup"])
    page.click("main form[action^='/followup'] button[type=submit]")
    page.wait_for_url(re.compile(r"/followup/done"))
    tab.settle()
    assert counts(server) == (tips0 + 1, followups0 + 1)
    tab.reload()
    tab.back()
    assert page.locator("#status").count() == 0
    assert typed["followup"] not in page.content()
    tab.forward()
    assert counts(server) == (tips0 + 1, followups0 + 1)
    context.close()

    # Then nothing typed, and not the code, is anywhere in the closed browser's profile
    leaks = search_profile(profile, {**typed, "receipt": receipt,
                                     "receipt (compact)": receipt.replace("-", "")})
    assert leaks == []
    # And every page in the history has the same neutral title
    titles = history_titles(profile, base)
    assert titles and {title for _, title in titles} == {TITLE}
    assert not any(receipt in url or receipt.replace("-", "") in url for url, _ in titles)


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_quick_exit_leaves_in_one_tap_and_with_javascript_leaves_no_way_back(
        playwright_driver, server, tmp_path, js):
    base = f"http://127.0.0.1:{server.port}"
    context = open_profile(playwright_driver, tmp_path / "profile", java_script_enabled=js,
                           locale="ru-RU")
    neutral_site(context)
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{base}/?lang=ru")
    page.goto(f"{base}/submit?lang=ru&category=domestic-violence")
    page.fill("#description", "муж бьёт меня")
    page.click("#quick-exit")
    page.wait_for_url(EXIT)
    assert page.title() == "Weather"
    page.go_back()
    if js:
        # location.replace took the form's place in the tab's history
        assert re.sub(r"^http://[^/]+", "", page.url) == "/?lang=ru"
    else:
        assert "/submit" in page.url and page.input_value("#description") == ""
    context.close()


def receipt_links_in_history(profile, base):
    return sorted(url for url, _ in history_titles(profile, base)
                  if re.search(r"/receipt/[^/?]+(\?|$)", url))


@pytest.mark.parametrize("js,lang", [(True, "kk"), (False, "ru")], ids=["js-kk", "no-js-ru"])
def test_quick_exit_on_the_receipt_page_closes_it_so_history_shows_no_code(
        playwright_driver, server, tmp_path, js, lang):
    """The abuser walks in before the reporter confirmed the code: the page must
    not open again from History, for them or anyone else using the phone."""
    base = f"http://127.0.0.1:{server.port}"
    profile = tmp_path / "profile"
    context = open_profile(playwright_driver, profile, java_script_enabled=js, locale=LOCALES[lang])
    neutral_site(context)
    page = context.pages[0] if context.pages else context.new_page()
    tab = Visit(page, base)

    # Given the receipt page, its code not yet confirmed
    page.goto(f"{base}/submit?lang={lang}")
    choose_category(page, "theft")
    page.select_option("#region", "astana")
    page.fill("#description", "Велосипед ұрланды.")
    page.click("#report-form button[type=submit]")
    page.wait_for_url(re.compile(r"/receipt/"))
    tab.settle()
    receipt = page.inner_text("#receipt").strip()
    receipt_path = tab.path()

    # When the reporter presses the quick exit
    page.click("#quick-exit")
    page.wait_for_url(EXIT)
    assert page.title() == "Weather"
    # Then the page is closed on the server (with JavaScript a beacon closes it as the tab leaves)
    for _ in range(100):
        status, _, body = server.request("GET", receipt_path)
        if status == 410:
            break
        time.sleep(0.1)
    assert status == 410 and receipt.encode() not in body
    # Back finds no code: the page before it (JS replaced the entry) or the closed page
    page.go_back()
    page.wait_for_load_state("domcontentloaded")
    assert receipt not in page.content() and page.locator("#receipt").count() == 0
    context.close()

    # And the code is in no file of the closed profile
    leaks = search_profile(profile, {"receipt": receipt,
                                     "receipt (compact)": receipt.replace("-", "")})
    assert leaks == []
    # And whoever opens the phone's browser next finds only closed pages in History
    history = receipt_links_in_history(profile, base)
    assert any(receipt_path.split("?")[0] in url for url in history), history
    context = open_profile(playwright_driver, profile, java_script_enabled=True, locale="ru-RU")
    page = context.pages[0] if context.pages else context.new_page()
    for url in history:
        answer = page.goto(url)
        assert answer.status == 410, url
        assert receipt not in page.content() and page.locator("#receipt").count() == 0
    context.close()


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_errors_are_linked_to_their_fields_and_take_the_focus(browser, server, lang):
    base = f"http://127.0.0.1:{server.port}"
    context = browser.new_context(locale=LOCALES[lang])
    page = context.new_page()
    messages = {"kk": "Өңірді таңдаңыз", "ru": "Выберите регион"}

    # Given the form sent empty, the summary takes the focus and each field says what is wrong
    page.goto(f"{base}/submit?lang={lang}")
    page.click("#report-form button[type=submit]")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    for field in ("region", "category", "description"):
        assert page.get_attribute(f"#{field}", "aria-invalid") == "true"
        described = page.get_attribute(f"#{field}", "aria-describedby").split()
        assert f"{field}-error" in described
        assert page.inner_text(f"#{field}-error").strip()
    assert messages[lang] in page.inner_text("#error-summary")
    assert page.url.endswith(f"/submit?lang={lang}")

    # When the report is sent (one ?lang= in the upload's last address, not two),
    # the receipt is announced by taking the focus
    uploads = []
    page.on("request", lambda request: uploads.append(request.url)
            if "/uploads/finish" in request.url else None)
    choose_category(page, "theft")
    page.select_option("#region", "astana")
    page.fill("#description", "Велосипед ұрланды.")
    page.click("#report-form button[type=submit]")
    page.wait_for_url(re.compile(r"/receipt/"))
    page.wait_for_function("document.activeElement && document.activeElement.id === 'receipt-title'")
    receipt = page.inner_text("#receipt").strip()
    [upload] = uploads
    assert parse_qs(urlsplit(upload).query) == {"lang": [lang], "receipt_page": ["yes"]}

    # A wrong last group is refused in the page's language, linked to its field
    wrong = "0000" if receipt[-4:] != "0000" else "1111"
    page.fill("#confirm", wrong)
    page.check("#saved")
    page.click("#done-form button[type=submit]")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert page.get_attribute("#confirm", "aria-invalid") == "true"
    assert "confirm-error" in page.get_attribute("#confirm", "aria-describedby")
    assert page.is_visible("#confirm-error")
    assert page.inner_text("#receipt").strip() == receipt
    context.close()


def test_without_webcrypto_errors_are_still_explained_and_the_server_encrypts(browser, server):
    """Plain http on a LAN address is no secure context: no crypto.subtle, no sealing."""
    base = f"http://127.0.0.1:{server.port}"
    context = browser.new_context(locale="ru-RU")
    context.add_init_script("Object.defineProperty(Crypto.prototype, 'subtle', {get: () => undefined})")
    page = context.new_page()
    page.goto(f"{base}/submit?lang=ru")
    page.click("#report-form button[type=submit]")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert "Выберите регион" in page.inner_text("#error-summary")
    choose_category(page, "theft")
    page.select_option("#region", "astana")
    page.fill("#description", "Украли велосипед.")
    page.click("#report-form button[type=submit]")
    page.wait_for_url(re.compile(r"/receipt/"))
    assert page.get_attribute("p.protection", "data-encrypted-on") == "server"
    context.close()


def test_a_receipt_shown_in_the_submit_page_keeps_its_code_from_the_language_links(browser, server):
    """When the server offers no receipt page (a receipt made on the device, which the
    server never sees), submit.js shows the code in the form's place: focused, and
    with the language links gone, since following one would lose the code."""
    base = f"http://127.0.0.1:{server.port}"
    context = browser.new_context(locale="kk-KZ")

    def without_receipt_page(route):
        response = route.fetch()
        answer = response.json()
        answer.pop("receipt_page", None)
        route.fulfill(response=response, json=answer)

    context.route(re.compile(r"/api/v1/uploads/finish"), without_receipt_page)
    page = context.new_page()
    page.goto(f"{base}/?lang=kk")
    page.goto(f"{base}/submit?lang=kk")
    choose_category(page, "theft")
    page.select_option("#region", "astana")
    page.fill("#description", "Велосипед ұрланды.")
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#receipt:not(:empty)")
    assert page.url.endswith("/submit?lang=kk")
    assert page.evaluate("document.activeElement.id") == "receipt-title"
    assert page.locator("nav.languages").count() == 0
    assert page.get_attribute("p.protection", "data-encrypted-on") == "device"
    receipt = page.inner_text("#receipt").strip()
    # The confirmation is checked in the page, as /check reads codes
    page.fill("#confirm", "0000" if receipt[-4:] != "0000" else "1111")
    page.check("#saved")
    page.click("#done-form button[type=submit]")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert "төрт" in page.inner_text("#confirm-error")
    page.fill("#confirm", typed_like_a_person(receipt[-4:]))
    page.click("#done-form button[type=submit]")
    page.wait_for_url(re.compile(r"/submit/done"))
    context.close()


def test_a_wrong_last_group_without_javascript_is_explained_in_the_page_language(browser, server):
    base = f"http://127.0.0.1:{server.port}"
    context = browser.new_context(locale="kk-KZ", java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{base}/submit?lang=kk")
    choose_category(page, "theft")
    page.select_option("#region", "astana")
    page.fill("#description", "Велосипед ұрланды.")
    page.click("#report-form button[type=submit]")
    receipt = page.inner_text("#receipt").strip()
    page.fill("#confirm", "0000" if receipt[-4:] != "0000" else "1111")
    page.check("#saved")
    page.click("#done-form button[type=submit]")
    # Back on the same receipt page, the error in Kazakh and tied to the field
    assert page.inner_text("#receipt").strip() == receipt
    assert page.get_attribute("#confirm", "aria-invalid") == "true"
    assert page.get_attribute("#confirm", "aria-describedby") == "confirm-error"
    assert "төрт" in page.inner_text("#confirm-error")
    assert page.locator("#error-summary a[href='#confirm']").count() == 1
    context.close()


AXE = Path(__file__).resolve().parents[2] / "build" / "node_modules" / "axe-core" / "axe.min.js"
AXE_VIOLATIONS = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}"""


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_every_reporter_page_has_no_axe_violation_and_fits_320_px(browser, server, lang):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test` installs axe-core from npm")
    base = f"http://127.0.0.1:{server.port}"
    # CSP allows only our own scripts: the checker is injected with the CSP bypassed.
    context = browser.new_context(locale=LOCALES[lang], bypass_csp=True,
                                  viewport={"width": 320, "height": 640})
    neutral_site(context)
    page = context.new_page()
    problems = {}

    def audit(name):
        page.wait_for_load_state("domcontentloaded")
        assert page.title() == TITLE and page.locator("#quick-exit").count() == 1, name
        page.add_script_tag(path=str(AXE))
        found = page.evaluate(AXE_VIOLATIONS)
        if page.evaluate("document.documentElement.scrollWidth > window.innerWidth"):
            found.append("wider than the 320 px screen")
        if found:
            problems[name] = found

    for path in ("/", "/privacy", "/stats", "/check", "/check?error=typo", "/no-such-page",
                 "/check?error=rate-limited", "/refused/followup/form-expired"):
        page.goto(f"{base}{path}{'&' if '?' in path else '?'}lang={lang}")
        audit(path)
    page.goto(f"{base}/submit?lang={lang}")
    audit("/submit")
    page.click("#report-form button[type=submit]")
    audit("/submit with errors")
    choose_category(page, "theft")
    page.select_option("#region", "astana")
    page.fill("#description", "Ұзын сөз: " + "Қылмыс" * 40)
    page.click("#report-form button[type=submit]")
    page.wait_for_url(re.compile(r"/receipt/"))
    audit("receipt")
    receipt = page.inner_text("#receipt").strip()
    page.goto(re.sub(r"\?.*", "", page.url) + f"?lang={lang}&wrong=confirm")
    audit("receipt with an error")
    page.fill("#confirm", receipt[-4:])
    page.check("#saved")
    page.click("#done-form button[type=submit]")
    page.wait_for_url(re.compile(r"/submit/done"))
    audit("done")
    page.go_back()
    audit("receipt page closed")
    page.goto(f"{base}/check?lang={lang}")
    page.fill("#receipt", receipt)
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/status/"))
    audit("status")
    page.fill("#text", "Тағы бір нәрсе")
    page.click("main form[action^='/followup'] button[type=submit]")
    page.wait_for_url(re.compile(r"/followup/done"))
    audit("follow-up added")
    page.go_back()
    audit("status page closed")
    context.close()
    assert problems == {}
