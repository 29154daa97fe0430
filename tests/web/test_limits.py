"""Flood protection: concurrency slots and anonymised, in-memory rate limits."""

import json
import time

import pytest

from tipdrop.web.limits import BusyError, RateLimitedError, RateLimiter, Slots
from tipdrop.web import create_app


def test_rate_limiter_refuses_past_the_limit_and_forgets_after_the_window():
    now = [0.0]
    limiter = RateLimiter(limit=3, window=60, clock=lambda: now[0], day=lambda: 1)
    for _ in range(3):
        limiter.hit("10.0.0.1")
    with pytest.raises(RateLimitedError):
        limiter.hit("10.0.0.1")
    limiter.hit("10.0.0.2")  # someone else is not affected
    now[0] = 61
    limiter.hit("10.0.0.1")


def test_rate_limiter_keeps_no_address_only_keyed_digests():
    limiter = RateLimiter(limit=5, window=60, day=lambda: 1)
    limiter.hit("192.0.2.44")
    state = repr(limiter.__dict__).encode()
    assert b"192.0.2.44" not in state
    assert all(len(client) == 16 for client in limiter._events)


def test_rate_limiter_key_changes_daily_so_counters_cannot_be_linked():
    day = [1]
    limiter = RateLimiter(limit=5, window=10**9, day=lambda: day[0])
    limiter.hit("192.0.2.44")
    first = set(limiter._events)
    day[0] = 2
    limiter.hit("192.0.2.44")
    assert set(limiter._events).isdisjoint(first)


def test_rate_limiter_memory_is_bounded():
    limiter = RateLimiter(limit=1, window=60, day=lambda: 1)
    limiter.MAX_CLIENTS = 100
    for i in range(1000):
        limiter.hit(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._events) <= 100


def test_slots_give_up_quickly_when_full():
    slots = Slots(1, wait=0.05)
    with slots():
        start = time.monotonic()
        with pytest.raises(BusyError):
            with slots():
                pass
        assert time.monotonic() - start < 1
    with slots():
        pass


def test_busy_server_answers_503_with_retry_after(app_config):
    app = create_app(app_config | {"argon2_slots": 1})
    slots = app.extensions["tipdrop"]["argon2_slots"]
    slots.wait = 0.05
    client = app.test_client()
    with slots():
        response = client.post("/api/v1/check", data=json.dumps({"receipt": "0" * 23 + "1"}),
                               content_type="application/json")
    # A malformed receipt is refused before any Argon2 work, busy or not.
    assert response.status_code == 400
    from tipdrop import receipts

    with slots():
        response = client.post("/api/v1/check",
                               data=json.dumps({"receipt": receipts.generate().formatted}),
                               content_type="application/json")
    assert response.status_code == 503
    assert response.headers["Retry-After"]


def test_too_many_checks_from_one_client_get_429(app_config):
    app = create_app(app_config | {"checks_per_hour": 2})
    client = app.test_client()
    from tipdrop import receipts

    codes = []
    for _ in range(3):
        response = client.post("/api/v1/check",
                               data=json.dumps({"receipt": receipts.generate().formatted}),
                               content_type="application/json")
        codes.append(response.status_code)
    assert codes == [404, 404, 429]
