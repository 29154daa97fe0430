"""Hostile metadata in a bundle is refused where it comes in, through the real CLI.

An export bundle whose checksum was rewritten (a hostile server, or an edit
on the transfer stick) can say anything around its ciphertexts. Each bad
field is refused by `tipdrop officer open` with one line naming it, and the
workspace stays usable: nothing was imported. On the server, a reply bundle
or an acknowledgement with a field out of its rule is refused by
`tipdrop import-replies` / `import-ack` the same way, even when signed.
"""

import json

import pytest

from tests.e2e.conftest import assert_clean_error
from tests.protocol.test_bundles import EVIDENCE, Server, _bundle, _records
from tipdrop.crypto import kdf, keys
from tipdrop.protocol import acks, bundles

pytestmark = pytest.mark.e2e
PASS = {"TIPDROP_PASSPHRASE": "metadata pass"}


@pytest.fixture(scope="module")
def unit_keys():
    return keys.generate("demo"), keys.generate("astana-police")


@pytest.fixture
def exchange(tmp_path, unit_keys):
    """A server's folders holding one demo tip (with a file), its export, and the officer."""
    demo, astana = unit_keys
    server = Server(tmp_path / "server", demo, astana)
    tip, _ = server.submit("almaty", "Counterfeit goods in the warehouse.",
                           files=[("list.bin", EVIDENCE)])
    server.export("demo", tmp_path / "demo.tdx")
    key_file = tmp_path / "demo.key"
    key_file.write_bytes(keys.private_to_file(demo, PASS["TIPDROP_PASSPHRASE"], kdf.TEST_PARAMS))
    officer = PASS | {"TIPDROP_WORKDIR": str(tmp_path / "cases"), "TIPDROP_KEY": str(key_file)}
    yield {"server": server, "tip": tip, "key": demo, "officer": officer,
           "records": _records((tmp_path / "demo.tdx").read_bytes()),
           "server_env": {"TIPDROP_DATA_DIR": str(tmp_path / "server" / "instance"),
                          "TIPDROP_KEYS_DIR": str(tmp_path / "server" / "keys")}}
    server.db.close()


def _forged(records, tmp_path, **tip_fields):
    path = tmp_path / "forged.tdx"
    path.write_bytes(_bundle([(k, d | tip_fields if k == bundles.TIP else d)
                              for k, d in records]))
    return path


@pytest.mark.parametrize("field, value", [
    ("received_day", "2024-99-99"),
    ("status_day", "2023-02-29"),
    ("reply_seq", 2**63 - 1),
    ("status", "solved"),
    ("region", "almaty\x1b]0;owned\x07"),
])
def test_hostile_tip_metadata_is_refused_at_open_and_the_workspace_still_works(
        field, value, exchange, run_cli, tmp_path):
    forged = _forged(exchange["records"], tmp_path, **{field: value})
    officer = exchange["officer"]

    refused = run_cli("officer", "open", forged, env=officer)

    assert_clean_error(refused, f"'{field}'")
    assert "\x1b" not in refused.stderr
    listed = run_cli("officer", "list", env=officer)
    assert listed.returncode == 0 and listed.stdout.strip() == "no tips", listed
    # The intact bundle still opens, and every later command works.
    intact = _forged(exchange["records"], tmp_path)
    assert run_cli("officer", "open", intact, env=officer).returncode == 0
    tip = exchange["tip"]["id"]
    for args in (("list",), ("show", tip, "--save-attachments", tmp_path / "evidence"),
                 ("reply", tip, "--status", "in-review", "--message", "Thank you."),
                 ("outbox", "--out", tmp_path / "replies.json")):
        done = run_cli("officer", *args, env=officer)
        assert done.returncode == 0, (args, done.stderr)


def _signed_replies(key, tip_id, *, day, created_day="2026-01-10"):
    reply = bundles.sign_reply(key.ed25519, key.unit, key.key_id, tip_id=tip_id, seq=1,
                               day=day, status="in-review", body=b"")
    return bundles.make_reply_bundle(key.ed25519, key.unit, key.key_id, created_day, [reply])


@pytest.mark.parametrize("change", [
    {"day": "2024-02-30"},
    {"day": "2026-01-10", "created_day": "2026-13-01"},
], ids=["impossible-reply-day", "impossible-bundle-day"])
def test_signed_reply_bundle_with_a_field_out_of_its_rule_is_refused(
        change, exchange, run_cli, tmp_path):
    path = tmp_path / "replies.json"
    path.write_bytes(_signed_replies(exchange["key"], exchange["tip"]["id"], **change))

    refused = run_cli("import-replies", path, env=exchange["server_env"])

    assert_clean_error(refused)
    assert exchange["server"].replies_and_statuses()[0] == []


def test_signed_acknowledgement_with_a_number_past_the_limit_is_refused(
        exchange, run_cli, tmp_path):
    key = exchange["key"]
    ack = acks.sign_ack(key.ed25519, key.unit, key.key_id, export_seq=2**63 - 1,
                        tips=[exchange["tip"]["id"]])
    path = tmp_path / "ack.json"
    path.write_bytes(acks.dumps(ack))

    refused = run_cli("import-ack", path, env=exchange["server_env"])

    assert_clean_error(refused, "'export_seq'")
    held = json.loads(json.dumps(exchange["server"].db.execute(
        "SELECT held_seq FROM tips").fetchall()))
    assert held == [[0]]
