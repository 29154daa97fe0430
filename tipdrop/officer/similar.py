"""Similar reports, suggested on a tip's page: same region and category, similar words.

It works on the unlocked in-memory index (tipdrop/officer/search.py) and
nothing else: no file, no structure of its own beyond a table of report
lengths. Two steps, each done by a well-kept library:

1. **Candidates: SQLite FTS5**, the full-text index search already builds at
   unlock. The tip's longest words are looked up at once, restricted to the
   tip's region and category, and ranked by BM25 (which weighs each word by
   how few tips hold it): a handful of tips sharing the unusual words of
   this one (a street, a name, a car's make).
2. **Score: rapidfuzz** (``fuzz.ratio`` over the two sorted lists of
   distinct words, 0–100: twice the words both reports use over the words
   of each, the Dice coefficient, computed by rapidfuzz's bit-parallel
   Indel distance): how alike the two reports' words are, order and
   repetition ignored, on the report text only (the reporter's
   what/where/when/description/contact; not notes or replies, which repeat
   the unit's own templates). Only those at :data:`MIN_SCORE` or above are
   suggested. Compared letter by letter instead (``token_sort_ratio``), two
   unrelated 2 KB reports in one language already score about 60: they
   share the letters of the everyday words; as sets of words they score
   about 25 and a near-copy above 90 (bench/officer_app.py).

Why not MinHash-LSH (datasketch): it needs numpy and scipy (about 100 MiB
of memory and a second to import on the workstation) and a signature per
tip computed at every unlock, which on 10,000 tips costs longer than the
decryption itself; and its threshold sees only near-copies. Why not
rapidfuzz alone over every tip of a region and category: scoring 10,000
reports of 2 KB takes seconds. FTS5 narrows to a few, rapidfuzz judges
them: no extra work at unlock, milliseconds per tip page (bench/officer_app.py).

Text is compared as search indexes it: folded by :func:`folding.fold` (case,
ё/е, Kazakh letters), so a Kazakh report retyped without its Kazakh letters
still matches.
"""

import re
import sqlite3
from dataclasses import dataclass

from rapidfuzz import fuzz

#: Suggestions below this score (0–100) are not shown. Unrelated reports of one
#: language share its everyday words and score about 20–35 (bench/officer_app.py
#: records the highest in its run); a report written again, with words moved,
#: replaced or retyped without Kazakh letters, scores 75 and up.
MIN_SCORE = 50
#: The tip's words looked up to find candidates.
LOOKUP_WORDS = 24
#: Candidates (best BM25 first) scored with rapidfuzz.
CANDIDATES = 20
#: Suggestions shown on a tip's page.
SHOWN = 5
_TOKEN = re.compile(r"[^\W_]+")

SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (n INTEGER PRIMARY KEY, chars INTEGER NOT NULL,
                                    text TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Similar:
    """A tip suggested as similar: its list row and how alike the reports are (0–100)."""

    tip: dict
    score: int


def create(db: sqlite3.Connection) -> None:
    """Add what similarity needs to a new index (after search.SCHEMA)."""
    db.executescript(SCHEMA)


def put(db: sqlite3.Connection, n: int | None, report_chars: int, text: str) -> None:
    """Keep tip ``n``'s indexed text and how much of it is the report (it comes first)."""
    db.execute("INSERT OR REPLACE INTO reports (n, chars, text) VALUES (?, ?, ?)",
               [n, report_chars, text])


def _report(db, n):
    """The distinct words of tip ``n``'s report, sorted."""
    row = db.execute("SELECT substr(text, 1, chars) FROM reports WHERE n = ?", [n]).fetchone()
    return sorted(set(_TOKEN.findall(row[0]))) if row else []


def _telling_words(words):
    """The report's longest words: in Kazakh, Russian and English the rarer ones.

    Counting how many tips hold each word (FTS5's vocabulary table) reads
    the whole index entry of every word of the report: 20 ms a tip on 2,000
    tips, and growing with them. Length is free, and BM25 then weighs the
    words by their real rarity among the few it looks up.
    """
    return sorted(words, key=lambda word: (-len(word), word))[:LOOKUP_WORDS]


def similar_tips(db: sqlite3.Connection, tip_id: str, limit: int = SHOWN,
                 min_score: int | None = None) -> list[Similar]:
    """Tips of the same region and category whose reports read like ``tip_id``'s, best first.

    ``min_score``: :data:`MIN_SCORE` unless given (the bench asks for 0, to see the scores).
    """
    cut = MIN_SCORE if min_score is None else min_score
    row = db.execute("SELECT n, region, category FROM tips WHERE id = ?", [tip_id]).fetchone()
    if row is None:
        return []
    n, region, category = row
    report = _report(db, n)
    words = _telling_words(report)
    if not words:
        return []
    # Words are runs of letters and digits: quoted, nothing in them is FTS5 syntax.
    expression = " OR ".join(f'"{word}"' for word in words)
    candidates = db.execute(
        "SELECT t.* FROM fulltext.words JOIN tips t ON t.n = words.rowid WHERE words MATCH ? "
        "AND t.region = ? AND t.category = ? AND t.n != ? ORDER BY bm25(words) LIMIT ?",
        [expression, region, category, n, CANDIDATES]).fetchall()
    found = []
    for candidate in candidates:
        score = fuzz.ratio(report, _report(db, candidate["n"]), score_cutoff=cut)
        if score >= cut:
            found.append(Similar(dict(candidate), round(score)))
    found.sort(key=lambda s: (-s.score, s.tip["id"]))
    return found[:limit]
