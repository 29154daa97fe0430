"""`tipdrop officer open` refuses what is not a bundle file at once, through the real CLI.

A device such as /dev/zero never ends, and a pipe may never be written:
hashing either before looking at it would hang the workstation. What is
not a regular file, or does not begin like an export bundle, is refused
with one line and exit 2 before it is read further (bundlechecks.fingerprint).
"""

import os

import pytest

from tests.e2e.conftest import assert_clean_error
from tipdrop.crypto import kdf, keys

pytestmark = pytest.mark.e2e

PASS = "officer pass"


@pytest.fixture
def officer(tmp_path, demo_key):
    key_file = tmp_path / "demo.key"
    key_file.write_bytes(keys.private_to_file(demo_key, PASS, kdf.TEST_PARAMS))
    return {"TIPDROP_PASSPHRASE": PASS, "TIPDROP_WORKDIR": str(tmp_path / "cases"),
            "TIPDROP_KEY": str(key_file)}


def _workspace_is_empty(tmp_path):
    cases = tmp_path / "cases"
    assert not list(cases.glob("attachments/*.bin"))
    assert not list(cases.glob("attachments/tmp/*"))


def test_a_device_is_refused_at_once(run_cli, officer, tmp_path):
    # run_cli gives up after 120 s: before this fix, /dev/zero was hashed for ever.
    result = run_cli("officer", "open", "/dev/zero", env=officer)
    assert_clean_error(result, "not a regular file")
    _workspace_is_empty(tmp_path)


def test_a_pipe_is_refused_without_waiting_for_a_writer(run_cli, officer, tmp_path):
    fifo = tmp_path / "export.tdx"
    os.mkfifo(fifo)
    result = run_cli("officer", "open", fifo, env=officer)
    assert_clean_error(result, "not a regular file")
    _workspace_is_empty(tmp_path)


def test_a_large_file_that_is_not_a_bundle_is_refused_before_it_is_read(run_cli, officer,
                                                                       tmp_path):
    not_a_bundle = tmp_path / "holiday.mp4"
    with open(not_a_bundle, "wb") as f:
        # 1 TiB, sparse: hashing it whole first takes far longer than run_cli's 120 s.
        f.truncate(1024**4)
    result = run_cli("officer", "open", not_a_bundle, env=officer)
    assert_clean_error(result, "not a tipdrop export bundle")
    _workspace_is_empty(tmp_path)
