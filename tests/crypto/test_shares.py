"""SLIP-39 paper backups: any K of N shares rebuild the key; anything else is a clear refusal."""

import itertools

import pytest

from tipdrop.crypto import keys, shares
from tipdrop.errors import InputError


def _raw(private):
    return private.x25519.private_bytes_raw() + private.ed25519.private_bytes_raw()


def test_any_two_of_three_shares_rebuild_the_key():
    private = keys.generate("demo")
    words = shares.split(private, 3, 2)
    assert len(words) == 3 and len(set(words)) == 3
    for pair in itertools.combinations(words, 2):
        assert _raw(shares.rebuild(private.public, list(pair))) == _raw(private)


def test_shares_are_read_in_any_case_and_spacing():
    private = keys.generate("demo")
    a, b, _ = shares.split(private, 3, 2)
    typed = [a.upper(), "  " + b.replace(" ", "\n  ") + "  "]
    assert _raw(shares.rebuild(private.public, typed)) == _raw(private)


@pytest.mark.parametrize("count,threshold", [(3, 1), (1, 1), (2, 3), (17, 2)])
def test_a_backup_one_person_could_open_alone_is_refused(count, threshold):
    with pytest.raises(InputError):
        shares.split(keys.generate("demo"), count, threshold)


def test_bad_shares_are_refused_without_echoing_their_words():
    private = keys.generate("demo")
    a, b, c = shares.split(private, 3, 2)
    other = shares.split(private, 3, 2)
    word = a.split()[10]
    misspelt = a.replace(f" {word} ", " zzzz ", 1)
    swapped = a.split()
    swapped[10], swapped[11] = swapped[11], swapped[10]
    cases = {
        "too few": ([a], "1 shares given, this backup needs 2"),
        "misspelt": ([misspelt, b], "share 1 is not a valid share"),
        "changed word": ([a, " ".join(swapped)], "share 2 is not a valid share"),
        "mixed sets": ([a, other[1]], "share 2 belongs to another backup"),
        "twice": ([a, a], "same share was given twice"),
        "too many": ([a, b, c], "needs exactly 2"),
        "none": ([], "no share"),
    }
    for name, (given, says) in cases.items():
        with pytest.raises(shares.ShareError) as caught:
            shares.rebuild(private.public, given)
        assert says in caught.value.message, name
        words = a.split()
        assert not any(" ".join(words[i:i + 2]) in caught.value.message
                       for i in range(len(words) - 1)), name


def test_shares_of_another_key_are_refused_by_the_public_key():
    private, other = keys.generate("demo"), keys.generate("demo")
    with pytest.raises(shares.ShareError, match="not key"):
        shares.rebuild(private.public, shares.split(other, 2, 2))
