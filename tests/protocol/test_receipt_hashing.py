"""Protecting a receipt for storage and verifying it later (protocol.md section 8)."""

import pytest

from tipdrop.crypto import kdf
from tipdrop.errors import ReceiptNotRecognisedError
from tipdrop.protocol import receipts

CHEAP = kdf.TEST_PARAMS


@pytest.fixture
def receipt():
    return receipts.generate()


def test_right_receipt_verifies_and_yields_the_same_reply_key(receipt):
    stored, made = receipts.protect(receipt, CHEAP)
    again = receipts.verify(receipt, stored)
    assert again.verifier == made.verifier
    assert again.reply_public == stored.reply_public


def test_stored_record_holds_no_part_of_the_secret(receipt):
    stored, _ = receipts.protect(receipt, CHEAP)
    blob = stored.salt + stored.verifier + stored.reply_public + stored.locator.encode()
    assert receipt.secret.encode() not in blob
    assert stored.locator == receipt.locator


def test_wrong_secret_with_right_locator_is_not_recognised(receipt):
    stored, _ = receipts.protect(receipt, CHEAP)
    other = receipts.Receipt(receipt.locator, receipts.generate().secret)
    with pytest.raises(ReceiptNotRecognisedError):
        receipts.verify(other, stored)


def test_unknown_locator_is_not_recognised_with_the_same_error(receipt):
    with pytest.raises(ReceiptNotRecognisedError) as unknown:
        receipts.verify(receipt, None)
    stored, _ = receipts.protect(receipts.generate(), CHEAP)
    with pytest.raises(ReceiptNotRecognisedError) as wrong:
        receipts.verify(receipts.Receipt(stored.locator, receipt.secret), stored)
    assert unknown.value.message == wrong.value.message


def test_salt_is_fresh_for_every_receipt(receipt):
    first, _ = receipts.protect(receipt, CHEAP)
    second, _ = receipts.protect(receipt, CHEAP)
    assert first.salt != second.salt
    assert first.verifier != second.verifier


def test_parameters_travel_with_the_record_so_they_can_be_raised_later(receipt):
    stronger = kdf.Argon2Params(time_cost=2, memory_cost_kib=128, parallelism=1)
    stored, made = receipts.protect(receipt, stronger)
    assert stored.params == stronger
    # verify derives with the record's parameters: the same verifier and reply key
    again = receipts.verify(receipt, stored)
    assert (again.verifier, again.reply_public) == (made.verifier, made.reply_public)
    assert kdf.receipt_keys(receipt.secret_bytes, stored.salt, CHEAP).verifier != stored.verifier


def test_default_receipt_parameters_are_at_least_owasp_strength():
    p = kdf.RECEIPT_PARAMS
    assert p.memory_cost_kib >= 19 * 1024 and p.time_cost >= 2


def test_typed_back_receipt_verifies(receipt):
    stored, made = receipts.protect(receipt, CHEAP)
    typed = receipt.formatted.lower().replace("-", " ")
    again = receipts.verify(receipts.parse(typed), stored)
    assert (again.verifier, again.reply_public) == (made.verifier, made.reply_public)


@pytest.mark.slow
def test_wrong_receipt_takes_as_long_as_unknown_one():
    # Interleave the two cases in one run (the machine is shared and noisy:
    # compare the distributions, never absolute times).
    import statistics
    import time

    stored, _ = receipts.protect(receipts.generate())  # real receipt parameters
    wrong = receipts.Receipt(stored.locator, receipts.generate().secret)
    unknown = receipts.generate()
    timings = {"wrong": [], "unknown": []}
    for _ in range(21):
        for name, receipt, record in (("wrong", wrong, stored), ("unknown", unknown, None)):
            start = time.perf_counter()
            with pytest.raises(ReceiptNotRecognisedError):
                receipts.verify(receipt, record)
            timings[name].append(time.perf_counter() - start)
    ratio = statistics.median(timings["wrong"]) / statistics.median(timings["unknown"])
    # Generous bounds: a real oracle (skipping Argon2 for unknown locators)
    # would make the ratio ~1000, and a shared machine adds noise.
    assert 0.6 < ratio < 1.67, timings
