"""The unlocked workspace as an in-memory index: the inbox's lists, counts and full-text search.

Built when the officer unlocks the app (tipdrop/officer/app/) and dropped
when it locks: the decrypted text lives only in SQLite's in-memory
databases (``:memory:`` for the list, a ``memdb`` one for the full-text
index; ``temp_store = MEMORY``, so not even a sort spills to a temporary
file), never on disk. The workspace itself stays the record; the index is a
fast, disposable view of it.

Search has to work for Kazakh, Russian and English as officers actually type
them: the text is folded (tipdrop/officer/folding.py) before it is indexed
and before a query is matched, and the FTS5 index is given the ``ascii``
tokenizer over the folded text (see folding.py for why).
"""

import json
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable

from tipdrop.errors import ConfigError, TipdropError
from tipdrop.officer import similar
from tipdrop.officer.decrypted import decrypted_tips
from tipdrop.officer.folding import fold, match_expression  # noqa: F401 (tests use it from here)
from tipdrop.officer.inboxlist import InboxList
from tipdrop.protocol.routing import URGENT_BY_DEFAULT

#: FTS5 options: see folding.py for the tokenizer. Positions are kept
#: (detail=full): search needs none (every query word is one token, matched as a
#: prefix), but similar reports rank their candidates by BM25, which without
#: them counts each word once per tip and misses near-copies among short tips
#: (tests/officer/test_similar.py); the cost falls on the index's own thread.
#: The text is kept once, in the reports table, not again by FTS5 (content='').
FTS_OPTIONS = "tokenize = 'ascii', detail = full, content = ''"
#: Tips decrypted and inserted together when the index is built.
BATCH = 128

SCHEMA = """
CREATE TABLE tips (
    n INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, status TEXT NOT NULL,
    category TEXT NOT NULL, region TEXT NOT NULL,
    received TEXT NOT NULL, unread INTEGER NOT NULL, attachments INTEGER NOT NULL,
    damaged INTEGER NOT NULL, urgent INTEGER NOT NULL, language TEXT NOT NULL,
    summary TEXT NOT NULL, answered INTEGER NOT NULL);
-- Every inbox page counts by status, lists the categories and regions and
-- shows the first tips in order: from these, without reading every row.
CREATE INDEX tips_status ON tips (status);
CREATE INDEX tips_category ON tips (category);
CREATE INDEX tips_region ON tips (region);
CREATE INDEX tips_newest ON tips (urgent DESC, received DESC, id);
CREATE INDEX tips_oldest ON tips (urgent DESC, received, id);
-- The views "waiting for a first answer" and "new follow-ups", and their counts.
CREATE INDEX tips_waiting ON tips (answered, received, id);
CREATE INDEX tips_unread ON tips (unread);
"""
WORDS_SCHEMA = f"CREATE VIRTUAL TABLE fulltext.words USING fts5(text, {FTS_OPTIONS})"


class NoFullTextSearchError(ConfigError):
    """This Python's SQLite lacks FTS5 or memdb, which the officer app needs."""


def require_fts5() -> None:
    """Refuse to start the app on a Python whose SQLite cannot hold the index (a clear error,
    not a crash): FTS5 with the ascii tokenizer, in a ``memdb`` database attached by name."""
    db = sqlite3.connect(":memory:", uri=True)
    try:
        db.execute("ATTACH ? AS probe", [f"file:/tipdrop-probe-{secrets.token_hex(8)}?vfs=memdb"])
        db.execute(f"CREATE VIRTUAL TABLE probe.words USING fts5(text, {FTS_OPTIONS})")
    except sqlite3.OperationalError:
        raise NoFullTextSearchError(f"SQLite {sqlite3.sqlite_version}") from None
    finally:
        db.close()


class SearchIndexFailedError(TipdropError):
    """The search index could not be built: lock the app and unlock it again."""

    http_status = 500


class SearchIndexBuildingError(TipdropError):
    """The search index is still being built: search again in a moment."""

    http_status = 503

    def __init__(self, percent: int):
        super().__init__(f"{percent} %")
        self.percent = percent


class SearchIndex(InboxList):
    """The decrypted text and metadata of every tip, in memory, for one unlocked session.

    Two in-memory databases: the list (the ``tips`` table and each report's
    folded text), in this connection's own ``:memory:``; and the full-text
    index, ``words``, in a private in-memory database (SQLite's ``memdb``,
    named at random, never a file) attached to it. :meth:`build` fills the
    list and hands each batch of texts to a thread that fills the full-text
    index through its own connection: SQLite lets go of Python's lock while
    it indexes, so that thread works on the second core while this one
    decrypts, and the inbox is usable as soon as the list is whole. Search
    and similar reports wait for :attr:`words_ready`
    (:class:`SearchIndexBuildingError` until then, never an empty answer).
    """

    def __init__(self, urgent: Iterable[str] = ()):
        # check_same_thread off: the idle watchdog closes it from its own thread;
        # the app serialises every use (tipdrop/officer/app/desk.py).
        self.db = sqlite3.connect(":memory:", check_same_thread=False, uri=True)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA temp_store = MEMORY")
        self.db.executescript(SCHEMA)
        similar.create(self.db)
        self._words_uri = f"file:/tipdrop-words-{secrets.token_hex(16)}?vfs=memdb"
        self.db.execute("ATTACH ? AS fulltext", [self._words_uri])
        self.db.execute(WORDS_SCHEMA)
        self.db.commit()
        self.urgent = frozenset(urgent)
        #: Set while the full-text index holds every text handed over (or failed):
        #: from the start (an empty index is whole), and again once a build ends.
        self.words_ready = threading.Event()
        self.words_ready.set()
        self.words_done = 0
        self.words_total = 0
        #: CPU time of the decrypting thread (in build) and of the index's thread, for
        #: bench/officer_app.py: the bound it is measured against uses one core.
        self.list_cpu_seconds = 0.0
        self.words_cpu_seconds = 0.0
        self._words_error: BaseException | None = None
        self._feed: queue.SimpleQueue = queue.SimpleQueue()
        self._late: list | None = None  # while the thread runs: refreshed texts it adds last
        self._lock = threading.Lock()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._listed = threading.Event()
        #: The list's counts, read once per change of the list (:meth:`_counted`).
        self._counted_cache: dict = {}

    def close(self) -> None:
        """Stop the full-text thread (it drops its unfinished work) and free both databases."""
        self._stop = True
        self._feed.put(None)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self.db.close()

    def build(self, workspace, keyring,
              progress: Callable[[int, int], None] = lambda n, total: None) -> int:
        """Decrypt every tip of ``workspace`` into this new index; return how many.

        This thread decrypts and folds; the index's thread (:meth:`_fill`)
        writes each batch of :data:`BATCH` tips into the list and the
        full-text index (one executemany per table), SQLite working while
        this thread decrypts the next batch. Returns once the list is whole:
        the inbox works; search waits for the full-text index
        (:meth:`wait_for_words`), which follows a batch behind.
        bench/officer_app.py measures both against the bare HPKE unseal.
        """
        (total,) = workspace.db.execute("SELECT COUNT(*) FROM tips").fetchone()
        self.words_total = total
        self.words_ready.clear()
        self._late = []
        self._thread = threading.Thread(target=self._fill, name="search-index", daemon=True)
        self._thread.start()
        count = 0
        cpu = time.thread_time()
        try:
            for batch in self._rows(decrypted_tips(workspace, keyring)):
                self._feed.put([(count + i, *row) for i, row in enumerate(batch, 1)])
                count += len(batch)
                progress(count, total)
        finally:
            self._feed.put(None)  # the end (or, after an error, close() stops the thread)
        self.words_total = count
        self.list_cpu_seconds = time.thread_time() - cpu
        self._listed.wait()
        if self._words_error is not None:
            raise SearchIndexFailedError() from self._words_error
        return count

    def _fill(self) -> None:
        """The index's thread: write each batch into the list and the full-text index.

        The list (this index's connection) is committed once whole, and the
        inbox may use it; the full-text index (its own connection to the
        attached in-memory database) then adds the texts refreshed meanwhile
        and is committed, and search may use it.
        """
        start = time.thread_time()
        words = sqlite3.connect(self._words_uri, uri=True, isolation_level=None,
                                check_same_thread=False)
        try:
            words.execute("PRAGMA temp_store = MEMORY")
            words.execute("BEGIN")
            while (batch := self._feed.get()) is not None and not self._stop:
                self.db.executemany(
                    "INSERT INTO tips (n, id, status, category, region, received, unread,"
                    " attachments, damaged, urgent, language, summary, answered)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [r[:-2] for r in batch])
                self.db.executemany("INSERT INTO reports (n, chars, text) VALUES (?, ?, ?)",
                                    [(r[0], r[-1], r[-2]) for r in batch])
                words.executemany("INSERT INTO words (rowid, text) VALUES (?, ?)",
                                  [(r[0], r[-2]) for r in batch])
                self.words_done += len(batch)
            if self._stop:
                self._words_error = SearchIndexFailedError()  # closed: nothing to search
                return
            self.db.commit()
            self._counted_cache.clear()
            self._listed.set()
            with self._lock:
                if self._stop:  # locked while the list was in use: nothing more to do
                    self._words_error = SearchIndexFailedError()
                    return
                words.executemany("INSERT INTO words (rowid, text) VALUES (?, ?)", self._late or [])
                words.execute("COMMIT")
                self._late = None  # from now on a refresh writes the index itself
        except BaseException as e:  # a bug: the unlock fails, search never misses
            self._words_error = e
        finally:
            words.close()
            self.words_cpu_seconds = time.thread_time() - start
            self._listed.set()
            self.words_ready.set()

    def wait_for_words(self, timeout: float | None = None) -> bool:
        """Wait until the full-text index is whole; False if ``timeout`` came first.

        SearchIndexFailedError if it could not be built.
        """
        if not self.words_ready.wait(timeout):
            return False
        if self._words_error is not None:
            raise SearchIndexFailedError() from self._words_error
        return True

    def words_percent(self) -> int:
        """How much of the full-text index is built, 0–99 (100 is ready, not a count)."""
        return min(99, self.words_done * 100 // max(1, self.words_total))

    def _require_words(self) -> None:
        if not self.words_ready.is_set():
            raise SearchIndexBuildingError(self.words_percent())
        if self._words_error is not None:
            raise SearchIndexFailedError() from self._words_error

    def _rows(self, tips):
        """Batches of (row of tips..., folded text, length of its report part)."""
        batch = []
        for tip in tips:
            batch.append(self._row(tip))
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def _row(self, tip: dict) -> tuple:
        # fold() works letter by letter: folding the pieces and joining them is
        # folding the whole, and tells where the report's own words end.
        pieces = [fold(text) for text in tip["texts"]]
        report_chars = len("\n".join(pieces[:tip["report_parts"]]))
        return (tip["id"], tip["status"], tip["category"], tip["region"], tip["received"] or "",
                tip["unread_followups"], tip["attachments"], int(tip["damaged"]),
                int(tip["category"] in self.urgent), tip["language"], tip["summary"],
                int(tip["answered"]), "\n".join(pieces), report_chars)

    def refresh(self, workspace, keyring, tip_id: str) -> None:
        """Index one tip again, after a note, a reply or a status change."""
        self.refresh_many(workspace, keyring, [tip_id])

    def refresh_many(self, workspace, keyring, tip_ids: Iterable[str],
                     progress: Callable[[int, int], None] = lambda n, total: None) -> None:
        """Index these tips again (or add them), :data:`BATCH` at a time: after a bulk status
        change or an import, work for the tips it touched, not for the whole workspace."""
        ids = list(dict.fromkeys(tip_ids))
        with self.db:
            for start in range(0, len(ids), BATCH):
                for tip in decrypted_tips(workspace, keyring, ids[start:start + BATCH]):
                    self._put(tip)
                progress(min(start + BATCH, len(ids)), len(ids))

    def tips_held(self, tip_ids: Iterable[str]) -> set[str]:
        """Which of ``tip_ids`` this index lists."""
        ids = list(tip_ids)
        found: set[str] = set()
        for start in range(0, len(ids), BATCH):
            part = ids[start:start + BATCH]
            marks = ", ".join("?" * len(part))  # the values are bound parameters
            found.update(r[0] for r in self.db.execute(
                f"SELECT id FROM tips WHERE id IN ({marks})", part))  # noqa: S608
        return found

    def _put(self, tip: dict) -> None:
        """List ``tip`` anew, its words indexed once.

        Words unchanged (a status set, follow-ups read: every view of a tip
        page comes here): its row changes in place, nothing is added. Words
        changed (a note, a reply, a follow-up): the tip gets a new row number
        and its old words are taken out of the full-text index (a contentless
        FTS5 table deletes given the old text again, which ``reports`` keeps).
        While the index's thread still fills it, they stay, leading nowhere:
        every search and similar looks its matches up in tips.
        """
        self._counted_cache.clear()  # every count may change
        *row, text, report_chars = self._row(tip)
        old = self.db.execute("SELECT t.n, r.text FROM tips t LEFT JOIN reports r ON r.n = t.n"
                              " WHERE t.id = ?", [tip["id"]]).fetchone()
        if old is not None and old[1] == text:
            self.db.execute(
                "UPDATE tips SET status = ?, category = ?, region = ?, received = ?, unread = ?,"
                " attachments = ?, damaged = ?, urgent = ?, language = ?, summary = ?,"
                " answered = ? WHERE n = ?", [*row[1:], old[0]])
            return
        if old is not None:
            self.db.execute("DELETE FROM tips WHERE n = ?", [old[0]])
            self.db.execute("DELETE FROM reports WHERE n = ?", [old[0]])
            with self._lock:
                if self._late is None and old[1] is not None:  # its words are in the index
                    self.db.execute("INSERT INTO fulltext.words (words, rowid, text)"
                                    " VALUES ('delete', ?, ?)", old)
        n = self.db.execute(
            "INSERT INTO tips (id, status, category, region, received, unread, attachments,"
            " damaged, urgent, language, summary, answered)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row).lastrowid
        # The report's own words come first: similar.py compares those alone.
        similar.put(self.db, n, report_chars, text)
        with self._lock:
            if self._late is not None:  # the full-text thread still runs: it adds these
                self._late.append((n, text))
                return
        self.db.execute("INSERT INTO fulltext.words (rowid, text) VALUES (?, ?)", [n, text])

    def similar(self, tip_id: str) -> list:
        """Tips of the same region and category whose reports read alike (similar.py)."""
        self._require_words()
        return similar.similar_tips(self.db, tip_id)


def urgent_default(categories_file) -> list:
    """The categories urgent by default: a child in danger, domestic violence (when defined)."""
    with open(categories_file, encoding="utf-8") as f:
        codes = json.load(f)["items"]
    return [code for code in URGENT_BY_DEFAULT if code in codes]
