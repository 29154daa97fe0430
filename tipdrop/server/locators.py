"""Locators the server hands out, so a device can make its receipt without an oracle.

A receipt is a locator (5 symbols, stored in the clear to find the report)
and a secret (docs/protocol.md section 7). A device that makes its own
receipt, so that its report can carry the receipt's follow-up key
(section 14), used to name its locator at the submit, and a locator another
report held was refused with its own answer: anyone could ask whether a
locator was in use. Now the device *asks* for a locator first
(``POST /api/v1/locators``): the server draws one that is neither in use nor
reserved, reserves it for RESERVE_MINUTES against a random token, and the
device adds its own secret. The submit must bring the token; the tip is
stored only while its reservation is claimed, and the reservation goes with
the submit whatever its outcome. A submit without a valid reservation for
its locator gets :class:`LocatorNotReservedError`, computed the same way
whether the locator is free, reserved by someone else or in use, so a
submit tells nothing about other reports (the proof is
tests/server/web/test_locators.py).

Where reservations live: in the server's file in RAM that its workers share
(``TIPDROP_RUNTIME_DIR``, web/ratelimit.py), never on a disk, so no file
keeps the time a locator, soon a report's, was handed out (docs/threat-model.md,
"Times"). A row is the locator, SHA-256 of the token (the token itself is
never stored), its expiry on the system's monotonic clock and whether a
submit has claimed it; it is deleted (``secure_delete``) when the submit ends
or its time is up. A restart of the server (``tipdrop serve`` removes the
folder) forgets every reservation: a device then gets the refusal and asks
again.

Why no locator can end up with two reports: every path that stores a tip
holds a row for its locator from before the insert until after the commit
(a device's claimed reservation, or :meth:`Locators.held` for a receipt the
server makes), and a locator is handed out only when it has no row and no
tip, checked under the file's write lock.
"""

import hashlib
import hmac
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tipdrop.errors import InputError, TipdropError
from tipdrop.protocol import receipts

RESERVE_MINUTES = 60
#: A claimed reservation lives on while its tip is committed (milliseconds);
#: a worker killed in between leaves a row that goes after this.
CLAIM_SECONDS = 600
#: Reservations alive at once, all clients together: a flood of requests
#: gets 503 past it, long before it could use up the 32^5 locators or RAM.
MAX_LIVE = 10_000
#: Random draws before giving up on finding a free locator (503).
DRAWS = 32
TOKEN_BYTES = 32
#: Stands in for the token digest of a locator with no reservation: no
#: SHA-256 output is all zeros, so it never matches, after the same comparison.
_NO_RESERVATION = bytes(32)

Taken = Callable[[str], bool]


class LocatorNotReservedError(InputError):
    """This report was prepared for a receipt code that is no longer reserved. Please send it again."""

    http_status = 409
    detail_is_message = False


class LocatorsBusyError(TipdropError):
    """The service is busy right now. Please try again in a minute."""

    http_status = 503


@dataclass(frozen=True, repr=False)
class Reservation:
    """A locator handed out, and the token that spends it. repr hides the token."""

    locator: str
    token: str
    seconds: int

    def __repr__(self) -> str:
        return f"Reservation(locator={self.locator!r}, token=<hidden>)"


def random_locator() -> str:
    return "".join(secrets.choice(receipts.ALPHABET) for _ in range(receipts.LOCATOR_LEN))


def _digest(token: object) -> bytes:
    data = token.encode("utf-8", "replace") if isinstance(token, str) else b""
    return hashlib.sha256(data).digest()


class Locators:
    """The reservations of one server, in the RAM file its processes share.

    ``shared`` runs a function as one write transaction of all the
    server's processes (web/ratelimit.SharedCounts.transaction). ``draw``
    is a seam for tests that need a tiny locator space.
    """

    def __init__(self, shared: Any, *, minutes: int = RESERVE_MINUTES,
                 max_live: int = MAX_LIVE, clock: Callable[[], float] = time.monotonic,
                 draw: Callable[[], str] = random_locator) -> None:
        self.shared = shared
        self.seconds = minutes * 60
        self.max_live = max_live
        self.clock = clock
        self.draw = draw

    def reserve(self, taken: Taken) -> Reservation:
        """Hand out a locator that no report uses (``taken``) and nobody holds."""
        token = secrets.token_urlsafe(TOKEN_BYTES)

        def work(conn: sqlite3.Connection) -> str:
            now = self.clock()
            conn.execute("DELETE FROM reservations WHERE expires <= ?", [now])
            (live,) = conn.execute("SELECT COUNT(*) FROM reservations").fetchone()
            if live >= self.max_live:
                raise LocatorsBusyError("too many locators are reserved")
            locator = self._free(conn, taken)
            conn.execute("INSERT INTO reservations (locator, token_hash, expires, claimed)"
                         " VALUES (?, ?, ?, 0)", [locator, _digest(token), now + self.seconds])
            return locator

        return Reservation(self.shared.transaction(work), token, self.seconds)

    def check(self, locator: str, token: object) -> None:
        """Raise LocatorNotReservedError unless ``token`` holds ``locator`` now."""
        if not self.shared.transaction(lambda conn: self._valid(conn, locator, token)):
            raise LocatorNotReservedError()

    @contextmanager
    def spent(self, locator: str, token: object) -> Iterator[None]:
        """Claim ``locator``'s reservation for the body (storing the tip), then delete it.

        Of two submits with one token, one claims it; the other is refused
        like any submit without a reservation. The reservation is gone
        afterwards whether the body succeeded or not.
        """
        def claim(conn: sqlite3.Connection) -> bool:
            if not self._valid(conn, locator, token):
                return False
            conn.execute("UPDATE reservations SET claimed = 1, expires = ? WHERE locator = ?",
                         [self.clock() + CLAIM_SECONDS, locator])
            return True

        if not self.shared.transaction(claim):
            raise LocatorNotReservedError()
        try:
            yield
        finally:
            self._release(locator)

    @contextmanager
    def held(self, taken: Taken) -> Iterator[str]:
        """A free locator for a receipt this server makes, held until the body ends.

        Outside the cap on reservations: these are bounded by the upload
        slots, and a flood of device requests must not stop plain reports.
        """
        def hold(conn: sqlite3.Connection) -> str:
            now = self.clock()
            conn.execute("DELETE FROM reservations WHERE expires <= ?", [now])
            locator = self._free(conn, taken)
            conn.execute("INSERT INTO reservations (locator, token_hash, expires, claimed)"
                         " VALUES (?, ?, ?, 1)",
                         [locator, secrets.token_bytes(32), now + CLAIM_SECONDS])
            return locator

        locator = self.shared.transaction(hold)
        try:
            yield locator
        finally:
            self._release(locator)

    def _free(self, conn: sqlite3.Connection, taken: Taken) -> str:
        for _ in range(DRAWS):
            locator = self.draw()
            held = conn.execute("SELECT 1 FROM reservations WHERE locator = ?",
                                [locator]).fetchone()
            if held is None and not taken(locator):
                return locator
        raise LocatorsBusyError("no free locator found")

    def _valid(self, conn: sqlite3.Connection, locator: object, token: object) -> bool:
        """One code path for every case: free, someone else's, in use, expired, claimed."""
        row = conn.execute("SELECT token_hash, expires, claimed FROM reservations"
                           " WHERE locator = ?",
                           [locator if isinstance(locator, str) else ""]).fetchone()
        stored, expires, claimed = row if row is not None else (_NO_RESERVATION, 0.0, 1)
        same = hmac.compare_digest(stored, _digest(token))
        return same & (expires > self.clock()) & (claimed == 0)

    def _release(self, locator: str) -> None:
        """Delete a claimed row. If the RAM file fails now, the row expires on its own:
        the tip may already be committed, and its sender must hear so."""
        try:
            self.shared.transaction(
                lambda conn: conn.execute("DELETE FROM reservations WHERE locator = ?",
                                          [locator]))
        except TipdropError:
            pass
