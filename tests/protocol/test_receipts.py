"""Receipt codes: known answers, round trips, typo detection, tolerant parsing."""

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipdrop.errors import (
    ReceiptCharacterError,
    ReceiptError,
    ReceiptLengthError,
    ReceiptTypoError,
)
from tipdrop.protocol import receipts
from tipdrop.protocol.receipts import (
    ALPHABET,
    ENTROPY_BITS,
    LOCATOR_LEN,
    SECRET_LEN,
    Receipt,
    parse,
)

VECTORS = json.loads(
    (Path(__file__).parent.parent / "vectors" / "receipts.json").read_text(encoding="utf-8")
)
ERRORS_BY_NAME = {
    "length": ReceiptLengthError,
    "character": ReceiptCharacterError,
    "typo": ReceiptTypoError,
}
# Fixed bodies, so that the exhaustive tests are reproducible.
_rng = random.Random(115)
BODIES = [[0] * 23, [31] * 23] + [[_rng.randrange(32) for _ in range(23)] for _ in range(4)]
SEPARATORS_AND_SPACES = list("-\u2010\u2013\u2014._/ \t\n\u00a0\u3000")


@pytest.fixture(scope="module")
def many_receipts():
    return [receipts.generate() for _ in range(2000)]


# --- the check algorithm ----------------------------------------------------


def test_doubling_reduces_by_x5_plus_x2_plus_1():
    # By hand: x * x^4 = x^5, and x^5 = x^2 + 1 modulo the polynomial.
    assert receipts._gf_mul(2, 0b10000) == 0b00101
    # No reduction needed: x * (x + 1) = x^2 + x.
    assert receipts._gf_mul(2, 0b00011) == 0b00110
    # (x^4 + 1)(x + 1) = x^5 + x^4 + x + 1 = x^4 + x^2 + x.
    assert receipts._gf_mul(0b10001, 0b00011) == 0b10110


def test_powers_of_two_visit_every_nonzero_field_element():
    # The polynomial is primitive, so doubling is a permutation of 1..31:
    # a wrong symbol can never be cancelled out by later doublings.
    element, seen = 1, set()
    for _ in range(31):
        seen.add(element)
        element = receipts._gf_mul(2, element)
    assert seen == set(range(1, 32))
    assert element == 1


def test_swapping_two_different_neighbours_changes_the_result_from_any_state():
    # Total anti-symmetry of x∘y = 2x ⊕ y, checked over the whole quasigroup:
    # this is what makes every adjacent transposition detectable.
    def op(x, y):
        return receipts._gf_mul(2, x) ^ y

    for interim in range(32):
        for a in range(32):
            for b in range(a + 1, 32):
                assert op(op(interim, a), b) != op(op(interim, b), a)


# --- known answers ------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["codes"], ids=lambda v: v["comment"])
def test_values_give_the_known_code(vector):
    receipt = receipts._from_values(vector["values"])
    assert receipt.code == vector["code"]
    assert receipt.formatted == vector["formatted"]
    assert parse(vector["formatted"]) == receipt


@pytest.mark.parametrize("vector", VECTORS["normalisation"], ids=lambda v: v["comment"])
def test_typed_variants_parse_to_the_canonical_code(vector):
    assert parse(vector["typed"]).formatted == vector["formatted"]


@pytest.mark.parametrize("vector", VECTORS["errors"], ids=lambda v: v["comment"])
def test_bad_input_raises_the_named_error(vector):
    with pytest.raises(ERRORS_BY_NAME[vector["error"]]) as caught:
        parse(vector["typed"])
    if "position" in vector:
        assert caught.value.detail == f"position {vector['position']}"


# --- layout and round trips -------------------------------------------------


def test_code_is_locator_then_secret_then_check():
    receipt = receipts._from_values(VECTORS["codes"][4]["values"])
    assert receipt.locator == "01234"
    assert receipt.secret == "56789ABCDEFGHJKMNP"
    assert receipt.code == receipt.locator + receipt.secret + "2"
    assert re.fullmatch(r"([0-9A-Z]{4}-){5}[0-9A-Z]{4}", receipt.formatted)


def test_generated_receipt_parses_back_from_its_formatted_form():
    receipt = receipts.generate()
    assert parse(receipt.formatted) == receipt


def test_a_receipt_on_a_given_locator_keeps_it_and_draws_a_fresh_secret():
    made = [receipts.generate("AB3XY") for _ in range(20)]
    assert all(r.locator == "AB3XY" and parse(r.formatted) == r for r in made)
    assert len({r.secret for r in made}) == 20


@pytest.mark.parametrize("locator, error", [("AB3X", ReceiptLengthError),
                                            ("AB3XI", ReceiptCharacterError),
                                            ("ab3xy", ReceiptCharacterError)])
def test_a_receipt_on_a_malformed_locator_is_refused(locator, error):
    with pytest.raises(error):
        receipts.generate(locator)


def test_lower_case_with_spaces_parses_to_the_same_receipt():
    receipt = receipts.generate()
    assert parse(receipt.formatted.lower().replace("-", " ")) == receipt


def test_secret_bytes_are_the_canonical_secret_in_ascii():
    receipt = parse("01va bekm hpct xy3o luab ekm9")
    assert receipt.secret_bytes == b"EKMHPCTXY301VABEKM"


@given(
    st.lists(st.integers(0, 31), min_size=23, max_size=23),
    st.data(),
)
# Behaviour, not speed: on a loaded machine one example can take over 200 ms.
@settings(deadline=None)
def test_code_survives_inserted_separators_spaces_and_lower_case(values, data):
    receipt = receipts._from_values(values)
    typed = []
    for symbol in receipt.code:
        typed += data.draw(st.lists(st.sampled_from(SEPARATORS_AND_SPACES), max_size=3))
        typed.append(symbol.lower() if data.draw(st.booleans()) else symbol)
    typed += data.draw(st.lists(st.sampled_from(SEPARATORS_AND_SPACES), max_size=3))
    assert parse("".join(typed)) == receipt


# --- randomness ---------------------------------------------------------------


def test_entropy_is_at_least_100_bits_with_at_least_80_in_the_secret():
    assert ENTROPY_BITS == 115 >= 100
    assert SECRET_LEN * 5 == 90 >= 80
    assert LOCATOR_LEN * 5 == 25


def test_generated_receipts_are_all_different(many_receipts):
    assert len({r.code for r in many_receipts[:1000]}) == 1000


def test_every_symbol_appears_at_every_random_position(many_receipts):
    # With 2000 samples a given symbol is missing from a given position with
    # probability (31/32)^2000 < 1e-27: a failure means a biased generator.
    for position in range(LOCATOR_LEN + SECRET_LEN):
        assert {r.code[position] for r in many_receipts} == set(ALPHABET), position


def test_symbols_are_close_to_uniform(many_receipts):
    # Chi-square over all random symbols, 31 degrees of freedom; 90 is far
    # in the tail (p < 1e-6), so this only trips on a real bias.
    counts = Counter(s for r in many_receipts for s in r.locator + r.secret)
    expected = sum(counts.values()) / len(ALPHABET)
    chi_square = sum((counts[s] - expected) ** 2 / expected for s in ALPHABET)
    assert chi_square < 90


# --- typo detection -----------------------------------------------------------


@pytest.mark.parametrize("body", BODIES)
def test_single_substitution_is_reported_as_typo(body):
    code = receipts._from_values(body).code
    for position in range(len(code)):
        for symbol in ALPHABET.replace(code[position], ""):
            typed = code[:position] + symbol + code[position + 1:]
            with pytest.raises(ReceiptTypoError):
                parse(typed)


@pytest.mark.parametrize("body", BODIES)
def test_adjacent_transposition_is_reported_as_typo(body):
    code = receipts._from_values(body).code
    for position in range(len(code) - 1):
        a, b = code[position], code[position + 1]
        if a != b:
            with pytest.raises(ReceiptTypoError):
                parse(code[:position] + b + a + code[position + 2:])


@pytest.mark.parametrize("body", BODIES)
def test_swapping_two_different_symbols_anywhere_is_reported_as_typo(body):
    # Stronger than Damm promises in general: with the weights 2^0..2^23 all
    # distinct (2 has order 31), a swap at any distance changes the result.
    code = receipts._from_values(body).code
    for i in range(len(code)):
        for j in range(i + 1, len(code)):
            if code[i] != code[j]:
                swapped = code[:i] + code[j] + code[i + 1:j] + code[i] + code[j + 1:]
                with pytest.raises(ReceiptTypoError):
                    parse(swapped)


# --- refusing input -----------------------------------------------------------


def test_length_error_gives_counts_and_never_the_input():
    with pytest.raises(ReceiptLengthError) as caught:
        parse("NG9Q-QN1E-K73T-PK5B-71CM-0FK")
    assert caught.value.detail == "expected 24 characters, got 23"
    assert "NG9Q" not in str(caught.value)


def test_character_error_gives_the_position_and_never_the_input():
    with pytest.raises(ReceiptCharacterError) as caught:
        parse("NG9Q-QN#E-K73T-PK5B-71CM-0FKN")
    assert str(caught.value).endswith(": position 7")
    assert "#" not in str(caught.value)
    assert "NG9Q" not in str(caught.value)


def test_typo_error_says_nothing_about_the_input():
    with pytest.raises(ReceiptTypoError) as caught:
        parse("NG9Q-QN1E-K73T-PK5B-71CM-0FKW")
    assert caught.value.detail is None


def test_overlong_input_is_refused_before_normalising(monkeypatch):
    def must_not_be_called(text):
        raise AssertionError("normalised an overlong input")

    monkeypatch.setattr(receipts, "_normalise", must_not_be_called)
    with pytest.raises(ReceiptLengthError):
        parse(" " * 200 + "X" * 1_000_000)


@pytest.mark.parametrize("value", [None, b"NG9QQN1EK73TPK5B71CM0FKN", 42, ["N", "G"]])
def test_non_text_is_refused_as_a_receipt_error(value):
    with pytest.raises(ReceiptError):
        parse(value)


@given(st.text())
def test_any_text_either_parses_or_raises_a_receipt_error(text):
    try:
        result = parse(text)
    except ReceiptError:
        return
    assert isinstance(result, Receipt)


@pytest.mark.parametrize(
    "locator, secret, error",
    [
        ("0123", "0" * 18, ReceiptLengthError),
        ("01234", "0" * 17, ReceiptLengthError),
        ("0123I", "0" * 18, ReceiptCharacterError),
        ("01234", "0" * 17 + "u", ReceiptCharacterError),
        (1234, "0" * 18, ReceiptError),
    ],
)
def test_receipt_cannot_be_built_from_malformed_parts(locator, secret, error):
    with pytest.raises(error):
        Receipt(locator=locator, secret=secret)


@pytest.mark.parametrize(
    "values, error",
    [([0] * 22, ReceiptLengthError), ([0] * 22 + [32], ReceiptCharacterError),
     ([0] * 22 + [-1], ReceiptCharacterError)],
)
def test_symbol_values_must_be_23_numbers_from_0_to_31(values, error):
    with pytest.raises(error):
        receipts._from_values(values)


# --- keeping the secret out of logs -----------------------------------------


def test_repr_shows_the_locator_but_not_the_secret():
    receipt = parse("NG9Q-QN1E-K73T-PK5B-71CM-0FKN")
    assert repr(receipt) == "Receipt(locator='NG9QQ', secret=<hidden>)"
    assert receipt.secret not in repr(receipt)
    assert receipt.secret not in f"{[receipt]}"


def test_str_hides_the_secret_so_fstrings_cannot_leak_it():
    receipt = parse("ng9qqn1ek73tpk5b71cm0fkn")
    assert receipt.formatted == "NG9Q-QN1E-K73T-PK5B-71CM-0FKN"
    assert receipt.secret not in str(receipt)
    assert receipt.secret not in f"{receipt}"


def test_invisible_characters_pasted_from_chat_apps_are_ignored():
    pasted = "\ufeffNG9Q\u200b-QN1E-K73T\u00ad-PK5B-71CM-0FKN\u2060"
    assert parse(pasted).formatted == "NG9Q-QN1E-K73T-PK5B-71CM-0FKN"
