"""The field rules of records from the other side (tipdrop/protocol/fields.py), at their edges."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipdrop.errors import FormatError
from tipdrop.protocol import fields

ACCEPTED = [
    (fields.DAY, "2024-02-29"), (fields.DAY, "2026-12-31"),
    (fields.TIP_ID, "0123456789abcdef" * 2), (fields.UNIT, "astana-police"),
    (fields.UNIT, "a" * 32), (fields.CODE_RULE, "theft"), (fields.CODE_RULE, "a" * 64),
    (fields.STATUS, "need-info"), (fields.PART, "a1"), (fields.PART, "a999"),
    (fields.number(1), 1), (fields.number(1), fields.MAX_NUMBER),
    (fields.EXPORT_TIP["reply_seq"], 0), (fields.SEALED_BY, "device"),
]
REFUSED = [
    (fields.DAY, "2024-99-99"), (fields.DAY, "2023-02-29"), (fields.DAY, "2024-00-10"),
    (fields.DAY, "2024-1-10"), (fields.DAY, "2024-01-10\n"), (fields.DAY, 20240110),
    (fields.DAY, "\u0662\u0660\u0662\u0664-01-10"),
    (fields.TIP_ID, "0123456789ABCDEF" * 2), (fields.TIP_ID, "0" * 31),
    (fields.UNIT, "-demo"), (fields.UNIT, "a" * 33), (fields.UNIT, "demo\n"),
    (fields.UNIT, "Demo"), (fields.CODE_RULE, "a" * 65), (fields.CODE_RULE, "theft\u202e"),
    (fields.CODE_RULE, ""), (fields.STATUS, "solved"), (fields.STATUS, "closed "),
    (fields.PART, "a0"), (fields.PART, "a01"), (fields.PART, "a1000"), (fields.PART, "f1"),
    (fields.number(1), 0), (fields.number(1), fields.MAX_NUMBER + 1),
    (fields.number(1), 2**63 - 1), (fields.number(1), True), (fields.number(1), 1.0),
    (fields.number(1), "1"), (fields.EXPORT_TIP["reply_seq"], fields.MAX_NUMBER),
    (fields.SEALED_BY, "phone"), (fields.SIGNATURE, "AAAA"), (fields.SIGNATURE, "not base64!"),
    (fields.EXPORT_TIP["reply_public"], "\u00e9"), (fields.flag(), 0),
]


@pytest.mark.parametrize("rule, value", ACCEPTED, ids=[repr(v)[:24] for _, v in ACCEPTED])
def test_values_inside_a_rule_are_kept(rule, value):
    assert rule.check(value) == value


@pytest.mark.parametrize("rule, value", REFUSED, ids=[repr(v)[:24] for _, v in REFUSED])
def test_values_outside_a_rule_are_refused(rule, value):
    with pytest.raises(fields.Invalid):
        rule.check(value)


def test_a_refused_record_is_one_line_naming_record_field_and_value():
    with pytest.raises(FormatError) as refused:
        fields.check({"received_day": "2024-99-99\n"}, {"received_day": fields.DAY}, "a tip")
    message = refused.value.message
    assert "a tip's 'received_day'" in message and "'2024-99-99\\n'" in message
    assert "\n" not in message


def test_missing_fields_are_refused_unless_optional_and_unknown_ones_dropped():
    rules = {"day": fields.DAY, "by": fields.SEALED_BY.optional("server")}
    assert fields.check({"day": "2026-01-10", "extra": 1}, rules, "x") == {
        "day": "2026-01-10", "by": "server"}
    with pytest.raises(FormatError, match="has no 'day'"):
        fields.check({"by": "device"}, rules, "x")


def test_the_largest_number_leaves_room_to_count_on_in_sqlite_and_javascript():
    assert fields.MAX_NUMBER + 1 < 2**63 - 1
    assert fields.MAX_NUMBER == 2**53 - 1  # Number.MAX_SAFE_INTEGER


@pytest.mark.parametrize("text", [
    b'{"status": "closed", "status": "received"}', b'{"a": {"b": 1, "b": 1}}',
    b'{"seq": NaN}', b'{"seq": Infinity}', b'{"x": "\xff"}', b'[1,',
], ids=["repeated-member", "repeated-nested", "nan", "infinity", "not-utf8", "cut"])
def test_json_from_the_other_side_is_strict(text):
    with pytest.raises(FormatError):
        fields.loads(text)


def test_a_reply_bundle_naming_a_member_twice_is_refused(demo_key):
    from tipdrop.protocol import bundles

    reply = bundles.sign_reply(demo_key.ed25519, "demo", demo_key.key_id, tip_id="ab" * 16,
                               seq=1, day="2026-01-10", status="closed", body=b"")
    data = bundles.make_reply_bundle(demo_key.ed25519, "demo", demo_key.key_id, "2026-01-10",
                                     [reply])
    twice = data.replace(b'"status": "closed"', b'"status": "in-review", "status": "closed"')
    assert twice != data
    with pytest.raises(bundles.BundleError, match="twice"):
        bundles.parse_reply_bundle(twice)


def test_a_reply_key_no_reply_could_be_sealed_to_is_refused_at_open():
    import base64

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    rule = fields.EXPORT_TIP["reply_public"]
    with pytest.raises(fields.Invalid):
        rule.check(base64.b64encode(bytes(32)).decode())  # a low-order point
    good = X25519PrivateKey.generate().public_key().public_bytes_raw()
    assert rule.check(base64.b64encode(good).decode()) == good


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=200), edits=st.lists(
    st.tuples(st.integers(0, 400), st.sampled_from(list("A/+=\n -_\x00é.")),
              st.sampled_from(["replace", "insert", "delete"])), max_size=3))
def test_the_fast_base64_decoder_accepts_only_what_the_standard_one_accepts_and_alike(data,
                                                                                       edits):
    # fields.b64decode tries pybase64 first: it may refuse more (the standard
    # decoder then decides), never accept more nor decode otherwise.
    import base64
    import binascii

    import pybase64

    text = list(base64.b64encode(data).decode())
    for at, char, how in edits:
        at %= len(text) + 1
        if how == "insert" or not text:
            text.insert(at, char)
        elif how == "replace":
            text[min(at, len(text) - 1)] = char
        else:
            del text[min(at, len(text) - 1)]
    text = "".join(text)
    try:
        fast = pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        fast = None
    try:
        standard = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError):
        standard = None
    if fast is not None:
        assert fast == standard
    if standard is None:
        with pytest.raises(ValueError):  # binascii.Error is one
            fields.b64decode(text)
    else:
        assert fields.b64decode(text) == standard
