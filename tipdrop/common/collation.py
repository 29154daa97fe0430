"""Alphabetical order as a Kazakh or Russian reader expects it.

Python sorts strings by code point, which puts the Kazakh letters (Ә, Ғ, Қ,
Ң, Ө, Ұ, Ү, Һ, І live at U+04xx) after every Russian letter: "Ақмола" would
come after "Ясное". A reporter looking for her region scans the list in her
alphabet's order, so regions and categories are sorted here by each
language's own alphabet. PyICU would do this too, but it has no wheels on
PyPI (it builds against the system's ICU); the two alphabets below are small
and fixed, and tests/common/test_collation.py holds them to real names.

The key compares letter by letter on the alphabet's order, case and
punctuation ignored first (spaces and hyphens count as a word break, before
any letter), then breaks ties on the text itself, so the order is total and
stable.
"""

#: The Kazakh Cyrillic alphabet (42 letters), in its order.
KAZAKH = "аәбвгғдеёжзийкқлмнңоөпрстуұүфхһцчшщъыіьэюя"
#: The Russian alphabet (33 letters), in its order; the Kazakh letters a
#: Russian text may carry in a name ("Ұлытау") follow their nearest letter.
RUSSIAN = "аәбвгғдеёжзиійкқлмнңоөпрстуұүфхһцчшщъыьэюя"
LATIN = "abcdefghijklmnopqrstuvwxyz"

_WORD_BREAK = 0
_DIGITS = 1


def _ranks(alphabets):
    ranks, n = {}, 100
    for alphabet in alphabets:
        for letter in alphabet:
            if letter not in ranks:
                ranks[letter] = n
                n += 1
    return ranks


#: Each language's own script first, then the other.
_ORDERS = {
    "kk": _ranks((KAZAKH, LATIN)),
    # Russian dictionaries file Ё with Е; the text breaks the tie.
    "ru": _ranks((RUSSIAN, LATIN)) | {"ё": _ranks((RUSSIAN,))["е"]},
    "en": _ranks((LATIN, KAZAKH)),
}


def sort_key(text: str, lang: str) -> tuple:
    """A key that sorts ``text`` in ``lang``'s alphabetical order (kk, ru, en)."""
    ranks = _ORDERS.get(lang, _ORDERS["en"])
    primary = []
    for char in text.casefold():
        if char in ranks:
            primary.append(ranks[char])
        elif char.isdigit():
            primary.append(_DIGITS)
        elif char.isspace() or char in "-‐–—(),.«»\"'":
            if primary and primary[-1] != _WORD_BREAK:
                primary.append(_WORD_BREAK)
        else:
            primary.append(10_000 + ord(char))
    return (tuple(primary), text.casefold(), text)
