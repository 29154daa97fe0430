"""Opening a bundle does a fixed amount of database and key work, whatever the number of tips.

An import of a day's national volume must stay close to the cost of unsealing
the envelopes (bench/officer_import.py): the workspace's tips are looked up in
one query, not several per tip, and each key's opener is built once.
"""

import pytest

from tipdrop.common import sqlite
from tipdrop.crypto import kdf, keys
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol.report import Report
from tipdrop.protocol.routing import Routing
from tipdrop.server import exchange, store
from tipdrop.server.tips import Tips
from tipdrop.server.unitkeys import UnitKeys


@pytest.fixture(scope="module")
def unit():
    return keys.generate("demo")


def _bundle(folder, unit, count):
    db = sqlite.connect(folder / "server" / "tipdrop.db")
    store.init(db)
    tips = Tips(db, UnitKeys([unit.public]), Routing({"astana": "demo"}),
                folder / "server" / "attachments", receipt_params=kdf.TEST_PARAMS)
    for i in range(count):
        tips.submit(tips.start(region="astana"),
                    Report.build(region="astana", category="drugs", description=f"tip {i}"))
    out = folder / "export.tdx"
    exchange.export_unit(db, folder / "server" / "attachments", unit="demo", out=out)
    db.close()
    return out


def _selects_while_opening(tmp_path, unit, count):
    bundle = _bundle(tmp_path / str(count), unit, count)
    workspace = Workspace(tmp_path / str(count) / "workspace")
    statements = []
    workspace.db.conn.set_trace_callback(statements.append)
    counts = workspace.open_bundle(bundle, Keyring.of(unit))
    workspace.db.conn.set_trace_callback(None)
    workspace.close()
    assert counts["tips"] == count
    return sum(1 for sql in statements if sql.lstrip().upper().startswith("SELECT"))


def test_opening_a_bundle_runs_as_many_queries_for_five_tips_as_for_thirty(tmp_path, unit):
    assert _selects_while_opening(tmp_path, unit, 30) == _selects_while_opening(tmp_path, unit, 5)


def test_the_keyring_builds_one_opener_per_key(unit):
    keyring = Keyring.of(unit)
    assert keyring.opener_for(unit.key_id) is keyring.opener_for(unit.key_id)


def test_opening_a_bundle_makes_no_x25519_key_of_a_reply_key(tmp_path, unit, monkeypatch):
    # Each tip's reply key is checked (no reply could be sealed to a point of
    # small order), without an X25519 exchange per tip: the import's one
    # exchange per tip is the unseal's, inside the library's HPKE.
    from cryptography.hazmat.primitives.asymmetric import x25519

    bundle = _bundle(tmp_path, unit, 5)
    made = []
    real = x25519.X25519PublicKey.from_public_bytes

    def counting(data):
        made.append(bytes(data))
        return real(data)

    monkeypatch.setattr(x25519.X25519PublicKey, "from_public_bytes", staticmethod(counting))
    workspace = Workspace(tmp_path / "workspace")
    assert workspace.open_bundle(bundle, Keyring.of(unit))["tips"] == 5
    workspace.close()
    assert made == []


def test_the_audit_log_names_every_imported_tip_in_chained_authenticated_entries(
        tmp_path, unit, monkeypatch):
    # One `import` entry per IMPORT_ENTRY_TIPS tips, not one per tip; each tip
    # is still named, and no name can be taken out of an entry unnoticed.
    import json

    from tipdrop.officer import workspace as workspace_mod
    from tipdrop.officer.audit import AuditError

    monkeypatch.setattr(workspace_mod, "IMPORT_ENTRY_TIPS", 2)
    bundle = _bundle(tmp_path, unit, 5)
    workspace = Workspace(tmp_path / "workspace")
    keyring = Keyring.of(unit)
    try:
        workspace.open_bundle(bundle, keyring)
        tip_ids = sorted(row[0] for row in workspace.db.execute("SELECT id FROM tips"))
        imports = [e for e in workspace.audit.verify(keyring) if e["action"] == "import"]
        assert [e["info"]["tip_ids"] for e in imports] == [tip_ids[:2], tip_ids[2:4],
                                                           tip_ids[4:]]
        assert all(e["tip"] is None for e in imports)
        for tip_id in tip_ids:
            assert "import" in [e["action"] for e in workspace.audit_trail(tip_id, keyring)]
        lines = workspace.audit.path.read_text().splitlines(keepends=True)
        at = next(n for n, line in enumerate(lines) if '"action":"import"' in line)
        entry = json.loads(lines[at])
        entry["info"]["tip_ids"] = entry["info"]["tip_ids"][1:]
        lines[at] = json.dumps(entry, separators=(",", ":")) + "\n"
        workspace.audit.path.write_text("".join(lines))
        with pytest.raises(AuditError, match="was changed"):
            workspace.audit.verify(keyring)
    finally:
        workspace.close()
