"""A proof-of-work puzzle instead of a flat refusal when a limit is reached (docs/protocol.md section 21).

Every onion visitor arrives from 127.0.0.1, so the per-client limits of
ratelimit.py stop all of them or none. Past a limit, a client that says it
can compute (the pages' script sends ``Tipdrop-Puzzle: accept``; every JSON
API client is assumed to) gets its 429 with a *challenge*: a token signed
by this server (tipdrop/protocol/puzzle.py) that costs a phone a few seconds
of SHA-256 work with WebCrypto. The request sent again with the solution in
``Tipdrop-Puzzle-Solution`` passes the limit, once. A browser without
JavaScript, or without WebCrypto, gets the 429 page as before.

What the server keeps: nothing per challenge it hands out (the MAC proves
it made one, under a key of the day derived from the token secret). Per
*accepted* solution, the challenge's random id and its expiry (a whole
minute) in the RAM file the workers share (ratelimit.py), until that expiry,
so a solution is spent once; no client, no address. The table is bounded:
past MAX_SPENT live ids, solutions are refused as busy (503), never
forgotten early (which would let them be replayed).

The difficulty rises with load: each doubling of the solutions accepted in
the last LIFETIME seconds beyond LOAD_STEP adds one bit (doubles the work),
up to MAX_RISE bits. A challenge one bit easier than the current difficulty
is still accepted, so a phone that started when the load was lower is not
sent back at the first rise.
"""

import time

from flask import request

from tipdrop.protocol import puzzle
from tipdrop.server.web.limits import BusyError

ACCEPT_HEADER = "Tipdrop-Puzzle"
SOLUTION_HEADER = puzzle.SOLUTION_HEADER
#: Seconds a challenge may take to be solved and sent (its expiry is then
#: rounded up to a whole minute): a slow phone and a slow network, but short
#: enough that hoarded challenges are stale soon.
LIFETIME = 600
#: Solutions accepted per LIFETIME before the difficulty rises one bit.
LOAD_STEP = 64
#: The most bits the load adds (x16 the work).
MAX_RISE = 4
#: Spent ids the RAM file holds at most (about 40 bytes each).
MAX_SPENT = 100_000
#: How long a process trusts the load it last read, in seconds.
LOAD_CACHE = 1.0


def rise_for(accepted):
    """Bits the load adds: 0 below LOAD_STEP, then one per doubling, up to MAX_RISE."""
    rise = 0
    while rise < MAX_RISE and accepted >= LOAD_STEP << rise:
        rise += 1
    return rise


def wants_puzzle():
    """Whether this request's client solves puzzles: an app, or a page's script that says so."""
    return request.path.startswith("/api/") or (
        request.headers.get(ACCEPT_HEADER) == "accept"
        or SOLUTION_HEADER in request.headers)


class Puzzles:
    """Hands out challenges and spends solutions, for one server (all its workers)."""

    def __init__(self, shared, secret, bits, clock=time.time, monotonic=time.monotonic):
        self.shared = shared
        self.secret = secret
        self.bits = bits
        self.clock = clock
        self.monotonic = monotonic
        self._load = (float("-inf"), 0)

    @property
    def enabled(self):
        return self.bits > 0

    def difficulty(self):
        """The bits a challenge made now asks for."""
        return min(self.bits + rise_for(self._accepted()), puzzle.MAX_DIFFICULTY)

    def issue(self, purpose):
        """A new challenge for the limit ``purpose`` (not stored anywhere)."""
        now = int(self.clock())
        expires = -(-(now + LIFETIME) // 60) * 60  # rounded up to a whole minute
        return puzzle.make(self.secret, purpose=purpose, difficulty=self.difficulty(),
                           expires=expires)

    def redeem(self, text, purpose):
        """Accept one solution for ``purpose`` and spend it, or raise why not.

        A refusal (puzzle.PuzzleRefusedError, 429) carries a new challenge,
        so the client can try again at once. Returns a function that gives
        the solution back, unspent (see context.uncount_request).
        """
        try:
            challenge, nonce = puzzle.read_solution(self.secret, text)
            now = int(self.clock())
            least = max(self.bits, self.difficulty() - 1)
            puzzle.check(challenge, nonce, purpose=purpose, now=now, least_difficulty=least)
            accepted = self.shared.transaction(
                lambda conn: self._spend(conn, challenge.id, challenge.expires, now))
            self._load = (self.monotonic(), accepted + 1)
        except puzzle.PuzzleRefusedError as error:
            error.puzzle = self.issue(purpose)
            raise
        return lambda: self.shared.transaction(lambda conn: conn.execute(
            "DELETE FROM puzzles_spent WHERE id = ?", [challenge.id]))

    def answer(self, challenge):
        """The challenge as the JSON answer carries it."""
        return {
            "algorithm": "tipdrop/v1/puzzle",
            "challenge": challenge.text,
            "difficulty": challenge.difficulty,
            "expires_in": max(0, challenge.expires - int(self.clock())),
        }

    @staticmethod
    def _spend(conn, id_, expires, now):
        conn.execute("DELETE FROM puzzles_spent WHERE expires <= ?", [now])
        if conn.execute("SELECT 1 FROM puzzles_spent WHERE id = ?", [id_]).fetchone():
            raise puzzle.PuzzleSpentError()
        (live,) = conn.execute("SELECT COUNT(*) FROM puzzles_spent").fetchone()
        if live >= MAX_SPENT:
            raise BusyError()
        conn.execute("INSERT INTO puzzles_spent (id, expires) VALUES (?, ?)", [id_, expires])
        return live

    def _accepted(self):
        """Solutions accepted in the last LIFETIME seconds, all workers together (cached briefly)."""
        at, accepted = self._load
        if self.monotonic() - at < LOAD_CACHE:
            return accepted
        now = int(self.clock())

        def count(conn):
            conn.execute("DELETE FROM puzzles_spent WHERE expires <= ?", [now])
            return conn.execute("SELECT COUNT(*) FROM puzzles_spent").fetchone()[0]

        accepted = self.shared.transaction(count)
        self._load = (self.monotonic(), accepted)
        return accepted
