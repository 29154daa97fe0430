"""Fixtures shared by all test suites: unit keys and their files (cheap Argon2 only)."""

from types import SimpleNamespace

import pytest

from tipdrop.crypto import kdf, keys

PASSPHRASE = "correct horse battery staple"
CREATED = "2024-05-01"


@pytest.fixture(scope="session")
def unit_key():
    """A unit's private key (X25519 + Ed25519), fresh for this test session."""
    return keys.generate("test-unit", created=CREATED)


@pytest.fixture(scope="session")
def other_unit_key():
    """A second unit: its key must never open the first unit's ciphertexts."""
    return keys.generate("other-unit", created=CREATED)


@pytest.fixture(scope="session")
def recipient(unit_key):
    return unit_key.public.recipient


@pytest.fixture(scope="session")
def opener(unit_key):
    return unit_key.opener


@pytest.fixture(scope="session")
def passphrase():
    return PASSPHRASE


@pytest.fixture(scope="session")
def private_key_file(unit_key):
    """The bytes of ``unit_key``'s private key file, with unit-test Argon2 parameters."""
    return keys.private_to_file(unit_key, PASSPHRASE, kdf.TEST_PARAMS)


@pytest.fixture(scope="session")
def public_key_file(unit_key):
    return unit_key.public.to_json()


@pytest.fixture
def unit_key_files(tmp_path, private_key_file, public_key_file):
    """Paths of the unit's ``.key`` and ``.pub`` files in a fresh temporary folder."""
    private = tmp_path / "test-unit.key"
    public = tmp_path / "test-unit.pub"
    private.write_bytes(private_key_file)
    public.write_bytes(public_key_file)
    return SimpleNamespace(private=private, public=public, passphrase=PASSPHRASE)


@pytest.fixture(autouse=True, scope="session")
def _forget_shared_counts(tmp_path_factory):
    """Remove the RAM folders of rate-limit counts the session's servers and apps left.

    ``tipdrop serve`` removes its own when it stops; a server killed with -9
    or an app made in-process leaves one under /dev/shm. Their names derive
    from the data folder's path, so only folders of this session's data
    folders (under its temporary base) are touched.
    """
    yield
    from tipdrop.server.web.ratelimit import remove_shared

    base = tmp_path_factory.getbasetemp()
    for pattern in ("*", "*/*", "*/*/*"):
        for folder in base.glob(pattern):
            if folder.is_dir():
                remove_shared("/dev/shm", folder)

#: Unit keys of the exchange tests (made once per module).
@pytest.fixture(scope="module")
def demo_key():
    return keys.generate("demo")


@pytest.fixture(scope="module")
def astana_key():
    return keys.generate("astana-police")
