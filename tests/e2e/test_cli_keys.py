"""`tipdrop keygen` and `tipdrop keys show` through the real command.

These run the real Argon2id key-file parameters (about a second per run).
"""

import json
import re

import pytest

from tests.e2e.conftest import assert_clean_error
from tipdrop.crypto import keys

pytestmark = pytest.mark.e2e

PASS = {"TIPDROP_PASSPHRASE": "correct horse battery"}


@pytest.fixture(scope="module")
def made_key(tmp_path_factory):
    """One real keygen run shared by the read-only tests of this module."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path_factory.mktemp("keys")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")} | PASS
    result = subprocess.run(
        [str(Path(sys.executable).with_name("tipdrop")), "keygen", "--unit", "almaty-city",
         "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_keygen_writes_private_and_public_files_and_prints_the_fingerprint(made_key):
    out, stdout = made_key
    private, public = out / "almaty-city.key", out / "almaty-city.pub"
    assert private.stat().st_mode & 0o777 == 0o600
    pub = keys.parse_public(public.read_bytes())
    assert keys.format_fingerprint(pub.fingerprint) in stdout
    assert pub.key_id.hex() in stdout
    unlocked = keys.parse_private(private.read_bytes(), PASS["TIPDROP_PASSPHRASE"])
    assert unlocked.public.fingerprint == pub.fingerprint


def test_private_key_file_holds_no_key_in_the_clear(made_key):
    out, _ = made_key
    text = (out / "almaty-city.key").read_text()
    doc = json.loads(text)
    assert doc["kdf"]["name"] == "argon2id"
    assert doc["kdf"]["memory_cost_kib"] >= 256 * 1024
    unlocked = keys.parse_private(text.encode(), PASS["TIPDROP_PASSPHRASE"])
    import base64

    raw = unlocked.x25519.private_bytes_raw()
    assert base64.b64encode(raw).decode() not in text
    assert raw.hex() not in text


@pytest.mark.parametrize("name", ["almaty-city.pub", "almaty-city.key"])
def test_keys_show_prints_unit_key_id_and_fingerprint(made_key, run_cli, name):
    out, keygen_stdout = made_key
    result = run_cli("keys", "show", out / name)
    assert result.returncode == 0, result.stderr
    fingerprint = re.search(r"fingerprint: (.*)", keygen_stdout).group(1)
    assert f"fingerprint: {fingerprint}" in result.stdout
    assert "unit:        almaty-city" in result.stdout


def test_keygen_passphrase_file_is_used(run_cli, tmp_path):
    (tmp_path / "pass.txt").write_text("from a file\n")
    result = run_cli("keygen", "--unit", "demo", "--out", tmp_path / "k",
                     "--passphrase-file", tmp_path / "pass.txt")
    assert result.returncode == 0, result.stderr
    data = (tmp_path / "k" / "demo.key").read_bytes()
    assert keys.parse_private(data, "from a file").unit == "demo"


def test_keygen_refuses_to_overwrite_an_existing_key(made_key, run_cli):
    out, _ = made_key
    before = (out / "almaty-city.key").read_bytes()
    result = run_cli("keygen", "--unit", "almaty-city", "--out", out, env=PASS)
    assert_clean_error(result, "already exists")
    assert (out / "almaty-city.key").read_bytes() == before


@pytest.mark.parametrize("unit", ["Almaty", "a b", "x" * 33, "-lead", "ünit", ""])
def test_keygen_rejects_bad_unit_names(run_cli, tmp_path, unit):
    result = run_cli("keygen", "--unit", unit, "--out", tmp_path / "k", env=PASS)
    assert_clean_error(result, "unit names")
    assert not (tmp_path / "k").exists() or not any((tmp_path / "k").iterdir())


def test_keygen_without_passphrase_or_terminal_is_a_clear_error(run_cli, tmp_path):
    result = run_cli("keygen", "--unit", "demo", "--out", tmp_path / "k", input="")
    assert_clean_error(result, "TIPDROP_PASSPHRASE")


def test_keygen_refuses_an_empty_passphrase_file(run_cli, tmp_path):
    (tmp_path / "empty").write_text("\n")
    result = run_cli("keygen", "--unit", "demo", "--out", tmp_path / "k",
                     "--passphrase-file", tmp_path / "empty")
    assert_clean_error(result, "empty")


def test_keys_show_missing_file_is_a_clear_error(run_cli, tmp_path):
    assert_clean_error(run_cli("keys", "show", tmp_path / "nope.pub"), "no such file")


@pytest.mark.parametrize("cut", [0, 1, 50, -2])
def test_keys_show_truncated_file_is_a_clear_error(made_key, run_cli, tmp_path, cut):
    out, _ = made_key
    data = (out / "almaty-city.pub").read_bytes()
    (tmp_path / "cut.pub").write_bytes(data[:cut])
    assert_clean_error(run_cli("keys", "show", tmp_path / "cut.pub"), "key file")


def test_keys_show_edited_public_key_is_refused(made_key, run_cli, tmp_path):
    out, _ = made_key
    doc = json.loads((out / "almaty-city.pub").read_text())
    doc["unit"] = "astana"
    (tmp_path / "edited.pub").write_text(json.dumps(doc))
    assert_clean_error(run_cli("keys", "show", tmp_path / "edited.pub"), "changed")


def test_unknown_command_is_a_clear_error(run_cli):
    result = run_cli("frobnicate")
    assert_clean_error(result, "frobnicate")


def test_help_lists_every_command(run_cli):
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("keygen", "keys", "serve"):
        assert command in result.stdout
