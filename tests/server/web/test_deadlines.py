"""Request bodies under a read deadline and a minimum rate (tipdrop/server/web/deadlines.py).

Bodies are read here from one end of a real socket pair, through a buffered
reader that, like gunicorn's, returns only once it holds all the bytes asked
for; the test plays the client at the other end. The server-level proof,
with real gunicorn and nginx, is tests/e2e/test_stalled_uploads.py.
"""

import json
import socket
import threading
import time

import pytest

from tipdrop.server.web import create_app
from tipdrop.server.web.deadlines import (
    HOLDS_UPLOAD_SLOT,
    JUDGED_AFTER,
    Deadlines,
    SlowClientError,
)
from tipdrop.server.web.upload import SMALL_BODY


@pytest.fixture
def pair():
    server_side, client_side = socket.socketpair()
    yield server_side, client_side
    server_side.close()
    client_side.close()


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _body(deadlines, server_side):
    return deadlines.body({"gunicorn.socket": server_side}, server_side.makefile("rb"))


def test_a_body_below_the_minimum_rate_over_a_window_is_ended(pair):
    server_side, client_side = pair
    clock = FakeClock()
    deadlines = Deadlines(read_timeout=5, min_rate=100, window=10, clock=clock, watchdog=False)
    body = _body(deadlines, server_side)
    # Given 999 bytes in the first 10 s, one short of 100 per second
    for _ in range(9):
        client_side.sendall(b"x" * 111)
        body.read(111)
        clock.now += 1
        deadlines.check()
        assert not body.expired
    # When the watchdog looks once the window is over
    clock.now += 1
    deadlines.check()
    # Then the body is ended: the reader sees end-of-file and raises
    assert body.received == 999
    assert body.expired
    with pytest.raises(SlowClientError):
        body.read(10)


def test_a_body_at_the_minimum_rate_is_left_alone(pair):
    server_side, client_side = pair
    clock = FakeClock()
    deadlines = Deadlines(read_timeout=5, min_rate=100, window=10, clock=clock, watchdog=False)
    body = _body(deadlines, server_side)
    for _ in range(60):
        client_side.sendall(b"x" * 100)
        assert body.read(100) == b"x" * 100
        clock.now += 1
        deadlines.check()
    assert not body.expired


def test_a_new_body_gets_a_whole_window_before_its_rate_counts(pair):
    server_side, _ = pair
    clock = FakeClock()
    deadlines = Deadlines(read_timeout=5, min_rate=100, window=10, clock=clock, watchdog=False)
    body = _body(deadlines, server_side)
    clock.now += 9.5
    deadlines.check()
    assert not body.expired
    clock.now += 0.5
    deadlines.check()
    assert body.expired


def test_a_pause_longer_than_the_read_timeout_ends_the_body(pair):
    server_side, client_side = pair
    deadlines = Deadlines(read_timeout=0.3, min_rate=1, window=60, watchdog=False)
    body = _body(deadlines, server_side)
    client_side.sendall(b"head")
    assert body.read(4) == b"head"
    start = time.monotonic()
    with pytest.raises(SlowClientError):
        body.read(10)  # nothing more comes
    assert time.monotonic() - start < 5
    assert body.expired


def test_a_trickle_blocked_inside_one_read_is_ended_by_the_watchdog(pair):
    """One byte every 0.1 s never trips the read timeout; the watchdog ends it."""
    server_side, client_side = pair
    deadlines = Deadlines(read_timeout=2, min_rate=1000, window=1)
    body = _body(deadlines, server_side)
    stop = threading.Event()

    def trickle():
        while not stop.is_set():
            try:
                client_side.sendall(b"x")
            except OSError:
                return
            stop.wait(0.1)

    sender = threading.Thread(target=trickle)
    sender.start()
    try:
        start = time.monotonic()
        with pytest.raises(SlowClientError):
            while True:
                body.read(64 * 1024)
        assert time.monotonic() - start < 10
    finally:
        stop.set()
        sender.join()
    deadlines.done(body)


def test_a_fast_body_is_read_in_full(pair):
    server_side, client_side = pair
    deadlines = Deadlines(read_timeout=2, min_rate=1000, window=1)
    body = _body(deadlines, server_side)
    payload = bytes(range(256)) * 4096
    sender = threading.Thread(target=lambda: (client_side.sendall(payload),
                                              client_side.shutdown(socket.SHUT_WR)))
    sender.start()
    assert body.read_up_to(len(payload) + 1) == payload
    sender.join()
    body.close()
    assert not body.expired


def test_without_a_server_socket_bodies_are_read_as_they_are():
    import io

    deadlines = Deadlines(read_timeout=1, min_rate=10**9, window=1, watchdog=False)
    body = deadlines.body({}, io.BytesIO(b"abc"))
    assert body.read_up_to(10) == b"abc"


def _client_that_never_sends(pair):
    """environ overrides: the body comes from the socket pair, and never arrives."""
    server_side, _ = pair
    return {"gunicorn.socket": server_side, "wsgi.input": server_side.makefile("rb"),
            "CONTENT_LENGTH": "100000"}


def test_a_stalled_upload_gets_a_408_page_in_the_reporters_language(app_config, pair):
    app = create_app(app_config | {"read_timeout": 1})
    client = app.test_client()
    response = client.post(
        "/submit?lang=ru", data=b"", content_type="multipart/form-data; boundary=b",
        environ_overrides=_client_that_never_sends(pair))
    assert response.status_code == 408
    assert "Соединение оказалось слишком медленным" in response.text
    assert "Traceback" not in response.text


def test_a_stalled_json_body_gets_a_408_answer(app_config, pair):
    app = create_app(app_config | {"read_timeout": 1})
    response = app.test_client().post(
        "/api/v1/check", data=b"", content_type="application/json",
        environ_overrides=_client_that_never_sends(pair))
    assert response.status_code == 408
    assert response.json["error"] == "SlowClientError"


def test_a_refused_upload_is_not_read_and_its_receiving_side_is_shut(app_config, pair):
    """Otherwise gunicorn would drain the unread body, holding a thread, before closing."""
    server_side, client_side = pair
    app = create_app(app_config | {"upload_slots": 1, "upload_wait": 0})
    slots = app.extensions["tipdrop"]["upload_slots"]
    client = app.test_client()
    # Larger than a small body, which is read without an upload slot (upload.SMALL_BODY)
    body = (b"--b\r\nContent-Disposition: form-data; name=\"region\"\r\n\r\nastana\r\n"
            + b"\0" * SMALL_BODY)
    with slots():
        response = client.post("/api/v1/tips", data=body,
                               content_type="multipart/form-data; boundary=b",
                               environ_overrides={"gunicorn.socket": server_side})
    assert response.status_code == 503
    # The client is still connected, yet a read on the server's side ends at once
    server_side.settimeout(2)
    assert server_side.recv(10) == b""


def test_an_answered_request_whose_body_was_read_keeps_its_connection(app_config, pair):
    server_side, client_side = pair
    app = create_app(app_config)
    response = app.test_client().post(
        "/api/v1/check", data=json.dumps({"receipt": "x"}), content_type="application/json",
        environ_overrides={"gunicorn.socket": server_side})
    assert response.status_code == 400  # a malformed receipt, but the body was read
    client_side.sendall(b"next request")
    server_side.settimeout(2)
    assert server_side.recv(20) == b"next request"


def test_a_slow_honest_client_above_the_minimum_rate_is_never_ended(pair):
    """Reads ask for about a second of the client's speed, so its progress is seen.

    The reader asks for 64 KiB at a time, as the upload parser does; at
    4,000 bytes per second one such read would take 16 s, far beyond the
    window, if it asked the socket for all of it at once.
    """
    server_side, client_side = pair
    deadlines = Deadlines(read_timeout=2, min_rate=2000, window=3)
    body = _body(deadlines, server_side)
    payload = b"y" * 20_000

    def slow_sender():
        for offset in range(0, len(payload), 400):
            client_side.sendall(payload[offset:offset + 400])
            time.sleep(0.1)
        client_side.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=slow_sender)
    sender.start()
    try:
        received = b""
        while piece := body.read(64 * 1024):
            received += piece
    finally:
        sender.join()
    body.close()
    assert received == payload
    assert not body.expired


# --- a contended slot goes to whoever can use it (Deadlines.reclaim) ---------------

def _holder(deadlines, server_side):
    """A body read while its request holds an upload slot (upload._streaming_slot)."""
    return deadlines.body({"gunicorn.socket": server_side, HOLDS_UPLOAD_SLOT: True},
                          server_side.makefile("rb"))


def _feed(client_side, body, clock, deadlines, per_second, seconds):
    for _ in range(seconds):
        if per_second:
            client_side.sendall(b"x" * per_second)
            body.read(per_second)
        clock.now += 1
        deadlines.check()


def test_reclaim_ends_the_slowest_slot_holder_below_the_contended_rate():
    clock = FakeClock()
    deadlines = Deadlines(read_timeout=5, min_rate=100, window=10, clock=clock, watchdog=False)
    pairs = [socket.socketpair() for _ in range(3)]
    try:
        # Given three uploads holding slots: 500, 200 and 5,000 bytes a second,
        # all above the minimum rate, for a whole window
        bodies = [_holder(deadlines, server_side) for server_side, _ in pairs]
        for _ in range(12):
            for body, (_, client_side), rate in zip(bodies, pairs, (500, 200, 5000), strict=True):
                client_side.sendall(b"x" * rate)
                body.read(rate)
            clock.now += 1
            deadlines.check()
        assert not any(body.expired for body in bodies)
        # When another upload needs a slot, with a contended rate of 1,000 bytes a second
        assert deadlines.reclaim(1000)
        # Then the slowest one below it, and only that one, is ended and reads end-of-file
        assert [body.expired for body in bodies] == [False, True, False]
        with pytest.raises(SlowClientError):
            bodies[1].read(10)
        # And the next one asked for is the next slowest below the rate; none is left after it
        assert deadlines.reclaim(1000)
        assert [body.expired for body in bodies] == [True, True, False]
        assert not deadlines.reclaim(1000)
        assert not bodies[2].expired
    finally:
        for server_side, client_side in pairs:
            server_side.close()
            client_side.close()


def test_reclaim_spares_a_body_without_a_slot_a_young_body_and_a_rate_of_zero(pair):
    server_side, client_side = pair
    clock = FakeClock()
    deadlines = Deadlines(read_timeout=5, min_rate=10, window=10, clock=clock, watchdog=False)
    # A slow body of a request without an upload slot (a small body, a JSON check)
    unslotted = _body(deadlines, server_side)
    _feed(client_side, unslotted, clock, deadlines, 50, 15)
    assert not deadlines.reclaim(1000) and not unslotted.expired
    # A slow body holding a slot, but which began less than JUDGED_AFTER ago
    other_server, other_client = socket.socketpair()
    try:
        young = _holder(deadlines, other_server)
        _feed(other_client, young, clock, deadlines, 50, int(JUDGED_AFTER) - 1)
        assert not deadlines.reclaim(1000) and not young.expired
        # With a contended rate of 0 (the setting's "never"), not even once it is old enough
        _feed(other_client, young, clock, deadlines, 50, 2)
        assert not deadlines.reclaim(0) and not young.expired
        assert deadlines.reclaim(1000) and young.expired
    finally:
        other_server.close()
        other_client.close()


def test_a_holder_that_stalls_young_is_judged_once_it_is_judged_after_old_not_a_window(pair):
    """A client that sends a few bytes and lets the body be ended by the read
    timeout, or ends it itself, before a whole window, then opens the next one,
    was never judged for a newcomer (docs/threat-model.md, "A flood of junk")."""
    server_side, client_side = pair
    clock = FakeClock()
    deadlines = Deadlines(read_timeout=20, min_rate=10, window=30, clock=clock, watchdog=False)
    # Given a body holding a slot that brought 10 bytes and then nothing
    stalled = _holder(deadlines, server_side)
    _feed(client_side, stalled, clock, deadlines, 10, 1)
    _feed(client_side, stalled, clock, deadlines, 0, int(JUDGED_AFTER) - 2)
    # While it is younger than JUDGED_AFTER it is left alone
    assert not deadlines.reclaim(1000) and not stalled.expired
    # Once it is that old, far less than a window, it is ended for a newcomer
    _feed(client_side, stalled, clock, deadlines, 0, 1)
    assert JUDGED_AFTER < deadlines.window
    assert deadlines.reclaim(1000) and stalled.expired
