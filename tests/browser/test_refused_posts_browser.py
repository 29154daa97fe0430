"""A check or follow-up the server refuses leaves nothing in a shared phone's browser.

Chromium keeps the body of a POST whose answer is a page in its session
files: a refused check's receipt code, a refused follow-up's text or its
token (which names the tip). Real Chromium with a persistent profile, as a
phone keeps one: the server refuses (its limit reached, as for everyone
behind one Tor or NAT address, or a form left open too long), the browser
is closed, and every file of the profile is searched. The refusal is shown
in the reporter's language with its own status; with JavaScript a refused
follow-up stays in its box, to send again or copy.
"""

import json
import re
import time
from urllib.parse import parse_qsl, urlencode

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from tests.browser.conftest import open_profile
from tests.browser.test_shared_device_browser import LOCALES, neutral_site, search_profile
from tests.serving import start_server

pytestmark = pytest.mark.e2e

#: Well formed (its check symbol is right), but no report has it.
UNKNOWN = "12WC-W0K4-G268-N816-62QV-Z9V9"
TOO_MANY = {"kk": "Тым көп әрекет жасалды", "ru": "Слишком много попыток"}
EXPIRED = {"kk": "Бұл нысанның мерзімі өтіп кеткен", "ru": "Срок действия формы истёк"}
DAY_FULL = {"kk": "бір күнде", "ru": "за день"}
NOT_SENT = {"kk": "Хабарламаңыз жіберілмеді", "ru": "Ваше сообщение не отправлено"}


@pytest.fixture(scope="module")
def one_check_an_hour(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("one-check"),
                           extra_env={"TIPDROP_CHECKS_PER_HOUR": "1"})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def one_followup_a_day(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("one-followup"),
                           extra_env={"TIPDROP_FOLLOWUPS_PER_DAY": "1"})
    yield running
    running.stop()


def stale(server, token):
    """The same token as if the server had signed it five hours ago (tokens.py)."""
    secret = (server.data_dir / "token-secret").read_bytes()

    class FiveHoursAgo(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - 5 * 3600

    data = URLSafeTimedSerializer(secret, salt="tipdrop/v1/form").loads(token)
    return URLSafeTimedSerializer(secret, salt="tipdrop/v1/form", signer=FiveHoursAgo).dumps(data)


def send_stale_tokens(context, server, path):
    """The form left open too long: the POST to ``path`` arrives with its token grown stale.

    The browser keeps what it sent itself, the fresh token, so that is what
    must not be found in its profile.
    """
    def rewrite(route):
        if route.request.method != "POST":
            route.continue_()
            return
        fields = dict(parse_qsl(route.request.post_data))
        fields["token"] = stale(server, fields["token"])
        route.continue_(post_data=urlencode(fields))

    context.route(re.compile(rf"^http://127\.0\.0\.1:{server.port}{re.escape(path)}\?"), rewrite)


def answers(page):
    """(method, path, status) of every page and fetch answer, as they come."""
    seen = []
    page.on("response", lambda r: seen.append(
        (r.request.method, re.sub(r"^http://[^/]+", "", r.url), r.status))
        if r.request.resource_type in ("document", "fetch") else None)
    return seen


def posted_tokens(page):
    """Every token the page's POSTs carried, as they were sent."""
    sent = []
    page.on("request", lambda r: sent.extend(
        v for k, v in parse_qsl(r.post_data or "") if k == "token")
        if r.method == "POST" else None)
    return sent


def leaks(profile, typed, tokens):
    secrets_by_name = dict(typed)
    for n, token in enumerate(tokens):
        secrets_by_name[f"token {n}"] = token
        secrets_by_name[f"token {n} payload"] = token.split(".")[0]  # the tip id, base64
    return search_profile(profile, secrets_by_name)


@pytest.mark.parametrize("why,lang,js", [("limit", "kk", False), ("stale", "ru", True)],
                         ids=["429-kk-no-js", "403-ru-js"])
def test_a_refused_check_leaves_no_code_in_the_profile_and_says_why_in_the_page_language(
        playwright_driver, one_check_an_hour, tmp_path, why, lang, js):
    server = one_check_an_hour
    base = f"http://127.0.0.1:{server.port}"
    profile = tmp_path / "profile"
    context = open_profile(playwright_driver, profile, java_script_enabled=js, locale=LOCALES[lang])
    neutral_site(context)
    page = context.pages[0] if context.pages else context.new_page()
    seen, tokens = answers(page), posted_tokens(page)
    if why == "stale":
        send_stale_tokens(context, server, "/check")

    # Given the check page, when the reporter types the code and the server refuses it
    for _ in range(2 if why == "limit" else 1):  # one check an hour: the second is refused
        page.goto(f"{base}/check?lang={lang}")
        page.fill("#receipt", UNKNOWN)
        page.click("main form button[type=submit]")
        page.wait_for_load_state()

    # Then the POST was answered 303, and the page after it has the refusal's status
    # and says why in the reporter's language, in a fresh form
    status = 429 if why == "limit" else 403
    assert [s for m, _, s in seen if m == "POST"][-1] == 303
    method, path, last = seen[-1]
    assert (method, last) == ("GET", status) and path.startswith("/check?")
    assert UNKNOWN not in path and UNKNOWN.replace("-", "") not in path
    message = page.inner_text("#receipt-error")
    assert (TOO_MANY if why == "limit" else EXPIRED)[lang] in message
    assert page.locator("html").get_attribute("lang") == lang
    assert page.input_value("#receipt") == ""

    # And once the browser is closed, no file of its profile holds the code or the token
    page.goto(f"{base}/?lang={lang}")
    context.close()
    assert tokens
    assert leaks(profile, {"receipt": UNKNOWN, "receipt (compact)": UNKNOWN.replace("-", "")},
                 tokens) == []


def _receipt_with_the_days_follow_up_sent(server):
    """A report whose one follow-up of the day was already added (through the API)."""
    status, _, body = server.request("POST", "/api/v1/tips", json.dumps(
        {"region": "astana", "category": "theft", "description": "d"}).encode(),
        {"Content-Type": "application/json"})
    assert status == 201
    receipt = json.loads(body)["receipt"]
    status, _, body = server.request("POST", "/api/v1/check", json.dumps(
        {"receipt": receipt}).encode(), {"Content-Type": "application/json"})
    token = json.loads(body)["followup_token"]
    status, _, _ = server.request("POST", "/api/v1/followups", json.dumps(
        {"token": token, "text": "the first one"}).encode(), {"Content-Type": "application/json"})
    assert status == 201
    return receipt


@pytest.mark.parametrize("why,lang,js", [
    ("limit", "kk", True), ("limit", "ru", False), ("stale", "ru", True), ("stale", "kk", False),
], ids=["429-kk-js", "429-ru-no-js", "403-ru-js", "403-kk-no-js"])
def test_a_refused_follow_up_leaves_no_text_or_token_in_the_profile(
        playwright_driver, one_followup_a_day, tmp_path, why, lang, js):
    server = one_followup_a_day
    base = f"http://127.0.0.1:{server.port}"
    receipt = _receipt_with_the_days_follow_up_sent(server)
    text = f"ФОЛЛОУАП {why} {lang} он снова пришёл"
    profile = tmp_path / "profile"
    context = open_profile(playwright_driver, profile, java_script_enabled=js, locale=LOCALES[lang])
    neutral_site(context)
    page = context.pages[0] if context.pages else context.new_page()
    seen, tokens = answers(page), posted_tokens(page)
    if why == "stale":
        send_stale_tokens(context, server, "/followup")

    # Given the status page, when the reporter types a follow-up the server refuses
    page.goto(f"{base}/check?lang={lang}")
    page.fill("#receipt", receipt)
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/status/"))
    if js:
        page.wait_for_selector("#followup-protection[data-encrypted-on=device]")
    token = page.get_attribute("#followup-form input[name=token]", "value")
    page.fill("#text", text)
    page.click("#followup-form button[type=submit]")

    status = 429 if why == "limit" else 403
    reason = (DAY_FULL if why == "limit" else EXPIRED)[lang]
    if js:
        # Then the page says why in place and keeps the text, to send again or copy
        page.wait_for_selector("#followup-status:not([hidden])")
        assert "/status/" in page.url
        said = page.inner_text("#followup-status")
        assert reason in said and NOT_SENT[lang] in said
        assert page.input_value("#text") == text
    else:
        # Then a page after a 303 has the refusal's status, says why and that the text is lost
        page.wait_for_url(re.compile(r"/refused/followup/"))
        assert reason in page.inner_text("#error")
        assert NOT_SENT[lang] in page.inner_text("#followup-lost")
    # (the fetch or the form: a POST answered 303, then a GET with the refusal's status)
    assert [s for m, _, s in seen if m == "POST"][-1] == 303
    method, path, last = seen[-1]
    assert (method, last) == ("GET", status) and path.startswith("/refused/followup/")
    assert page.locator("html").get_attribute("lang") == lang

    # And once the browser is closed, no file of its profile holds the text or the token
    page.goto(f"{base}/?lang={lang}")
    context.close()
    assert token in tokens
    assert leaks(profile, {"text": text, "receipt": receipt}, tokens) == []
