"""Which bodies the worker's loop reads ahead, under which rules (tipdrop/server/readahead.py).

tests/e2e/test_small_bodies_read_ahead.py runs the loop in a real gunicorn;
these check the choices on heads and clocks no e2e test can time.
"""

import pytest

from tipdrop.server import readahead
from tipdrop.server.readahead import Budget, Pending, RefusedBody, body_length, expects_continue
from tipdrop.server.web.upload import SMALL_BODY

LINE = b"POST /api/v1/tips HTTP/1.1\r\nHost: x\r\n"


def _head(*fields, line=LINE):
    return line + b"".join(field + b"\r\n" for field in fields) + b"\r\n"


@pytest.mark.parametrize("fields, length", [
    ((), 0),
    ((b"Content-Length: 0",), 0),
    ((b"Content-Length: 1200",), 1200),
    ((b"content-length:\t1200 ",), 1200),
    ((f"Content-Length: {SMALL_BODY}".encode(),), SMALL_BODY),
    ((b"Content-Length: 5", b"Expect: 100-continue"), 5),
    ((b"Content-Length: 5", b"expect: 100-Continue"), 5),
])
def test_a_small_body_of_known_length_is_read_ahead(fields, length):
    assert body_length(_head(*fields)) == length


@pytest.mark.parametrize("fields", [
    (f"Content-Length: {SMALL_BODY + 1}".encode(),),  # an upload: a thread, under a slot
    (b"Transfer-Encoding: chunked",),
    (b"Content-Length: 5", b"Transfer-Encoding: chunked"),
    (b"Content-Length: 5", b"Content-Length: 5"),  # gunicorn decides what that is
    (b"Content-Length: +5",),
    (b"Content-Length: 5 5",),
    (b"Content-Length: 99999999999999999999",),
    (b"Content-Length: 5", b"Expect: something-else"),  # gunicorn answers 417
])
def test_a_large_chunked_or_odd_body_goes_to_a_thread(fields):
    assert body_length(_head(*fields)) is None


def test_a_header_name_in_the_request_line_or_a_value_is_not_taken_for_a_field():
    head = _head(b"X-Note: content-length: 99999999", line=b"GET /content-length:9 HTTP/1.1\r\n")
    assert body_length(head) == 0


@pytest.mark.parametrize("line, expect, continues", [
    (b"POST / HTTP/1.1\r\n", b"Expect: 100-continue", True),
    (b"POST / HTTP/1.0\r\n", b"Expect: 100-continue", False),  # gunicorn ignores it too
    (b"POST / HTTP/1.1\r\n", b"X-Expect: 100-continue", False),
])
def test_100_continue_is_sent_only_where_gunicorn_would_send_it(line, expect, continues):
    assert expects_continue(_head(b"Content-Length: 5", expect, line=line)) is continues


def test_the_budget_bounds_what_is_reserved_and_gives_it_back():
    budget = Budget(limit=3 * SMALL_BODY)
    assert all(budget.take(SMALL_BODY) for _ in range(3))
    assert not budget.take(1)
    budget.give(SMALL_BODY)
    assert budget.take(SMALL_BODY - 1) and budget.take(1) and not budget.take(1)
    assert readahead.BUDGET >= 64 * SMALL_BODY


def _body(now=0.0, timeout=5, length=100_000):
    head = _head(f"Content-Length: {length}".encode())
    pending = Pending(head, now, timeout)
    pending.start_body(len(head), length, now)
    return pending


def test_a_body_may_pause_up_to_the_read_timeout_between_pieces():
    pending = _body(timeout=5)
    pending.data += b"x" * 10_000
    pending.moved(4.0)
    assert not pending.too_slow(8.9, min_rate=1, window=30)
    assert pending.too_slow(9.0, min_rate=1, window=30)


def test_a_body_slower_than_the_minimum_rate_over_a_window_is_too_slow():
    pending = _body(timeout=5)
    # 900 bytes a second, for a minimum of 1024 over 3 s
    for second in range(1, 7):
        pending.data += b"x" * 900
        pending.moved(float(second))
        slow = pending.too_slow(float(second), min_rate=1024, window=3)
        assert slow is (second >= 3), second


def test_a_body_at_the_minimum_rate_is_never_too_slow():
    pending = _body(timeout=5)
    for second in range(1, 30):
        pending.data += b"x" * 1100
        pending.moved(float(second))
        assert not pending.too_slow(float(second), min_rate=1024, window=3), second


def test_a_body_is_never_read_beyond_its_end():
    pending = _body(length=100)
    assert pending.read_size() == 100
    pending.data += b"x" * 60
    assert pending.read_size() == 40
    assert Pending(b"GET", 0, 5).read_size() == readahead.HEAD_READ


@pytest.mark.parametrize("read", [
    lambda body: body.read(10), lambda body: body.read(), lambda body: body.readline(),
    lambda body: body.readinto(bytearray(10)), lambda body: next(iter(body))])
def test_a_refused_body_raises_its_refusal_on_every_read(read):
    error = TimeoutError("body not read in time")
    with pytest.raises(TimeoutError):
        read(RefusedBody(error))
