"""Unit keys shared by the exchange tests (generated once per module: X25519 + Ed25519)."""

import pytest

from tipdrop.crypto import keys


@pytest.fixture(scope="module")
def demo_key():
    return keys.generate("demo")


@pytest.fixture(scope="module")
def astana_key():
    return keys.generate("astana-police")
