"""The rules every field of a record from the other side must keep, in one table.

Export bundles come to the workstation from a server that may be
compromised, over a transfer stick anyone may edit; reply bundles and
acknowledgements come to the server from whoever can reach it. Their
ciphertexts are authenticated, but the clear metadata around them (days,
numbers, codes, statuses) is only what the sender wrote. A value let in
unchecked fails later and far away: a tip whose ``received_day`` was
``2024-99-99`` opened, and then ``officer list`` crashed for the whole
workspace; a ``reply_seq`` of 2^63-1 opened, and ``officer reply`` crashed
when the next number did not fit SQLite's 64-bit integer.

So each record is checked whole when it is read, against the rules below,
and refused there with one line naming the record and the field. What is
stored afterwards is exactly what a rule let through. docs/protocol.md
section 10 ("The fields of a record") lists the same rules.
"""

import base64
import binascii
import datetime
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import pybase64

from tipdrop.crypto import keys
from tipdrop.crypto.keys import UNIT_NAME
from tipdrop.errors import FormatError
from tipdrop.protocol import questions

#: What a region or category code looks like. Codes travel inside reports
#: sealed on reporters' devices too, where the workstation checks them.
CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


#: The statuses a tip can have (docs/protocol.md section 11); officers set them.
STATUSES = (
    "received",
    "in-review",
    "need-info",
    "confirmed",
    "unfounded",
    "duplicate",
    "referred",
    "closed",
    # Forwarded to another unit with tipdrop (protocol.md section 11a): set only
    # by a forward, never by a reply; the receiving unit's replies go on from it.
    "transferred",
)
#: The statuses a reply may set: every one but "transferred", which only a forward sets.
REPLY_STATUSES = tuple(s for s in STATUSES if s != "transferred")

#: The largest number any record may carry: JavaScript's largest exact integer
#: (2^53 - 1), so every implementation reads it exactly, and far enough below
#: SQLite's 2^63 - 1 that counting on from it (+1) can never overflow.
MAX_NUMBER = 2**53 - 1
#: The most replies one tip may have: the server refuses a reply numbered
#: beyond it (that tip's replies only), the workstation numbers none beyond it,
#: and a tip new to a workspace whose export says more were sent is refused
#: (docs/protocol.md section 10): a number near MAX_NUMBER is an altered export.
MAX_REPLIES = 100_000
#: The largest attachment stream (bundles.MAX_STREAM_RECORD).
MAX_SIZE = 16 * 1024**3

# \A...\Z with ASCII classes: "$" also matches before a trailing newline, and
# \d matches the digits of every script.
_DAY = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_HEX32 = re.compile(r"\A[0-9a-f]{32}\Z")
_HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")
_PART = re.compile(r"\Aa[1-9][0-9]{0,2}\Z")


#: What raises when a record breaks a rule: an exception class taking one message.
ErrorClass: TypeAlias = Callable[[str], Exception]
#: A record as parsed JSON (its members are arbitrary until a rule checked them).
JSONObject: TypeAlias = dict[str, Any]


class Invalid(ValueError):
    """Why a value breaks its rule (said after the field's name)."""


@dataclass(frozen=True)
class Rule:
    """One field's rule: ``check`` returns the value to keep, or raises Invalid.

    ``json`` says which JSON values the rule can accept, for Compact's fast
    path: "string", "base64" (a string the rule accepts only as base64
    text), "number", "flag", any of them followed by "|null"; "" for none.
    """

    describe: str
    check: Callable[[Any], Any]
    required: bool = True
    default: Any = None
    json: str = ""
    #: For a "string" rule: a regex (no anchors, no group) that a string matches
    #: whole exactly when ``check`` accepts it and keeps it as it is, which
    #: Compact's regex matches in place of calling ``check``; "" for none.
    pattern: str = ""

    def optional(self, default: Any = None) -> "Rule":
        """The same rule for a field that may be missing (then ``default`` is kept)."""
        return Rule(self.describe, self.check, False, default, self.json, self.pattern)


def _text(pattern: re.Pattern[str], describe: str) -> Rule:
    def check(value: object) -> str:
        if not isinstance(value, str) or not pattern.search(value):
            raise Invalid(f"is not {describe}")
        return value
    # pattern is \A...\Z: search finds a whole string the inner part matches.
    inner = pattern.pattern
    whole = inner.startswith(r"\A") and inner.endswith(r"\Z") and not pattern.flags & re.MULTILINE
    return Rule(describe, check, json="string", pattern=inner[2:-2] if whole else "")


def _day(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid("is not a day YYYY-MM-DD")
    return _real_day(value)


@functools.lru_cache(maxsize=4096)
def _real_day(value: str) -> str:
    """``value`` if it is a real calendar day; remembered, since a bundle's
    records name the same few days over and over (an import checks two per tip).
    A refused value raises, and is not remembered."""
    if not _DAY.search(value):
        raise Invalid("is not a day YYYY-MM-DD")
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        raise Invalid("is not a real calendar day") from None
    return value


def number(low: int, high: int = MAX_NUMBER) -> Rule:
    """An integer from ``low`` to ``high`` (JSON true/false and 1.0 are not numbers)."""
    def check(value: object) -> int:
        if type(value) is not int or not low <= value <= high:
            raise Invalid(f"is not a whole number from {low} to {high}")
        return value
    return Rule(f"integer {low} to {high}", check, json="number")


def one_of(*values: str) -> Rule:
    def check(value: object) -> str:
        if not isinstance(value, str) or value not in values:
            raise Invalid(f"is not one of {', '.join(values)}")
        return value
    return Rule(" | ".join(values), check, json="string", pattern="|".join(map(re.escape, values)))


def constant(expected: str | int) -> Rule:
    def check(value: object) -> object:
        if type(value) is not type(expected) or value != expected:
            raise Invalid(f"is not {expected!r}")
        return value
    return Rule(repr(expected), check, json="number" if type(expected) is int else "string")


def b64decode(text: str) -> bytes:
    """Strict base64 (RFC 4648, with padding) of ASCII ``text``, as
    ``base64.b64decode(text, validate=True)`` reads it; binascii.Error if not.

    pybase64's decoder first: Python's own reads about 2 ns a character, as
    long as the unseal of a tip takes to read its 4 KB body
    (bench/officer_import.py); pybase64's SIMD one about fifteen times less.
    What pybase64 accepts the standard decoder accepts alike, byte for byte
    (tests/protocol/test_fields.py); what it refuses goes to the standard
    decoder, whose verdict stands (it accepts a little more, e.g. "AAAA====").
    """
    try:
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return base64.b64decode(text.encode("ascii"), validate=True)


def raw(length: int | None = None, low: int = 0, high: int | None = None) -> Rule:
    """Base64 text (RFC 4648, with padding); the decoded bytes are kept."""
    def check(value: object) -> bytes:
        if not isinstance(value, str) or not value.isascii():
            raise Invalid("is not base64 text")
        try:
            data = b64decode(value)
        except (binascii.Error, ValueError):
            raise Invalid("is not valid base64") from None
        if length is not None and len(data) != length:
            raise Invalid(f"is not {length} bytes")
        if len(data) < low or high is not None and len(data) > high:
            raise Invalid("has an implausible length")
        return data
    return Rule(f"base64 of {length} bytes" if length else "base64", check, json="base64")


def reply_public() -> Rule:
    """A reporter's X25519 reply key that replies can be sealed to (not a low-order point)."""
    decode = raw(32).check

    def check(value: object) -> bytes:
        data: bytes = decode(value)
        if not keys.usable_reply_public(data):
            raise Invalid("is not a usable X25519 public key")
        return data
    return Rule("base64 of a 32-byte X25519 public key", check, json="base64")


def nullable(rule: Rule) -> Rule:
    """``rule``, or JSON null (kept as None)."""
    def check(value: object) -> Any:
        return None if value is None else rule.check(value)
    return Rule(f"{rule.describe} or null", check, json=rule.json and rule.json + "|null",
                pattern=rule.pattern)


def flag() -> Rule:
    def check(value: object) -> bool:
        if type(value) is not bool:
            raise Invalid("is not true or false")
        return value
    return Rule("true | false", check, json="flag")


DAY = Rule("YYYY-MM-DD, a real calendar day", _day, json="string")
TIP_ID = _text(_HEX32, "32 lower-case hex digits")
KEY_ID = _text(_HEX32, "32 lower-case hex digits")
EXPORT_ID = _text(_HEX32, "32 lower-case hex digits")
CHAIN = _text(_HEX64, "64 lower-case hex digits")
UNIT = _text(re.compile(UNIT_NAME.pattern.replace("^", r"\A").replace("$", r"\Z")),
             "a unit name (1-32 of a-z, 0-9, '-', not starting with '-')")
CODE_RULE = _text(re.compile(rf"\A{CODE.pattern}\Z"),
                  "a code (1-64 of a-z, 0-9, '-', not starting with '-')")
STATUS = one_of(*STATUSES)
SEALED_BY = one_of("server", "device")
PART = _text(_PART, "a part name a1 to a999")
SIGNATURE = raw(64)

#: Every record type, field by field (docs/protocol.md sections 10 and 11).
EXPORT_HEADER = {
    "format": constant("tipdrop-export"), "version": constant(1), "unit": UNIT,
    "export_seq": number(1), "created_day": DAY,
    "since_start": flag().optional(False),
    # Missing from a server older than compact acknowledgements (section 11).
    "export_id": EXPORT_ID.optional(), "previous_chain": CHAIN.optional(),
    "chain": CHAIN.optional(),
}
EXPORT_TIP = {
    "id": TIP_ID, "key_id": KEY_ID, "region": CODE_RULE, "category": CODE_RULE,
    "received_day": DAY, "status": STATUS, "status_day": DAY,
    "reply_public": reply_public(),
    # The next reply is reply_seq + 1: one less than the largest number.
    "reply_seq": number(0, MAX_NUMBER - 1),
    "encrypted_on": SEALED_BY.optional("server"),
    # null: the server deleted the report after the unit acknowledged it.
    "body": nullable(raw(low=1)),
}
EXPORT_FOLLOWUP = {
    "tip_id": TIP_ID, "seq": number(1), "received_day": DAY,
    "encrypted_on": SEALED_BY.optional("server"), "body": raw(low=1),
}
EXPORT_ATTACHMENT = {
    "tip_id": TIP_ID, "part": PART, "info": raw(low=1), "size": number(0, MAX_SIZE),
}
REPLY_BUNDLE = {
    "format": constant("tipdrop-replies"), "version": constant(1), "unit": UNIT,
    "key_id": KEY_ID, "created_day": DAY, "signature": SIGNATURE,
}
REPLY = {
    "tip_id": TIP_ID, "seq": number(1), "day": DAY, "status": STATUS,
    "body": raw(), "signature": SIGNATURE,
}
EXPORT_ACK = {
    "format": constant("tipdrop-export-ack"), "version": constant(1), "unit": UNIT,
    "key_id": KEY_ID, "export_seq": number(1), "signature": SIGNATURE,
}
EXPORT_ACK_V2 = {
    "format": constant("tipdrop-export-ack"), "version": constant(2), "unit": UNIT,
    "key_id": KEY_ID, "signature": SIGNATURE,
}

def text(low: int, high: int) -> Rule:
    """Unicode text (no lone surrogate, no NUL) of ``low`` to ``high`` characters."""
    def check(value: object) -> str:
        if not isinstance(value, str) or "\x00" in value:
            raise Invalid("is not text")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Invalid("is not valid Unicode text") from None
        if not low <= len(value) <= high:
            raise Invalid(f"is not {low} to {high} characters long")
        return value
    return Rule(f"text of {low} to {high} characters", check)


#: One answer in the report's ``answers`` list (docs/protocol.md section 13;
#: tipdrop/protocol/questions.py builds them). A device may send anything: the
#: workstation checks each answer whole before it shows one.
ANSWER = {
    "id": _text(re.compile(rf"\A{questions.QUESTION_ID.pattern}\Z"),
                "a question id (1-32 of a-z, 0-9, '-', starting with a letter)"),
    "kind": one_of(*questions.KINDS),
    "label": text(1, questions.MAX_LABEL),
    "value": text(1, questions.MAX_ANSWER),
    "value_label": text(1, questions.MAX_LABEL).optional(),
}


def answers(doc: object, error: ErrorClass = FormatError) -> list[dict[str, str]]:
    """The report's ``answers``, each checked (ANSWER, and its value for its kind).

    An empty list when the report has none (it was made before questions,
    or its category asks none).
    """
    if doc is None:
        return []
    if not isinstance(doc, list) or len(doc) > questions.MAX_QUESTIONS:
        raise error(f"the report's answers are not a list of at most {questions.MAX_QUESTIONS}")
    checked: list[dict[str, str]] = []
    seen: set[str] = set()
    for n, item in enumerate(doc, 1):
        answer = check(item, ANSWER, f"the report's answer {n}", error)
        if answer["id"] in seen:
            raise error(f"the report answers question {answer['id']!r} twice")
        seen.add(answer["id"])
        kind, value = answer["kind"], answer["value"]
        if kind == "date" and not questions.is_day(value):
            raise error(f"the report's answer {n} is not a real day YYYY-MM-DD")
        if kind == "yes-no" and value not in questions.YES_NO:
            raise error(f"the report's answer {n} is not yes or no")
        if kind in ("choice", "yes-no") and answer["value_label"] is None:
            raise error(f"the report's answer {n} has no value_label")
        checked.append({k: v for k, v in answer.items() if v is not None})
    return checked


#: Every table above with its name in the protocol, for docs and tests.
RECORDS = {
    "export header": EXPORT_HEADER, "export tip": EXPORT_TIP,
    "export follow-up": EXPORT_FOLLOWUP, "export attachment": EXPORT_ATTACHMENT,
    "reply bundle": REPLY_BUNDLE, "reply": REPLY, "export acknowledgement": EXPORT_ACK,
    "compact export acknowledgement": EXPORT_ACK_V2,
}


def _no_repeats(pairs: list[tuple[str, Any]]) -> JSONObject:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        # Two values for one name: another parser might keep the other one.
        raise Invalid("an object names a member twice")
    return dict(pairs)


def _no_constant(name: str) -> float:
    raise Invalid(f"{name} is not a JSON number")


#: json.loads with these arguments would build a decoder for every call (an
#: import parses a record per tip): the same decoder, made once.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_repeats, parse_constant=_no_constant)


def loads(data: bytes | bytearray | memoryview, error: ErrorClass = FormatError,
          what: str = "it") -> Any:
    """Parse UTF-8 JSON from the other side; raise ``error`` if it is not valid.

    Stricter than json.loads: an object naming a member twice, and NaN or
    Infinity (not JSON), are refused (docs/protocol.md, conventions).
    """
    try:
        return _DECODER.decode(bytes(data).decode("utf-8"))
    except Invalid as e:
        raise error(f"{what} is not valid JSON: {e}") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise error(f"{what} is not valid JSON") from None


def check(doc: object, rules: dict[str, Rule], what: str,
          error: ErrorClass = FormatError) -> JSONObject:
    """The fields of ``doc`` that ``rules`` name, each checked; raise ``error`` on the first bad one.

    Members the rules do not name are ignored (a later version may add some);
    the result holds only checked values, decoded where the rule decodes
    (base64 becomes bytes).
    """
    if not isinstance(doc, dict):
        raise error(f"{what} is not a JSON object")
    checked: JSONObject = {}
    for name, rule in rules.items():
        if name not in doc:
            if rule.required:
                raise error(f"{what} has no {name!r}")
            checked[name] = rule.default
            continue
        try:
            checked[name] = rule.check(doc[name])
        except Invalid as e:
            raise error(f"{what}'s {name!r} {e} (it is {_shown(doc[name])})") from None
    return checked


def _shown(value: object, limit: int = 40) -> str:
    """A short, printable picture of a refused value: repr escapes control characters."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        text = repr(value)
        return text if len(text) <= limit else text[:limit] + "..."
    return "null" if value is None else f"a JSON {type(value).__name__}"
