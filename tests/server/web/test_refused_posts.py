"""A refused reporter POST and the receipt page's quick exit leave nothing behind.

A refused check, follow-up or confirmation answers 303 to a GET page that
says why in the reporter's language, with the refusal's status, and carries
nothing that was posted (refusals.py); the receipt page's quick exit closes
its key before leaving (reporter.leave_receipt_page). Real Chromium with a
persistent profile: tests/browser/test_refused_posts_browser.py and
tests/browser/test_shared_device_browser.py.
"""

import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from tests.server.web.conftest import find, form_token, refused
from tests.server.web.test_shared_device import EXIT, _receipt_page
from tipdrop.server.web import create_app, tokens

#: What each refusal says, in each reporter language (the catalogs' sentences).
TOO_MANY = {"kk": "Тым көп әрекет жасалды", "ru": "Слишком много попыток"}
EXPIRED = {"kk": "Бұл нысанның мерзімі өтіп кеткен", "ru": "Срок действия формы истёк"}
NOT_SENT = {"kk": "Хабарламаңыз жіберілмеді", "ru": "Ваше сообщение не отправлено"}


def stale(app, token):
    """The same token as if the server had signed it five hours ago."""
    secret = tokens.load_secret(app.config["TIPDROP"].data_dir)

    class FiveHoursAgo(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - 5 * 3600

    data = URLSafeTimedSerializer(secret, salt="tipdrop/v1/form").loads(token)
    return URLSafeTimedSerializer(secret, salt="tipdrop/v1/form", signer=FiveHoursAgo).dumps(data)


def _followup_token(client, code, lang):
    token = form_token(client, f"/check?lang={lang}")
    status = client.post(f"/check?lang={lang}", data={"token": token, "receipt": code},
                         follow_redirects=True)
    return find(r'id="followup-form".*?name="token" value="([^"]+)"', status.text)


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_a_check_past_the_limit_is_a_429_form_after_a_redirect_without_the_code(app_config, lang):
    client = create_app(app_config | {"checks_per_hour": 1}).test_client()
    code = "12WC-W0K4-G268-N816-62QV-Z9V9"
    first = client.post(f"/check?lang={lang}", data={"token": form_token(client, "/check"),
                                                      "receipt": code})
    assert first.status_code == 303
    sent = client.post(f"/check?lang={lang}", data={"token": form_token(client, "/check"),
                                                     "receipt": code})
    page = refused(client, sent, code, code.replace("-", ""))
    assert page.status_code == 429 and page.headers["Retry-After"] == "30"
    assert f'<html lang="{lang}">' in page.text
    assert TOO_MANY[lang] in find(r'id="receipt-error"[^>]*>([^<]+)<', page.text)
    assert 'name="receipt"' in page.text and code not in page.text  # a fresh, empty form


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_a_check_with_a_stale_form_is_a_403_form_after_a_redirect(app, client, lang):
    code = "12WC-W0K4-G268-N816-62QV-Z9V9"
    token = stale(app, form_token(client, "/check"))
    sent = client.post(f"/check?lang={lang}", data={"token": token, "receipt": code})
    page = refused(client, sent, code, code.replace("-", ""), token)
    assert page.status_code == 403
    assert EXPIRED[lang] in find(r'id="receipt-error"[^>]*>([^<]+)<', page.text)


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_a_stale_follow_up_is_a_403_page_saying_the_message_was_not_sent(app, client, submit,
                                                                          lang):
    code = find(r'id="receipt">([^<]+)<', submit().text)
    token = stale(app, _followup_token(client, code, lang))
    sent = client.post(f"/followup?lang={lang}", data={"token": token, "text": "CANARY text"})
    page = refused(client, sent, "CANARY", token.split(".")[0])
    assert page.status_code == 403 and f'<html lang="{lang}">' in page.text
    assert EXPIRED[lang] in find(r'id="error"[^>]*>([^<]+)<', page.text)
    assert NOT_SENT[lang] in find(r'id="followup-lost">([^<]+)<', page.text)
    assert "CANARY" not in page.text


def test_a_follow_up_past_the_days_limit_is_a_429_page_after_a_redirect(app_config):
    client = create_app(app_config | {"followups_per_day": 1}).test_client()
    token = form_token(client, "/submit")
    sent = client.post("/submit?lang=ru", data={"token": token, "region": "astana",
                                                "category": "theft", "description": "d",
                                                "website": ""},
                       content_type="multipart/form-data", follow_redirects=True)
    code = find(r'id="receipt">([^<]+)<', sent.text)
    first = client.post("/followup?lang=ru", data={"token": _followup_token(client, code, "ru"),
                                                   "text": "one"})
    assert first.status_code == 303 and first.location.startswith("/followup/done")
    again = client.post("/followup?lang=ru", data={"token": _followup_token(client, code, "ru"),
                                                   "text": "CANARY two"})
    page = refused(client, again, "CANARY")
    assert page.status_code == 429 and page.headers["Retry-After"] == "30"
    assert 'id="followup-lost"' in page.text


def test_a_follow_up_sent_twice_says_already_sent_not_lost(client, submit):
    code = find(r'id="receipt">([^<]+)<', submit().text)
    token = _followup_token(client, code, "kk")
    assert client.post("/followup?lang=kk", data={"token": token, "text": "x"}).status_code == 303
    page = refused(client, client.post("/followup?lang=kk", data={"token": token, "text": "x"}))
    assert page.status_code == 409 and 'id="already-sent"' in page.text
    assert 'id="followup-lost"' not in page.text


def test_a_confirmation_of_a_closed_receipt_page_is_a_410_after_a_redirect(client):
    location, page = _receipt_page(client, "ru")
    code = find(r'id="receipt">([^<]+)<', page.text)
    token = find(r'name="token" value="([^"]+)"', page.text)
    link_id = find(r'name="link" value="([^"]+)"', page.text)
    assert client.get(f"/receipt/{link_id}/leave").status_code == 303
    sent = client.post("/submit/done?lang=ru", data={"token": token, "link": link_id,
                                                    "confirm": code[-4:], "saved": "yes"})
    closed = refused(client, sent, link_id.split(".")[1][:40], code[-4:])
    assert closed.status_code == 410 and '<html lang="ru">' in closed.text


@pytest.mark.parametrize("why", ["no-such-refusal", "http-99", "http-600", "a" * 100])
def test_an_unknown_refusal_name_is_a_plain_400(client, why):
    page = client.get(f"/refused/followup/{why}?lang=kk")
    assert page.status_code == 400 and '<html lang="kk">' in page.text


@pytest.mark.parametrize("why", ["http-599", "http-418", "http-401", "http-405", "request-auth"])
def test_a_status_no_reporter_refusal_has_is_never_answered(client, why):
    # A link anyone can send a reporter must not make the site answer a
    # status it never gives a reporter: 599 (not HTTP), 418, a 401 without
    # WWW-Authenticate (the officer API's signature refusal), a 405 without Allow
    page = client.get(f"/refused/done/{why}?lang=kk")
    assert page.status_code == 400 and '<html lang="kk">' in page.text
    form = client.get(f"/check?error={why}&lang=kk")
    assert form.status_code == 203 and 'role="alert" tabindex="-1" hidden' in form.text


def test_the_refusal_pages_language_links_keep_the_refusal(client):
    page = client.get("/refused/followup/rate-limited?lang=kk")
    assert page.status_code == 429 and 'id="followup-lost"' in page.text
    assert 'href="/refused/followup/rate-limited?lang=ru"' in page.text
    assert client.get("/refused/other/rate-limited?lang=kk").status_code == 404


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_the_receipt_pages_quick_exit_closes_it_then_leaves_with_no_body(client, lang):
    location, page = _receipt_page(client, lang)
    code = find(r'id="receipt">([^<]+)<', page.text)
    link_id = location.split("/receipt/")[1].split("?")[0]
    leave = find(r'<a id="quick-exit"[^>]* href="([^"]+)"', page.text)
    assert leave == f"/receipt/{link_id}/leave?lang={lang}"
    assert f'data-exit="{EXIT}"' in page.text
    # Reload shows the code until the quick exit is used
    assert code in client.get(location).text
    left = client.get(leave)
    assert left.status_code == 303 and left.location == EXIT and left.get_data() == b""
    closed = client.get(location)
    assert closed.status_code == 410 and code not in closed.text
    # Again (Back, a second tap): the same answer
    assert client.get(leave).location == EXIT


def test_the_quick_exit_beacon_closes_the_receipt_page(client):
    location, page = _receipt_page(client)
    link_id = location.split("/receipt/")[1].split("?")[0]
    beacon = client.post(f"/receipt/{link_id}/leave", data="")
    assert beacon.status_code == 204 and beacon.get_data() == b""
    assert client.get(location).status_code == 410


def test_only_the_pages_own_link_closes_it(client):
    location, page = _receipt_page(client)
    code = find(r'id="receipt">([^<]+)<', page.text)
    link_id = location.split("/receipt/")[1].split("?")[0]
    forged = link_id.split(".")[0] + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    for other in (forged, link_id.split(".")[0], "f" * 32):
        assert client.get(f"/receipt/{other}/leave").location == EXIT
        assert client.post(f"/receipt/{other}/leave").status_code == 204
    assert code in client.get(location).text


def test_only_the_receipt_page_links_its_quick_exit_to_the_server(client):
    for path in ("/", "/submit", "/check", "/privacy", "/stats", "/receipt/0"):
        text = client.get(f"{path}?lang=en").text
        assert find(r'<a id="quick-exit"[^>]* href="([^"]+)"', text) == EXIT, path
        assert "data-exit" not in text


def test_a_check_refused_busy_does_not_count_against_the_check_limit(app_config):
    # (the API's check derives the receipt's key in the POST itself; the page's
    # check does it on the status page it leads to)
    app = create_app(app_config | {"checks_per_hour": 1, "argon2_slots": 1})
    client = app.test_client()

    def check():
        return client.post("/api/v1/check", json={"receipt": "12WC-W0K4-G268-N816-62QV-Z9V9"})
    # Given every Argon2 slot held, a check is refused busy (503), twice
    slots = app.extensions["tipdrop"]["argon2_slots"]
    slots.wait = 0
    with slots():
        assert [check().status_code for _ in range(2)] == [503, 503]
    # When a slot is free, the hour's one check is still there, and then the limit
    assert check().status_code == 404
    assert check().status_code == 429


def test_a_status_page_refused_busy_stays_open_for_a_reload(app_config):
    app = create_app(app_config | {"argon2_slots": 1})
    client = app.test_client()
    receipt = client.post("/api/v1/tips", json={
        "region": "astana", "category": "theft", "description": "A bicycle."}).json["receipt"]
    sent = client.post("/check?lang=kk", data={"token": form_token(client, "/check"),
                                                "receipt": receipt})
    status_link = sent.location
    assert sent.status_code == 303 and "/status/" in status_link
    # Given the server too busy to check (every Argon2 slot held), the page says so
    slots = app.extensions["tipdrop"]["argon2_slots"]
    slots.wait = 0
    with slots():
        busy = client.get(status_link)
    assert busy.status_code == 503 and busy.headers["Retry-After"]
    assert receipt not in busy.text
    # When the reporter reloads, the status is shown, once
    shown = client.get(status_link)
    assert shown.status_code == 203 and 'id="status"' in shown.text
    again = client.get(status_link)
    assert 'id="status"' not in again.text and receipt not in again.text


def test_a_check_refused_for_want_of_room_for_its_link_does_not_count(app_config, monkeypatch):
    from tipdrop.server.web import pagelinks

    app = create_app(app_config | {"checks_per_hour": 1})
    client = app.test_client()

    def check():
        token = form_token(client, "/check?lang=kk")
        return client.post("/check?lang=kk", data={"token": token,
                                                    "receipt": "12WC-W0K4-G268-N816-62QV-Z9V9"})
    # Given the page keys' folder full (a flood of checks made their links)
    monkeypatch.setattr(pagelinks, "MAX_LIVE", 0)
    busy = [check() for _ in range(2)]
    assert [b.location for b in busy] == ["/check?lang=kk&error=busy"] * 2
    # When it has room again, the hour's check is still there: nothing was
    # done for the refused ones (no link made, no Argon2 run)
    monkeypatch.setattr(pagelinks, "MAX_LIVE", 10)
    assert "/status/" in check().location
    assert check().location == "/check?lang=kk&error=rate-limited"


@pytest.mark.parametrize("lang,says", [("kk", "30 минут ішінде"), ("ru", "в течение 30 минут")])
def test_the_follow_up_form_says_how_long_it_can_be_sent(client, submit, lang, says):
    # Without JavaScript a follow-up refused as too old is lost (its page says so):
    # the form says first how long its token lives (tokens.FOLLOWUP_MAX_AGE).
    code = find(r'id="receipt">([^<]+)<', submit().text)
    token = form_token(client, f"/check?lang={lang}")
    status = client.post(f"/check?lang={lang}", data={"token": token, "receipt": code},
                         follow_redirects=True)
    note = find(r'<p id="followup-time" class="note">([^<]+)</p>', status.text)
    assert says in note
    assert 'aria-describedby="followup-time followup-protection"' in status.text
