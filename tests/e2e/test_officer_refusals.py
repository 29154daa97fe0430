"""The officer exchange refuses bad input through the real CLI: one clear error, exit 2,
nothing half-imported.

Tampered, truncated or misdirected export bundles leave the workspace empty;
forged, foreign or corrupt reply bundles leave the reporter's page as it was;
an export that cannot be written does not move the export cursor.
(A wrong passphrase is covered in test_officer_loop.py.)
"""

import json

import pytest

from tests.e2e.conftest import assert_clean_error
from tests.e2e.test_officer_loop import _submit
from tests.protocol.test_bundles import _bundle, _records
from tests.serving import start_server
from tests.web_forms import check_on_web
from tipdrop.crypto import kdf, keys
from tipdrop.protocol import bundles

pytestmark = pytest.mark.e2e

EVIDENCE = ("files", "evidence.bin", "application/octet-stream", bytes(range(256)) * 40)


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """One server for this module: starting one per test would double its run time."""
    server = start_server(tmp_path_factory.mktemp("server"))
    yield server
    server.stop()


@pytest.fixture
def server(running, run_cli, tmp_path):
    """The module's server with nothing left to export, so each test's export holds
    exactly the tips that test submitted."""
    run_cli("export", "--unit", "demo", "--out", tmp_path / "drained.tdx", env=running.env(),
            check=True)
    return running


@pytest.fixture
def officer(server, tmp_path):
    """Environment of the demo unit's workstation (cheap key, passphrase 'officer pass')."""
    return {"TIPDROP_PASSPHRASE": "officer pass", "TIPDROP_WORKDIR": str(tmp_path / "cases"),
            "TIPDROP_KEY": str(server.key_file)}


def _export(run_cli, server, out):
    run_cli("export", "--unit", "demo", "--out", out, env=server.env(), check=True)
    return out


def _listed(run_cli, officer):
    return json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)


def assert_clean_open_error(result, *fragments):
    """`officer open` errors are one line too (its progress bar is hidden without a terminal)."""
    assert_clean_error(result, *fragments)


def _unit_signed_bundle(unit_key, tip_id):
    """A well-formed reply bundle signed by ``unit_key``, made without the CLI."""
    reply = bundles.sign_reply(unit_key.ed25519, unit_key.unit, unit_key.key_id, tip_id=tip_id,
                               seq=1, day="2026-01-10", status="unfounded", body=b"")
    return bundles.make_reply_bundle(unit_key.ed25519, unit_key.unit, unit_key.key_id,
                                     "2026-01-10", [reply])


# --- export bundles on the workstation --------------------------------------------------


def test_flipped_byte_in_export_bundle_imports_nothing(server, officer, run_cli, tmp_path):
    # Given an export bundle with one tip and an attachment, changed in its middle byte
    _submit(server, "Взятка на посту ДПС.", [EVIDENCE])
    bundle = _export(run_cli, server, tmp_path / "e.tdx")
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered = tmp_path / "tampered.tdx"
    tampered.write_bytes(data)

    # When the officer opens it, then it is refused and nothing is imported
    assert_clean_open_error(run_cli("officer", "open", tampered, env=officer))
    assert _listed(run_cli, officer) == []
    assert list((tmp_path / "cases" / "attachments").glob("*.bin")) == []

    # And the intact bundle still opens: the refusal left nothing behind
    opened = run_cli("officer", "open", bundle, env=officer, check=True)
    assert "1 new tips" in opened.stdout and "1 attachments" in opened.stdout


def test_a_changed_copy_of_an_opened_bundle_is_refused_not_called_nothing_new(
        server, officer, run_cli, tmp_path):
    # Given a bundle of two tips the officer opened
    _submit(server, "Взятка на посту ДПС.")
    _submit(server, "Драка у магазина.")
    bundle = _export(run_cli, server, tmp_path / "e.tdx")
    run_cli("officer", "open", bundle, env=officer, check=True)
    before = _listed(run_cli, officer)
    # And a copy of it rewritten with a correct checksum, as a hostile server or a
    # tampered stick can: every item still opens, but a clear field says something else
    records = _records(bundle.read_bytes())
    first_tip = next(i for i, (kind, _) in enumerate(records) if kind == bundles.TIP)
    records[first_tip] = (bundles.TIP, records[first_tip][1] | {"region": "astana",
                                                                  "status": "confirmed"})
    changed = tmp_path / "changed.tdx"
    changed.write_bytes(_bundle(records))

    # When the officer opens the changed copy
    result = run_cli("officer", "open", changed, env=officer)

    # Then it is refused as differing from the copy they hold, not as "nothing new"
    assert_clean_open_error(result, "differs from the copy of it opened here before",
                            "export ")
    assert "nothing new" not in result.stdout
    # And nothing of it was stored: the same tips, and the original still "already opened"
    assert _listed(run_cli, officer) == before
    again = run_cli("officer", "open", bundle, env=officer, check=True)
    assert "already opened" in again.stdout
    # The copy is still refused the second time (it was not remembered as opened)
    assert_clean_open_error(run_cli("officer", "open", changed, env=officer),
                            "differs from the copy")


def test_truncated_export_bundle_imports_nothing(server, officer, run_cli, tmp_path):
    _submit(server, "Драка у магазина.", [EVIDENCE])
    data = _export(run_cli, server, tmp_path / "e.tdx").read_bytes()
    for length in (len(data) // 2, len(data) - 1):
        cut = tmp_path / f"cut-{length}.tdx"
        cut.write_bytes(data[:length])
        assert_clean_open_error(run_cli("officer", "open", cut, env=officer), "incomplete")
        assert _listed(run_cli, officer) == []


def test_bundle_for_another_unit_is_refused_naming_both_units(server, run_cli, tmp_path):
    # Given a bundle exported for demo, and the astana-police unit's workstation
    _submit(server, "x")
    bundle = _export(run_cli, server, tmp_path / "e.tdx")
    astana_key = tmp_path / "astana-police.key"
    astana_key.write_bytes(keys.private_to_file(keys.generate("astana-police"), "astana pass",
                                                kdf.TEST_PARAMS))
    astana = {"TIPDROP_PASSPHRASE": "astana pass", "TIPDROP_WORKDIR": str(tmp_path / "astana"),
              "TIPDROP_KEY": str(astana_key)}

    result = run_cli("officer", "open", bundle, env=astana)

    assert_clean_open_error(result, "'demo'", "'astana-police'")
    assert _listed(run_cli, astana) == []


def test_a_workspace_of_one_unit_refuses_another_units_key(server, officer, run_cli, tmp_path):
    # Given a workspace that holds the demo unit's tips
    _submit(server, "Взятка на посту ДПС.")
    run_cli("officer", "open", _export(run_cli, server, tmp_path / "e.tdx"), env=officer,
            check=True)
    [tip] = _listed(run_cli, officer)
    audit = (tmp_path / "cases" / "audit.log").read_bytes()
    # And the key of another unit, astana-police, with the same workspace folder
    astana_key = tmp_path / "astana-police.key"
    astana_key.write_bytes(keys.private_to_file(keys.generate("astana-police"), "astana pass",
                                                kdf.TEST_PARAMS))
    astana = {**officer, "TIPDROP_PASSPHRASE": "astana pass", "TIPDROP_KEY": str(astana_key)}

    # When a command unlocks that key there, then it is refused, naming both units
    for command in (("officer", "show", tip["id"]), ("officer", "reply", tip["id"],
                                                        "--status", "in-review")):
        assert_clean_open_error(run_cli(*command, env=astana), "another unit's reports",
                                "'demo'", "'astana-police'")
    # And nothing was written: no reply queued, no audit entry the demo key cannot verify
    assert (tmp_path / "cases" / "audit.log").read_bytes() == audit
    run_cli("officer", "audit", "--verify", env=officer, check=True)


def test_reply_bundle_given_to_officer_open_is_refused(officer, run_cli, tmp_path):
    replies = tmp_path / "replies.json"
    replies.write_bytes(_unit_signed_bundle(keys.generate("demo"), "ab" * 16))
    result = run_cli("officer", "open", replies, env=officer)
    assert_clean_open_error(result, "not a tipdrop export bundle")
    assert _listed(run_cli, officer) == []


# --- reply bundles on the server ----------------------------------------------------------


def test_forged_reply_bundle_is_refused_and_the_reporter_sees_the_old_status(
        server, officer, run_cli, tmp_path):
    # Given a genuine reply bundle that confirms a reporter's tip
    receipt = _submit(server, "Пьяный водитель у школы.")
    run_cli("officer", "open", _export(run_cli, server, tmp_path / "e.tdx"), env=officer,
            check=True)
    [tip] = _listed(run_cli, officer)
    run_cli("officer", "reply", tip["id"], "--status", "confirmed", "--message", "Проверяем.",
            env=officer, check=True)
    genuine = tmp_path / "replies.json"
    run_cli("officer", "outbox", "--out", genuine, env=officer, check=True)

    # When someone on the way changes its status to unfounded
    doc = json.loads(genuine.read_text())
    assert doc["replies"][0]["status"] == "confirmed"
    doc["replies"][0]["status"] = "unfounded"
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(doc))

    # Then the server refuses it whole and the reporter still sees "received"
    assert_clean_error(run_cli("import-replies", forged, env=server.env()), "signature")
    page = check_on_web(server, receipt)
    assert 'data-status="received"' in page and "Проверяем." not in page

    # And the genuine bundle is still accepted: the refusal used up nothing
    run_cli("import-replies", genuine, env=server.env(), check=True)
    assert 'data-status="confirmed"' in check_on_web(server, receipt)


def test_reply_bundle_signed_by_a_key_not_on_the_server_is_refused(
        server, officer, run_cli, tmp_path):
    receipt = _submit(server, "Продают наркотики во дворе.")
    run_cli("officer", "open", _export(run_cli, server, tmp_path / "e.tdx"), env=officer,
            check=True)
    [tip] = _listed(run_cli, officer)
    # A key for a unit of the same name that was never installed in keys/
    foreign = tmp_path / "foreign.json"
    foreign.write_bytes(_unit_signed_bundle(keys.generate("demo"), tip["id"]))

    result = run_cli("import-replies", foreign, env=server.env())

    assert_clean_error(result, "not installed")
    assert 'data-status="received"' in check_on_web(server, receipt)


def test_corrupt_reply_file_is_refused(server, run_cli, tmp_path):
    receipt = _submit(server, "Хамство в ЦОНе.")
    whole = _unit_signed_bundle(keys.generate("demo"), "ab" * 16)
    corrupt = {
        "empty": b"",
        "binary": b"\x00\xff\x13garbage",
        "half-copied": whole[: len(whole) // 2],
        "an-export-bundle": _export(run_cli, server, tmp_path / "e.tdx").read_bytes(),
    }
    for name, content in corrupt.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(content)
        assert_clean_error(run_cli("import-replies", path, env=server.env()),
                           "not a tipdrop reply bundle")
    assert 'data-status="received"' in check_on_web(server, receipt)


# --- exporting on the server --------------------------------------------------------------


def test_export_to_an_existing_file_is_refused_and_the_cursor_does_not_move(
        server, run_cli, tmp_path):
    _submit(server, "Мошенники звонят пенсионерам.")
    existing = tmp_path / "e.tdx"
    existing.write_bytes(b"an earlier export, not to be overwritten")

    result = run_cli("export", "--unit", "demo", "--out", existing, env=server.env())

    assert_clean_error(result, "already exists")
    assert existing.read_bytes() == b"an earlier export, not to be overwritten"
    assert [p.name for p in tmp_path.glob(".e.tdx.*")] == []
    # The tip was not counted as exported: the next export carries it
    later = run_cli("export", "--unit", "demo", "--out", tmp_path / "later.tdx", env=server.env())
    assert later.returncode == 0, later.stderr
    assert "exported 1 tips" in later.stdout
