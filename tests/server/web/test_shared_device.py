"""What the server does so that a shared phone keeps nothing of a report.

No POST answer is a page (the browser would keep its body for Reload and
session restore), every field says autocomplete="off", every page has the same
neutral title and a quick exit, and the pages that show a receipt code are
one-time links whose key the server deletes. Real Chromium with a persistent
profile: tests/browser/test_shared_device_browser.py.
"""

import re
import threading

import pytest

from tests.server.web.conftest import find, form_token
from tests.server.web.test_sealed_api import post, sealed_form
from tipdrop.protocol import receipts
from tipdrop.server.web import pagelinks
from tipdrop.server.web.limits import BusyError

LANGS = ("kk", "ru", "en")
EXIT = "https://www.google.com/"
#: Latin receipt symbols and the Cyrillic letters that look the same.
CYRILLIC = str.maketrans("ABEKMHPCTXY03", "АВЕКМНРСТХУОЗ")


def _receipt_page(client, lang="en"):
    """Send a report through the page; (redirect location, receipt page response)."""
    token = form_token(client, f"/submit?lang={lang}")
    data = {"token": token, "region": "astana", "category": "theft",
            "description": "A bicycle was stolen.", "website": ""}
    sent = client.post(f"/submit?lang={lang}", data=data, content_type="multipart/form-data")
    assert sent.status_code == 303
    return sent.location, client.get(sent.location)


def _done(client, page, location, confirm, saved="yes"):
    token = find(r'name="token" value="([^"]+)"', page.text)
    link_id = find(r'name="link" value="([^"]+)"', page.text)
    assert location.split("?")[0].endswith(link_id)
    return client.post("/submit/done?lang=en", data={"token": token, "link": link_id,
                                                     "confirm": confirm, "saved": saved})


def _status_location(client, receipt, lang="en"):
    token = form_token(client, f"/check?lang={lang}")
    sent = client.post(f"/check?lang={lang}", data={"token": token, "receipt": receipt})
    assert sent.status_code == 303
    return sent.location


def _reporter_pages(client):
    """(name, text) of every reporter page, in English."""
    location, receipt = _receipt_page(client)
    code = find(r'id="receipt">([^<]+)<', receipt.text)
    status = client.get(_status_location(client, code))
    return [("/", client.get("/?lang=en").text), ("/submit", client.get("/submit?lang=en").text),
            ("/check", client.get("/check?lang=en").text), ("receipt", receipt.text),
            ("status", status.text), ("/submit/done", client.get("/submit/done?lang=en").text),
            ("/followup/done", client.get("/followup/done?lang=en").text),
            ("/privacy", client.get("/privacy?lang=en").text),
            ("404", client.get("/nothing?lang=en").text)]


def test_every_form_and_field_of_every_reporter_page_has_autocomplete_off(client):
    fields = 0
    for name, text in _reporter_pages(client):
        for form in re.findall(r"<form[^>]*>", text):
            assert 'autocomplete="off"' in form, (name, form)
        for field in re.findall(r"<(?:input|select|textarea)\b[^>]*>", text):
            if 'type="hidden"' in field:
                continue
            fields += 1
            assert 'autocomplete="off"' in field, (name, field)
    assert fields >= 12


def test_no_field_for_report_text_or_a_code_lets_the_browser_spellcheck_or_learn_it(client):
    """Spellcheck (Chromium's enhanced spellcheck sends the text to a cloud service) and
    autocorrect (it learns words into the shared phone's dictionary) are off in every
    field a reporter types in; the code fields ask for capitals, never a correction."""
    typed = 0
    for name, text in _reporter_pages(client):
        for field in re.findall(r"<(?:input|textarea)\b[^>]*>", text):
            kind = re.search(r'type="([^"]+)"', field)
            if kind and kind.group(1) not in ("text", "search"):
                continue
            typed += 1
            assert 'spellcheck="false"' in field, (name, field)
            assert 'autocorrect="off"' in field, (name, field)
            assert 'autocomplete="off"' in field, (name, field)
            if re.search(r'name="(receipt|confirm)"', field):
                assert 'autocapitalize="characters"' in field, (name, field)
    assert typed >= 10


@pytest.mark.parametrize("lang", LANGS)
def test_every_reporter_page_has_the_same_neutral_title_and_a_quick_exit(client, lang):
    pages = {path: client.get(f"{path}?lang={lang}").text
             for path in ("/", "/submit", "/check", "/privacy", "/stats", "/submit/done",
                          "/followup/done", "/no-such-page", "/status/0", "/receipt/0")}
    for path, text in pages.items():
        assert re.findall(r"<title>([^<]*)</title>", text) == ["tipdrop"], path
        assert re.search(rf'<a id="quick-exit"[^>]* href="{EXIT}"', text), path


def test_every_reporter_post_answers_with_a_redirect_so_the_browser_keeps_no_body(client):
    location, page = _receipt_page(client)
    assert location.startswith("/receipt/")
    code = find(r'id="receipt">([^<]+)<', page.text)
    assert code not in location and code.replace("-", "") not in location
    done = _done(client, page, location, code[-4:])
    assert done.status_code == 303 and done.location.startswith("/submit/done")
    status = _status_location(client, code)
    assert status.startswith("/status/") and code not in status
    token = find(r'action="/followup[^"]*"[^>]*>\s*<input type="hidden" name="token" value="([^"]+)"',
                 client.get(status).text)
    added = client.post("/followup?lang=en", data={"token": token, "text": "A white Lada."})
    assert added.status_code == 303 and added.location.startswith("/followup/done")
    assert "on=server" in added.location  # the status page's form without JavaScript


def test_the_status_page_opens_once_then_asks_for_the_code_again(client):
    _, page = _receipt_page(client)
    code = find(r'id="receipt">([^<]+)<', page.text)
    status = _status_location(client, code, lang="ru")
    first = client.get(status)
    assert first.status_code == 203 and 'id="status"' in first.text
    # The language links of the status page lead to the check form, not to the closed link
    assert 'href="/check?lang=kk"' in first.text
    again = client.get(status)
    assert again.status_code == 410
    assert 'id="status"' not in again.text and 'id="receipt-error"' in again.text
    assert 'name="receipt"' in again.text  # the check form, to type the code again


def test_a_head_request_uses_up_no_one_time_link(client):
    # Flask answers HEAD with the GET view: a link checker or a proxy asking
    # for the head of a one-time link must not close it
    location, page = _receipt_page(client)
    code = find(r'id="receipt">([^<]+)<', page.text)
    link_id = location.split("/receipt/")[1].split("?")[0]
    left = client.head(f"/receipt/{link_id}/leave")
    assert left.status_code == 303 and left.location == EXIT
    assert code in client.get(location).text
    status = _status_location(client, code)
    assert client.head(status).status_code == 203
    first = client.get(status)
    assert first.status_code == 203 and 'id="status"' in first.text


@pytest.mark.parametrize("lang", LANGS)
def test_the_receipt_page_shows_the_code_until_it_is_confirmed_in_any_language(client, lang):
    location, page = _receipt_page(client, lang)
    code = find(r'id="receipt">([^<]+)<', page.text)
    link_id = location.split("/receipt/")[1].split("?")[0]
    # Reload and the language links show the same code
    assert find(r'id="receipt">([^<]+)<', client.get(location).text) == code
    for other in LANGS:
        assert f'href="/receipt/{link_id}?lang={other}"' in page.text or other == lang
        again = client.get(f"/receipt/{link_id}?lang={other}")
        assert f'<html lang="{other}">' in again.text
        assert find(r'id="receipt">([^<]+)<', again.text) == code
    # A confirmation closes it for good
    assert _done(client, page, location, code[-4:]).status_code == 303
    closed = client.get(location)
    assert closed.status_code == 410 and code not in closed.text


@pytest.mark.parametrize("typed", [
    lambda g: g.lower(), lambda g: " " + g[:2] + "-" + g[2:] + " ",
    lambda g: g.translate(CYRILLIC), lambda g: g.translate(CYRILLIC).lower(),
    lambda g: "\u200b" + g.replace("0", "O").replace("1", "I"),
], ids=["lower", "spaced", "cyrillic", "cyrillic-lower", "look-alikes"])
def test_the_confirmation_accepts_what_check_accepts(client, typed):
    location, page = _receipt_page(client)
    code = find(r'id="receipt">([^<]+)<', page.text)
    assert receipts.parse(code[:-4] + typed(code[-4:])).formatted == code  # what /check reads
    done = _done(client, page, location, typed(code[-4:]))
    assert done.location.startswith("/submit/done")


@pytest.mark.parametrize("lang,words", [("en", "last four characters"), ("ru", "четыре"),
                                        ("kk", "төрт")])
def test_a_wrong_confirmation_keeps_the_page_and_says_why_in_its_language(client, lang, words):
    location, page = _receipt_page(client, lang)
    code = find(r'id="receipt">([^<]+)<', page.text)
    wrong = "0000" if code[-4:] != "0000" else "1111"
    token = find(r'name="token" value="([^"]+)"', page.text)
    link_id = find(r'name="link" value="([^"]+)"', page.text)
    done = client.post(f"/submit/done?lang={lang}",
                       data={"token": token, "link": link_id, "confirm": wrong, "saved": "yes"})
    assert done.status_code == 303 and "wrong=confirm" in done.location
    back = client.get(done.location)
    assert find(r'id="receipt">([^<]+)<', back.text) == code
    assert re.search(r'id="confirm"[^>]*aria-invalid="true" aria-describedby="confirm-error"', back.text)
    assert words in find(r'id="confirm-error"[^>]*>([^<]+)<', back.text).lower()
    assert '<a href="#confirm">' in back.text


def test_a_page_link_holds_the_code_only_sealed_and_its_key_is_overwritten_and_gone(app, client):
    # In the server's folder in RAM, never in the data folder (no file times on disk)
    folder = app.extensions["tipdrop"]["page_links"].folder
    assert not (app.config["TIPDROP"].data_dir / pagelinks.FOLDER).exists()
    location, page = _receipt_page(client)
    code = find(r'id="receipt">([^<]+)<', page.text)
    [key_file] = list(folder.iterdir())
    assert code.encode() not in key_file.read_bytes()
    assert _done(client, page, location, code[-4:]).status_code == 303
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("change", [
    lambda link: link[:-3] + ("A" if link[-3] != "A" else "B") + link[-2:],
    lambda link: "f" * 32 + link[32:],
    lambda link: link.split(".")[0],
    lambda link: "../../token-secret",
], ids=["tampered", "other-id", "no-payload", "path"])
def test_a_changed_link_opens_nothing(client, change):
    location, _ = _receipt_page(client)
    link_id = location.split("/receipt/")[1].split("?")[0]
    assert client.get(f"/receipt/{change(link_id)}?lang=en").status_code in (404, 410)


def test_links_close_when_their_time_is_up(tmp_path):
    now = [1_000_000.0]
    links = pagelinks.PageLinks(tmp_path, clock=lambda: now[0])
    link = links.create("status", {"receipt": "x"}, minutes=10)
    assert links.read(link, "status") == {"receipt": "x"}
    with pytest.raises(pagelinks.PageClosedError):
        links.read(link, "receipt")  # bound to its purpose
    now[0] += 10 * 60
    with pytest.raises(pagelinks.PageClosedError):
        links.read(link, "status")
    links.create("status", {}, minutes=1)  # creating sweeps the expired keys
    assert len(list((tmp_path / pagelinks.FOLDER).iterdir())) == 1


def test_of_two_requests_for_a_one_time_link_one_gets_it(tmp_path):
    links = pagelinks.PageLinks(tmp_path)
    link = links.create("status", {"receipt": "x"}, minutes=10)
    assert links.take(link, "status") == {"receipt": "x"}
    with pytest.raises(pagelinks.PageClosedError):
        links.take(link, "status")


def test_of_two_requests_racing_for_a_one_time_link_exactly_one_gets_it(tmp_path):
    # Given one-time links, each asked for by two requests at the same moment
    links = pagelinks.PageLinks(tmp_path)
    winners = []
    for number in range(300):
        link = links.create("status", {"receipt": number}, minutes=10)
        start, got = threading.Barrier(2), []

        def take(link=link, start=start, got=got):
            start.wait()
            try:
                got.append(links.take(link, "status"))
            except pagelinks.PageClosedError:
                pass

        racers = [threading.Thread(target=take) for _ in range(2)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        winners.append(len(got))
    # Then every time one of them gets the page: on the code before, a
    # request reading the key while the other overwrote it with zeros took
    # it for expired and closed it, and neither got the page
    assert winners == [1] * 300, f"{winners.count(0)} races with no winner"
    # ... and no key, nor any half-closed one, is left
    assert list((tmp_path / pagelinks.FOLDER).iterdir()) == []


def test_a_key_left_half_closed_is_swept(tmp_path):
    links = pagelinks.PageLinks(tmp_path)
    link = links.create("status", {"receipt": "x"}, minutes=10)
    link_id = link.split(".", 1)[0]
    # Given a key renamed to be closed by a worker that was killed before it erased it
    folder = tmp_path / pagelinks.FOLDER
    (folder / link_id).rename(folder / f"{link_id}.0a1b2c3d.closing")
    # Then the next sweep erases it, and counts no live key
    assert links.sweep() == 0
    assert list(folder.iterdir()) == []


def test_the_device_path_gets_a_receipt_page_that_says_the_device_encrypted_it(client, unit_key):
    _, data = sealed_form(unit_key)
    plain = post(client, data)
    assert "receipt_page" not in plain.json
    _, data = sealed_form(unit_key)
    answer = client.post("/api/v1/sealed-tips?lang=kk&receipt_page=yes", data=data,
                         content_type="multipart/form-data")
    assert answer.status_code == 201
    page = client.get(answer.json["receipt_page"])
    assert '<html lang="kk">' in page.text
    assert find(r'id="receipt">([^<]+)<', page.text) == answer.json["receipt"]
    assert 'data-encrypted-on="device"' in page.text


def test_the_pages_a_post_leads_to_are_never_stored_by_the_browser(client):
    location, receipt_page = _receipt_page(client)
    code = find(r'id="receipt">([^<]+)<', receipt_page.text)
    # The pages that hold a code or a reply answer 203, kept from the back/forward cache
    pages = [(receipt_page, 203), (client.get(_status_location(client, code)), 203),
             (client.get("/submit/done?lang=en"), 200),
             (client.get("/followup/done?lang=en&on=server"), 200)]
    for page, status in pages:
        assert page.status_code == status, page.request.path
        assert page.headers["Cache-Control"] == "no-store"
        assert "Set-Cookie" not in page.headers


def test_the_pages_say_where_each_thing_is_encrypted(client):
    start = client.get("/?lang=en").text
    assert "encrypted on this device before it is sent" in start
    assert "our server encrypts it as soon as it arrives" in start
    assert "private window" in find(r'<section class="shared-device"(.*?)</section>', start)
    privacy = client.get("/privacy?lang=en").text
    assert "not even the server" not in privacy
    assert "uses the code you typed to open the replies" in privacy
    assert 'id="device"' in privacy and "crashed" in privacy
    assert "random key and the time the page closes" in privacy  # the page-keys files
    added = client.get("/followup/done?lang=en&on=server").text
    assert 'data-encrypted-on="server"' in added and "Our server encrypted it" in added
    on_device = client.get("/followup/done?lang=en&on=device").text
    assert 'data-encrypted-on="device"' in on_device and "Our server encrypted it" not in on_device


def _tips_stored(app):
    import sqlite3

    with sqlite3.connect(app.config["TIPDROP"].database_path) as db:
        return db.execute("SELECT COUNT(*) FROM tips").fetchone()[0]


def test_a_receipt_page_that_cannot_be_made_refuses_the_report_before_storing_it(app, client):
    # Given a folder in RAM that cannot take the page's key (here: its place taken by a file)
    folder = app.extensions["tipdrop"]["page_links"].folder
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    folder.write_bytes(b"")
    token = form_token(client, "/submit?lang=ru")
    data = {"token": token, "region": "astana", "category": "theft",
            "description": "A bicycle was stolen.", "website": ""}
    # When a report is sent, Then it is refused as "busy" and nothing is stored:
    # a report stored without the page that shows its receipt would be lost
    sent = client.post("/submit?lang=ru", data=data, content_type="multipart/form-data")
    assert sent.status_code == 503
    assert _tips_stored(app) == 0
    # And once the folder is back, the same form goes through
    folder.unlink()
    assert client.post("/submit?lang=ru", data=data,
                       content_type="multipart/form-data").status_code == 303
    assert _tips_stored(app) == 1


def test_a_flood_of_links_is_bounded(tmp_path, monkeypatch):
    # Given a server that holds at most five live page keys
    monkeypatch.setattr(pagelinks, "MAX_LIVE", 5, raising=False)
    now, ticks = [1_000_000.0], [0.0]
    links = pagelinks.PageLinks(tmp_path, clock=lambda: now[0])
    links.monotonic = lambda: ticks[0]
    for _ in range(5):
        links.create("status", {"receipt": "x"}, minutes=10)
    # When a sixth link is asked for while they are all live, it is refused busy (503)
    with pytest.raises(BusyError):
        links.create("status", {"receipt": "x"}, minutes=10)
    assert len(list((tmp_path / pagelinks.FOLDER).iterdir())) == 5
    # Then once their time is up and the next sweep is due, links are made again
    now[0] += 10 * 60
    ticks[0] += 60
    links.create("status", {"receipt": "x"}, minutes=10)
    assert len(list((tmp_path / pagelinks.FOLDER).iterdir())) == 1


def test_keys_made_and_closed_again_do_not_fill_the_folder_between_sweeps(tmp_path, monkeypatch):
    # Given a server that holds at most five live page keys, and no sweep due
    monkeypatch.setattr(pagelinks, "MAX_LIVE", 5, raising=False)
    links = pagelinks.PageLinks(tmp_path)
    links.monotonic = lambda: 0.0
    links.create("status", {"receipt": "x"}, minutes=10)  # the sweep of the first link
    # When many requests each reserve a receipt page's key and release it
    # (refused: a finish of an upload that does not exist, which costs no count)
    for _ in range(20):
        links.close(links.reserve(pagelinks.RECEIPT_MINUTES)[0])
    # Then a reporter's link is still made: on the code before, every key
    # reserved since the last sweep counted as live, closed or not, and past
    # MAX_LIVE of them every report and check was refused busy until the next sweep
    links.create("status", {"receipt": "y"}, minutes=10)
    assert len(list((tmp_path / pagelinks.FOLDER).iterdir())) == 2


def test_making_a_link_does_not_read_every_live_key(tmp_path, monkeypatch):
    # Given 200 live page keys (a flood of checks)
    links = pagelinks.PageLinks(tmp_path)
    links.monotonic = lambda: 0.0
    for _ in range(200):
        links.create("status", {"receipt": "x"}, minutes=10)
    reads = []
    expired = pagelinks.PageLinks._expired
    monkeypatch.setattr(pagelinks.PageLinks, "_expired",
                        staticmethod(lambda path, now: reads.append(path) or expired(path, now)))
    # When more links are made before the next sweep is due
    for _ in range(20):
        links.create("status", {"receipt": "x"}, minutes=10)
    # Then none of them read the keys already there (a sweep per link made a
    # flood's cost grow with the square of its size)
    assert reads == []
