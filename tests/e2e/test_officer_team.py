"""Each officer's own passphrase, the audit trail and paper backups, through the real CLI.

The slots `officer team add` and `passwd` write, and the key the shares test makes
with `tipdrop keygen`, have the real Argon2id key-file parameters (about a second
per unlock); the ceremony's shared slot has the test ones (tests/e2e/conftest.py).
"""

import json
import re

import pytest

from tests.e2e.conftest import PASS, assert_clean_error
from tests.e2e.test_officer_loop import _submit

pytestmark = pytest.mark.e2e

AIGERIM = {"TIPDROP_PASSPHRASE": "aigerim's own passphrase", "TIPDROP_OFFICER": "aigerim"}
DANIYAR = {"TIPDROP_PASSPHRASE": "daniyar's own passphrase", "TIPDROP_OFFICER": "daniyar"}


def _exported(server, run_cli, tmp_path, name="e.tdx", text="Инспектор требует взятку."):
    _submit(server, text)
    run_cli("export", "--unit", "demo", "--out", tmp_path / name, env=server.env(), check=True)
    return tmp_path / name


def _team(run_cli, officer):
    """The ceremony's shared passphrase gives way to Aigerim's and Daniyar's own."""
    shared = {k: v for k, v in officer.items() if k != "TIPDROP_PASSPHRASE"}
    run_cli("officer", "team", "add", "aigerim", env=officer | {
        "TIPDROP_NEW_PASSPHRASE": AIGERIM["TIPDROP_PASSPHRASE"]}, check=True)
    run_cli("officer", "team", "add", "daniyar", env=shared | AIGERIM | {
        "TIPDROP_NEW_PASSPHRASE": DANIYAR["TIPDROP_PASSPHRASE"]}, check=True)
    run_cli("officer", "team", "remove", "shared", env=shared | AIGERIM, check=True)
    return shared


def test_two_officers_open_one_workspace_and_a_removed_one_is_locked_out(ceremony, run_cli,
                                                                          tmp_path):
    server, officer = ceremony
    bundle = _exported(server, run_cli, tmp_path)

    # Given a unit key with a slot for each of two officers, and none shared
    base = _team(run_cli, officer)
    listed = run_cli("officer", "team", "list", env=base, check=True).stdout
    assert "slots: aigerim, daniyar" in listed
    assert_clean_error(run_cli("officer", "open", bundle, env=officer), "passphrase")

    # When each opens and reads the same workspace with their own passphrase
    run_cli("officer", "open", bundle, env=base | AIGERIM, check=True)
    [tip] = json.loads(run_cli("officer", "list", "--json", env=base, check=True).stdout)
    shown = run_cli("officer", "show", tip["id"], env=base | DANIYAR, check=True)
    assert "Инспектор требует взятку." in shown.stdout
    run_cli("officer", "reply", tip["id"], "--status", "in-review", env=base | DANIYAR,
            check=True)

    # Then the audit log names each of them for what they did, and verifies
    log = run_cli("officer", "audit", "--verify", "--tip", tip["id"][:8], env=base | AIGERIM,
                  check=True).stdout
    assert re.search(r"aigerim\s+import\s+tip " + tip["id"], log)
    assert re.search(r"daniyar\s+show\s+tip " + tip["id"], log)
    assert re.search(r"daniyar\s+status\s+tip " + tip["id"] + r".*status=in-review", log)
    assert "verified:" in log and "Инспектор" not in log
    everything = run_cli("officer", "audit", env=base, check=True).stdout
    assert re.search(r"shared\s+team-add\s+.*name=aigerim", everything)
    assert re.search(r"aigerim\s+team-add\s+.*name=daniyar", everything)
    assert re.search(r"aigerim\s+team-remove\s+.*name=shared", everything)

    # When Daniyar's slot is removed, his passphrase opens nothing any more
    run_cli("officer", "team", "remove", "daniyar", env=base | AIGERIM, check=True)
    assert_clean_error(run_cli("officer", "show", tip["id"], env=base | DANIYAR),
                       "no slot named 'daniyar'")
    without_name = {"TIPDROP_PASSPHRASE": DANIYAR["TIPDROP_PASSPHRASE"]}
    assert_clean_error(run_cli("officer", "show", tip["id"], env=base | without_name),
                       "passphrase")

    # And the last slot cannot be removed, nor a taken name added again
    assert_clean_error(run_cli("officer", "team", "remove", "aigerim", env=base | AIGERIM),
                       "last slot")
    assert_clean_error(run_cli("officer", "team", "add", "aigerim", env=base | AIGERIM |
                               {"TIPDROP_NEW_PASSPHRASE": "x"}), "already exists")


def test_passwd_changes_only_ones_own_passphrase(ceremony, run_cli, tmp_path):
    server, officer = ceremony
    bundle = _exported(server, run_cli, tmp_path)
    base = _team(run_cli, officer)
    new = {"TIPDROP_PASSPHRASE": "aigerim's next passphrase"}
    changed = run_cli("officer", "passwd", env=base | AIGERIM |
                      {"TIPDROP_NEW_PASSPHRASE": new["TIPDROP_PASSPHRASE"]}, check=True)
    assert "new passphrase for aigerim" in changed.stdout
    assert_clean_error(run_cli("officer", "open", bundle, env=base | AIGERIM), "passphrase")
    run_cli("officer", "open", bundle, env=base | AIGERIM | new, check=True)
    run_cli("officer", "open", bundle, env=base | DANIYAR, check=True)


def test_audit_verify_catches_an_edited_a_deleted_and_a_reordered_entry(ceremony, run_cli,
                                                                        tmp_path):
    server, officer = ceremony
    run_cli("officer", "open", _exported(server, run_cli, tmp_path), env=officer, check=True)
    [tip] = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    run_cli("officer", "note", tip["id"], "Called the shop.", env=officer, check=True)
    run_cli("officer", "reply", tip["id"], "--message", "Спасибо", env=officer, check=True)
    log_path, head_path = tmp_path / "cases" / "audit.log", tmp_path / "cases" / "audit.head"
    good, good_head = log_path.read_text(), head_path.read_text()
    assert "Called the shop" not in good and "Спасибо" not in good and "\\u" not in good
    actions = [json.loads(line)["action"] for line in good.splitlines()]
    assert actions == ["unlock", "open-bundle", "import", "unlock", "note", "unlock", "reply"]
    assert {json.loads(line)["officer"] for line in good.splitlines()} == {"shared"}
    lines = good.splitlines(keepends=True)

    for name, tampered, says in [
        ("edited", lines[:4] + [lines[4].replace('"note"', '"show"')] + lines[5:], "changed"),
        ("deleted", lines[:4] + lines[5:], "entry 5"),
        ("reordered", lines[:3] + [lines[4], lines[3]] + lines[5:], "entry 4"),
    ]:
        log_path.write_text("".join(tampered))
        head_path.write_text(good_head)
        result = run_cli("officer", "audit", "--verify", env=officer)
        assert_clean_error(result, "audit log does not verify", says)
        assert result.stdout == "", name
    log_path.write_text(good)
    head_path.write_text(good_head)
    assert "verified: 7 entries" in run_cli("officer", "audit", "--verify", env=officer,
                                            check=True).stdout


def _shares(stdout):
    return re.findall(r"^share \d of 3: (.+)$", stdout, re.M)


def test_key_backup_and_restore_from_two_of_three_shares_opens_old_tips(ceremony, run_cli,
                                                                        tmp_path):
    server, officer = ceremony
    bundle = _exported(server, run_cli, tmp_path)
    made = run_cli("officer", "key-backup", "--shares", "3", "--threshold", "2", env=officer,
                   check=True)
    shares = _shares(made.stdout)
    assert len(shares) == 3 and all(len(s.split()) == 59 for s in shares)
    recorded = run_cli("officer", "audit", env=officer, check=True).stdout
    assert re.search(r"shared\s+key-backup\s+.*shares=3 threshold=2", recorded)
    assert " ".join(shares[0].split()[:3]) not in recorded

    # When the key file is lost and two holders bring their shares
    restored = tmp_path / "restored" / "demo.key"
    public = tmp_path / "ceremony" / "demo.pub"
    run_cli("officer", "key-restore", "--public", public, "--out", restored, "--officer",
            "aigerim", input=f"share 1 of 3: {shares[0]}\n\n{shares[2]}\n",
            env={"TIPDROP_NEW_PASSPHRASE": "new start"}, check=True)

    # Then the rebuilt key opens the tips sealed to the old one
    again = {"TIPDROP_WORKDIR": str(tmp_path / "other"), "TIPDROP_KEY": str(restored),
             "TIPDROP_PASSPHRASE": "new start"}
    run_cli("officer", "open", bundle, env=again, check=True)
    [tip] = json.loads(run_cli("officer", "list", "--json", env=again, check=True).stdout)
    assert "Инспектор требует взятку." in run_cli("officer", "show", tip["id"], env=again,
                                                  check=True).stdout


def test_bad_shares_are_one_line_errors_and_write_nothing(run_cli, tmp_path):
    # No server needed: a key made at a ceremony is enough.
    run_cli("keygen", "--unit", "demo", "--out", tmp_path / "ceremony", env=PASS, check=True)
    officer = PASS | {"TIPDROP_KEY": str(tmp_path / "ceremony" / "demo.key")}
    first = _shares(run_cli("officer", "key-backup", "--shares", "3", "--threshold", "2",
                            env=officer, check=True).stdout)
    second = _shares(run_cli("officer", "key-backup", "--shares", "3", "--threshold", "2",
                             env=officer, check=True).stdout)
    other_unit = run_cli("keygen", "--unit", "other", "--out", tmp_path / "other",
                         env={"TIPDROP_PASSPHRASE": "x"}, check=True)
    assert other_unit.returncode == 0
    words = first[1].split()
    words[7] = "zzzz"
    out = tmp_path / "restored.key"
    public = tmp_path / "ceremony" / "demo.pub"
    cases = [
        ([first[0]], public, "needs 2"),
        ([first[0], " ".join(words)], public, "share 2 is not a valid share"),
        ([first[0], second[1]], public, "share 2 belongs to another backup"),
        ([first[0], first[1]], tmp_path / "other" / "other.pub", "not key"),
    ]
    for shares, pub, says in cases:
        result = run_cli("officer", "key-restore", "--public", pub, "--out", out, "--officer",
                         "aigerim", input="\n".join(shares) + "\n",
                         env={"TIPDROP_NEW_PASSPHRASE": "new start"})
        assert_clean_error(result, says)
        words_of = [s.split() for s in shares]
        assert not any(" ".join(w[i:i + 3]) in result.stderr
                       for w in words_of for i in range(len(w) - 2))
        assert not out.exists() and not list(tmp_path.glob(".restored.key.*"))
    for bad in (("--shares", "3", "--threshold", "1"), ("--shares", "2", "--threshold", "3")):
        assert_clean_error(run_cli("officer", "key-backup", *bad, env=officer))
