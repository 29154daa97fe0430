"""A status page link is checked once, however many requests race for it.

The no-JS check posts the typed code and answers 303 to a one-time status
link (tipdrop/server/web/reporter.py, pagelinks.py); the check's Argon2 run
happens when that link is opened, and the POST is what the rate limit
counts. Real gunicorn, requests on separate connections released together:
if the link closed only after the check, every request that opened it
before the first check ended would run Argon2 too, so one counted check
would buy as many Argon2 runs as requests sent at once (an attacker holds
the Argon2 slots of every reporter with one check a minute).
"""

import threading
from collections import Counter
from urllib.parse import urlencode, urlsplit

import pytest

from tipdrop.protocol import receipts

pytestmark = [pytest.mark.e2e]

RACERS = 12


def _status_link(server, code):
    token = server.form_token("/check")
    body = urlencode({"token": token, "receipt": code}).encode()
    status, headers, _ = server.request(
        "POST", "/check", body, {"Content-Type": "application/x-www-form-urlencoded"},
        follow=False)
    assert status == 303
    path = urlsplit(headers["Location"]).path
    assert path.startswith("/status/")
    return path


def _open_at_once(server, path):
    """GET ``path`` from RACERS threads released together; their statuses."""
    answers, start = [], threading.Barrier(RACERS)

    def one():
        start.wait()
        answers.append(server.request("GET", path, follow=False)[0])

    threads = [threading.Thread(target=one) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Counter(answers)


def test_requests_racing_for_a_status_link_run_one_check(server):
    # Given a check of a well-formed code that no report has (counted once)
    path = _status_link(server, receipts.generate().formatted)
    # When its status link is opened by many requests at once
    answers = _open_at_once(server, path)
    # Then one of them runs the check (unknown code: 404 after its Argon2 run)
    # and every other finds the link closed before any work (410)
    assert answers == Counter({404: 1, 410: RACERS - 1}), answers
