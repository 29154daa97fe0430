"""No export bundle, whatever its clear metadata says, breaks a command after it opens.

A hostile server (or whoever edits the file on the transfer stick and writes
a new checksum) controls every field around the ciphertexts. Each example
takes a real export bundle, replaces one field of one record with a
hostile value (an impossible day, a number at the edge of 64 bits, a
control character in a code, any JSON value, or nothing), and opens it.
Either the open is refused with a TipdropError and the workspace holds
nothing, or every later officer command (list, list --json, show with its
attachments saved, reply, outbox) runs to the end or ends with the CLI's
clean error (a TipdropError), never with any other exception.

Set TIPDROP_FUZZ_EXAMPLES to run with more examples (``make fuzz``).
"""

import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.protocol.test_bundles import (
    EVIDENCE,
    Server,
    _bundle,
    _records,
    assert_nothing_imported,
)
from tipdrop.cli import register_commands
from tipdrop.crypto import kdf, keys
from tipdrop.errors import TipdropError
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol import bundles

cli = register_commands()
PASS = "metadata fuzz"
#: The fields of each record as docs/protocol.md section 10 lists them
#: (test_the_fields_listed_here_are_the_ones_the_server_writes keeps this true).
FIELDS = {
    bundles.HEADER: ("format", "version", "unit", "export_seq", "created_day", "since_start",
                     "export_id", "previous_chain", "chain"),
    bundles.TIP: ("id", "key_id", "region", "category", "received_day", "status", "status_day",
                  "reply_public", "reply_seq", "encrypted_on", "body"),
    bundles.FOLLOWUP: ("tip_id", "seq", "received_day", "encrypted_on", "body"),
    bundles.ATTACHMENT: ("tip_id", "part", "info", "size"),
}
MISSING = object()

#: Values found, or feared, to get past a type check and fail later.
HOSTILE = [
    "2024-99-99", "2024-02-30", "2023-02-29", "0000-01-01", "2024-1-01", "2024-01-01\n",
    "\u0662\u0660\u0662\u0664-01-01", 2**63 - 1, 2**63, 2**64, 2**53, 2**53 - 1, -1, 0, 1,
    True, 1.0, None, "", "a" * 65, "x" * 5000, "received\u202e", "theft\x1b[2J", "\ud800",
    "in-review ", "RECEIVED", "a0", "a1000", "a01", "../a1", "AAAA", "@@@@", [], {},
    "0" * 32, "A" * 32,
]
values = st.sampled_from(HOSTILE) | st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=2),
    max_leaves=4)


@pytest.fixture(scope="module")
def source(tmp_path_factory, demo_key, astana_key):
    """A real bundle (a tip with a follow-up and an attachment) and the unit's key file."""
    root = tmp_path_factory.mktemp("metadata")
    server = Server(root / "server", demo_key, astana_key)
    tip, _ = server.submit("almaty", "Stolen car parts sold at the market.",
                           files=[("list.bin", EVIDENCE)])
    server.tips.add_followup(tip_id=tip["id"], text="Again on Sunday.")
    server.export("demo", root / "demo.tdx")
    server.db.close()
    key_file = root / "demo.key"
    key_file.write_bytes(keys.private_to_file(demo_key, PASS, kdf.TEST_PARAMS))
    return {"records": _records((root / "demo.tdx").read_bytes()), "key": key_file,
            "tip_id": tip["id"]}


def _replaced(records, kind, name, value):
    out, done = [], False
    for k, doc in records:
        if k == kind and not done:
            doc = {n: v for n, v in doc.items() if n != name}
            if value is not MISSING:
                doc[name] = value
            done = True
        out.append((k, doc))
    return out


def _officer(workdir, key, *args):
    return CliRunner().invoke(cli, ["officer", *map(str, args), "--workdir", str(workdir),
                                    "--key", str(key)], env={"TIPDROP_PASSPHRASE": PASS})


def _assert_ran(result, what):
    """The command ended, or refused with a TipdropError: the CLI's clean one-line error
    (e.g. `show` of a tip the bundle said the server no longer holds)."""
    if isinstance(result.exception, TipdropError):
        return
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        what, repr(result.exception), result.output)
    assert result.exit_code == 0, (what, result.output)


@settings(max_examples=int(os.environ.get("TIPDROP_FUZZ_EXAMPLES") or 120), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from([(kind, name) for kind, names in FIELDS.items() for name in names]),
       value=values | st.just(MISSING))
@example(where=(bundles.TIP, "received_day"), value="2024-99-99")
@example(where=(bundles.TIP, "reply_seq"), value=2**63 - 1)
@example(where=(bundles.TIP, "status"), value="theft\x1b[2J")
def test_no_bundle_metadata_breaks_a_later_command(where, value, source, demo_key):
    kind, name = where
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        path = scratch / "forged.tdx"
        path.write_bytes(_bundle(_replaced(source["records"], kind, name, value)))
        workspace = Workspace(scratch / "cases")
        try:
            workspace.open_bundle(path, Keyring.of(demo_key))
        except TipdropError:
            assert_nothing_imported(workspace)
            return
        finally:
            workspace.close()
        key, cases = source["key"], scratch / "cases"
        _assert_ran(_officer(cases, key, "list"), "list")
        _assert_ran(_officer(cases, key, "list", "--json"), "list --json")
        _assert_ran(_officer(cases, key, "show", source["tip_id"], "--save-attachments",
                             scratch / "evidence"), "show")
        _assert_ran(_officer(cases, key, "reply", source["tip_id"], "--status", "in-review",
                             "--message", "Thank you."), "reply")
        _assert_ran(_officer(cases, key, "outbox", "--out", scratch / "replies.json"), "outbox")


@pytest.mark.parametrize("kind, name, value", [
    (bundles.TIP, "received_day", "2024-99-99"),
    (bundles.TIP, "status_day", "2023-02-29"),
    (bundles.TIP, "reply_seq", 2**63 - 1),
    (bundles.TIP, "reply_seq", 2**53 - 1),  # its next reply would pass 2^53 - 1
    (bundles.TIP, "status", "solved"),
    (bundles.TIP, "region", "almaty\u202e"),
    (bundles.TIP, "key_id", "not hex"),
    (bundles.HEADER, "created_day", "2024-13-01"),
    (bundles.HEADER, "export_seq", 2**63 - 1),
    (bundles.FOLLOWUP, "received_day", "2024-00-10"),
    (bundles.FOLLOWUP, "encrypted_on", "phone"),
    (bundles.ATTACHMENT, "size", -1),
], ids=lambda v: str(v)[:20])
def test_each_hostile_field_is_refused_at_open_naming_it(kind, name, value, source, demo_key,
                                                         tmp_path):
    path = tmp_path / "forged.tdx"
    path.write_bytes(_bundle(_replaced(source["records"], kind, name, value)))
    workspace = Workspace(tmp_path / "cases")
    with pytest.raises(bundles.BundleError) as refused:
        workspace.open_bundle(path, Keyring.of(demo_key))
    assert f"'{name}'" in refused.value.message
    assert "\n" not in refused.value.message
    assert_nothing_imported(workspace)
    workspace.close()


def test_the_fields_listed_here_are_the_ones_the_server_writes(source):
    for kind, doc in source["records"]:
        if kind in FIELDS:
            assert tuple(doc) == FIELDS[kind]


def test_a_workspace_filled_before_these_checks_still_lists_and_refuses_to_overflow(
        source, demo_key, tmp_path):
    # Given a workspace that an older tipdrop filled with what it did not check
    path = tmp_path / "intact.tdx"
    path.write_bytes(_bundle(source["records"]))
    workspace = Workspace(tmp_path / "cases")
    workspace.open_bundle(path, Keyring.of(demo_key))
    workspace.db.execute("UPDATE tips SET received_day = '2024-99-99', reply_seq = ?",
                         [2**63 - 1])
    workspace.db.conn.commit()
    workspace.close()
    cases, key = tmp_path / "cases", source["key"]

    listed = _officer(cases, key, "list")
    replied = _officer(cases, key, "reply", source["tip_id"], "--status", "closed")

    _assert_ran(listed, "list")
    assert "   ?  received" in listed.output  # the age it cannot compute
    assert isinstance(replied.exception, TipdropError)
    assert "no reply numbers left" in replied.exception.message
