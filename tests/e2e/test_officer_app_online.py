"""The officer app's online exchange against a real server (gunicorn): pull, push, ack, auto-pull.

The app is tipdrop/officer/app/ with Flask's test client as the browser
(tests/officer/test_officer_app.py); what it talks to is a real `tipdrop
serve`, through the same client library as `tipdrop officer pull` and
`push`. A server that is down, one that refuses the key, and one that
answers garbage each end in a clear page, and nothing is marked sent.
"""

import http.server
import re
import threading
import time

import pytest

from tests.officer.test_officer_app import LAUNCH, ORIGIN, PORT, get, post, search, tip_ids
from tests.officer.test_officer_app_exchange import outcome
from tests.web_forms import check_on_web, submit_on_web
from tipdrop.common.remote import check_server_url
from tipdrop.crypto import kdf, keys
from tipdrop.officer.app import create_app
from tipdrop.officer.app.desk import Desk

pytestmark = pytest.mark.e2e

#: start_server's own unit key (tests/serving.py).
PASSPHRASE = "officer pass"


def _submit(server, description, category="theft", region="almaty"):
    return submit_on_web(server, {"region": region, "category": category,
                                  "description": description})


def _app(tmp_path, key_file, server_url, urgent=("child-in-danger", "domestic-violence")):
    desk = Desk(tmp_path / "cases", key_file, urgent=urgent)
    app = create_app(desk, PORT, launch_token=LAUNCH, outbox_dir=tmp_path / "outbox",
                     server_url=check_server_url(server_url))
    return app


def _open(app, passphrase=PASSPHRASE):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert client.get(f"/?token={LAUNCH}", base_url=ORIGIN).status_code == 303
    return _unlock(client, passphrase)


def _unlock(client, passphrase=PASSPHRASE):
    assert post(client, "/unlock", {"passphrase": passphrase}).status_code == 303
    job = client.application.extensions["officer_desk"].unlocking
    assert job is None or job.finished.wait(60)
    assert get(client, "/unlocking").location.endswith("/inbox")
    return client


@pytest.fixture
def online(server, tmp_path):
    app = _app(tmp_path, server.key_file, f"http://127.0.0.1:{server.port}")
    yield app
    app.extensions["officer_courier"].close()
    app.extensions["officer_desk"].close()


def test_pull_reply_push_and_ack_from_the_buttons_make_the_loop(server, online):
    receipt = _submit(server, "Велосипед украли у подъезда на Абая.")
    client = _open(online)
    page = get(client, "/exchange").get_data(as_text=True)
    assert f"http://127.0.0.1:{server.port}" in page and 'id="pull"' in page

    # When the officer pulls
    pulled = outcome(client, post(client, "/exchange/pull"))
    assert "New: 1 tips, 0 follow-ups, 0 files." in pulled.get_data(as_text=True)
    # Then the tip is in the inbox and the search at once
    [tip] = tip_ids(search(client, "велосипед"))

    # When the officer replies and sends the replies
    post(client, f"/tip/{tip}/reply", {"message": "Во сколько это было?", "status": "need-info"})
    pushed = outcome(client, post(client, "/exchange/push"))
    assert "1 reply sent to the server." in pushed.get_data(as_text=True)
    # Then the reporter reads it
    checked = check_on_web(server, receipt)
    assert 'data-status="need-info"' in checked and "Во сколько это было?" in checked
    # And nothing is left to send
    assert 'id="push" disabled' in get(client, "/exchange").get_data(as_text=True)

    # When the officer acknowledges what the workspace holds
    acked = outcome(client, post(client, "/exchange/ack")).get_data(as_text=True)
    assert "Acknowledged: the server may now delete its copy of 1 tips" in acked
    again = outcome(client, post(client, "/exchange/ack")).get_data(as_text=True)
    assert "Nothing to acknowledge" in again
    # And a second pull brings nothing new
    assert "Nothing new on the server." in outcome(
        client, post(client, "/exchange/pull")).get_data(as_text=True)


def test_a_server_that_is_down_is_a_clear_page_and_the_reply_stays_queued(server, tmp_path):
    _submit(server, "Кража кошелька в автобусе.")
    app = _app(tmp_path, server.key_file, f"http://127.0.0.1:{server.port}")
    client = _open(app)
    outcome(client, post(client, "/exchange/pull"))
    [tip] = tip_ids(get(client, "/inbox"))
    post(client, f"/tip/{tip}/reply", {"message": "Спасибо, проверяем.", "status": "in-review"})
    # When the server is down
    server.stop()
    for path in ("/exchange/pull", "/exchange/push", "/exchange/ack"):
        page = outcome(client, post(client, path))
        text = page.get_data(as_text=True)
        # Then each button gives the reason, with the address it could not reach
        assert page.status_code == 400, path
        assert "Cannot reach the server." in text and f"127.0.0.1:{server.port}" in text
        assert "Traceback" not in text
    # And the reply is still in the outbox, for the next try
    assert 'id="push">' in get(client, "/exchange").get_data(as_text=True)
    app.extensions["officer_desk"].close()


def test_a_server_that_refuses_the_key_gives_its_reason(server, tmp_path):
    stranger = tmp_path / "stranger.key"
    stranger.write_bytes(keys.private_to_file(keys.generate("demo"), "pw", kdf.TEST_PARAMS))
    app = _app(tmp_path, stranger, f"http://localhost:{server.port}")
    client = _open(app, passphrase="pw")
    text = outcome(client, post(client, "/exchange/pull")).get_data(as_text=True)
    assert "The server refused the request." in text and "HTTP 401" in text
    app.extensions["officer_desk"].close()


class _Garbage(http.server.BaseHTTPRequestHandler):
    """A web server that is not tipdrop: every answer is 200 and a page of HTML."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def garbage():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd.server_port
    httpd.shutdown()
    httpd.server_close()


def test_a_server_that_answers_garbage_imports_and_marks_nothing(server, garbage, tmp_path):
    _submit(server, "Кража телефона на рынке.")
    real = _app(tmp_path, server.key_file, f"http://127.0.0.1:{server.port}")
    client = _open(real)
    outcome(client, post(client, "/exchange/pull"))
    [tip] = tip_ids(get(client, "/inbox"))
    post(client, f"/tip/{tip}/reply", {"message": "Принято.", "status": "in-review"})
    real.extensions["officer_desk"].close()

    app = _app(tmp_path, server.key_file, f"http://127.0.0.1:{garbage}")
    client = _open(app)
    pulled = outcome(client, post(client, "/exchange/pull"))
    assert pulled.status_code == 400 and 'id="transfer-error"' in pulled.get_data(as_text=True)
    assert tip_ids(get(client, "/inbox")) == [tip]
    pushed = outcome(client, post(client, "/exchange/push")).get_data(as_text=True)
    assert "not an officer API answer" in pushed and "did not confirm the replies" in pushed
    assert "Nothing was marked as sent" in pushed
    assert 'id="push">' in get(client, "/exchange").get_data(as_text=True)  # still queued
    app.extensions["officer_desk"].close()


def _wait_for(predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_the_automatic_pull_brings_urgent_reports_and_announces_only_their_number(server,
                                                                                  online):
    client = _open(online)
    courier = online.extensions["officer_courier"]
    courier.minute = 0.1  # a "minute" of the automatic pull lasts 0.1 s here
    # Given an urgent report and an ordinary one waiting on the server
    _submit(server, "Ребёнок один на балконе девятого этажа, плачет.", category="child-in-danger")
    _submit(server, "Громкая музыка ночью у соседей.", category="public-disorder")
    # When the officer turns the automatic pull on
    assert post(client, "/exchange/auto-pull", {"minutes": "5"}).status_code == 303
    assert 'value="5" selected' in get(client, "/exchange").get_data(as_text=True)
    assert _wait_for(lambda: courier.last_auto is not None)
    # Then both arrived, with no page shown for it
    assert len(tip_ids(get(client, "/inbox"))) == 2
    # And the page's script learns how many urgent ones came, once, and nothing of them
    news = get(client, "/exchange/news.json?notify=1").get_json()
    assert news == {"locked": False, "urgent": 1, "title": "tipdrop officer",
                    "text": "1 new urgent report"}
    assert get(client, "/exchange/news.json?notify=1").get_json()["urgent"] == 0
    assert re.search(r'id="last-auto">[^<]*\d\d:\d\d', get(client, "/exchange").get_data(
        as_text=True))

    # When the app is locked, it pulls no more
    post(client, "/lock")
    seen = courier.last_auto
    _submit(server, "Ещё одно сообщение о ребёнке.", category="child-in-danger")
    time.sleep(2)  # twenty "minutes"
    assert courier.last_auto is seen
    # And once unlocked, it pulls again by itself
    _unlock(client)
    assert _wait_for(lambda: courier.last_auto is not seen)
    assert len(tip_ids(get(client, "/inbox"))) == 3
    # Until it is turned off
    post(client, "/exchange/auto-pull", {"minutes": ""})
    assert courier.auto_minutes is None
    assert _wait_for(lambda: courier.current is None)  # one already under way ends
    seen = courier.last_auto
    time.sleep(1)
    assert courier.last_auto is seen


def test_the_cli_and_the_app_take_the_server_from_tipdrop_server(server, run_cli, tmp_path):
    _submit(server, "Продают краденые велосипеды.")
    env = {"TIPDROP_PASSPHRASE": PASSPHRASE, "TIPDROP_WORKDIR": str(tmp_path / "cases"),
           "TIPDROP_KEY": str(server.key_file),
           "TIPDROP_SERVER": f"http://127.0.0.1:{server.port}"}
    pulled = run_cli("officer", "pull", env=env)
    assert pulled.returncode == 0 and "pulled: 1 new tips" in pulled.stdout, pulled.stderr
    wrong = run_cli("officer", "app", "--no-browser", env=env | {
        "TIPDROP_SERVER": "http://192.0.2.10:8080"})
    assert wrong.returncode == 2 and "Refusing plain http:// to another computer" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_a_push_names_the_tips_whose_replies_the_server_did_not_take(server, online, run_cli,
                                                                     tmp_path):
    from tests.e2e.test_first_status import _edit

    # Given a workspace whose numbering of one tip came from an altered export
    _submit(server, "Велосипед украли у подъезда на Абая.")
    _submit(server, "Машину вскрыли ночью на Сейфуллина.")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e1.tdx", env=server.env(),
            check=True)
    forged = _edit(tmp_path, lambda doc: doc.update(reply_seq=5, status="in-review"))
    officer = {"TIPDROP_PASSPHRASE": PASSPHRASE, "TIPDROP_WORKDIR": str(tmp_path / "cases"),
               "TIPDROP_KEY": str(server.key_file)}
    run_cli("officer", "open", tmp_path / "edited.tdx", env=officer, check=True)
    client = _open(online)
    for tip in set(tip_ids(get(client, "/inbox"))):
        post(client, f"/tip/{tip}/reply", {"message": "Когда?", "status": "need-info"})

    # When the officer sends the replies
    pushed = outcome(client, post(client, "/exchange/push")).get_data(as_text=True)

    # Then the other tip's reply is sent, and the altered tip is named; its reply stays queued
    assert "1 reply sent to the server." in pushed
    [note] = re.findall(r'id="push-refused">([^<]*)<code>([^<]*)</code>', pushed)
    assert "did not take the replies" in note[0] and note[1] == forged[:12]
    assert 'id="push">' in get(client, "/exchange").get_data(as_text=True)
