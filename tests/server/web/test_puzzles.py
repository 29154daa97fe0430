"""The server's side of the puzzle: difficulty under load, spent ids, bounds (tipdrop/server/web/puzzles.py).

The HTTP behaviour over real gunicorn is in tests/e2e/test_puzzle.py; here
the app runs in-process so the clock and the load steps can be set.
"""

import pytest

from tipdrop.protocol import puzzle
from tipdrop.server.web import puzzles
from tipdrop.server.web.limits import BusyError

BITS = 4
REPORT = {"region": "astana", "category": "theft", "description": "A bicycle was stolen."}


class Clock:
    def __init__(self, now=1_800_000_000):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def app(app_config):
    from tipdrop.server.web import create_app

    return create_app(app_config | {"submits_per_hour": 1, "puzzle_bits": BITS})


@pytest.fixture
def server_puzzles(app):
    """The app's Puzzles, on a clock the test moves."""
    found = app.extensions["tipdrop"]["puzzles"]
    found.clock = Clock()
    return found


def _solve(server_puzzles, purpose="submit"):
    return puzzle.solve(server_puzzles.issue(purpose))


@pytest.mark.parametrize(("accepted", "rise"), [
    (0, 0), (63, 0), (64, 1), (127, 1), (128, 2), (255, 2), (256, 3), (511, 3), (512, 4),
    (10**6, 4),
])
def test_the_difficulty_rises_one_bit_per_doubling_of_accepted_solutions(accepted, rise):
    assert puzzles.LOAD_STEP == 64 and puzzles.MAX_RISE == 4
    assert puzzles.rise_for(accepted) == rise


def test_under_load_challenges_get_harder_and_one_bit_easier_is_still_accepted(
        server_puzzles, monkeypatch):
    monkeypatch.setattr(puzzles, "LOAD_STEP", 4)
    # Given a challenge handed out before any load
    early = server_puzzles.issue("submit")
    assert early.difficulty == BITS
    # When four solutions were accepted
    for _ in range(4):
        server_puzzles.redeem(_solve(server_puzzles), "submit")
    # Then new challenges ask one bit more, and the early one still passes
    assert server_puzzles.issue("submit").difficulty == BITS + 1
    server_puzzles.redeem(puzzle.solve(early), "submit")
    # When the load doubles again, a challenge two bits easier is refused
    later = server_puzzles.issue("submit")
    for _ in range(3):
        server_puzzles.redeem(_solve(server_puzzles), "submit")
    assert server_puzzles.issue("submit").difficulty == BITS + 2
    stale = puzzle.make(server_puzzles.secret, purpose="submit", difficulty=BITS,
                        expires=later.expires)
    with pytest.raises(puzzle.PuzzleTooEasyError) as refused:
        server_puzzles.redeem(puzzle.solve(stale), "submit")
    assert refused.value.puzzle.difficulty == BITS + 2
    server_puzzles.redeem(puzzle.solve(later), "submit")


def test_the_load_falls_as_spent_ids_expire(server_puzzles, monkeypatch):
    monkeypatch.setattr(puzzles, "LOAD_STEP", 2)
    monkeypatch.setattr(puzzles, "LOAD_CACHE", 0)
    for _ in range(2):
        server_puzzles.redeem(_solve(server_puzzles), "submit")
    assert server_puzzles.difficulty() == BITS + 1
    server_puzzles.clock.now += puzzles.LIFETIME + 60
    assert server_puzzles.difficulty() == BITS


def test_a_spent_id_is_kept_until_its_expiry_and_nothing_else(app, server_puzzles):
    challenge = server_puzzles.issue("submit")
    server_puzzles.redeem(puzzle.solve(challenge), "submit")
    rows = app.extensions["tipdrop"]["submit_limit"].shared.rows()["puzzles_spent"]
    # Only the random id and the expiry, a whole minute: no client, no time of arrival
    assert rows == [(challenge.id, challenge.expires)]
    assert challenge.expires % 60 == 0
    assert server_puzzles.clock.now + puzzles.LIFETIME <= challenge.expires
    assert challenge.expires < server_puzzles.clock.now + puzzles.LIFETIME + 60
    # When its expiry passes, the next redeem removes it (and the challenge is expired anyway)
    server_puzzles.clock.now = challenge.expires
    with pytest.raises(puzzle.PuzzleExpiredError):
        server_puzzles.redeem(puzzle.solve(challenge), "submit")
    server_puzzles.redeem(_solve(server_puzzles), "submit")
    rows = app.extensions["tipdrop"]["submit_limit"].shared.rows()["puzzles_spent"]
    assert challenge.id not in {row[0] for row in rows} and len(rows) == 1


def test_past_the_bound_solutions_are_refused_as_busy_never_forgotten(server_puzzles, monkeypatch):
    monkeypatch.setattr(puzzles, "MAX_SPENT", 3)
    spent = [_solve(server_puzzles) for _ in range(3)]
    for solution in spent:
        server_puzzles.redeem(solution, "submit")
    with pytest.raises(BusyError):
        server_puzzles.redeem(_solve(server_puzzles), "submit")
    # The spent ones are still refused as spent: a full table forgets nothing
    with pytest.raises(puzzle.PuzzleSpentError):
        server_puzzles.redeem(spent[0], "submit")


def test_puzzle_bits_0_means_the_plain_429_for_everyone(app_config):
    from tipdrop.server.web import create_app

    client = create_app(app_config | {"submits_per_hour": 1, "puzzle_bits": 0}).test_client()
    assert client.post("/api/v1/tips", json=REPORT).status_code == 201
    answer = client.post("/api/v1/tips", json=REPORT)
    assert answer.status_code == 429 and "puzzle" not in answer.json
    probe = client.get("/api/v1/puzzle?for=submit").json
    assert probe == {"limit_reached": True, "puzzle": None}


def test_the_page_script_gets_json_and_the_form_without_it_a_page(client):
    client.post("/api/v1/tips", json=REPORT)
    plain = client.post("/submit?lang=kk", data={}, content_type="multipart/form-data")
    assert plain.status_code == 429 and plain.mimetype == "text/html"
    script = client.post("/submit?lang=kk", data={}, content_type="multipart/form-data",
                         headers={puzzles.ACCEPT_HEADER: "accept"})
    assert script.status_code == 429 and script.json["puzzle"]["difficulty"] == BITS
