"""The officer app (tipdrop/officer/app/): who may talk to it, locking, and the inbox's work.

A real workspace opened from a bundle exported by the server's own code,
a real key file under a passphrase, and Flask's test client speaking HTTP
to the app as the browser on 127.0.0.1 would.
"""

import re
import socket
import threading

import pytest
from werkzeug.serving import make_server

from tests.protocol.test_bundles import Server
from tipdrop.crypto import kdf
from tipdrop.officer import keyfiles
from tipdrop.officer.app import create_app
from tipdrop.officer.app.desk import MAX_DRAFTS, Desk
from tipdrop.officer.app.gate import TOKEN_FIELD
from tipdrop.officer.app.serve import QuietHandler
from tipdrop.officer.decrypted import decrypted_tips
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol.fields import STATUSES
from tipdrop.protocol.report import Report

PORT = 48123
ORIGIN = f"http://127.0.0.1:{PORT}"
PASSPHRASE = "correct horse battery staple"
LAUNCH = "launch-token-for-tests"

TIPS = [
    # (region, category, language, description)
    ("almaty", "theft", "ru", "Украли велосипед у подъезда, ещё вчера вечером."),
    ("almaty", "corruption", "ru", "Инспектор требует взятку за справку в ЦОНе."),
    ("almaty", "child-in-danger", "kk", "Қараусыз қалған бала көшеде жылап отыр."),
    ("almaty", "drugs", "en", "Someone sells pills behind the school."),
]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def opened_workspace(bundle, key, folder):
    """The workspace at ``folder`` with ``bundle`` opened in it, as the CLI opens it."""
    workspace = Workspace(folder)
    workspace.open_bundle(bundle, Keyring.of(key))
    workspace.close()
    return folder


@pytest.fixture
def unit(tmp_path):
    """The unit's key file under a passphrase (cheap Argon2 for tests), and the key itself."""
    made = keyfiles.create_unit_key("demo", tmp_path / "keys", PASSPHRASE, params=kdf.TEST_PARAMS)
    return made.private_path, keyfiles.unlock(made.private_path, PASSPHRASE)


@pytest.fixture
def workdir(tmp_path, unit):
    """A workspace holding TIPS, exported by the server's code and opened as the CLI does."""
    key_path, key = unit
    server = Server(tmp_path / "server", key)
    for region, category, language, description in TIPS:
        draft = server.tips.start(region=region)
        if category == "theft":
            draft.new_attachment("фото двора.jpg", "image/jpeg").write(b"\xff\xd8 evidence")
        answers = {"place": "school", "ongoing": "yes"} if category == "drugs" else {}
        server.tips.submit(draft, Report.build(region=region, category=category,
                                               description=description, language=language,
                                               what="Случай" if language == "ru" else "",
                                               answers=answers))
        if category == "drugs":
            server.tips.add_followup(tip_id=draft.tip_id, text="They are there again today.")
    server.export("demo", tmp_path / "export.tdx")
    # A later export, not opened yet: the app's import form opens it.
    draft = server.tips.start(region="almaty")
    server.tips.submit(draft, Report.build(region="almaty", category="theft", language="ru",
                                           description="Вырвали телефон из рук на остановке."))
    server.export("demo", tmp_path / "export2.tdx")
    server.db.close()
    return opened_workspace(tmp_path / "export.tdx", key, tmp_path / "cases")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def desk(workdir, unit, clock):
    made = Desk(workdir, unit[0], urgent=("child-in-danger", "domestic-violence"),
                idle_seconds=15 * 60, clock=clock)
    yield made
    made.close()


@pytest.fixture
def app(desk, tmp_path):
    return create_app(desk, PORT, launch_token=LAUNCH, outbox_dir=tmp_path / "outbox")


def browser(app, language="en"):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    return client


def launched(app):
    client = browser(app)
    answer = client.get(f"/?token={LAUNCH}", base_url=ORIGIN)
    assert answer.status_code == 303, answer.data
    return client


def get(client, path, **kwargs):
    return client.get(path, base_url=ORIGIN, **kwargs)


def post(client, path, data=None, origin=ORIGIN, token=True, headers=None):
    data = dict(data or {})
    if token:
        data[TOKEN_FIELD] = client.application.extensions["officer_gate"].form_token
    sent = {"Origin": origin, "Sec-Fetch-Site": "same-origin"} if origin else {}
    return client.post(path, base_url=ORIGIN, data=data, headers=sent | (headers or {}))


def unlock(client):
    """Type the passphrase; wait for the index as the reloading progress page does."""
    answer = post(client, "/unlock", {"passphrase": PASSPHRASE})
    assert answer.status_code == 303 and answer.location.endswith("/unlocking"), answer.data
    job = client.application.extensions["officer_desk"].unlocking  # None: already done
    assert job is None or job.finished.wait(60)
    ready = get(client, "/unlocking")
    assert ready.status_code == 303 and ready.location.endswith("/inbox"), ready.data
    # The inbox is usable now; search once the full-text index is whole too.
    assert client.application.extensions["officer_desk"].index.wait_for_words(60)
    return client


def unlocked(app):
    return unlock(launched(app))


def search(client, words, **filters):
    """Search as the inbox form does: POST, then the address it redirects to."""
    answer = post(client, "/search", {"q": words, **filters})
    assert answer.status_code == 303, answer.data
    return get(client, answer.location)


def tip_ids(page):
    return re.findall(r'data-tip="([0-9a-f]+)"', page.get_data(as_text=True))


# --- serving and the session -----------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", f"evil.example:{PORT}", f"127.0.0.1:{PORT + 1}",
                                  f"localhost.evil.example:{PORT}", "127.0.0.1"])
def test_a_host_header_other_than_this_app_is_refused(app, host):
    client = unlocked(app)
    answer = client.get("/inbox", base_url=f"http://{host}")
    assert answer.status_code == 421
    assert "data-tip" not in answer.get_data(as_text=True)
    # The launch link is refused under a foreign name too (DNS rebinding before launch).
    fresh = create_app(app.extensions["officer_desk"], PORT, launch_token="other").test_client()
    assert fresh.get("/?token=other", base_url=f"http://{host}").status_code == 421


@pytest.mark.parametrize("request_line", ["GET /inbox HTTP/1.1", "GET /inbox HTTP/1.0",
                                          f"GET /?token={LAUNCH} HTTP/1.1"])
def test_a_request_without_a_host_header_is_refused_like_a_wrong_host(app, request_line):
    # Served over a real socket: only there can a request leave the Host header out.
    client = unlocked(app)
    cookie = client.get_cookie(f"tipdrop_officer_{PORT}", domain="127.0.0.1").value
    httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    app.extensions["officer_gate"].port = httpd.server_port
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", httpd.server_port), timeout=30) as sock:
            # The session's cookie, under the name it has on this port: only the host is wrong.
            sock.sendall(f"{request_line}\r\nCookie: tipdrop_officer_{httpd.server_port}="
                         f"{cookie}\r\n"
                         "Connection: close\r\n\r\n".encode())
            answer = b"".join(iter(lambda: sock.recv(65536), b""))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert answer.split(b"\r\n", 1)[0].endswith(b" 421 MISDIRECTED REQUEST"), answer[:200]
    assert b"data-tip" not in answer and b"Set-Cookie" not in answer


def test_localhost_with_the_port_is_this_app(app):
    client = browser(app)
    assert client.get(f"/?token={LAUNCH}", base_url=f"http://localhost:{PORT}").status_code == 303


def test_the_launch_token_becomes_an_httponly_strict_cookie_and_leaves_the_address(app):
    answer = browser(app).get(f"/?token={LAUNCH}", base_url=ORIGIN)
    assert answer.status_code == 303 and answer.location == "/"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert LAUNCH not in cookie


def test_without_the_launch_token_nothing_is_served(app):
    client = browser(app)
    for path in ("/", "/inbox", "/?token=wrong"):
        answer = get(client, path)
        assert answer.status_code == 403, path
        assert "passphrase" not in answer.get_data(as_text=True)
    assert post(client, "/unlock", {"passphrase": PASSPHRASE}).status_code == 403
    assert not app.extensions["officer_desk"].unlocked


def test_a_used_launch_token_opens_no_second_session(app):
    first = launched(app)
    second = browser(app)
    answer = get(second, f"/?token={LAUNCH}")
    assert answer.status_code == 403
    assert "already used" in answer.get_data(as_text=True)
    assert "Set-Cookie" not in answer.headers
    assert get(second, "/").status_code == 403
    assert get(first, "/").status_code == 200  # the first session goes on
    again = get(first, f"/?token={LAUNCH}")  # its own browser reloading the first address
    assert again.status_code == 303 and "Set-Cookie" not in again.headers


def test_a_forged_session_cookie_is_refused(app):
    launched(app)
    other = browser(app)
    other.set_cookie(f"tipdrop_officer_{PORT}", "guessed", domain="127.0.0.1")
    assert get(other, "/").status_code == 403


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "http://127.0.0.1:9999"},  # another app on this computer: same site, not us
    {"Origin": "null"},
    {"Origin": ORIGIN, "Sec-Fetch-Site": "cross-site"},
    {"Origin": ORIGIN, "Sec-Fetch-Site": "same-site"},
])
def test_a_cross_origin_post_is_refused_and_changes_nothing(app, headers):
    client = unlocked(app)
    [tip] = [t for t in tip_ids(get(client, "/inbox"))][:1]
    answer = client.post(f"/tip/{tip}/note", base_url=ORIGIN, headers=headers,
                         data={"text": "forged", TOKEN_FIELD: app.extensions[
                             "officer_gate"].form_token})
    assert answer.status_code == 403
    assert "forged" not in get(client, f"/tip/{tip}").get_data(as_text=True)


@pytest.mark.parametrize("site", ["same-site", "cross-site"])
def test_a_page_of_another_port_cannot_make_the_browser_show_a_tip_or_file(app, site):
    client = unlocked(app)
    workspace = app.extensions["officer_desk"].workspace
    [drugs] = tip_ids(search(client, "pills"))
    [theft] = tip_ids(search(client, "велосипед"))
    # An <img> on a page of 127.0.0.1:8080: the browser sends the SameSite=Strict cookie
    # (same site: cookies ignore ports) and says where the request comes from.
    sent_by_that_page = {"Sec-Fetch-Site": site, "Sec-Fetch-Mode": "no-cors",
                         "Sec-Fetch-Dest": "image"}

    # When that page asks for a tip, its file and its photo
    answers = [get(client, path, headers=sent_by_that_page) for path in (
        f"/tip/{drugs}", f"/tip/{theft}/file/a1", f"/tip/{theft}/photo/a1", "/inbox")]

    # Then nothing is served, no follow-up is marked read and the audit log names nothing
    assert [a.status_code for a in answers] == [403] * 4
    assert workspace.db.execute("SELECT read FROM followups WHERE tip_id = ?",
                                [drugs]).fetchall() == [(0,)]
    assert not [e for e in workspace.audit.entries() if e["tip"] in (drugs, theft)]
    # And the officer's own pages and typed addresses are served as before
    assert get(client, f"/tip/{drugs}", headers={"Sec-Fetch-Site": "same-origin"}
               ).status_code == 200
    assert get(client, f"/tip/{theft}/file/a1", headers={"Sec-Fetch-Site": "none"}
               ).status_code == 200


def test_a_post_without_origin_or_form_token_is_refused(app):
    client = unlocked(app)
    assert post(client, "/lock", origin=None).status_code == 403
    assert post(client, "/lock", token=False).status_code == 403
    assert app.extensions["officer_desk"].unlocked


def test_every_answer_forbids_framing_caching_sniffing_and_any_script_but_the_apps_file(app):
    client = unlocked(app)
    scripted, stranger = get(client, "/inbox"), get(browser(app), "/inbox")
    for answer in (scripted, stranger):
        csp = answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"
    # An unlocked page loads the app's own script file, nothing inline, nothing else.
    scripts = re.findall(r"<script[^>]*>", scripted.get_data(as_text=True))
    assert scripts == [s for s in scripts if 'src="/static/exchange.js"' in s] and scripts
    assert "script-src 'self'" in scripted.headers["Content-Security-Policy"]
    assert "script-src 'none'" in stranger.headers["Content-Security-Policy"]


def test_the_passphrase_page_and_a_locked_app_run_no_script(app):
    client = launched(app)
    for answer in (get(client, "/"), get(client, "/inbox")):
        assert "<script" not in answer.get_data(as_text=True)
        assert "script-src 'none'" in answer.headers["Content-Security-Policy"]
        assert "<script" not in answer.get_data(as_text=True)


# --- unlock and lock -------------------------------------------------------------------


def test_a_wrong_passphrase_unlocks_nothing(app):
    client = launched(app)
    answer = post(client, "/unlock", {"passphrase": "not it"})
    assert answer.status_code == 400
    assert "passphrase" in answer.get_data(as_text=True).lower()
    assert not app.extensions["officer_desk"].unlocked
    assert get(client, "/inbox").status_code == 403


def test_after_lock_no_page_or_action_is_served(app):
    client = unlocked(app)
    [tip, *_] = tip_ids(get(client, "/inbox"))
    assert post(client, "/lock").status_code == 303
    desk = app.extensions["officer_desk"]
    assert not desk.unlocked and desk._index is None
    for answer in (get(client, "/inbox"), get(client, f"/tip/{tip}"),
                   get(client, f"/tip/{tip}/file/a1"),
                   post(client, f"/tip/{tip}/note", {"text": "after lock"}),
                   post(client, "/outbox")):
        page = answer.get_data(as_text=True)
        assert answer.status_code == 403
        assert 'id="passphrase"' in page
        assert "велосипед" not in page and "data-tip" not in page
    unlock(client)
    assert "after lock" not in get(client, f"/tip/{tip}").get_data(as_text=True)


def test_unlocking_shows_its_progress_until_the_inbox_is_ready(app):
    client = launched(app)
    desk = app.extensions["officer_desk"]
    with desk.mutex:  # the index is built, but cannot be published while we hold the mutex
        post(client, "/unlock", {"passphrase": PASSPHRASE})
        job = desk.unlocking
        page = get(client, "/unlocking")
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and 'http-equiv="refresh"' in text
        assert re.search(r'<progress id="progress" max="4" value="[0-4]"', text)
        assert get(client, "/inbox").status_code == 403  # not before the index is whole
        assert get(client, "/").location.endswith("/unlocking")
    assert job.finished.wait(60)
    assert get(client, "/unlocking").location.endswith("/inbox")
    assert len(tip_ids(get(client, "/inbox"))) == 4


def test_lock_while_unlocking_stops_it(app):
    client = launched(app)
    desk = app.extensions["officer_desk"]
    with desk.mutex:
        post(client, "/unlock", {"passphrase": PASSPHRASE})
        job = desk.unlocking
        assert post(client, "/lock").status_code == 303
    assert job.finished.wait(60)
    assert not desk.unlocked and desk.unlocking is None
    assert get(client, "/inbox").status_code == 403


def test_idle_time_locks_the_app(app, clock):
    client = unlocked(app)
    clock.now += 14 * 60
    assert get(client, "/inbox").status_code == 200  # a request starts the idle time again
    clock.now += 14 * 60
    assert get(client, "/inbox").status_code == 200
    clock.now += 15 * 60
    answer = get(client, "/inbox")
    assert answer.status_code == 403 and 'id="idle-notice"' in answer.get_data(as_text=True)
    assert not app.extensions["officer_desk"].unlocked


def test_the_watchdog_locks_without_any_request(desk, clock):
    desk.unlock(PASSPHRASE)
    assert not desk.check_idle()
    clock.now += 15 * 60
    assert desk.check_idle() and not desk.unlocked


# --- inbox ------------------------------------------------------------------------------


def test_inbox_counts_by_status_and_lists_urgent_categories_first(app):
    client = unlocked(app)
    page = get(client, "/inbox")
    text = page.get_data(as_text=True)
    assert re.search(r'data-status="received">[^<]*: 4<', text)
    assert re.search(r'data-status="need-info">[^<]*: 0<', text)
    rows = re.findall(r'<tr class="tip( urgent)?" data-tip', text)
    assert rows[0] == " urgent" and rows[1:] == ["", "", ""]
    assert "Қараусыз" in text.split('data-tip="')[1]


def test_inbox_filters_by_status_category_and_region(app):
    client = unlocked(app)
    assert len(tip_ids(get(client, "/inbox?category=corruption"))) == 1
    assert len(tip_ids(get(client, "/inbox?region=almaty"))) == 4
    assert len(tip_ids(get(client, "/inbox?region=astana"))) == 0
    assert len(tip_ids(get(client, "/inbox?status=closed"))) == 0


@pytest.mark.parametrize("query, found", [
    ("взятк", "Инспектор"),          # a Russian stem finds its inflected form
    ("ВЗЯТКУ", "Инспектор"),         # case
    ("взятка", "Инспектор"),         # another ending: the Russian stem matches
    ("справки", "Инспектор"),
    ("велосипеды", "велосипед"),
    ("еще", "велосипед"),            # ё typed as е
    ("ЕЩЁ", "велосипед"),
    ("қараусыз", "Қараусыз"),        # Kazakh, case-folded
    ("караусыз", "Қараусыз"),        # Kazakh typed on a Russian keyboard
    ("ҚАЛҒАН бала", "Қараусыз"),     # two Kazakh words, both must match
    ("Pills", "pills"),
    ("pill", "pills"),
    ("фото", "велосипед"),           # a file's name
])
def test_search_finds_russian_kazakh_and_english_words(app, query, found):
    page = search(unlocked(app), query).get_data(as_text=True)
    assert len(re.findall(r'data-tip="', page)) == 1, query
    assert found in page


@pytest.mark.parametrize("query", ['"', "взятку OR", "NEAR(a b)", "*", "x AND -y",
                                   "бала велосипед"])
def test_search_words_are_never_fts_syntax(app, query):
    answer = search(unlocked(app), query)
    assert answer.status_code == 200


def test_inbox_filters_by_the_day_received_and_sorts_either_way(desk):
    desk.unlock(PASSPHRASE)
    ids = [t["id"] for t in desk.index.inbox().tips]
    for day, tip_id in zip(("2026-01-05", "2026-02-05", "2026-03-05", "2026-04-05"), ids,
                            strict=True):
        desk.index.db.execute("UPDATE tips SET received = ? WHERE id = ?", [day, tip_id])

    def days(**filters):
        return [t["received"] for t in desk.index.inbox(**filters).tips]

    assert days() == ["2026-01-05", "2026-04-05", "2026-03-05", "2026-02-05"]  # urgent first
    assert days(oldest_first=True) == ["2026-01-05", "2026-02-05", "2026-03-05", "2026-04-05"]
    assert days(since="2026-02-05", until="2026-03-05") == ["2026-03-05", "2026-02-05"]
    assert days(since="not a day") == days()


def test_new_follow_ups_are_marked_until_the_tip_is_opened(app):
    client = unlocked(app)
    page = get(client, "/inbox").get_data(as_text=True)
    assert "1 new follow-up" in page  # unlocking read every tip, but marked none read
    [tip] = tip_ids(search(client, "again today"))
    page = get(client, f"/tip/{tip}").get_data(as_text=True)
    assert "They are there again today." in page
    assert re.search(r'class="received">.*class="followup new">.*They are there', page, re.S)
    assert "new follow-up" not in get(client, "/inbox").get_data(as_text=True)


def test_the_app_refuses_to_start_without_fts5_with_a_clear_error(monkeypatch, workdir, unit):
    import sqlite3

    from tipdrop.officer import search

    class NoFts5:
        OperationalError = sqlite3.OperationalError
        sqlite_version = "3.0.0"

        @staticmethod
        def connect(*_, **__):
            db = sqlite3.connect(":memory:")
            return type("Db", (), {"execute": lambda self, *_: (_ for _ in ()).throw(
                sqlite3.OperationalError("no such module: fts5")), "close": db.close})()

    monkeypatch.setattr(search, "sqlite3", NoFts5)
    with pytest.raises(search.NoFullTextSearchError):
        Desk(workdir, unit[0])


def test_search_words_stay_out_of_every_address_and_are_forgotten_at_lock(app):
    from urllib.parse import unquote

    client = unlocked(app)
    answer = post(client, "/search", {"q": "велосипед", "status": "received"})
    assert "велосипед" not in unquote(answer.location) and "status=received" in answer.location
    page = get(client, answer.location).get_data(as_text=True)
    assert len(re.findall(r'data-tip="', page)) == 1
    assert not [href for href in re.findall(r'(?:href|action)="([^"]*)"', page)
                if "велосипед" in unquote(href)]
    post(client, "/lock")
    unlock(client)
    assert len(tip_ids(get(client, answer.location))) == 4  # the words went with the lock


def test_text_typed_on_a_tip_page_is_kept_for_that_tip_only_in_memory_until_lock(app):
    # Given a reply and a note typed on one tip's page, and a button of the page pressed
    client = unlocked(app)
    [tip, other, *_] = tip_ids(get(client, "/inbox"))
    answer = post(client, "/leave?to=/inbox", {"from_tip": tip, "message": "Где именно?",
                                                "text": "Проверить камеры.",
                                                "status": "need-info"})
    assert answer.status_code == 303 and answer.location == "/inbox"
    # Then that tip's page gives them back, however it is reached, and no other tip's does
    page = get(client, f"/tip/{tip}").get_data(as_text=True)
    assert ">Где именно?</textarea>" in page and ">Проверить камеры.</textarea>" in page
    assert '<option value="need-info" selected>' in page
    assert "Где именно?" not in get(client, f"/tip/{other}").get_data(as_text=True)
    # An emptied page forgets them; a status alone is not typed text
    post(client, "/leave?to=/inbox", {"from_tip": tip, "message": " ", "status": "need-info"})
    assert app.extensions["officer_desk"].recall_draft(tip) == {}
    # And Lock forgets them
    post(client, "/leave?to=/inbox", {"from_tip": tip, "text": "Проверить камеры."})
    post(client, "/lock")
    unlock(client)
    assert "Проверить камеры.</textarea>" not in get(client, f"/tip/{tip}").get_data(as_text=True)


def test_the_app_holds_the_typed_text_of_a_bounded_number_of_tips(desk):
    for n in range(MAX_DRAFTS + 1):
        desk.keep_draft(f"{n:032x}", {"message": f"reply {n}"})
    assert desk.recall_draft(f"{0:032x}") == {}  # the one left longest
    assert desk.recall_draft(f"{MAX_DRAFTS:032x}") == {"message": f"reply {MAX_DRAFTS}"}


@pytest.mark.parametrize("elsewhere", ["//evil.example", "/\\evil.example",
                                       "https://evil.example"])
def test_a_tip_pages_links_lead_only_to_this_apps_pages(app, elsewhere):
    client = unlocked(app)
    assert post(client, "/leave", {"from_tip": "0" * 32}).location == "/"
    answer = client.post("/leave", base_url=ORIGIN, query_string={"to": elsewhere},
                         data={TOKEN_FIELD: app.extensions["officer_gate"].form_token},
                         headers={"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"})
    assert answer.status_code == 303 and answer.location == "/"


def test_the_index_rows_agree_with_the_cli_list_and_read_nothing(desk, unit):
    workspace = desk.workspace
    listed = {r["id"]: r for r in workspace.list()}
    keys = ("status", "category", "region", "received", "unread_followups", "attachments",
            "damaged")
    found = {t["id"]: t for t in decrypted_tips(workspace, Keyring.of(unit[1]))}
    assert {i: {k: t[k] for k in keys} for i, t in found.items()} == \
        {i: {k: r[k] for k in keys} for i, r in listed.items()}
    assert sum(r["unread_followups"] for r in workspace.list()) == 1  # still unread


def test_inbox_pages(desk):
    desk.unlock(PASSPHRASE)
    first = desk.index.inbox(page_size=3)
    second = desk.index.inbox(page=2, page_size=3)
    assert (first.total, first.pages, len(first.tips), len(second.tips)) == (4, 2, 3, 1)
    assert not {t["id"] for t in first.tips} & {t["id"] for t in second.tips}
    assert desk.index.inbox(page=99, page_size=3).page == 2


# --- a tip and the work on it --------------------------------------------------------------


def test_tip_page_shows_the_report_where_it_was_sealed_and_its_file_without_its_bytes(app):
    client = unlocked(app)
    [tip] = tip_ids(search(client, "велосипед"))
    page = get(client, f"/tip/{tip}").get_data(as_text=True)
    assert "Украли велосипед у подъезда" in page
    assert 'id="sealed">by the server' in page
    assert "фото двора.jpg" in page and "evidence" not in page
    assert "<img" not in page


def test_an_attachment_is_only_offered_as_a_download(app):
    client = unlocked(app)
    [tip] = tip_ids(search(client, "велосипед"))
    answer = get(client, f"/tip/{tip}/file/a1")
    assert answer.status_code == 200 and answer.data == b"\xff\xd8 evidence"
    assert answer.mimetype == "application/octet-stream"
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in answer.headers["Content-Security-Policy"]
    assert get(client, f"/tip/{tip}/file/a9").status_code == 400


def test_note_reply_and_status_go_through_the_workspace_and_the_outbox_is_written(app, tmp_path):
    client = unlocked(app)
    [tip] = tip_ids(search(client, "взятку"))
    page = get(client, f"/tip/{tip}").get_data(as_text=True)
    assert re.search(r'<option value="ru" selected>', page)  # the report's language

    assert post(client, f"/tip/{tip}/note", {"text": "Позвонил в ЦОН: дежурный подтвердил."}
                ).status_code == 303
    assert post(client, f"/tip/{tip}/reply", {"message": "В какой день это было?",
                                             "status": "need-info"}).status_code == 303
    page = get(client, f"/tip/{tip}").get_data(as_text=True)
    assert "Позвонил в ЦОН" in page and "В какой день это было?" in page
    assert 'data-status="need-info"' in page
    # The index follows: the note is searchable, the count moved.
    assert tip_ids(search(client, "дежурный")) == [tip]
    assert re.search(r'data-status="need-info">[^<]*: 1<', get(client, "/inbox").get_data(
        as_text=True))

    written = post(client, "/outbox")
    assert written.status_code == 200
    [path] = (tmp_path / "outbox").iterdir()
    assert str(path) in written.get_data(as_text=True)
    assert b"\xd0\x92 \xd0\xba\xd0\xb0\xd0\xba\xd0\xbe\xd0\xb9" not in path.read_bytes()  # sealed
    # Nothing left to send writes no second, empty file.
    again = post(client, "/outbox")
    assert len(list((tmp_path / "outbox").iterdir())) == 1
    # A second press (a double click, whose second answer alone the browser shows) shows
    # the file just written, saying so: "the outbox is empty" read as if nothing was written.
    text = again.get_data(as_text=True)
    assert again.status_code == 200 and path.name in text and 'id="already-written"' in text
    # After Lock nothing of the session is remembered: the outbox is empty, plainly.
    post(client, "/lock")
    empty = post(unlock(client), "/outbox")
    assert empty.status_code == 400 and "outbox is empty" in empty.get_data(as_text=True)


def _tip_form(client, tip):
    """The hidden fields of the tip page's form, as the browser sends them with a button."""
    page = get(client, f"/tip/{tip}").get_data(as_text=True)
    form = page[page.index('id="reply-form"'):]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form))


def test_a_reply_or_note_sent_twice_from_one_page_is_queued_once(app, workdir):
    client = unlocked(app)
    [tip] = tip_ids(search(client, "взятку"))
    form = _tip_form(client, tip)
    desk = app.extensions["officer_desk"]

    # When a tired officer's double click sends the page's form twice
    for _ in range(2):
        assert post(client, f"/tip/{tip}/reply", form | {
            "message": "Спасибо, проверяем.", "status": "in-review"}).status_code == 303
        assert post(client, f"/tip/{tip}/note", form | {"text": "Звонил в ЦОН."}
                    ).status_code == 303

    # Then the reporter gets one reply, the tip one note, and the audit log one of each
    db = desk.workspace.db
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE tip_id = ?", [tip]).fetchone() == (1,)
    assert db.execute("SELECT COUNT(*) FROM notes WHERE tip_id = ?", [tip]).fetchone() == (1,)
    done = [e["action"] for e in desk.workspace.audit.entries() if e["tip"] == tip]
    assert done.count("reply") == 1 and done.count("note") == 1
    page = get(client, f"/tip/{tip}").get_data(as_text=True)
    assert page.count("Спасибо, проверяем.") == 1 and page.count("Звонил в ЦОН.") == 1

    # And the same words sent again from the page that shows them are a new reply and note
    again = _tip_form(client, tip)
    assert again["replies_seen"] == "1" and again["notes_seen"] == "1"
    post(client, f"/tip/{tip}/reply", again | {"message": "Спасибо, проверяем."})
    post(client, f"/tip/{tip}/note", again | {"text": "Звонил в ЦОН."})
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE tip_id = ?", [tip]).fetchone() == (2,)
    assert db.execute("SELECT COUNT(*) FROM notes WHERE tip_id = ?", [tip]).fetchone() == (2,)


def test_another_reply_from_an_older_page_of_the_tip_is_still_queued(app):
    client = unlocked(app)
    [tip] = tip_ids(search(client, "взятку"))
    form = _tip_form(client, tip)  # two tabs of one tip, or the page before a reply
    post(client, f"/tip/{tip}/reply", form | {"message": "Первый ответ."})
    post(client, f"/tip/{tip}/reply", form | {"message": "Второй ответ.", "status": "need-info"})
    post(client, f"/tip/{tip}/reply", form | {"message": "Первый ответ.", "status": "closed"})
    rows = app.extensions["officer_desk"].workspace.db.execute(
        "SELECT seq, status FROM outbox WHERE tip_id = ? ORDER BY seq", [tip]).fetchall()
    assert rows == [(1, "received"), (2, "need-info"), (3, "closed")]


def _upload(client, path, name="export2.tdx", to="/import"):
    with open(path, "rb") as f:
        return client.post(to, base_url=ORIGIN, content_type="multipart/form-data",
                           headers={"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"},
                           data={TOKEN_FIELD: client.application.extensions[
                               "officer_gate"].form_token, "bundle": (f, name)})


def outcome(client, started):
    """Follow a started exchange as its progress page does, to the page of its outcome."""
    assert started.status_code == 303 and started.location.endswith("/exchange/progress"), \
        started.data
    courier = client.application.extensions["officer_courier"]
    transfer = courier.current
    assert transfer is None or transfer.finished.wait(60)
    ready = get(client, "/exchange/progress")
    assert ready.status_code == 303 and ready.location.endswith("/exchange/done"), ready.data
    return get(client, "/exchange/done")


def test_a_bundle_picked_in_the_page_is_opened_and_indexed_and_its_copy_removed(app, tmp_path,
                                                                                 workdir):
    client = unlocked(app)
    assert tip_ids(search(client, "телефон")) == []
    answer = outcome(client, _upload(client, tmp_path / "export2.tdx"))
    assert answer.status_code == 200, answer.data
    assert "New: 1 tips, 0 follow-ups, 0 files." in answer.get_data(as_text=True)
    assert len(tip_ids(search(client, "телефон"))) == 1
    assert list((workdir / "incoming").iterdir()) == []
    again = outcome(client, _upload(client, tmp_path / "export2.tdx"))
    assert "already opened" in again.get_data(as_text=True)


def test_a_file_that_is_not_a_bundle_imports_nothing_and_leaves_no_copy(app, tmp_path, workdir):
    client = unlocked(app)
    junk = tmp_path / "junk.tdx"
    junk.write_bytes(b"not a bundle at all" * 100)
    answer = outcome(client, _upload(client, junk))
    assert answer.status_code == 400 and 'id="transfer-error"' in answer.get_data(as_text=True)
    assert list((workdir / "incoming").iterdir()) == []
    assert len(tip_ids(get(client, "/inbox"))) == 4


@pytest.mark.parametrize("language, detail", [("ru", "это не пакет выгрузки tipdrop"),
                                               ("kk", "бұл tipdrop экспорт пакеті емес")])
def test_a_refused_bundles_detail_is_in_the_officers_language(app, tmp_path, language, detail):
    client = unlocked(app)
    post(client, "/language", {"lang": language, "back": "/exchange"})
    junk = tmp_path / "junk.tdx"
    junk.write_bytes(b"not a bundle at all" * 100)
    page = outcome(client, _upload(client, junk)).get_data(as_text=True)
    assert detail in page and "not a tipdrop export bundle" not in page


def test_the_provenance_of_files_and_follow_ups_is_in_the_officers_language(app):
    # The safety words next to each file and follow-up, not only the page around them.
    client = unlocked(app)
    post(client, "/language", {"lang": "ru", "back": "/inbox"})
    [theft] = tip_ids(get(client, "/inbox?category=theft"))
    [drugs] = tip_ids(get(client, "/inbox?category=drugs"))
    files = get(client, f"/tip/{theft}").get_data(as_text=True)
    assert "привязан к сообщению" in files and "bound to the report" not in files
    followups = get(client, f"/tip/{drugs}").get_data(as_text=True)
    assert "зашифровано сервером: нельзя проверить" in followups
    assert "sealed by the server" not in followups
    post(client, "/language", {"lang": "kk", "back": "/inbox"})
    assert "хабарламаға байланыстырылған" in get(client, f"/tip/{theft}").get_data(as_text=True)


def test_a_file_sent_anywhere_but_the_import_form_is_refused(app, tmp_path, workdir):
    client = unlocked(app)
    [tip, *_] = tip_ids(get(client, "/inbox"))
    answer = _upload(client, tmp_path / "export2.tdx", to=f"/tip/{tip}/note")
    assert answer.status_code == 400
    assert not (workdir / "incoming").exists() or list((workdir / "incoming").iterdir()) == []


def test_a_bundle_cannot_be_opened_while_locked(app, tmp_path):
    client = unlocked(app)
    post(client, "/lock")
    assert _upload(client, tmp_path / "export2.tdx").status_code == 403


def test_an_empty_note_or_unknown_tip_is_a_clear_message(app):
    client = unlocked(app)
    [tip, *_] = tip_ids(get(client, "/inbox"))
    answer = post(client, f"/tip/{tip}/note", {"text": "  "})
    assert answer.status_code == 400 and "Not done" in answer.get_data(as_text=True)
    assert get(client, "/tip/0000000000").status_code == 400


def test_a_reply_template_starts_in_the_reports_language(app):
    client = unlocked(app)
    [tip] = tip_ids(search(client, "бала"))
    page = get(client, f"/tip/{tip}", query_string={"template": "need-info"}).get_data(
        as_text=True)
    assert "Хабарламаңызға рақмет" in page
    page = get(client, f"/tip/{tip}", query_string={"template": "need-info",
                                                   "reply_lang": "ru"}).get_data(as_text=True)
    assert "Спасибо за сообщение" in page


def test_a_template_named_after_a_status_suggests_it_without_a_script(app):
    client = unlocked(app)
    [tip] = tip_ids(search(client, "бала"))

    def chosen(**query):
        page = get(client, f"/tip/{tip}", query_string=query).get_data(as_text=True)
        chooser = re.search(r'<select[^>]*id="new-status"[^>]*>(.*?)</select>', page, re.S)
        return re.findall(r'<option value="([a-z-]*)" selected>', chooser.group(1))

    assert chosen(template="need-info") == ["need-info"]
    assert chosen(template="need-info", reply_lang="ru") == ["need-info"]
    assert chosen() == []  # "Unchanged", the first choice


def test_the_pages_speak_the_officers_language(app):
    client = unlocked(app)
    assert post(client, "/language", {"lang": "ru", "back": "/inbox"}).location == "/inbox"
    page = get(client, "/inbox").get_data(as_text=True)
    assert "Ребёнок в опасности" in page and "Входящие" in page and 'lang="ru"' in page
    post(client, "/language", {"lang": "kk", "back": "/inbox"})
    page = get(client, "/inbox").get_data(as_text=True)
    assert "Балаға қауіп төнді" in page and "Кіріс хабарламалар" in page
    for elsewhere in ("//evil.example", "/\\evil.example", "https://evil.example"):
        assert post(client, "/language", {"lang": "kk", "back": elsewhere}).location == "/"


def test_no_two_statuses_share_a_label_in_any_language(app):
    # Russian once named both "referred" and "transferred" «Передано»: two identical counts
    # in the inbox and two identical choices in its filter.
    client = unlocked(app)
    for language in ("kk", "ru", "en"):
        post(client, "/language", {"lang": language, "back": "/inbox"})
        page = get(client, "/inbox").get_data(as_text=True)
        chooser = re.search(r'<select[^>]*id="status"[^>]*>(.*?)</select>', page, re.S).group(1)
        labels = dict(re.findall(r'<option value="([a-z-]+)"[^>]*>([^<]*)</option>', chooser))
        assert set(labels) == set(STATUSES), (language, labels)
        assert len(set(labels.values())) == len(labels), (language, labels)


def test_a_tips_page_shows_the_answers_to_its_categorys_questions_with_their_labels(app):
    # Given the drugs report, whose reporter answered two questions (in English)
    client = unlocked(app)
    [tip] = [t for t in tip_ids(get(client, "/inbox?category=drugs"))]
    # When the officer opens it
    text = get(client, f"/tip/{tip}").get_data(as_text=True)
    # Then each answer is shown under the label the reporter read
    answers = re.findall(r'<p class="answer"><strong dir="auto">([^<]*):</strong> '
                         r'<span dir="auto">([^<]*)</span>', text)
    assert len(answers) == 2
    assert all(label and value for label, value in answers)
    assert "school" not in {value for _, value in answers}  # the label of the choice, not its id


def test_unlocking_the_app_is_recorded_in_the_audit_log_with_the_officers_slot(app, workdir):
    # When the officer unlocks the app with the unit key's passphrase
    unlocked(app)
    # Then the workstation's audit log has the unlock, signed like every other entry
    entries = Workspace(workdir).audit.entries()
    assert [e["action"] for e in entries][-1:] == ["unlock"]
    assert entries[-1]["officer"] == "shared"  # a key file made before slots: one slot, "shared"


def test_every_form_and_field_of_the_app_has_autocomplete_off(app):
    # The browser would keep typed search words, dates and notes in its form
    # history on the workstation's disk, outside the locked app.
    client = unlocked(app)
    [tip] = tip_ids(get(client, "/inbox"))[:1]
    pages = {"inbox": get(client, "/inbox"), "tip": get(client, f"/tip/{tip}"),
             "exchange": get(client, "/exchange"), "unlock": get(browser(app), "/")}
    fields = 0
    for name, page in pages.items():
        text = page.get_data(as_text=True)
        for form in re.findall(r"<form[^>]*>", text):
            assert 'autocomplete="off"' in form, (name, form)
        for field in re.findall(r"<(?:input|select|textarea)\b[^>]*>", text):
            if 'type="hidden"' not in field:
                fields += 1
                assert 'autocomplete="off"' in field, (name, field)
    assert fields >= 8
