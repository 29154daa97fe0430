"""The report document's reader (tipdrop/protocol/documents.py): a device may send anything."""

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tipdrop.errors import FormatError
from tipdrop.protocol import documents

TIP = "0123456789abcdef0123456789abcdef"


def _report(**members):
    return documents.report_document(tip_id=TIP, region="astana", category="drugs",
                                     description="Машина у остановки.", **members)


@pytest.mark.parametrize("member", documents.REPORT_TEXT)
def test_a_lone_surrogate_in_any_text_member_of_a_report_is_refused(member):
    # Only a \u escape makes one (valid UTF-8 cannot): the reader checks every
    # text member when the document holds any escape.
    doc = json.loads(_report()) | {member: "x-lone-y"}
    data = json.dumps(doc, ensure_ascii=False).encode().replace(b"-lone-", b"\\ud800")
    with pytest.raises(FormatError, match="not valid Unicode text"):
        documents.read_report(data, TIP)


def test_a_report_with_escaped_letters_reads_as_the_same_text():
    plain = documents.read_report(_report(), TIP)
    escaped = _report().replace("М".encode(), b"\\u041c")
    assert documents.read_report(escaped, TIP) == plain


@pytest.mark.parametrize("value", [5, None, ["a"], {"a": "b"}])
def test_a_text_member_that_is_not_text_is_refused_with_or_without_escapes(value):
    for extra in ("", "\u0416"):
        doc = json.loads(_report()) | {"what": value, "contact": "Ж" + extra}
        for ensure_ascii in (True, False):
            data = json.dumps(doc, ensure_ascii=ensure_ascii).encode()
            with pytest.raises(FormatError, match="'what' is not text"):
                documents.read_report(data, TIP)


def _loaded(text):
    """What json.loads-like ``parse`` gives for ``text``: ("value", v) or ("error", type)."""
    def outcome(parse):
        try:
            return ("value", parse(text))
        except (ValueError, RecursionError) as e:
            return ("error", type(e))
    return outcome


_JSON_TEXTS = st.one_of(
    st.text(max_size=60),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                 max_leaves=8).map(json.dumps),
).flatmap(lambda text: st.sampled_from([text, "{" + text, text + "}", "{" + text + "}",
                                        " " + text, text + " ", text + "x"]))


@settings(max_examples=400, deadline=None)
@given(text=_JSON_TEXTS)
@example(text='{"a": 1}')
@example(text='{"a": 1} ')
@example(text='{"a": 1}}')
@example(text='{"a": 1}{"b": 2}')
@example(text='{} {}')
@example(text='{"a": "}"')
@example(text='{"a":' * 100_000 + "1" + "}" * 100_000)  # deeper than json recurses
def test_the_readers_parser_gives_what_json_loads_gives_or_raises_what_it_raises(text):
    outcome = _loaded(text)
    assert outcome(documents._loads) == outcome(json.loads)
