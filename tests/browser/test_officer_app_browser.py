"""The officer app in a real browser, as an officer works: the whole loop back to the reporter.

A real server takes a Russian report with a photo and exports it; `tipdrop
officer app --no-browser` runs as a real process; in Chromium the officer
unlocks, opens the bundle by picking the file on the Exchange page (with its
progress), searches a Russian word, opens the tip, sees its photo (redrawn
by the sandbox: an image that loads), writes a note, replies
with status need-info, writes the outbox and downloads it; the server
imports the downloaded file and the reporter's check shows the reply.
Afterwards no word of the report is in any file of the workspace or of the
app's temporary folder. Online, the Pull and Send buttons do the same
against the real server, and the automatic pull raises a notification that
says how many urgent reports came, and nothing else.
"""

import io
import os
import queue
import re
import secrets
import signal
import subprocess
import threading
import time
from contextlib import contextmanager

import pytest
from PIL import Image
from werkzeug.serving import make_server

from tests.browser.conftest import collect_errors
from tests.e2e.conftest import PASS, TIPDROP, ceremony  # noqa: F401 (a fixture)
from tests.e2e.test_officer_app_online import _submit as _submit_in
from tests.e2e.test_officer_loop import _submit
from tests.web_forms import check_on_web
from tipdrop.common.remote import check_server_url
from tipdrop.officer.app import create_app
from tipdrop.officer.app.desk import Desk
from tipdrop.officer.app.serve import QuietHandler, Serialised

pytestmark = pytest.mark.e2e


def _ctrl_c_as_at_a_terminal():
    """In the app's process, before it starts: Ctrl+C (SIGINT) stops it, as at a terminal.

    A test run started in the background of a shell without job control
    (``make test &`` in a script) inherits SIGINT ignored, and so would the
    app, which the tests stop with the officer's Ctrl+C.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_app(env, cwd, *args, browser=False):
    """``tipdrop officer app [--no-browser] [ARGS]``; returns (process, the launch file's
    file: URL, the printed address), after the two lines the app prints at start."""
    flags = [] if browser else ["--no-browser"]
    process = subprocess.Popen([str(TIPDROP), "officer", "app", *flags, *args], env=env,
                               cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, preexec_fn=_ctrl_c_as_at_a_terminal)
    lines = queue.Queue()
    # A thread reads: a line the app never prints must fail the test, not hang it.
    threading.Thread(target=lambda: [lines.put(process.stdout.readline().strip())
                                     for _ in range(2)], daemon=True).start()
    try:
        address, launch = lines.get(timeout=60), lines.get(timeout=10)
    except queue.Empty:
        process.kill()
        pytest.fail("the officer app printed no address and launch file within 60 s")
    lines = (address, launch, process.stderr.read() if process.poll() is not None else "")
    assert address.startswith("officer app: http://127.0.0.1:"), lines
    assert launch.startswith("officer app: open") and " file:///" in launch, lines
    # as_uri() quotes every space: the file: URL is one word of the line
    return process, re.search(r"file://\S+", launch).group(0), address.removeprefix("officer app: ")


def _photo():
    """A real JPEG, 320 x 240, as a phone would send (the server cleans its metadata)."""
    image = Image.new("RGB", (320, 240), "white")
    image.paste("navy", (40, 60, 280, 180))
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


@contextmanager
def running_app(env, cwd, *args):
    """The app as a process for the block; then Ctrl+C, and its stderr must be clean."""
    process, url, _ = _start_app(env, cwd, *args)
    stderr = []
    try:
        yield url, stderr
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
        stderr.append(process.stderr.read())
    assert "Traceback" not in stderr[0], stderr[0]


def officer_env(officer, **more):
    """The officer's environment without the passphrase: the app asks for it in the page."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    return env | {k: v for k, v in officer.items() if k not in PASS} | more


def unlock(page, url, passphrase=PASS["TIPDROP_PASSPHRASE"]):
    page.goto(url)
    assert "token=" not in page.url
    page.fill("#passphrase", passphrase)
    page.click("#unlock")
    page.wait_for_selector("#counts")


def _files_holding(root, pieces):
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            found += [(path, piece) for piece in pieces if piece in data]
    return found


def test_officer_reads_searches_and_answers_in_the_app_and_the_reporter_sees_it(
        ceremony, run_cli, browser, tmp_path, screenshots):  # noqa: F811
    server, officer = ceremony
    canary = f"канарейка{secrets.token_hex(4)}"
    receipt = _submit(server, f"Инспектор требует взятку за справку. {canary}",
                      [("files", "справка.jpg", "image/jpeg", _photo())])
    run_cli("export", "--unit", "demo", "--out", tmp_path / "export.tdx", env=server.env(),
            check=True)

    # Given the app started as the officer starts it, without the passphrase in its environment
    app_tmp = tmp_path / "app-tmp"
    app_tmp.mkdir()
    with running_app(officer_env(officer, TMPDIR=str(app_tmp)), tmp_path) as (url, stderr):
        context = browser.new_context(locale="en-US", accept_downloads=True)
        page = context.new_page()
        errors = collect_errors(page)

        # When the officer opens the printed address and types the passphrase
        unlock(page, url)

        # And opens the export bundle by picking the file on the Exchange page
        page.click("#exchange")
        page.set_input_files("#exchange-bundle", str(tmp_path / "export.tdx"))
        page.click("#exchange-import")
        # (the progress page follows the opening, then shows what came)
        assert "New: 1 tips, 0 follow-ups, 1 files." in page.inner_text("#imported")
        page.click("text=Back to the inbox")
        page.screenshot(path=str(screenshots / "officer-app-inbox.png"), full_page=True)

        # And searches a Russian word of the report and opens it
        page.fill("#q", "ВЗЯТКА")  # another case and ending than the report's "взятку"
        page.click("#search")
        assert "ВЗЯТКА" not in page.url and "%D0%92" not in page.url  # not in the history
        rows = page.locator("tr.tip")
        assert rows.count() == 1
        rows.locator("a").click()
        assert canary in page.inner_text("#report")
        assert "by the server" in page.inner_text("#sealed")
        # And sees the photo, redrawn by the sandbox and loaded from the app itself
        photo = page.locator("#photo-a1")
        photo.scroll_into_view_if_needed()
        page.wait_for_function("() => document.querySelector('#photo-a1').complete")
        assert photo.evaluate("img => img.naturalWidth") == 320
        assert photo.evaluate("img => img.naturalHeight") == 240
        assert photo.get_attribute("src").endswith("/photo/a1")

        # And writes a note, then asks the reporter a question with status need-info
        page.fill("#note", "Проверил график дежурств ЦОН-2.")
        page.click("#add-note")
        assert "Проверил график дежурств" in page.inner_text("#notes")
        page.select_option("#template", "need-info")
        page.click("#use-template")
        assert "Спасибо за сообщение" in page.input_value("#message")  # the report's language
        page.fill("#message", "В какой день это было?")
        page.select_option("#new-status", "need-info")
        page.click("#queue-reply")
        assert page.get_attribute("#status", "data-status") == "need-info"
        page.screenshot(path=str(screenshots / "officer-app-tip.png"), full_page=True)

        # And writes the outbox, and downloads the file
        page.click("#write-outbox")
        outbox = page.inner_text("#path")
        with page.expect_download() as download:
            page.click("#download-outbox")
        downloaded = tmp_path / "stick" / download.value.suggested_filename
        download.value.save_as(downloaded)
        assert downloaded.read_bytes() == open(outbox, "rb").read()

        assert errors == []

        # And locks: the inbox is gone (403) until the passphrase is typed again
        page.click("#lock")
        page.goto("/".join(page.url.split("/")[:3]) + "/inbox")  # url is the launch file
        assert page.locator("#passphrase").count() == 1 and "взятк" not in page.content()
        context.close()
    assert canary not in stderr[0]

    # Then the server imports the downloaded replies and the reporter's check shows the question
    run_cli("import-replies", downloaded, env=server.env(), check=True)
    checked = check_on_web(server, receipt)
    assert 'data-status="need-info"' in checked and "В какой день это было?" in checked

    # And nothing of the report was written in the clear under the workspace or the app's TMPDIR
    pieces = [canary.encode(), canary.upper().encode(), "справку".encode(),
              "Проверил график".encode()]
    for root in (officer["TIPDROP_WORKDIR"], app_tmp):
        assert _files_holding(root, pieces) == [], root


def test_the_pull_and_send_buttons_exchange_with_the_real_server(
        ceremony, browser, tmp_path):  # noqa: F811
    server, officer = ceremony
    receipt = _submit(server, "Велосипеды продают за вокзалом, третий день подряд.")
    env = officer_env(officer, TIPDROP_SERVER=f"http://127.0.0.1:{server.port}")
    with running_app(env, tmp_path) as (url, _):
        page = browser.new_context(locale="en-US").new_page()
        errors = collect_errors(page)
        unlock(page, url)
        assert page.locator("tr.tip").count() == 0

        # When the officer pulls from the Exchange page
        page.click("#exchange")
        assert page.inner_text("#server") == f"http://127.0.0.1:{server.port}"
        page.click("#pull")
        # Then the report is in the inbox
        assert "New: 1 tips" in page.inner_text("#imported")
        page.click("text=Back to the inbox")
        page.locator("tr.tip a").click()

        # When the officer replies and sends the replies
        page.fill("#message", "Спасибо, передали в отдел.")
        page.select_option("#new-status", "in-review")
        page.click("#queue-reply")
        page.click("#exchange")
        page.click("#push")
        assert "1 reply sent to the server." in page.inner_text("#pushed")
        assert errors == []

        # And when the server is down, the page says so
        server.stop()
        page.click("text=Back to the exchange")
        page.click("#pull")
        assert "Cannot reach the server." in page.inner_text("#transfer-error")
    server.start()
    assert "Спасибо, передали в отдел." in check_on_web(server, receipt)


#: Records each notification the page raises (the browser's own Notification still runs).
RECORD_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  if (!Real) return;
  window.__notified = [];
  window.Notification = function (title, options) {
    window.__notified.push({title: title, body: (options || {}).body});
    return new Real(title, options);
  };
  Object.defineProperty(window.Notification, "permission", {get: () => Real.permission});
  window.Notification.requestPermission = (...args) => Real.requestPermission(...args);
})();
"""


def _eventually(check, seconds=60):
    """The first true value of ``check()`` within ``seconds`` (the page's CSP forbids
    Playwright's wait_for_function: it evaluates a string)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    return None


@contextmanager
def app_in_a_thread(server, tmp_path):
    """The officer app served as serve.run serves it, in this process: its clock can be hurried."""
    desk = Desk(tmp_path / "cases", server.key_file, urgent=("child-in-danger",))
    httpd = make_server("127.0.0.1", 0, None, threaded=True, request_handler=QuietHandler)
    app = create_app(desk, httpd.server_port,
                     server_url=check_server_url(f"http://127.0.0.1:{server.port}"))
    app.config["NEWS_SECONDS"] = 1
    app.extensions["officer_courier"].minute = 0.1  # a "minute" of the automatic pull: 0.1 s
    httpd.app = Serialised(app, desk.mutex)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, app.extensions["officer_gate"].launch_url()
    finally:
        httpd.shutdown()
        httpd.server_close()
        app.extensions["officer_courier"].close()
        desk.close()


def test_the_automatic_pull_notifies_of_urgent_reports_by_number_only(server, browser, tmp_path):
    canary = f"балкон{secrets.token_hex(3)}"
    with app_in_a_thread(server, tmp_path) as (app, url):
        context = browser.new_context(locale="en-US")
        context.add_init_script(RECORD_NOTIFICATIONS)
        page = context.new_page()
        errors = collect_errors(page)
        unlock(page, url, passphrase="officer pass")

        # Given the officer allowed notifications with the button, and turned the pull on
        page.click("#exchange")
        page.locator("#notify").wait_for(state="visible")  # shown by the page's deferred script
        origin = url.split("/?")[0]
        context.grant_permissions(["notifications"], origin=origin)  # the officer says yes
        page.click("#notify")
        page.locator("#notify-state", has_text="never what they are about").wait_for()
        assert page.is_hidden("#notify")
        page.select_option("#minutes", "5")
        page.click("#save-auto-pull")

        # When an urgent report and an ordinary one reach the server
        _submit_in(server, f"Ребёнок один на балконе. {canary}", category="child-in-danger")
        _submit_in(server, "Шумят соседи.", category="public-disorder")

        # Then the page raises one notification with the number, nothing of the report
        page.click("text=Inbox")
        assert _eventually(lambda: page.evaluate("window.__notified"))
        assert page.evaluate("window.__notified") == [
            {"title": "tipdrop officer", "body": "1 new urgent report"}]

        # And when the app locks itself, the page leaves the screen for the unlock page
        page.reload()
        assert page.locator("tr.tip").count() == 2
        app.extensions["officer_desk"].lock()  # what the idle watchdog does
        page.wait_for_selector("#passphrase", timeout=30_000)
        assert canary not in page.content() and "Шумят" not in page.content()
        assert errors == []
        context.close()
