"""The rows an import keeps until its transaction stay small, whatever its follow-ups say.

Anyone can seal follow-ups to the unit's public key; each one's opened
text (up to report.MAX_FOLLOWUP characters) must not wait in memory with
its row (staging.py keeps only a short one; a longer one is opened again
from the spill when judged). A real export (the server's library), with
authentic long follow-ups added as a hostile server could.
"""

import functools

import pytest

from tests.memory import peak_traced
from tests.protocol.test_bundles import Server, _bundle, _records
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol import bundles, device, documents

LONG = "Ж" * 10_000  # about 20 KB in memory as a str, 20 KB of UTF-8
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def export(tmp_path_factory, demo_key, astana_key):
    root = tmp_path_factory.mktemp("rows")
    server = Server(root, demo_key, astana_key)
    server.submit("almaty", "Во дворе продают краденые телефоны.")
    server.export("demo", root / "demo.tdx")
    server.db.close()
    return _records((root / "demo.tdx").read_bytes())


def _with_followups(records, demo_key, count, out):
    header = {k: v for k, v in records[0][1].items()
              if k not in ("export_id", "previous_chain", "chain")}  # an older server's
    tip = records[1][1]
    added = [(bundles.FOLLOWUP, {
        "tip_id": tip["id"], "seq": seq, "received_day": tip["received_day"],
        "encrypted_on": "server", "body": bundles.b64(device.seal_followup(
            documents.followup_document(LONG), demo_key.public.recipient, tip["id"], seq))})
        for seq in range(1, count + 1)]
    out.write_bytes(_bundle([(bundles.HEADER, header), (bundles.TIP, tip), *added]))
    return out


def test_long_follow_ups_do_not_wait_in_memory_with_their_rows(export, demo_key, tmp_path):
    peaks = []
    for count in (50, 450):
        path = _with_followups(export, demo_key, count, tmp_path / f"{count}.tdx")
        workspace = Workspace(tmp_path / f"cases{count}")
        try:
            opening = functools.partial(workspace.open_bundle, path, Keyring.of(demo_key))
            peaks.append(peak_traced(opening))
            assert workspace.db["followups"].count == count
        finally:
            workspace.close()
    # Before: each opened text kept until the transaction, 400 more of them ~ 8 MiB
    assert peaks[1] - peaks[0] < 2 * MiB, peaks
