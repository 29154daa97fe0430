"""The officer app in a real browser, as an officer works: the whole loop back to the reporter.

A real server takes a Russian report and exports it; `tipdrop officer app
--no-browser` runs as a real process; in Chromium the officer unlocks, opens
the bundle by picking the file, searches a Russian word, opens the tip, sees
its photo (redrawn by the sandbox: an image that loads), writes
a note, replies with status need-info and writes the outbox; the server
imports it and the reporter's check shows the reply. Afterwards no word of
the report is in any file of the workspace or of the app's temporary folder.
"""

import io
import os
import secrets
import selectors
import signal
import subprocess

import pytest
from PIL import Image

from tests.browser.conftest import collect_errors
from tests.e2e.conftest import PASS, TIPDROP, ceremony  # noqa: F401 (a fixture)
from tests.e2e.test_officer_loop import _check, _submit

pytestmark = pytest.mark.e2e


def _start_app(env, cwd):
    """``tipdrop officer app --no-browser``; returns (process, the printed address)."""
    process = subprocess.Popen([str(TIPDROP), "officer", "app", "--no-browser"], env=env, cwd=cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=60):
            process.kill()
            pytest.fail("the officer app printed no address within 60 s")
    line = process.stdout.readline().strip()
    assert line.startswith("officer app: http://127.0.0.1:"), (line, process.stderr.read()
                                                             if process.poll() is not None else "")
    return process, line.removeprefix("officer app: ")


def _photo():
    """A real JPEG, 320 x 240, as a phone would send (the server cleans its metadata)."""
    image = Image.new("RGB", (320, 240), "white")
    image.paste("navy", (40, 60, 280, 180))
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


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
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    env |= {k: v for k, v in officer.items() if k not in PASS} | {"TMPDIR": str(app_tmp)}
    process, url = _start_app(env, tmp_path)
    try:
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        errors = collect_errors(page)

        # When the officer opens the printed address and types the passphrase
        page.goto(url)
        assert "token=" not in page.url
        page.fill("#passphrase", PASS["TIPDROP_PASSPHRASE"])
        page.click("#unlock")
        page.wait_for_selector("#counts")

        # And opens the export bundle by picking the file
        page.set_input_files("#bundle", str(tmp_path / "export.tdx"))
        page.click("#import")
        assert "New: 1 tips" in page.inner_text("#imported")
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

        # And writes the outbox
        page.click("#write-outbox")
        outbox = page.inner_text("#path")

        assert errors == []

        # And locks: the inbox is gone (403) until the passphrase is typed again
        page.click("#lock")
        page.goto(url.split("?")[0] + "inbox")
        assert page.locator("#passphrase").count() == 1 and "взятк" not in page.content()
        context.close()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
        stderr = process.stderr.read()
    assert "Traceback" not in stderr and canary not in stderr, stderr

    # Then the server imports the replies and the reporter's check shows the question
    run_cli("import-replies", outbox, env=server.env(), check=True)
    checked = _check(server, receipt)
    assert 'data-status="need-info"' in checked and "В какой день это было?" in checked

    # And nothing of the report was written in the clear under the workspace or the app's TMPDIR
    pieces = [canary.encode(), canary.upper().encode(), "справку".encode(),
              "Проверил график".encode()]
    for root in (officer["TIPDROP_WORKDIR"], app_tmp):
        assert _files_holding(root, pieces) == [], root
