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
import time
from contextlib import contextmanager

from tipdrop.errors import TipdropError

#: Requests that may wait in line for an upload slot, per worker process: each
#: holds a thread, and `tipdrop serve` keeps 4 threads more than the slots
#: for checks, pages and /healthz (serve.RESERVED_THREADS).
UPLOAD_LINE = 2


class BusyError(TipdropError):
    """The service is busy right now. Please try again in a minute."""

    http_status = 503


class Slots:
    """A counting semaphore that gives up after ``wait`` seconds, with a bounded line of waiters.

    A freed slot goes to the request that has waited longest, never to
    whoever asks at that moment: a client that reopens as soon as its
    request ends (say, answered 408) joins the end of the line instead of
    taking its slot back before a newcomer can (docs/threat-model.md, "A
    flood of junk"). ``line`` bounds how many requests wait at once (each
    holds a thread while it waits; None: no bound).

    With ``standing``, a place in a full line is kept by what the request
    has already sent: ``standing()``, called in the request's thread, gives
    a function that tells how many bytes its client sent that are not read
    yet (deadlines.unread_bytes). A newcomer whose client sent more takes
    the place of the waiter whose client sent least, which is refused; one
    that sent no more is refused at once. Clients that hold the line with
    the head of a body and nothing more are thus pushed out by any honest
    upload, which sends its body at once.

    With ``reclaim``, a waiter asks every ``recheck`` seconds for a holder
    to be ended to free a slot (it returns the thread of the holder it
    ended, ``threading.get_ident()`` in it, or None: Deadlines.reclaim for
    the upload slots), never more holders than there are waiters; once one
    is ended the waiter waits at least ``reclaim_wait`` seconds more for the
    holder to let go. Only the release of a holder that was ended counts as
    its letting go: a slot another holder frees by finishing is no reason
    to end one more honest upload for the next waiter.
    """

    def __init__(self, size, wait=2.0, reclaim=None, reclaim_wait=5.0, line=None, recheck=0.5,
                 standing=None):
        self.size = size
        self.wait = wait
        self.reclaim = reclaim
        self.reclaim_wait = reclaim_wait
        self.line = line
        self.recheck = recheck
        self.standing = standing
        self._lock = threading.Lock()
        self._free = size
        #: The waiters, longest waiting first.
        self._waiters = []
        #: The threads holding a slot.
        self._holders = set()
        #: Holders ended for a waiter that have not let go of their slot yet.
        self._ending = set()
        #: Calls to ``reclaim`` under way.
        self._asking = 0

    def _acquire(self):
        sent = self.standing() if self.standing is not None else None
        with self._lock:
            if self._free:
                self._free -= 1
                self._holders.add(threading.get_ident())
                return True
            waiter = _Waiter(sent)
            if self.line is None or len(self._waiters) < self.line:
                self._waiters.append(waiter)
            elif not self._take_place(waiter):
                return False  # no place to wait: waiting must not hold every thread
        try:
            return self._wait_in_line(waiter)
        except BaseException:
            with self._lock:
                given = waiter.state == _GIVEN
                if waiter.state == _WAITING:
                    self._waiters.remove(waiter)
            if given:
                self._release()
            raise

    def _take_place(self, newcomer):
        """Put ``newcomer`` in the place of the waiter whose client sent least, if it sent more."""
        if newcomer.sent is None or not self._waiters:
            return False
        mine = newcomer.sent()
        weakest = min(self._waiters, key=lambda waiter: waiter.sent() if waiter.sent else 0)
        if mine <= (weakest.sent() if weakest.sent else 0):
            return False
        self._waiters[self._waiters.index(weakest)] = newcomer
        weakest.state = _REFUSED
        weakest.event.set()
        return True

    def _ask_reclaim(self):
        """Have a holder ended if fewer are being ended than requests wait; True if one was."""
        if self.reclaim is None:
            return False
        with self._lock:
            if len(self._ending) + self._asking >= len(self._waiters):
                return False
            self._asking += 1
        ended = None
        try:
            ended = self.reclaim()
        finally:
            with self._lock:
                self._asking -= 1
                if ended in self._holders:  # not let go already, as it may have while ended
                    self._ending.add(ended)
        return ended is not None

    def _wait_in_line(self, waiter):
        deadline = time.monotonic() + self.wait
        while True:
            now = time.monotonic()
            if self._ask_reclaim():
                deadline = max(deadline, now + self.reclaim_wait)
            left = deadline - now
            if left <= 0 or waiter.event.wait(min(left, self.recheck)):
                with self._lock:
                    if waiter.state != _WAITING:
                        if waiter.state == _GIVEN:
                            self._holders.add(threading.get_ident())
                        return waiter.state == _GIVEN
                    if time.monotonic() >= deadline:
                        self._waiters.remove(waiter)
                        return False

    def _release(self):
        holder = threading.get_ident()
        with self._lock:
            self._holders.discard(holder)
            self._ending.discard(holder)
            if self._waiters:
                first = self._waiters.pop(0)
                first.state = _GIVEN  # the slot passes to it, still taken
                first.event.set()
            else:
                self._free += 1

    @contextmanager
    def __call__(self):
        if not self._acquire():
            error = BusyError()
            error.refused_before_work = True  # the request's count is taken back
            raise error
        try:
            yield
        finally:
            self._release()


_WAITING, _GIVEN, _REFUSED = "waiting", "given", "refused"


class _Waiter:
    """A request waiting in a Slots' line: ``event`` is set once a slot passes to it or it is pushed out."""

    __slots__ = ("event", "sent", "state")

    def __init__(self, sent):
        self.event = threading.Event()
        #: A function telling how many bytes its client sent that are not read yet, or None.
        self.sent = sent
        self.state = _WAITING
