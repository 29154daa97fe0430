"""The chain a workspace holds for an export is never replaced by none (acking.record_held).

Opening refuses an unchained export once a chained one is held
(tests/e2e/test_export_history.py); this is the last guard below it: a
second record of the same export number without chain values (an older
bundle of that number reopened) keeps the held export id and chain.
"""

from tipdrop.officer.workspace import Workspace

ID, PREVIOUS, CHAIN = bytes(range(16)), bytes(32), bytes(range(32))


def _held_row(workspace):
    return workspace.db.execute("SELECT export_id, previous_chain, chain, items FROM held "
                                "WHERE export_seq = 3").fetchone()


def test_an_unchained_record_of_a_chained_export_keeps_its_chain(tmp_path):
    workspace = Workspace(tmp_path / "cases")
    try:
        workspace.record_held(3, {"tips": {"a" * 32}, "followups": set(), "attachments": set()},
                              export_id=ID, previous_chain=PREVIOUS, chain=CHAIN)
        workspace.record_held(3, {"tips": {"b" * 32}, "followups": set(), "attachments": set()})

        export_id, previous_chain, chain, items = _held_row(workspace)
        assert (export_id, previous_chain, chain) == (ID.hex(), PREVIOUS.hex(), CHAIN.hex())
        assert "a" * 32 in items and "b" * 32 in items
    finally:
        workspace.close()
