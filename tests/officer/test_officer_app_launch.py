"""How the officer's browser signs in to the app: the launch file and its POST (launchfile.py).

The fixtures are tests/officer/test_officer_app.py's: a real workspace, a
real key file, and Flask's test client as the browser. The launch from the
real command, with a recorded browser command and with real Chromium, is in
tests/e2e/test_officer_app_cli.py and tests/browser/test_officer_app_launch_browser.py.
"""

import base64
import hashlib
import html
import re
import stat

import pytest

from tests.officer import test_officer_app as base
from tests.officer.test_officer_app import LAUNCH, ORIGIN, PORT, browser, get
from tipdrop.officer.app import create_app
from tipdrop.officer.app.launchfile import SCRIPT, LaunchFile, remove_leftovers
from tipdrop.officer.app.serve import AppRunningError, only_app

app, clock, desk, unit, workdir = base.app, base.clock, base.desk, base.unit, base.workdir

#: What a form on a file: page sends: the browser names no origin it could trust.
FROM_FILE = {"Origin": "null", "Sec-Fetch-Site": "cross-site"}


def post_launch(client, token=LAUNCH, **kwargs):
    return client.post("/launch", data={"token": token}, base_url=ORIGIN,
                       headers=FROM_FILE, **kwargs)


def test_the_launch_post_becomes_the_session_and_a_page_that_moves_on_to_the_app(app):
    client = browser(app)
    answer = post_launch(client)
    assert answer.status_code == 200
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and LAUNCH not in cookie
    page = answer.get_data(as_text=True)
    # Not a redirect: one from the file page's POST would not carry the Strict cookie.
    assert '<meta http-equiv="refresh" content="0; url=/">' in page
    assert 'href="/"' in page and LAUNCH not in page
    assert "passphrase" in get(client, "/").get_data(as_text=True)


def test_the_launch_post_works_once_and_shares_its_one_use_with_the_address(app):
    first = browser(app)
    assert post_launch(browser(app), token="wrong").status_code == 403  # a guess uses nothing
    assert post_launch(first).status_code == 200
    for other in (post_launch(browser(app)), get(browser(app), f"/?token={LAUNCH}")):
        assert other.status_code == 403 and "Set-Cookie" not in other.headers
    again = post_launch(first)  # its own browser, sending the form again (Back, Resend)
    assert again.status_code == 303 and "Set-Cookie" not in again.headers
    assert get(first, "/").status_code == 200


def test_a_launch_post_under_a_foreign_host_is_refused(app):
    answer = browser(app).post("/launch", data={"token": LAUNCH}, headers=FROM_FILE,
                               base_url=f"http://rebound.example:{PORT}")
    assert answer.status_code == 421
    assert post_launch(browser(app)).status_code == 200  # the token was not spent


def test_the_launch_file_is_the_officers_alone_and_goes_once_used(app, desk):
    launch = LaunchFile(app, desk.workspace.dir)
    assert stat.S_IMODE(launch.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(launch.path.stat().st_mode) == 0o600
    assert launch.url.startswith("file:///") and LAUNCH not in launch.url
    page = launch.path.read_text()
    assert f'action="{ORIGIN}/launch"' in page
    assert f'name="token" value="{LAUNCH}"' in page
    # The page's one script is the one its CSP names; the form may go to the app alone.
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    csp = html.unescape(
        re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1))
    assert f"script-src 'sha256-{digest}'" in csp and f"form-action {ORIGIN};" in csp
    assert f"<script>{SCRIPT}</script>" in page and 'id="continue"' in page
    assert post_launch(browser(app)).status_code == 200
    assert not launch.folder.exists()


def test_a_wrong_launch_post_leaves_the_file(app, desk):
    launch = LaunchFile(app, desk.workspace.dir)
    assert post_launch(browser(app), token="wrong").status_code == 403
    assert launch.path.exists()
    launch.remove()
    assert not launch.folder.exists()


def test_launch_folders_a_killed_app_left_are_removed_at_start(app, desk):
    left = LaunchFile(app, desk.workspace.dir)
    fresh = create_app(desk, PORT, launch_token="another")
    remove_leftovers(desk.workspace.dir)
    assert not left.folder.exists()
    assert LaunchFile(fresh, desk.workspace.dir).path.exists()


@pytest.mark.parametrize("origin", [None, "http://evil.example"])
def test_an_ordinary_post_still_needs_our_origin_after_launch(app, origin):
    client = browser(app)
    post_launch(client)
    headers = {"Origin": origin} if origin else {}
    assert client.post("/lock", base_url=ORIGIN, headers=headers).status_code == 403


def test_one_app_at_a_time_holds_a_workspace_and_a_second_is_told_its_address(tmp_path):
    with only_app(tmp_path) as note_address:
        note_address("http://127.0.0.1:48999/")
        with pytest.raises(AppRunningError) as refused, only_app(tmp_path):
            pass
        assert refused.value.message.endswith("first: http://127.0.0.1:48999/")
        assert stat.S_IMODE((tmp_path / ".app.lock").stat().st_mode) == 0o600
    with only_app(tmp_path):  # stopped: the next app starts
        pass
