"""The full-text index fills after the inbox is usable: search waits, Lock stops it.

The same real parts as test_officer_app.py (a workspace opened from a bundle
the server's code exported, a real key file, Flask's test client as the
browser). To catch the index half-built, its thread is paused at one real
point: right after the list is whole and before the full-text index is
committed (SearchIndex._listed is set there); everything else runs as in the
app.
"""
# The app's fixtures are imported from test_officer_app.py and used as arguments:
# ruff: noqa: F811

import re
import sqlite3
import threading
import time

import pytest

from tests.officer.test_officer_app import (  # noqa: F401 (fixtures)
    PASSPHRASE,
    app,
    clock,
    desk,
    get,
    launched,
    post,
    search,
    tip_ids,
    unit,
    workdir,
)
from tipdrop.officer.search import SearchIndex


@pytest.fixture
def paused(monkeypatch):
    """Every SearchIndex made from now on: its thread stops once the list is whole,
    until the returned event is set. The indexes are in ``paused.made``."""
    go = threading.Event()
    made = []

    class Listed(threading.Event):
        def set(self):
            super().set()
            if threading.current_thread().name == "search-index":
                assert go.wait(60), "the test never let the index go on"

    real_init = SearchIndex.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self._listed = Listed()
        made.append(self)

    monkeypatch.setattr(SearchIndex, "__init__", init)
    go.made = made
    yield go
    go.set()


def unlock_to_the_inbox(client):
    """Type the passphrase and wait, as the progress page does, until the inbox opens."""
    assert post(client, "/unlock", {"passphrase": PASSPHRASE}).status_code == 303
    job = client.application.extensions["officer_desk"].unlocking
    assert job is None or job.finished.wait(60)
    ready = get(client, "/unlocking")
    assert ready.status_code == 303 and ready.location.endswith("/inbox"), ready.data


def test_the_inbox_opens_before_the_full_text_index_and_search_waits_for_it(app, paused):
    client = launched(app)
    unlock_to_the_inbox(client)
    [index] = paused.made
    assert not index.words_ready.is_set()
    # The inbox lists every tip already.
    tips = tip_ids(get(client, "/inbox"))
    assert len(tips) == 4
    # A search says how far the index is and reloads itself: never "no tips match".
    answer = search(client, "велосипед")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert 'id="search-building"' in page and "Search index: 99 %" in page
    assert 'http-equiv="refresh"' in page
    assert tip_ids(answer) == [] and 'id="no-tips"' not in page
    # A tip's page says the same where similar reports would be, not "no similar report".
    tip_page = get(client, f"/tip/{tips[0]}").get_data(as_text=True)
    assert 'id="similar-building"' in tip_page and 'id="similar"' not in tip_page
    # A note written meanwhile is indexed too, once the thread goes on.
    assert post(client, f"/tip/{tips[0]}/note", {"text": "Дежурный перезвонил."}
                ).status_code == 303

    paused.set()
    assert index.wait_for_words(60)
    again = get(client, re.sub(r"^https?://[^/]+", "", answer.request.url))
    assert len(tip_ids(again)) == 1 and 'id="search-building"' not in again.get_data(
        as_text=True)
    assert tip_ids(search(client, "дежурный")) == [tips[0]]
    assert 'id="similar-building"' not in get(client, f"/tip/{tips[0]}").get_data(
        as_text=True)


def test_lock_while_the_full_text_index_is_built_stops_its_thread_and_frees_it(app, paused):
    client = launched(app)
    desk = app.extensions["officer_desk"]
    unlock_to_the_inbox(client)
    [index] = paused.made
    assert desk.unlocked and not index.words_ready.is_set()
    # Lock, as a request thread of the app would, while the index's thread is mid-way.
    locking = threading.Thread(target=desk.lock)
    locking.start()
    deadline = time.monotonic() + 60
    while not index._stop and time.monotonic() < deadline:
        time.sleep(0.01)
    paused.set()
    locking.join(60)
    assert not locking.is_alive() and not index._thread.is_alive()
    assert not desk.unlocked and desk._index is None
    # Both in-memory databases are gone: the list closed, the full-text one freed
    # (opening its name again finds a new, empty database).
    with pytest.raises(sqlite3.ProgrammingError):
        index.db.execute("SELECT 1")
    fresh = sqlite3.connect(index._words_uri, uri=True)
    assert fresh.execute("SELECT COUNT(*) FROM sqlite_master").fetchone() == (0,)
    fresh.close()
    # And the app is locked: nothing is served until the passphrase again.
    assert get(client, "/inbox").status_code == 403
    assert post(client, "/search", {"q": "велосипед"}).status_code == 403
