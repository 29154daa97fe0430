"""Staying up under a flood (docs/design.md, invariant 8) without remembering who sent it (invariant 2).

Two mechanisms:

- *Concurrency slots* (here) bound the expensive work (Argon2id runs,
  uploads) a worker process does at once. A request that cannot get a slot
  within a short wait is answered 503 with Retry-After, quickly, instead of
  queueing until memory runs out.
- *Rate limits* (ratelimit.py) count recent submits, receipt checks and
  follow-ups per client, for the whole server rather than per worker, in a
  RAM file the workers share. The client is known only as HMAC(day key,
  address): the key is random, replaced every day, and never on a disk.
"""

import threading
from contextlib import contextmanager

from tipdrop.errors import TipdropError


class BusyError(TipdropError):
    """The service is busy right now. Please try again in a minute."""

    http_status = 503


class Slots:
    """A counting semaphore that gives up after ``wait`` seconds.

    With ``reclaim``, a request that finds every slot held first asks it to
    free one (it returns whether it ended a holder: Deadlines.reclaim for the
    upload slots), and then waits up to ``reclaim_wait`` seconds for the
    holder to let go before giving up.
    """

    def __init__(self, size, wait=2.0, reclaim=None, reclaim_wait=5.0):
        self.size = size
        self.wait = wait
        self.reclaim = reclaim
        self.reclaim_wait = reclaim_wait
        self._sem = threading.BoundedSemaphore(size)

    def _acquire(self):
        if self._sem.acquire(timeout=self.wait):
            return True
        return (self.reclaim is not None and self.reclaim()
                and self._sem.acquire(timeout=self.reclaim_wait))

    @contextmanager
    def __call__(self):
        if not self._acquire():
            error = BusyError()
            error.refused_before_work = True  # the request's count is taken back
            raise error
        try:
            yield
        finally:
            self._sem.release()
