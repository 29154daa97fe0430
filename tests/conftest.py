"""Fixtures shared by all test suites: unit keys and their files (cheap Argon2 only);
the check that no test module leaves file descriptors open."""

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests import descriptors
from tipdrop.crypto import kdf, keys

PASSPHRASE = "correct horse battery staple"
#: Where the servers and apps of the tests keep their counts and page keys (the default).
RUNTIME = Path("/dev/shm")
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
def _forget_runtime_folders():
    """Remove the RAM folders (rate-limit counts, page keys) the session's servers and apps left.

    ``tipdrop serve`` removes its own when it stops, and the next one to start
    removes those of servers that died (web/ratelimit.py); but the session's
    last killed server and the apps made in-process would leave theirs under
    /dev/shm. At the end: the folders this process holds (its apps), then
    every folder no live process holds (ratelimit.sweep_stale: a killed
    server's, this session's or an earlier, killed one's). A folder another
    session's live server or app holds is never touched.
    """
    yield
    import shutil

    from tipdrop.server.web.ratelimit import HELD, sweep_stale

    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = Path(os.readlink(fd))
        except OSError:
            continue
        if (target.name == HELD and target.parent.parent == RUNTIME
                and target.parent.name.startswith("tipdrop-")):
            shutil.rmtree(target.parent, ignore_errors=True)
    sweep_stale(RUNTIME)


@pytest.fixture(autouse=True, scope="module")
def _no_descriptors_left_open(request):
    """Fail the module that leaves file descriptors open (tests/descriptors.py), by name.

    Set up before any other fixture of the module and torn down after them
    all, so what the module's own fixtures close is not counted.
    """
    before = descriptors.open_descriptors()
    yield
    after = descriptors.open_descriptors()
    new = descriptors.left_open(before, after)
    if len(new) > descriptors.MODULE_TOLERANCE:
        pytest.fail(f"{request.module.__name__} left {len(new)} file descriptors open "
                    f"(at most {descriptors.MODULE_TOLERANCE}): {descriptors.describe(new)}",
                    pytrace=False)
    if len(after) > descriptors.MOST:
        pytest.fail(f"after {request.module.__name__} the tests hold {len(after)} file "
                    f"descriptors (at most {descriptors.MOST}; select() fails from 1024): "
                    f"{descriptors.describe(after.values())}", pytrace=False)


#: Unit keys of the exchange tests (made once per module).
@pytest.fixture(scope="module")
def demo_key():
    return keys.generate("demo")


@pytest.fixture(scope="module")
def astana_key():
    return keys.generate("astana-police")
