"""`tipdrop officer open` of exports whose chain was stripped, cut or rewritten on the way.

A real server (gunicorn) takes reports on the web, `tipdrop export` writes
chained exports, and the real CLI opens them. Between the two, the bundle is
edited as whoever carries the stick (or a hostile server) could edit it: the
checksum at its end has no key, so every edit here fixes it. The workspace
must not take such an export as "nothing new" or "N new tips" once it holds
chained exports, nor forget the chain it holds (docs/protocol.md section 11,
docs/threat-model.md "Export chain").
"""

import io
import json
import sqlite3
from contextlib import closing

import pytest

from tests.e2e.conftest import assert_clean_error
from tests.e2e.test_officer_loop import _submit
from tipdrop.protocol import acks, bundles

pytestmark = pytest.mark.e2e

CHAIN_FIELDS = ("export_id", "previous_chain", "chain")


def _records(path):
    """Every record of a bundle: (kind, doc), or (STREAM, bytes)."""
    out = []
    with open(path, "rb") as f:
        reader = bundles.ExportReader(f)
        for record in reader:
            if record.kind == bundles.STREAM:
                raw = bytearray()
                reader.copy_stream(raw.extend)
                out.append((record.kind, bytes(raw)))
            else:
                out.append((record.kind, dict(record.doc)))
    return out


def _write(records, path):
    """A bundle of ``records`` with a correct (keyless) checksum, as any editor can write."""
    with open(path, "wb") as f:
        writer = bundles.ExportWriter(f)
        for kind, payload in records:
            if kind == bundles.STREAM:
                writer.stream(io.BytesIO(payload), len(payload))
            else:
                writer.record(kind, payload)
        writer.finish()


def _strip(records):
    for name in CHAIN_FIELDS:
        records[0][1].pop(name, None)
    return records


def _drop_first_tip(records):
    """The records without the first tip and its follow-ups and files; its id."""
    victim = next(doc["id"] for kind, doc in records if kind == bundles.TIP)
    out, skip_stream = [], False
    for kind, doc in records:
        if kind == bundles.STREAM:
            if not skip_stream:
                out.append((kind, doc))
            skip_stream = False
        elif kind == bundles.TIP and doc["id"] == victim:
            continue
        elif kind in (bundles.FOLLOWUP, bundles.ATTACHMENT) and doc["tip_id"] == victim:
            skip_stream = kind == bundles.ATTACHMENT
        else:
            out.append((kind, doc))
    return out, victim


def _rechain(records):
    """Compute the header's chain again over the items left (the chain has no key)."""
    header = records[0][1]
    items = acks.items_digest(
        [d["id"] for k, d in records if k == bundles.TIP],
        [(d["tip_id"], d["seq"]) for k, d in records if k == bundles.FOLLOWUP],
        [(d["tip_id"], d["part"]) for k, d in records if k == bundles.ATTACHMENT])
    header["chain"] = acks.chain_link(bytes.fromhex(header["previous_chain"]), header["unit"],
                                      header["export_seq"], bytes.fromhex(header["export_id"]),
                                      items).hex()
    return records


@pytest.fixture
def opened_first(server, run_cli, tmp_path):
    """A workspace that opened the server's first (chained) export, of one report."""
    officer = {"TIPDROP_PASSPHRASE": "officer pass", "TIPDROP_WORKDIR": str(tmp_path / "cases"),
               "TIPDROP_KEY": str(server.key_file)}
    _submit(server, "Инспектор требует взятку за справку.")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e1.tdx", env=server.env(),
            check=True)
    run_cli("officer", "open", tmp_path / "e1.tdx", env=officer, check=True)
    return officer


def _held(tmp_path):
    with closing(sqlite3.connect(tmp_path / "cases" / "workspace.db")) as db:
        return db.execute("SELECT export_seq, export_id, chain FROM held "
                          "ORDER BY export_seq").fetchall()


def _tips(run_cli, officer):
    listed = run_cli("officer", "list", "--json", env=officer, check=True).stdout
    return {t["id"]: t for t in json.loads(listed)}


def test_an_export_resent_without_its_chain_is_refused_and_the_held_chain_is_kept(
        server, opened_first, run_cli, tmp_path):
    officer = opened_first
    held = _held(tmp_path)
    # Given the export opened, sent again with its chain stripped and every status changed
    records = _strip(_records(tmp_path / "e1.tdx"))
    for kind, doc in records:
        if kind == bundles.TIP:
            doc["status"] = "closed"
    _write(records, tmp_path / "stripped.tdx")

    # When the officer opens it
    opened = run_cli("officer", "open", tmp_path / "stripped.tdx", env=officer)

    # Then it is refused as altered, not taken as "0 new", and the held chain stays
    assert_clean_error(opened, "lacks the export chain", "export 1")
    assert _held(tmp_path) == held and held[0][2]
    # And a changed copy that keeps its export id is still refused as such
    records = _records(tmp_path / "e1.tdx")
    for kind, doc in records:
        if kind == bundles.TIP:
            doc["status"] = "closed"
    _write(records, tmp_path / "changed.tdx")
    changed = run_cli("officer", "open", tmp_path / "changed.tdx", env=officer)
    assert_clean_error(changed, "differs from the copy of it opened here before")


def test_a_new_export_with_a_report_dropped_and_its_chain_stripped_is_refused(
        server, opened_first, run_cli, tmp_path):
    officer = opened_first
    _submit(server, "Продают справки у входа в ЦОН.")
    _submit(server, "Третье сообщение: поборы на посту.")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e2.tdx", env=server.env(),
            check=True)
    # Given whoever carries the stick drops a report from the new export and strips its chain
    records, victim = _drop_first_tip(_strip(_records(tmp_path / "e2.tdx")))
    _write(records, tmp_path / "dropped.tdx")

    # When the officer opens it
    opened = run_cli("officer", "open", tmp_path / "dropped.tdx", env=officer)

    # Then nothing of it is taken; the export as the server wrote it opens with the report
    assert_clean_error(opened, "lacks the export chain", "export 2; chained since export 1")
    assert len(_tips(run_cli, officer)) == 1
    honest = run_cli("officer", "open", tmp_path / "e2.tdx", env=officer, check=True)
    assert honest.stdout.startswith("opened: 2 new tips"), honest.stdout
    assert victim in _tips(run_cli, officer)


def test_an_export_whose_header_carries_part_of_its_chain_is_refused(
        server, opened_first, run_cli, tmp_path):
    officer = opened_first
    _submit(server, "Продают справки у входа в ЦОН.")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e2.tdx", env=server.env(),
            check=True)
    records = _records(tmp_path / "e2.tdx")
    records[0][1].pop("chain")
    _write(records, tmp_path / "partial.tdx")

    opened = run_cli("officer", "open", tmp_path / "partial.tdx", env=officer)

    assert_clean_error(opened, "only part of its export chain")
    assert len(_tips(run_cli, officer)) == 1


def test_a_report_dropped_and_rechained_is_caught_when_the_next_export_is_opened(
        server, opened_first, run_cli, tmp_path):
    officer = opened_first
    _submit(server, "Продают справки у входа в ЦОН.")
    _submit(server, "Третье сообщение: поборы на посту.")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e2.tdx", env=server.env(),
            check=True)
    # Given an editor drops a report from export 2 and computes its chain again:
    # the chain has no key, so that export alone cannot tell (docs/threat-model.md)
    records, victim = _drop_first_tip(_records(tmp_path / "e2.tdx"))
    _write(_rechain(records), tmp_path / "rechained.tdx")
    cut = run_cli("officer", "open", tmp_path / "rechained.tdx", env=officer, check=True)
    assert cut.stdout.startswith("opened: 1 new tips"), cut.stdout
    _submit(server, "Четвёртое сообщение.")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e3.tdx", env=server.env(),
            check=True)

    # When the officer opens the server's next export, as the server wrote it
    opened = run_cli("officer", "open", tmp_path / "e3.tdx", env=officer)

    # Then it is refused: it follows another export 2 than the one opened here
    assert_clean_error(opened, "does not follow the exports opened here",
                       "export 3 follows another export 2 than the one opened here")
    # And the server refuses the acknowledgement of the cut export, saying what that means
    run_cli("officer", "ack", "--out", tmp_path / "ack.json", env=officer, check=True)
    refused_ack = run_cli("import-ack", tmp_path / "ack.json", env=server.env())
    assert_clean_error(refused_ack, "did not make: they were altered on the way to the "
                       "workstation (a report dropped or changed), or this server was restored")
    # And the operator's export of everything since the start brings the dropped report
    run_cli("export", "--unit", "demo", "--since-start", "--out", tmp_path / "e4.tdx",
            env=server.env(), check=True)
    run_cli("officer", "open", tmp_path / "e4.tdx", env=officer, check=True)
    assert victim in _tips(run_cli, officer)
    # And a workspace that opened export 3 first refuses the cut export 2 at once
    other = {**officer, "TIPDROP_WORKDIR": str(tmp_path / "other")}
    run_cli("officer", "open", tmp_path / "e1.tdx", env=other, check=True)
    run_cli("officer", "open", tmp_path / "e3.tdx", env=other, check=True)
    refused = run_cli("officer", "open", tmp_path / "rechained.tdx", env=other)
    assert_clean_error(refused, "export 3, opened here on")
    # And the unaltered export 2 opens there, with the report the editor dropped
    run_cli("officer", "open", tmp_path / "e2.tdx", env=other, check=True)
    assert victim in _tips(run_cli, other)
