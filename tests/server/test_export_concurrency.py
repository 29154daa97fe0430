"""Exports of one unit that overlap: never the same number twice, never an item twice.

Two connections to one real database file. The second export runs while
the first one writes its bundle (from the first one's ``clock``, which the
writer calls after the rows and the number were read), the way an online
pull can run during ``tipdrop export`` (tests/e2e/test_export_race.py runs
that with the real processes).
"""

import copy

import pytest

from tests.protocol.test_bundles import Server
from tipdrop.common import sqlite
from tipdrop.protocol import bundles
from tipdrop.server import exchange


@pytest.fixture
def server(tmp_path, demo_key, astana_key):
    running = Server(tmp_path / "server", demo_key, astana_key)
    yield running
    running.db.close()


def _exported_tips(path):
    with open(path, "rb") as f:
        records = list(bundles.ExportReader(f))
    header = records[0].doc
    return header["export_seq"], sorted(r.doc["id"] for r in records if r.kind == bundles.TIP)


def test_an_export_overtaken_while_writing_is_built_again_with_the_next_number(server, tmp_path):
    first, _ = server.submit("almaty", "First tip.")
    other = sqlite.connect(sqlite.path_of(server.db))
    elsewhere = copy.copy(server.tips)
    elsewhere.db = other
    overtaken = []

    def clock():
        # While the first export writes: another export of the unit, then a new tip.
        if not overtaken:
            overtaken.append(exchange.export_unit(other, server.attachments, unit="demo",
                                                  out=tmp_path / "pull.tdx"))
            server.tips = elsewhere  # a submission on a connection of its own
            server.submit("almaty", "Second tip.")
        return "2026-01-10"

    counts = exchange.export_unit(server.db, server.attachments, unit="demo",
                                  out=tmp_path / "cli.tdx", clock=clock)

    assert overtaken[0]["export_seq"] == 1
    assert _exported_tips(tmp_path / "pull.tdx") == (1, [first["id"]])
    assert counts == {"tips": 1, "followups": 0, "attachments": 0, "export_seq": 2}
    [second] = [r["id"] for r in server.db.query("SELECT id FROM tips") if r["id"] != first["id"]]
    assert _exported_tips(tmp_path / "cli.tdx") == (2, [second])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert [r["seq"] for r in server.db.query("SELECT seq FROM exports ORDER BY seq")] == [1, 2]
    other.close()


def test_an_export_overtaken_every_time_gives_up_cleanly(server, tmp_path):
    server.submit("almaty", "A tip.")
    other = sqlite.connect(sqlite.path_of(server.db))
    taken = []

    def clock():
        taken.append(exchange.export_unit(other, server.attachments, unit="demo",
                                          out=tmp_path / f"pull-{len(taken)}.tdx"))
        return "2026-01-10"

    with pytest.raises(exchange.ExportBusyError):
        exchange.export_unit(server.db, server.attachments, unit="demo",
                             out=tmp_path / "cli.tdx", clock=clock)

    # Nothing of the loser is left: no file, no number; the winners are intact
    assert not (tmp_path / "cli.tdx").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".cli.tdx")]
    assert [c["export_seq"] for c in taken] == list(range(1, exchange.EXPORT_ATTEMPTS + 1))
    assert [r["seq"] for r in server.db.query("SELECT seq FROM exports ORDER BY seq")] == \
        list(range(1, exchange.EXPORT_ATTEMPTS + 1))
    other.close()
