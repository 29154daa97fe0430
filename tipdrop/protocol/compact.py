"""A fast path for reading a record written exactly as tipdrop's server writes it.

An import reads one JSON record per tip (bundles.ExportReader) and checks
every field against its rule (fields.py). Parsing the JSON, then walking the
rules, cost about as much as the unseal of the tip itself
(bench/officer_import.py). A server writes each record the same way:
compact JSON, ASCII only, the members in the order of their table in
fields.py, no member more. :class:`Compact` matches that one form with a
single compiled regex, turns each member's text into the value JSON would
give, and runs the field's own rule on it: the same checks, in the same
place, without the JSON parser. A rule that is a pattern alone (an id, a
code, a status: fields.Rule.pattern) is matched by the regex itself, which
spares a call of the rule per member (a tip record has six such).

It only ever *accepts*: anything else (another order, a space, an escape,
an unknown member, a value its rule refuses) makes :meth:`Compact.read`
return None, and the caller parses and checks the record the general way,
which refuses it with the same error as ever. So the fast path cannot let
through anything the general one refuses, nor give another value: every
string it accepts holds no escape, so its text is its value, and the rule
that decides is the same (or its own pattern, which accepts exactly what the
rule keeps as it is: tests/protocol/test_compact.py).
"""

import re
from collections.abc import Callable, Mapping
from typing import Any

from tipdrop.protocol.fields import Invalid, JSONObject, Rule

# Printable ASCII but '"' and '\\': a JSON string of these characters is its own value.
_STRING = r'"([ !#-\[\]-~]*)"'
# A JSON integer of at most 18 digits (larger ones go the general way).
_NUMBER = r"(-?(?:0|[1-9][0-9]{0,17}))"
_FLAG = r"(true|false)"
_TOKENS = {"string": _STRING, "base64": _STRING, "number": _NUMBER, "flag": _FLAG}
# A rule's own pattern (fields.Rule.pattern) is matched in the regex in place of
# its check only when it is made of these: lower-case letters, digits and "-"
# (alone, in classes of them and in ranges between two letters or two digits),
# quantifiers and "|". Such a pattern matches nothing but those characters, so
# never a quote or a backslash: the string it matches holds no escape and ends
# at its closing quote. Any other pattern's rule is called as ever.
_SAFE_PATTERN = re.compile(r"(?:\[(?:[a-z]-[a-z]|[0-9]-[0-9]|[a-z0-9])+-?\]|[a-z0-9]|\\-"
                           r"|\{[0-9]+(?:,[0-9]+)?\}|[*+?|])+")


def _flag(text: str) -> bool:
    return text == "true"


#: What turns a member's text into the value JSON gives (a string is its own).
_VALUES: dict[str, Callable[[str], Any] | None] = {
    "string": None, "base64": None, "number": int, "flag": _flag}


class Compact:
    """Read a record of one table of fields.py in the form the server writes.

    The last member, when its rule takes base64 (a tip's or a follow-up's
    sealed body, thousands of characters), is not matched by the regex but
    found by its end: the record ends ``"}`` and the text between holds no
    other quote and no backslash, which string searches in C say at once.
    Its rule accepts base64 text only, so a control character there is
    refused by the rule, as the JSON parser would refuse it.
    """

    def __init__(self, rules: Mapping[str, Rule]) -> None:
        self._rules = list(rules.items())
        kinds = [rule.json for _, rule in self._rules]
        if not all(kinds):
            raise ValueError("every rule needs a JSON form for the fast path")
        last_kind, _, last_null = kinds[-1].partition("|")
        #: The last member is read by its end (see the class docstring).
        self._tail = last_kind == "base64"
        self._tail_null = bool(last_null)
        pattern = [r"\{"]
        #: The members whose value the regex alone checks (their rule's pattern).
        matched = set()
        for n, (name, rule) in enumerate(self._rules):
            pattern.append(("," if n else "") + '"' + re.escape(name) + '":')
            if self._tail and n == len(self._rules) - 1:
                break
            kind, _, null = rule.json.partition("|")
            token = _TOKENS[kind]
            if kind == "string" and rule.pattern and _SAFE_PATTERN.fullmatch(rule.pattern):
                token = '"((?:' + rule.pattern + '))"'
                matched.add(name)
            pattern.append(r"(?:null|" + token + r")" if null else token)
        if not self._tail:
            pattern.append(r"\}")
        self._pattern = re.compile("".join(pattern))
        self._names = tuple(name for name, _ in self._rules)
        #: The rules still called: (name, check, what turns the member's text into its value).
        self._fields = [(name, rule.check, _VALUES[rule.json.partition("|")[0]])
                        for name, rule in self._rules if name not in matched]

    def read(self, data: bytes) -> JSONObject | None:
        """The record's checked fields, as fields.check gives them; None: not this form."""
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            return None
        if self._tail:
            found = self._pattern.match(text)
            if found is None:
                return None
            start = found.end()
            last: str | None
            if self._tail_null and text.endswith("null}", start) and len(text) == start + 5:
                last = None
            elif (text.startswith('"', start) and text.find('"', start + 1) == len(text) - 2
                  and text.endswith('"}') and text.find("\\", start) < 0):
                last = text[start + 1:-2]
            else:
                return None
            texts = (*found.groups(), last)
        else:
            found = self._pattern.fullmatch(text)
            if found is None:
                return None
            texts = found.groups()
        # Every member in its table's order; those the regex did not check alone,
        # turned into their value and checked by their rule.
        checked: JSONObject = dict(zip(self._names, texts, strict=True))
        try:
            for name, check, value in self._fields:
                member = checked[name]
                if member is not None and value is not None:
                    member = value(member)
                checked[name] = check(member)
        except Invalid:
            return None
        return checked
