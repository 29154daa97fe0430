"""The officer app's launch file opened in real Chromium: it signs the browser in, scripts or not.

`tipdrop officer app` runs as a real process and opens the launch file
with a browser command (BROWSER) that only records what it was given; the
test then opens that file in headless Chromium as the officer's browser
would, with JavaScript (the form sends itself) and without (the officer
presses Continue). The session then serves the unlock page; the file is
gone, and no address the browser visited carries the token.
"""

import os
import re
import signal
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.browser.conftest import collect_errors
from tests.browser.test_officer_app_browser import _start_app, officer_env
from tests.e2e.conftest import ceremony  # noqa: F401 (a fixture)
from tests.e2e.test_officer_app_cli import _recording_browser

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_opening_the_launch_file_in_chromium_signs_in_once(
        ceremony, browser, tmp_path, javascript):  # noqa: F811
    _, officer = ceremony
    command = _recording_browser(tmp_path)
    process, launch_url, address = _start_app(officer_env(officer, BROWSER=str(command)),
                                              tmp_path, "--default-browser", browser=True)
    try:
        for _ in range(300):  # the command runs just after the lines are printed
            if command.with_suffix(".sh.argv").exists():
                break
            time.sleep(0.1)
        assert command.with_suffix(".sh.argv").read_text().split("\n")[0] == launch_url
        launch = Path(urllib.parse.unquote(urllib.parse.urlsplit(launch_url).path))
        token = re.search(r'name="token" value="([^"]+)"', launch.read_text()).group(1)

        # When the officer's browser opens the file the app handed to the browser command
        context = browser.new_context(locale="ru-RU", java_script_enabled=javascript)
        page = context.new_page()
        errors = collect_errors(page)
        visited = []
        page.on("request", lambda request: visited.append(request.url))
        page.goto(launch_url)
        if not javascript:
            page.click("#continue")  # the form does not send itself: the officer does

        # Then the unlock page of the app opens, in this browser's session
        page.wait_for_selector("#passphrase", timeout=30_000)
        assert page.url == address
        assert not launch.exists() and not launch.parent.exists()
        assert all(token not in url for url in visited + [page.url]), visited
        assert errors == []
        # and the file, were it still there, would open no second session
        other = browser.new_context()
        refused = other.request.post(address.rstrip("/") + "/launch", form={"token": token})
        assert refused.status == 403
        other.close()
        page.reload()
        page.wait_for_selector("#passphrase")
        context.close()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
    assert token not in process.stdout.read()
