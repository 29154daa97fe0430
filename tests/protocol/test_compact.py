"""The fast path for records in the server's own form reads what the general path reads.

protocol/compact.py may only accept: whatever it accepts, fields.check
(after fields.loads) accepts too, with the same value; anything else falls
back to the general path, which refuses it with its own error.
"""

import base64
import json
import os
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tipdrop.errors import FormatError
from tipdrop.protocol import fields
from tipdrop.protocol.compact import Compact

TIP = {
    "id": "0123456789abcdef0123456789abcdef", "key_id": "fedcba9876543210fedcba9876543210",
    "region": "astana", "category": "drugs", "received_day": "2026-12-06",
    "status": "received", "status_day": "2026-12-07",
    "reply_public": base64.b64encode(bytes(range(1, 33))).decode(),
    "reply_seq": 3, "encrypted_on": "server",
    "body": base64.b64encode(os.urandom(2000)).decode(),
}
FOLLOWUP = {"tip_id": TIP["id"], "seq": 2, "received_day": "2026-12-08",
            "encrypted_on": "device", "body": base64.b64encode(b"\x01" * 300).decode()}
ATTACHMENT = {"tip_id": TIP["id"], "part": "a1", "info": base64.b64encode(b"\x02" * 90).decode(),
              "size": 123456}
TABLES = [(fields.EXPORT_TIP, TIP), (fields.EXPORT_TIP, TIP | {"body": None}),
          (fields.EXPORT_FOLLOWUP, FOLLOWUP), (fields.EXPORT_ATTACHMENT, ATTACHMENT)]
COMPACT = {id(rules): Compact(rules) for rules, _ in TABLES}


def _server_form(doc, ensure_ascii=True):
    """The bytes bundles.ExportWriter writes for ``doc``."""
    return json.dumps(doc, ensure_ascii=ensure_ascii, separators=(",", ":")).encode()


def _general(rules, data):
    return fields.check(fields.loads(data), rules, "a record")


def _same_as_general(rules, data):
    """Compact.read on ``data``: None, or exactly what the general path gives."""
    fast = COMPACT[id(rules)].read(data)
    if fast is not None:
        assert _general(rules, data) == fast  # raises if the general path refuses it
    return fast


@pytest.mark.parametrize(("rules", "doc"), TABLES)
def test_a_record_as_the_server_writes_it_is_read_by_the_fast_path_as_the_general_one_reads_it(
        rules, doc):
    data = _server_form(doc)
    fast = _same_as_general(rules, data)
    assert fast is not None
    assert fast["id" if "id" in doc else "tip_id"] == TIP["id"]


@pytest.mark.parametrize(("change", "why"), [
    (lambda d: d.replace(b'"status":"received"', b'"status": "received"'), "a space"),
    (lambda d: d.replace(b'{"id"', b'{"x":1,"id"'), "an unknown member"),
    (lambda d: d.replace(b'"reply_seq":3', b'"reply_seq":3,"reply_seq":3'), "a repeated member"),
    (lambda d: d[:-3] + b'\\/A"}', "an escape in the body"),
    (lambda d: d.replace(b'"region":"astana"', b'"region":"\\u0061stana"'), "an escape"),
])
def test_a_record_in_another_form_goes_the_general_way(change, why):
    data = change(_server_form(TIP))
    assert data != _server_form(TIP), why
    assert COMPACT[id(fields.EXPORT_TIP)].read(data) is None


@pytest.mark.parametrize(("member", "value", "error"), [
    ("received_day", "2024-99-99", "'received_day' is not a real calendar day"),
    ("status_day", "2023-02-29", "'status_day' is not a real calendar day"),
    ("reply_seq", 2**53, "'reply_seq' is not a whole number"),
    ("reply_public", base64.b64encode(bytes(32)).decode(), "not a usable X25519 public key"),
    ("region", "-astana", "'region' is not a code"),
    ("status", "RECEIVED", "'status' is not one of"),
    ("body", "AAAA====", None),  # base64 the general path accepts: the fast path must agree
    ("body", "AA=A", "'body' is not valid base64"),
    ("body", "AAAA\tAAA", "not valid JSON"),
    ("body", "", "'body' has an implausible length"),
])
def test_a_malformed_field_in_the_servers_form_is_refused_by_the_general_path(member, value,
                                                                              error):
    data = _server_form(TIP | {member: value})
    if "\t" in str(value):  # a raw control character, as a hostile server could write it
        data = data.replace(b"\\t", b"\t")
    fast = _same_as_general(fields.EXPORT_TIP, data)
    if error is None:
        assert fast is not None
        return
    assert fast is None
    with pytest.raises(FormatError, match=error.replace("(", r"\(")):
        _general(fields.EXPORT_TIP, data)


def test_a_table_with_a_rule_of_no_json_form_has_no_fast_path():
    with pytest.raises(ValueError):
        Compact(fields.ANSWER)


_values = st.sampled_from([
    None, True, False, 0, -0, 1, -1, 2**53 - 1, 2**53, 10**18, 10**19, "", "a", "A" * 44,
    "2024-02-29", "2024-1-01", "2024-01-01\n", "received", "in-review", "device", "a0", "a1",
    "a999", "a1000", "0" * 32, "0" * 31, "\u0662", "\ud800", "x\"y", "x\\y", "\x00", "\x7f",
    "AAAA", "AA==", "AAA=", "A===", "=AAA", "AAAA====", "AB==", "AAAA AAA",
]) | st.text(max_size=50) | st.integers() | st.floats(allow_nan=True)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=st.sampled_from(range(len(TABLES))), data=st.data(),
       ensure_ascii=st.booleans())
@example(table=0, data=None, ensure_ascii=True)
def test_whatever_a_field_holds_the_fast_path_accepts_only_what_the_general_path_accepts(
        table, data, ensure_ascii):
    rules, doc = TABLES[table]
    if data is not None:
        member = data.draw(st.sampled_from(sorted(doc)))
        doc = doc | {member: data.draw(_values)}
    try:
        payload = json.dumps(doc, ensure_ascii=ensure_ascii, separators=(",", ":")).encode(
            "utf-8", "surrogatepass")
    except ValueError:
        return
    _same_as_general_or_refused(rules, payload)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=st.sampled_from(range(len(TABLES))), at=st.integers(0, 10**6),
       byte=st.integers(0, 255), how=st.sampled_from(["replace", "insert", "delete"]))
def test_whatever_byte_is_changed_the_fast_path_accepts_only_what_the_general_path_accepts(
        table, at, byte, how):
    rules, doc = TABLES[table]
    payload = bytearray(_server_form(doc))
    at %= len(payload)
    if how == "replace":
        payload[at] = byte
    elif how == "insert":
        payload.insert(at, byte)
    else:
        del payload[at]
    _same_as_general_or_refused(rules, bytes(payload))


def _same_as_general_or_refused(rules, payload):
    fast = COMPACT[id(rules)].read(payload)
    try:
        general = _general(rules, payload)
    except FormatError:
        assert fast is None
        return
    assert fast is None or fast == general


def test_the_regex_checks_a_member_alone_only_with_a_pattern_that_cannot_match_an_escape():
    # The table's hex, code and one-of members are matched by their rule's own
    # pattern; the days, numbers and base64 are still checked by their rule.
    assert [name for name, _, _ in COMPACT[id(fields.EXPORT_TIP)]._fields] == [
        "received_day", "status_day", "reply_public", "reply_seq", "body"]
    # A pattern that could match a quote or a backslash is never put in the regex:
    # its rule is called as ever, and refuses what it refuses.
    for pattern in (".*", "[!-~]+", "[0-z]+", r"\w+", "[^x]+", "a|.", "(a)"):
        calls = []

        def check(value, calls=calls):
            calls.append(value)
            if value != "ok":
                raise fields.Invalid("is not ok")
            return value

        loose = fields.Rule("ok", check, json="string", pattern=pattern)
        rules = {"tip_id": fields.TIP_ID, "seq": fields.number(1), "received_day": fields.DAY,
                 "encrypted_on": loose, "body": fields.raw(low=1)}
        reader = Compact(rules)
        assert "encrypted_on" in [name for name, _, _ in reader._fields], pattern
        for value, accepted in (("ok", True), ('x\\"y', False), ("a", False)):
            data = _server_form(FOLLOWUP | {"encrypted_on": value})
            assert (reader.read(data) is not None) is accepted, (pattern, value)


_strings = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e),
                   max_size=70) | st.sampled_from(
    ["0" * 32, "f" * 64, "a1", "a999", "in-review", "received", "demo", "a-" * 20, "-a",
     "A" * 32, "device", "server", "a" * 64, "a" * 65, "0" * 32 + "\n"])


@settings(max_examples=500, deadline=None)
@given(value=_strings)
def test_a_rules_pattern_matches_exactly_the_strings_its_check_keeps_as_they_are(value):
    rules = {id(rule): rule for table in (*fields.RECORDS.values(), fields.ANSWER)
             for rule in table.values() if rule.pattern}
    assert len(rules) >= 6
    for rule in rules.values():
        try:
            kept = rule.check(value) == value
        except fields.Invalid:
            kept = False
        assert (re.fullmatch(f"(?:{rule.pattern})", value) is not None) is kept, rule.describe
