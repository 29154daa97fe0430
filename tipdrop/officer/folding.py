"""Text as the officer app's search indexes and matches it: folded, and cut into words.

Search has to work for Kazakh, Russian and English as officers actually type
them. :func:`fold` normalises text before it is indexed and before a query
is matched: NFC, lower case, ё→е, and the Kazakh letters to the Russian
letters that stand in for them on a keyboard without them (қ→к, ң→н, ғ→г,
ә→а, ө→о, ұ/ү→у, һ→х, і→и), so "казак" finds "Қазақ" and "ещё" finds
"еще"; Latin letters lose their accents (é→e, ş→s, ğ→g), and the
punctuation and spaces typed outside ASCII (« » — … “ ” № and the like)
become spaces.

Folding is all the index (tipdrop/officer/search.py) needs, so FTS5 is
given the ``ascii`` tokenizer, which splits at ASCII punctuation and spaces
and takes every other letter as it comes: a third of the work of ``unicode61``, which would look up and
fold each Cyrillic letter again (bench/officer_app.py). A query is cut into
words at the same places (:data:`QUERY_WORD`), so each word of it is one
token of the index. Each word of a query is cut to its stem (Snowball's
Russian stemmer for Cyrillic, its English one for Latin letters; the
snowballstemmer package, pure Python, the stemmers search engines use) and
matches as a prefix: "взятка" finds "взятку", "pills" finds "pill". The
text is indexed as written, so a stem that is too short only finds more.
Snowball has no Kazakh stemmer: a Kazakh word matches as a prefix, which
covers words typed without their suffixes ("бала" finds "балалар").
"""

import re
import unicodedata
from functools import cache

import snowballstemmer

#: Letters folded after case folding (see the module docstring).
FOLDS = (("ё", "е"), ("ә", "а"), ("ғ", "г"), ("қ", "к"), ("ң", "н"), ("ө", "о"), ("ұ", "у"),
         ("ү", "у"), ("һ", "х"), ("і", "и"), ("ß", "ss"))
#: Latin letters with accents (Latin-1, and those of Kazakh's and Turkish's Latin
#: alphabets) and the letter they fold to, after lower case.
ACCENTS = tuple(
    (letter, unicodedata.normalize("NFD", letter)[0])
    for letter in "àáâãäåçèéêëìíîïñòóôõöùúûüýÿāăąćčďēėęěğīįľłńňōőřśşšţťūůűųźżž"
    if unicodedata.normalize("NFD", letter)[0].isascii())
#: Spaces and punctuation outside ASCII that texts in our languages use: spaces
#: in the index (the ascii tokenizer would take them for letters). The soft
#: hyphen, the zero-width (non-)joiners, the word joiner and a byte order mark
#: are dropped: they sit inside a word.
SEPARATORS = "\u00a0\u2007\u202f\u2002\u2003\u2009\u200b«»‹›„“”‚‘’—–‒―‑‐…•·№§°×÷¶"
JOINERS = "\u00ad\u200c\u200d\u2060\ufeff"
_RARE_FOLDS = (ACCENTS + tuple((mark, " ") for mark in SEPARATORS)
               + tuple((mark, "") for mark in JOINERS))
_RARE_LEADS = (b"\xc2", b"\xc3", b"\xc4", b"\xc5", b"\xe2", b"\xef")
#: Words of a query that count; more are ignored (a query is a few words, not a document).
MAX_QUERY_WORDS = 16
#: Stems shorter than this are not used: the word itself is (a prefix too short finds everything).
MIN_STEM = 3
#: A word of a query: what the ascii tokenizer takes as one (anything but ASCII
#: punctuation and spaces), so a quoted word is always one token of the index.
QUERY_WORD = re.compile(r"[^\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def fold(text: str) -> str:
    """``text`` as it is indexed and searched (see the module docstring)."""
    # lower() is casefold() for our three languages (ß is folded below), at half the cost.
    text = unicodedata.normalize("NFC", text or "").lower()
    # str.replace of a letter the text lacks only scans it: far faster than
    # translate() or a regular expression over Cyrillic text. Kazakh and ё are
    # common; accents and punctuation outside ASCII are looked for only when
    # the UTF-8 form has a first byte of theirs (U+0080-U+017F, U+2000-U+2FFF,
    # U+FEFF): a few memchr calls instead of some eighty scans.
    for letter, base in FOLDS:
        text = text.replace(letter, base)
    encoded = text.encode()
    if any(lead in encoded for lead in _RARE_LEADS):
        for letter, base in _RARE_FOLDS:
            text = text.replace(letter, base)
    return text


def match_expression(query: str) -> str | None:
    """An FTS5 MATCH expression for what the officer typed: every word, each as a prefix.

    Words are quoted, so nothing the officer types is read as FTS5 syntax.
    None when the query holds no word.
    """
    words = QUERY_WORD.findall(fold(query))[:MAX_QUERY_WORDS]
    if not words:
        return None
    return " ".join(f'"{stem(word)}"*' for word in words)


@cache
def _stemmer(language):
    return snowballstemmer.stemmer(language)


def stem(word: str) -> str:
    """The stem of a folded query word (Russian rules for Cyrillic, English for Latin)."""
    language = "russian" if _CYRILLIC.search(word) else "english"
    found = _stemmer(language).stemWord(word)
    return found if len(found) >= MIN_STEM else word
