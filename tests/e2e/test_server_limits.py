"""Limits hold per server, not per gunicorn worker; follow-ups cannot flood a tip.

Real ``tipdrop serve`` with several workers. Requests go on separate
connections from many threads at once, so every worker takes its share:
a limit counted in each worker's memory would let through ``workers``
times the documented number.
"""

import json
import re
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.serving import multipart, start_server
from tipdrop.protocol import receipts

pytestmark = [pytest.mark.e2e]

WORKERS = 3
JSON = {"Content-Type": "application/json"}


def _post(server, path, doc, source="127.0.0.1"):
    status, headers, body = server.request("POST", path, json.dumps(doc).encode(), JSON,
                                           source=source)
    return status, json.loads(body) if body.startswith(b"{") else body


def _at_once(count, call):
    with ThreadPoolExecutor(min(count, 24)) as pool:
        return list(pool.map(lambda _: call(), range(count)))


def _followups(server):
    db = sqlite3.connect(server.data_dir / "tipdrop.db")
    try:
        return db.execute("SELECT COUNT(*) FROM followups").fetchone()[0]
    finally:
        db.close()


def _all_workers_up(server, deadline=60):
    """Wait until all WORKERS have booted and loaded the app (their size has settled):
    the server answers as soon as the first one does."""
    from tests.e2e.test_flood import _children, _status

    end, last = time.monotonic() + deadline, None
    while time.monotonic() < end:
        workers = sorted(_children(server.process.pid))
        sizes = [_status(pid) for pid in workers]
        now = (tuple(workers), tuple(s and round(s[0]) for s in sizes))
        if len(workers) == WORKERS and None not in sizes and now == last:
            return
        last = now
        time.sleep(0.5)
    raise AssertionError(f"{WORKERS} workers did not start in {deadline} s")


@pytest.fixture
def limited(tmp_path):
    running = start_server(tmp_path, workers=WORKERS, extra_env={
        "TIPDROP_CHECKS_PER_HOUR": "6", "TIPDROP_SUBMITS_PER_HOUR": "1000",
        "TIPDROP_FOLLOWUPS_PER_HOUR": "1000", "TIPDROP_FOLLOWUPS_PER_DAY": "4"})
    _all_workers_up(running)
    yield running
    running.stop()


def test_the_documented_check_limit_holds_across_all_workers(limited):
    server = limited
    # When one client sends 30 receipt checks at once, over separate connections
    answers = _at_once(30, lambda: _post(server, "/api/v1/check",
                                         {"receipt": receipts.generate().formatted}))
    statuses = sorted(status for status, _ in answers)
    # Then exactly the 6 an hour the setting allows are answered, all the rest refused
    assert statuses == [404] * 6 + [429] * 24, statuses
    # And another client still gets its own 6
    other = [_post(server, "/api/v1/check", {"receipt": receipts.generate().formatted},
                   source="127.0.0.5")[0] for _ in range(7)]
    assert other == [404] * 6 + [429], other


def _report(server):
    status, doc = _post(server, "/api/v1/tips", {"region": "astana", "category": "theft",
                                                 "description": "a report"})
    assert status == 201, doc
    return doc["receipt"]


def test_one_followup_token_sent_300_times_at_once_adds_one_followup(limited):
    server = limited
    receipt = _report(server)
    status, doc = _post(server, "/api/v1/check", {"receipt": receipt})
    token = doc["followup_token"]

    # When one follow-up token is sent 300 times at once with 20,000 characters each
    answers = _at_once(300, lambda: _post(server, "/api/v1/followups",
                                          {"token": token, "text": "x" * 20_000}))

    # Then one follow-up is stored and every other answer says it was already sent
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [409] * 299, sorted(set(statuses))
    assert {doc["error"] for status, doc in answers if status == 409} == {
        "FollowupAlreadySentError"}
    assert _followups(server) == 1


def test_a_reports_daily_cap_holds_across_workers(limited):
    server = limited
    receipt = _report(server)
    # Given 12 valid follow-up tokens (each check is one of the client's 6 an hour,
    # so they come from two addresses)
    tokens = [_post(server, "/api/v1/check", {"receipt": receipt},
                    source=f"127.0.0.{2 + n % 2}")[1]["followup_token"] for n in range(12)]
    # When all 12 are sent at once
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda t: _post(server, "/api/v1/followups",
                                                {"token": t, "text": "again"}), tokens))
    # Then the report takes its 4 a day and no more
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] * 4 + [429] * 8, statuses
    assert {doc["error"] for status, doc in answers if status == 429} == {"FollowupLimitError"}
    assert _followups(server) == 4


def test_followups_from_one_client_are_rate_limited_across_workers(tmp_path):
    server = start_server(tmp_path, workers=WORKERS, extra_env={
        "TIPDROP_FOLLOWUPS_PER_HOUR": "5", "TIPDROP_FOLLOWUPS_PER_DAY": "1000",
        "TIPDROP_CHECKS_PER_HOUR": "1000"})
    try:
        _all_workers_up(server)
        receipt = _report(server)
        tokens = [_post(server, "/api/v1/check", {"receipt": receipt})[1]["followup_token"]
                  for _ in range(20)]
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda t: _post(server, "/api/v1/followups",
                                                    {"token": t, "text": "flood"}), tokens))
        statuses = sorted(status for status, _ in answers)
        assert statuses == [201] * 5 + [429] * 15, statuses
        assert _followups(server) == 5
    finally:
        server.stop()


def test_reloading_the_receipt_page_gives_already_sent_and_no_second_report(limited):
    server = limited
    status, _, page = server.request("GET", "/submit?lang=kk")
    token = re.search(rb'name="token" value="([^"]+)"', page).group(1).decode()
    content_type, body = multipart({"token": token, "region": "astana", "category": "theft",
                                    "description": "reloaded", "website": ""})

    def send():
        return server.request("POST", "/submit?lang=kk", body, {"Content-Type": content_type})

    first = send()
    assert first[0] == 203 and b'id="receipt"' in first[2]
    # The browser's Reload, sent to whichever worker takes it, several times
    again = _at_once(6, send)
    assert {status for status, _, _ in again} == {409}
    assert all(b'id="already-sent"' in page and b'id="receipt"' not in page
               for _, _, page in again)
    db = sqlite3.connect(server.data_dir / "tipdrop.db")
    assert db.execute("SELECT COUNT(*) FROM tips").fetchone()[0] == 1
    db.close()


def test_the_counters_live_in_ram_and_go_when_the_server_stops(tmp_path):
    from tipdrop.server.web.ratelimit import shared_dir

    server = start_server(tmp_path, workers=2)
    folder = shared_dir("/dev/shm", server.data_dir)
    try:
        _post(server, "/api/v1/check", {"receipt": receipts.generate().formatted},
              source="127.0.0.9")
        assert (folder / "limits.db").exists()
        raw = (folder / "limits.db").read_bytes()
        assert b"127.0.0.9" not in raw
        on_disk = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert not any(b"127.0.0.9" in p.read_bytes() for p in on_disk)
    finally:
        server.stop()
    assert not folder.exists()
