"""Staying up under a flood (DESIGN 4.8) without remembering who sent it (4.2).

Two mechanisms, both in process memory only:

- *Concurrency slots* bound the expensive work (Argon2id runs, uploads) a
  worker process does at once. A request that cannot get a slot within a
  short wait is answered 503 with Retry-After, quickly, instead of queueing
  until memory runs out.
- *Rate limits* count recent submits, receipt checks and follow-ups per client. The
  client is known only as HMAC(daily key, address): the key is random,
  lives in memory, is replaced every day and never written down, so the
  counters cannot be turned back into addresses even by whoever dumps the
  process memory a day later.
"""

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from contextlib import contextmanager

from ..errors import TipdropError


class BusyError(TipdropError):
    """The service is busy right now. Please try again in a minute."""

    http_status = 503


class RateLimitedError(TipdropError):
    """Too many attempts. Please wait a few minutes and try again."""

    http_status = 429


class Slots:
    """A counting semaphore that gives up after ``wait`` seconds."""

    def __init__(self, size, wait=2.0):
        self.size = size
        self.wait = wait
        self._sem = threading.BoundedSemaphore(size)

    @contextmanager
    def __call__(self):
        if not self._sem.acquire(timeout=self.wait):
            raise BusyError()
        try:
            yield
        finally:
            self._sem.release()


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per (anonymised) client."""

    MAX_CLIENTS = 100_000

    def __init__(self, limit, window, clock=time.monotonic, day=None):
        self.limit = limit
        self.window = window
        self.clock = clock
        self._day = day or (lambda: int(time.time() // 86400))
        self._lock = threading.Lock()
        self._key_day = None
        self._key = b""
        self._events = {}

    def _client_id(self, address):
        today = self._day()
        if today != self._key_day:
            # New day: new key, and yesterday's counters go with the old key.
            self._key_day, self._key, self._events = today, secrets.token_bytes(32), {}
        return hmac.new(self._key, address.encode(), hashlib.sha256).digest()[:16]

    def hit(self, address):
        """Record one event for ``address``; raise RateLimitedError past the limit."""
        now = self.clock()
        with self._lock:
            client = self._client_id(address or "")
            events = self._events.get(client)
            if events is None:
                if len(self._events) >= self.MAX_CLIENTS:
                    self._prune(now)
                events = self._events[client] = deque()
            while events and now - events[0] > self.window:
                events.popleft()
            if len(events) >= self.limit:
                raise RateLimitedError()
            events.append(now)

    def _prune(self, now):
        stale = [c for c, ev in self._events.items() if not ev or now - ev[-1] > self.window]
        for client in stale:
            del self._events[client]
        if len(self._events) >= self.MAX_CLIENTS:
            # Still full: forget everyone rather than grow without bound.
            self._events.clear()
