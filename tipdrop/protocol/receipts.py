"""Receipt codes: the one thing an anonymous reporter keeps to come back.

A receipt is 24 symbols, shown as ``XXXX-XXXX-XXXX-XXXX-XXXX-XXXX``: a
5-symbol locator (stored in clear so the server can find the record), an
18-symbol secret (the only part Argon2id hashes) and one check symbol.

The first half of this module is the *format*: making, printing and reading
codes back (docs/protocol.md section 7, pinned by
tests/vectors/receipts.json). The second half protects and verifies the
secret through :mod:`tipdrop.crypto.kdf` (section 8): one Argon2id run yields
both the stored verifier and the reporter's reply key.
"""

import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tipdrop.crypto import kdf
from tipdrop.errors import (
    ReceiptCharacterError,
    ReceiptError,
    ReceiptLengthError,
    ReceiptNotRecognisedError,
    ReceiptTypoError,
)

#: Crockford's base32: digits and capitals without I, L, O and U, so the
#: symbols people confuse when copying by hand never appear in a code.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LOCATOR_LEN = 5
SECRET_LEN = 18
CODE_LEN = LOCATOR_LEN + SECRET_LEN + 1
GROUP_LEN = 4
#: Every locator and secret symbol is drawn independently: 5 bits each.
ENTROPY_BITS = (LOCATOR_LEN + SECRET_LEN) * 5

#: Longer input is refused before normalising it, so nobody can make us
#: NFKC-normalise a megabyte. A generously spaced code is still under 60.
MAX_TYPED_LEN = 200

_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}

#: GF(32) is built modulo x^5 + x^2 + 1, an irreducible (indeed primitive)
#: polynomial, so multiplying by x is a permutation of the 32 symbol values.
_POLYNOMIAL = 0b100101

# The Unicode White_Space property, spelt out rather than str.isspace() (which
# also strips U+001C..U+001F), so that other implementations can match it.
_WHITE_SPACE = "".join(map(chr, [
    *range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
    0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
]))
_SEPARATORS = "-\u2010\u2013\u2014._/"
# Invisible characters that chat apps and word processors slip into pasted
# text: zero-width space/non-joiner/joiner, word joiner, BOM, soft hyphen.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_DROP = str.maketrans("", "", _WHITE_SPACE + _SEPARATORS + _INVISIBLE)

# Applied after upper-casing, so lower-case Cyrillic is covered too. Reporters
# in Kazakhstan often type on a Russian or Kazakh layout, where these keys
# produce letters that look exactly like the Latin ones printed on a receipt.
_LOOK_ALIKES = str.maketrans({
    "O": "0", "I": "1", "L": "1", "U": "V",
    "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K",  # А В Е К
    "\u041c": "M", "\u041d": "H", "\u041e": "0", "\u0420": "P",  # М Н О Р
    "\u0421": "C", "\u0422": "T", "\u0425": "X", "\u0423": "Y",  # С Т Х У
    "\u0417": "3", "\u0406": "1",  # З, and Kazakh/Ukrainian І
    # Kazakh letters: Ү and Ұ are drawn as a Y (Ұ with a stroke), Қ and Ң as
    # K and H with a tail, Һ as an h, Ө as a barred (slashed-looking) zero.
    # Ә and Ғ look like no symbol of the alphabet and stay refused.
    "\u04ae": "Y", "\u04b0": "Y", "\u049a": "K", "\u04a2": "H",  # Ү Ұ Қ Ң
    "\u04ba": "H", "\u04e8": "0",  # Һ Ө
})


@dataclass(frozen=True, repr=False)
class Receipt:
    """A well-formed receipt code. Its repr and str hide the secret so that a
    code never lands in a log line, an f-string or a traceback by accident;
    ask for ``formatted`` explicitly on the one page that shows it."""

    locator: str
    secret: str

    def __post_init__(self) -> None:
        _require_symbols("locator", self.locator, LOCATOR_LEN)
        _require_symbols("secret", self.secret, SECRET_LEN)

    @property
    def code(self) -> str:
        """The 24 symbols, check symbol last, without separators."""
        body = self.locator + self.secret
        return body + ALPHABET[_check_value([_VALUE[s] for s in body])]

    @property
    def formatted(self) -> str:
        """The code in groups of four, the way it is shown and printed."""
        code = self.code
        return "-".join(code[i:i + GROUP_LEN] for i in range(0, CODE_LEN, GROUP_LEN))

    @property
    def secret_bytes(self) -> bytes:
        """The secret's canonical symbols as ASCII: the Argon2id input."""
        return self.secret.encode("ascii")

    def __repr__(self) -> str:
        return f"Receipt(locator={self.locator!r}, secret=<hidden>)"

    __str__ = __repr__


def generate(locator: str | None = None) -> Receipt:
    """Make a new receipt with ENTROPY_BITS of randomness from ``secrets``.

    With ``locator`` (one the server handed out, docs/protocol.md section
    14), only the secret is drawn here.
    """
    if locator is None:
        return _from_values([secrets.randbelow(len(ALPHABET)) for _ in range(CODE_LEN - 1)])
    _require_symbols("locator", locator, LOCATOR_LEN)
    return _from_values([_VALUE[symbol] for symbol in locator]
                        + [secrets.randbelow(len(ALPHABET)) for _ in range(SECRET_LEN)])


def parse(text: object) -> Receipt:
    """Read back a receipt the way a person types it.

    Forgives case, spacing, separators and look-alike letters; refuses
    anything else with an error that never repeats the input, since the
    input is (nearly) a secret.
    """
    if not isinstance(text, str):
        raise ReceiptError("a receipt code must be text")
    if len(text) > MAX_TYPED_LEN:
        raise ReceiptLengthError(f"expected {CODE_LEN} characters, got {len(text)}")
    symbols = _normalise(text)
    if len(symbols) != CODE_LEN:
        raise ReceiptLengthError(f"expected {CODE_LEN} characters, got {len(symbols)}")
    for position, symbol in enumerate(symbols, start=1):
        if symbol not in _VALUE:
            raise ReceiptCharacterError(f"position {position}")
    if _damm([_VALUE[s] for s in symbols]) != 0:
        raise ReceiptTypoError()
    return Receipt(locator=symbols[:LOCATOR_LEN], secret=symbols[LOCATOR_LEN:-1])


def last_group_matches(formatted: str, typed: object) -> bool:
    """Whether ``typed`` is the last group of the code ``formatted``, read the
    way :func:`parse` reads a whole code (case, spaces, look-alike letters).

    The receipt page asks for the last four characters to make sure the code
    was written down; it must accept what /check will accept later.
    """
    if not isinstance(typed, str) or len(typed) > 40:
        return False
    expected = formatted.rsplit("-", 1)[-1]
    return secrets.compare_digest(_normalise(typed).encode(), expected.encode())


def _from_values(values: Sequence[int]) -> Receipt:
    """Build a receipt from 23 symbol values (0..31): locator, then secret.

    The randomness is a parameter here so that tests and the known-answer
    vectors are deterministic; ``generate`` fills it in.
    """
    if len(values) != CODE_LEN - 1:
        raise ReceiptLengthError(f"expected {CODE_LEN - 1} values, got {len(values)}")
    if not all(isinstance(v, int) and 0 <= v < len(ALPHABET) for v in values):
        raise ReceiptCharacterError("symbol values must be integers from 0 to 31")
    body = "".join(ALPHABET[v] for v in values)
    return Receipt(locator=body[:LOCATOR_LEN], secret=body[LOCATOR_LEN:])


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_DROP).upper()
    return text.translate(_LOOK_ALIKES)


def _require_symbols(name: str, value: object, length: int) -> None:
    if not isinstance(value, str):
        raise ReceiptError(f"the {name} must be text")
    if len(value) != length:
        raise ReceiptLengthError(f"the {name} must be {length} symbols")
    if not all(symbol in _VALUE for symbol in value):
        raise ReceiptCharacterError(f"the {name} must use only receipt symbols")


def _gf_mul(a: int, b: int) -> int:
    """Multiply two elements of GF(32): carry-less, reduced by _POLYNOMIAL."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        b >>= 1
        a <<= 1
        if a & 0b100000:
            a ^= _POLYNOMIAL
    return product


def _damm(values: Iterable[int]) -> int:
    """Damm's algorithm over the quasigroup x∘y = 2·x ⊕ y in GF(32).

    Chosen over a plain sum because that quasigroup is totally
    anti-symmetric: every single wrong symbol *and* every swap of two
    neighbours changes the result, the two slips people make most. (In a
    code shorter than 31 symbols, a swap at any distance is caught too.)
    """
    interim = 0
    for value in values:
        interim = _gf_mul(2, interim) ^ value
    return interim


def _check_value(body_values: Iterable[int]) -> int:
    """The check symbol's value: the one that brings the run back to 0.

    The quasigroup's diagonal is not zero (x∘x = 3·x), so the check is not
    the interim itself but the c with interim∘c = 0, i.e. c = 2·interim.
    """
    return _gf_mul(2, _damm(body_values))


# --- protecting and verifying the secret ---------------------------------


@dataclass(frozen=True)
class Protected:
    """What the server stores for a receipt: never the receipt itself."""

    locator: str
    salt: bytes
    params: kdf.Argon2Params
    verifier: bytes
    reply_public: bytes


def protect(receipt: Receipt,
            params: kdf.Argon2Params = kdf.RECEIPT_PARAMS) -> tuple[Protected, kdf.ReceiptKeys]:
    """Derive what the server stores for ``receipt``; also return its ReceiptKeys."""
    salt = secrets.token_bytes(kdf.SALT_LEN)
    derived = kdf.receipt_keys(receipt.secret_bytes, salt, params)
    record = Protected(receipt.locator, salt, params, derived.verifier, derived.reply_public)
    return record, derived


# A fixed salt for receipts whose locator matches nothing: the Argon2id work is
# the same, only the result is thrown away.
_DUMMY_SALT = bytes(kdf.SALT_LEN)


def verify(receipt: Receipt, stored: Protected | None) -> kdf.ReceiptKeys:
    """Return the ReceiptKeys if ``receipt`` matches ``stored`` (a Protected or None).

    An unknown locator (``stored`` is None) runs the same Argon2id work on a
    dummy salt and fails the same way, so the time taken and the error say
    nothing about whether a report with that locator exists.
    """
    if stored is None:
        kdf.receipt_keys(receipt.secret_bytes, _DUMMY_SALT, kdf.RECEIPT_PARAMS)
        raise ReceiptNotRecognisedError()
    derived = kdf.receipt_keys(receipt.secret_bytes, stored.salt, stored.params)
    matches = secrets.compare_digest(derived.verifier, stored.verifier)
    if not matches or not secrets.compare_digest(receipt.locator, stored.locator):
        raise ReceiptNotRecognisedError()
    return derived
