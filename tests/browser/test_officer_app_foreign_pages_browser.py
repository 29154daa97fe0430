"""The officer app against a page of another port of 127.0.0.1, and a double click, in Chromium.

The app as serve.run serves it (tests/browser/test_officer_app_typed_text_browser.py,
``served``), the workspace of tests/officer/test_officer_app.py, and beside it
a small web server on another port, as another program or user of the
workstation would run one. Chromium sends the app's SameSite=Strict cookie
to that server's pages (cookies ignore ports) and with their requests to
the app: the app must refuse those (gate.py, Sec-Fetch-Site). And a double
click on "Put in the outbox" sends the form twice: one reply is queued.
"""

import http.server
import re
import threading
import time
from contextlib import contextmanager

import pytest

from tests.browser.test_officer_app_typed_text_browser import served
from tests.officer.test_officer_app import (  # noqa: F401 (fixtures)
    PASSPHRASE,
    clock,
    desk,
    unit,
    workdir,
)

pytestmark = pytest.mark.e2e


@contextmanager
def another_server(page_html):
    """A web server on another port of 127.0.0.1 serving one page; the requests it got."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            seen.append({"path": self.path, "cookie": self.headers.get("Cookie") or ""})
            body = page_html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def unlocked_page(browser, desk, tmp_path):  # noqa: F811
    with served(desk, tmp_path) as url:
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        page.goto(url)
        page.fill("#passphrase", PASSPHRASE)
        page.click("#unlock")
        page.wait_for_selector("#counts", timeout=60_000)
        yield page, url.split("/?")[0]
        context.close()


def _hold(mutex, seconds):
    with mutex:
        time.sleep(seconds)


def _drugs_tip(desk):  # noqa: F811
    [(tip_id,)] = desk.workspace.db.execute("SELECT id FROM tips WHERE category = 'drugs'")
    return tip_id


def test_a_page_of_another_port_gets_the_cookie_but_cannot_make_the_app_show_a_tip(
        browser, desk, tmp_path):  # noqa: F811
    tip_id = _drugs_tip(desk)
    with unlocked_page(browser, desk, tmp_path) as (page, origin):
        port = origin.rsplit(":", 1)[1]
        # When the officer's browser opens a page of another port, which asks the app
        # for the tip (and its file) with <img> tags
        images = f'<img src="{origin}/tip/{tip_id}"><img src="{origin}/tip/{tip_id}/file/a1">'
        with another_server(images) as (elsewhere, seen):
            page.goto(elsewhere)
            page.wait_for_load_state("load")
        # Then that page's server got the app's session cookie (the premise)
        assert f"tipdrop_officer_{port}=" in seen[0]["cookie"]
    # but the app showed nothing: no follow-up marked read, no audit entry for the tip
    assert desk.workspace.db.execute("SELECT read FROM followups WHERE tip_id = ?",
                                     [tip_id]).fetchall() == [(0,)]
    assert not [e for e in desk.workspace.audit.entries() if e["tip"] == tip_id]


#: The officer's second click, a moment after the first, while the page still waits.
CLICK_TWICE = """gap => { const button = document.getElementById("queue-reply");
    button.click(); setTimeout(() => button.click(), gap); }"""


def test_a_double_click_on_put_in_the_outbox_queues_one_reply(browser, desk, tmp_path):  # noqa: F811
    tip_id = _drugs_tip(desk)
    sent = []
    with unlocked_page(browser, desk, tmp_path) as (page, origin):
        page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
        page.goto(f"{origin}/tip/{tip_id}")
        page.fill("#message", "Спасибо, проверяем.")
        # When the app is busy for a moment (an import holds the workspace, a photo is
        # redrawn), so the first click waits for its answer, and the officer clicks again
        busy = threading.Thread(target=_hold, args=(desk.mutex, 2.0))
        busy.start()
        time.sleep(0.2)
        page.evaluate(CLICK_TWICE, 300)
        busy.join()
        page.wait_for_selector("#timeline li.reply")
        page.wait_for_load_state("load")
        timeline = page.inner_text("#timeline")
    # Then the browser sent the form twice (it dropped the first answer, not the request:
    # the premise), and the reporter gets one reply
    assert len([u for u in sent if re.search(r"/reply$", u)]) == 2, sent
    assert desk.workspace.db.execute("SELECT COUNT(*) FROM outbox WHERE tip_id = ?",
                                     [tip_id]).fetchone() == (1,)
    assert timeline.count("Спасибо, проверяем.") == 1



