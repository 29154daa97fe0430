"""Search over text as people type it: punctuation and spaces outside ASCII, accents.

The index's FTS5 tokenizer is ``ascii`` (tipdrop/officer/search.py): it
splits only at ASCII punctuation and spaces, so folding.fold must turn the
others into spaces (or join the word, for a soft hyphen) in the text and in
the query alike. A real SearchIndex, tips put in as a refresh puts them.
"""

import pytest

from tipdrop.officer.search import SearchIndex, fold, match_expression


def _row(n, text):
    return {"id": f"{n:032x}", "status": "received", "category": "theft", "region": "almaty",
            "received": "2026-12-01", "unread_followups": 0, "attachments": 0,
            "damaged": False, "language": "ru", "summary": text[:120], "answered": False,
            "texts": [text], "report_parts": 1}


TEXTS = [
    "Сказал: «Қазақстан» — и ушёл.",                # Russian quotes, a dash
    "Живу в г.\u00a0Алматы,\u202fул.\u00a0Абая…",    # no-break spaces, an ellipsis
    "Это при\u00adмер переноса и\u200bслова.",        # a soft hyphen and a zero-width space
    "Café near the schoolyard, „Straße“ №\u00a012.",  # accents, German quotes, ß, №
    "Номер машины:\u2009777\u2009KZA",                # thin spaces
]


@pytest.fixture
def index():
    made = SearchIndex()
    for n, text in enumerate(TEXTS):
        made._put(_row(n, text))
    yield made
    made.close()


@pytest.mark.parametrize("query, n", [
    ("казакстан", 0),            # Kazakh letters typed as Russian ones
    ("ушел", 0),
    ("алматы", 1),
    ("ул абая", 1),
    ("пример", 2),
    ("слова", 2),
    ("cafe", 3),
    ("CAFÉ", 3),
    ("strasse", 3),
    ("12", 3),
    ("777 kza", 4),
])
def test_words_next_to_punctuation_and_spaces_outside_ascii_are_found(index, query, n):
    page = index.inbox(query=query)
    assert [t["id"] for t in page.tips] == [f"{n:032x}"], query


def test_a_query_is_cut_into_words_where_the_index_cuts_the_text():
    # Each quoted word is one token of the ascii tokenizer: no ASCII punctuation in it.
    assert match_expression("«Алматы»—Абая") == '"алмат"* "абая"*'  # stemmed, split
    assert match_expression('a_b"c') == '"a"* "b"* "c"*'
    assert fold("ЁЛКА Қазақ") == "елка казак"
