"""A hostile server's bundle cannot grow the workstation's memory or misdate its tips.

docs/threat-model.md: the server is untrusted by the workstation. Anyone can
seal valid tips to the unit's public key, so a tampered export may carry
any number of large, authentic-looking tips; and every clear day of a
record is the server's word. Bundles here are real exports (the server's
library, the unit's real key), rewritten the way such a server would
(tests/protocol/test_bundles.py: a new, correct checksum).
"""

import pytest

from tests.memory import peak_traced
from tests.protocol.test_bundles import Server, _bundle, _records, assert_nothing_imported
from tipdrop.errors import TipdropError
from tipdrop.officer import provenance, staging
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol import bundles

#: The longest description a report may have (report.MAX_DESCRIPTION), in Cyrillic:
#: about 40 KB of text per tip, sealed into a body of about 55 KB.
LONG = ("Ночью у гаражей разгружают ящики, номер машины известен. " * 400)[:19_990]
FEW = 25


def _export(root, demo_key, astana_key, count):
    server = Server(root, demo_key, astana_key)
    for i in range(count):
        server.submit("almaty", f"{i} {LONG}")
    server.export("demo", root / "demo.tdx")
    server.db.close()
    return root / "demo.tdx"


@pytest.fixture(scope="module")
def bundles_of(tmp_path_factory, demo_key, astana_key):
    """Real exports of FEW and 4 * FEW tips with the longest reports."""
    root = tmp_path_factory.mktemp("hostile")
    return {n: _export(root / str(n), demo_key, astana_key, n) for n in (FEW, 4 * FEW)}


@pytest.fixture
def new_workspace(tmp_path):
    opened = []

    def make(name):
        opened.append(Workspace(tmp_path / name))
        return opened[-1]

    yield make
    for workspace in opened:
        workspace.close()


def _rewritten(path, out, change):
    """The bundle at ``path`` with ``change(records)`` applied and a correct checksum."""
    records = _records(path.read_bytes())
    change(records)
    out.write_bytes(_bundle(records))
    return out


def _set_last(kind, **values):
    def change(records):
        index = max(i for i, (k, _) in enumerate(records) if k == kind)
        records[index] = (kind, records[index][1] | values)
    return change


def _refusal(workspace, path, demo_key):
    with pytest.raises(TipdropError) as refused:
        workspace.open_bundle(path, Keyring.of(demo_key))
    return refused.value.message


def test_import_memory_does_not_grow_with_the_bundles_contents(bundles_of, new_workspace,
                                                                demo_key):
    keyring = Keyring.of(demo_key)
    peaks = {}
    for n, path in bundles_of.items():
        workspace = new_workspace(f"cases-{n}")
        peaks[n] = peak_traced(lambda: workspace.open_bundle(path, keyring))  # noqa: B023
        assert workspace.db["tips"].count == n
    more_content = bundles_of[4 * FEW].stat().st_size - bundles_of[FEW].stat().st_size
    assert more_content > 1_500_000
    # Holding every body and opened report until the transaction grew the peak
    # by more than the added contents; a row's bookkeeping is a few hundred bytes.
    assert peaks[4 * FEW] - peaks[FEW] < more_content / 8, (peaks, more_content)


def test_a_bundle_refused_near_its_end_leaves_the_workspace_as_it_was(
        bundles_of, new_workspace, demo_key, tmp_path):
    workspace = new_workspace("empty")
    late = _rewritten(bundles_of[4 * FEW], tmp_path / "late.tdx",
                      _set_last(bundles.TIP, received_day="9999-12-31"))
    assert "after the day the bundle was made" in _refusal(workspace, late, demo_key)
    assert_nothing_imported(workspace)  # the spill (attachments/tmp) is gone too

    held = new_workspace("held")
    held.open_bundle(bundles_of[FEW], Keyring.of(demo_key))
    before = {table: list(held.db.execute(f"SELECT * FROM {table} ORDER BY 1"))
              for table in ("tips", "bundles", "followups", "attachments")}
    _refusal(held, late, demo_key)
    assert before == {table: list(held.db.execute(f"SELECT * FROM {table} ORDER BY 1"))
                      for table in before}
    assert list((held.blobs / "tmp").iterdir()) == []


@pytest.fixture(scope="module")
def small(tmp_path_factory, demo_key, astana_key):
    """A real export: one tip with a follow-up."""
    root = tmp_path_factory.mktemp("days")
    server = Server(root, demo_key, astana_key)
    tip, _ = server.submit("almaty", "Stolen copper cable sold at the scrap yard.")
    server.tips.add_followup(tip_id=tip["id"], text="Again on Sunday.")
    server.export("demo", root / "demo.tdx")
    server.db.close()
    return root / "demo.tdx", tip["id"]


@pytest.mark.parametrize("kind, values, named", [
    (bundles.TIP, {"received_day": "9999-12-31"}, "tip "),
    (bundles.TIP, {"status_day": "9999-12-31"}, "tip "),
    (bundles.FOLLOWUP, {"received_day": "9999-12-31"}, "follow-up 1 of tip "),
])
def test_a_day_after_the_bundle_was_made_is_refused_naming_the_record(
        kind, values, named, small, workspace, demo_key, tmp_path):
    path, tip_id = small
    forged = _rewritten(path, tmp_path / "forged.tdx", _set_last(kind, **values))
    message = _refusal(workspace, forged, demo_key)
    assert named + tip_id[:8] in message and "9999-12-31" in message, message
    assert_nothing_imported(workspace)


def test_a_header_made_on_a_day_still_to_come_is_refused(small, workspace, demo_key,
                                                         tmp_path):
    forged = _rewritten(small[0], tmp_path / "forged.tdx",
                        _set_last(bundles.HEADER, created_day="9999-12-31"))
    assert "9999-12-31" in _refusal(workspace, forged, demo_key)
    assert_nothing_imported(workspace)


def test_old_days_are_legitimate_and_kept(small, workspace, demo_key, tmp_path):
    """A tip may be years old when first exported: only the future is refused."""
    def change(records):
        _set_last(bundles.TIP, received_day="2001-01-01", status_day="2001-01-02")(records)
        _set_last(bundles.FOLLOWUP, received_day="2001-01-03")(records)
    old = _rewritten(small[0], tmp_path / "old.tdx", change)
    assert workspace.open_bundle(old, Keyring.of(demo_key))["tips"] == 1
    [(received,)] = workspace.db.execute("SELECT received_day FROM tips")
    assert received == "2001-01-01"


@pytest.fixture
def workspace(new_workspace):
    return new_workspace("cases")


@pytest.fixture(scope="module")
def with_file(tmp_path_factory, demo_key, astana_key):
    """A real export: one tip whose report binds a file, with a follow-up."""
    root = tmp_path_factory.mktemp("bound")
    server = Server(root, demo_key, astana_key)
    tip, _ = server.submit("almaty", "Fuel stolen from the depot at night.",
                           files=[("log.bin", b"tanker log " * 300)])
    server.tips.add_followup(tip_id=tip["id"], text="The same truck came back.")
    server.export("demo", root / "demo.tdx")
    server.db.close()
    return root / "demo.tdx", tip["id"]


def test_reports_and_follow_ups_too_large_to_keep_are_judged_from_the_spill(
        with_file, workspace, demo_key, monkeypatch):
    """What a tip's bindings need is kept while a bundle is read only when small;
    a larger report or follow-up is opened again from the spill, judged the same."""
    monkeypatch.setattr(staging, "_MAX_KEPT_ITEMS", -1)
    monkeypatch.setattr(staging, "_MAX_KEPT", 0)
    path, tip_id = with_file
    counts = workspace.open_bundle(path, Keyring.of(demo_key))
    assert counts == {"tips": 1, "followups": 1, "attachments": 1, "already_opened": False,
                      "unavailable": 0, "damaged": 0}
    shown = workspace.show(tip_id, Keyring.of(demo_key))
    assert shown["report"]["description"] == "Fuel stolen from the depot at night."
    [attachment] = shown["attachments"]
    assert attachment["binding"] == provenance.BOUND


def test_a_report_opened_again_from_the_spill_still_refuses_a_dropped_file(
        with_file, workspace, demo_key, monkeypatch, tmp_path):
    monkeypatch.setattr(staging, "_MAX_KEPT_ITEMS", -1)
    path, tip_id = with_file

    def drop_the_file(records):
        # As an older server's header (no chain), so only the binding can tell.
        records[:] = [(kind, {k: v for k, v in doc.items()
                              if k not in ("export_id", "previous_chain", "chain")}
                       if kind == bundles.HEADER else doc)
                      for kind, doc in records
                      if kind not in (bundles.ATTACHMENT, bundles.STREAM)]
    dropped = _rewritten(path, tmp_path / "dropped.tdx", drop_the_file)
    message = _refusal(workspace, dropped, demo_key)
    assert f"tip {tip_id[:8]}" in message and "is missing" in message, message
    assert_nothing_imported(workspace)
