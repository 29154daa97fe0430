"""Another user of the workstation against `tipdrop officer app`, as a real process.

Browsers send a cookie to every port of its host, so a server that another
user runs on 127.0.0.1 can be sent the officer's session cookie when the
officer's browser visits it (docs/threat-model.md, "Web pages and other
programs on the workstation, against the officer app"). With it, that user must still get nothing from the app: only connections of
the app's own user are answered (tipdrop/officer/app/peers.py).
"""

import http.client
import os
import re
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.browser.test_officer_app_browser import _start_app
from tests.e2e.conftest import PASS
from tests.officer.test_officer_app_peers import NOBODY, SYSTEM_PYTHON, needs_another_user

pytestmark = [pytest.mark.e2e, needs_another_user]

#: Another user's request: GET PATH with the stolen cookie, as a browser would send it;
#: prints the status and the body, or "no answer".
STOLEN_COOKIE_CLIENT = """
import http.client, sys
port, path, cookie = int(sys.argv[1]), sys.argv[2], sys.argv[3]
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
try:
    connection.request("GET", path, headers={"Cookie": cookie})
    answer = connection.getresponse()
    print(answer.status, answer.read().decode())
except (http.client.HTTPException, ConnectionError):
    print("no answer")
"""


def _request(port, method, path, cookie=None, form=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers |= {"Content-Type": "application/x-www-form-urlencoded",
                    "Origin": f"http://127.0.0.1:{port}"}
    connection.request(method, path, body=body, headers=headers)
    answer = connection.getresponse()
    text = answer.read().decode()
    connection.close()
    return answer, text


def _signed_in_and_unlocked(port, launch_url):
    """The officer's browser: the launch file's form, then the passphrase; its cookie."""
    page = Path(urllib.parse.unquote(urllib.parse.urlsplit(launch_url).path)).read_text()
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    answer, _ = _request(port, "POST", "/launch", form={"token": token})
    assert answer.status == 200
    cookie = answer.getheader("Set-Cookie").split(";")[0]
    _, page = _request(port, "GET", "/", cookie)
    form_token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
    answer, _ = _request(port, "POST", "/unlock", cookie, {
        "form_token": form_token, "passphrase": PASS["TIPDROP_PASSPHRASE"]})
    assert answer.status == 303
    for _ in range(600):
        answer, _ = _request(port, "GET", "/unlocking", cookie)
        if answer.status == 303 and answer.getheader("Location").endswith("/inbox"):
            return cookie
        time.sleep(0.1)
    pytest.fail("the app did not unlock within 60 s")


def test_another_user_holding_the_session_cookie_gets_no_answer_from_the_app(ceremony,
                                                                              tmp_path):
    _, officer = ceremony
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    env |= {k: v for k, v in officer.items() if k not in PASS}
    process, launch_url, address = _start_app(env, tmp_path)
    try:
        port = int(address.split(":")[2].split("/")[0])
        cookie = _signed_in_and_unlocked(port, launch_url)
        answer, inbox = _request(port, "GET", "/inbox", cookie)
        assert answer.status == 200 and 'name="form_token"' in inbox  # the officer's browser

        # When another user sends the same cookie to the app's port
        other = subprocess.run([SYSTEM_PYTHON, "-I", "-c", STOLEN_COOKIE_CLIENT, str(port),
                                "/inbox", cookie], user=NOBODY, group=NOBODY, extra_groups=[],
                               cwd="/", capture_output=True, text=True, timeout=60)

        # Then the connection is closed unanswered, and the app goes on serving the officer
        assert other.stdout.strip() == "no answer", other.stdout[:300] + other.stderr
        assert _request(port, "GET", "/inbox", cookie)[0].status == 200
    finally:
        os.killpg(process.pid, signal.SIGINT)
        code = process.wait(timeout=30)
    err = process.stderr.read()
    assert code == 0, err
    assert f"refused a connection from user {NOBODY}" in err and "Traceback" not in err
