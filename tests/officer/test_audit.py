"""The audit log: known answers, a chain that verifies, and every kind of tampering caught."""

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tipdrop.crypto import chain, keys
from tipdrop.errors import MissingKeyError, TipdropError
from tipdrop.officer import audit
from tipdrop.officer.audit import AuditError, AuditLog
from tipdrop.officer.keyring import Keyring

VECTOR = json.loads((Path(__file__).parents[1] / "vectors" / "audit.json").read_text())
TIP = "0123456789abcdef0123456789abcdef"


def _keyring(officer="aigerim", key=None):
    return Keyring.of(key or keys.generate("demo"), officer=officer)


def _filled(tmp_path, keyring=None):
    keyring = keyring or _keyring()
    log = AuditLog(tmp_path)
    log.record(keyring, "show", TIP)
    log.record(keyring, "note", TIP, n=1)
    log.record(keyring, "status", TIP, seq=1, status="in-progress")
    log.record(keyring, "outbox", replies=1, tip_ids=[TIP])
    log.record(keyring, "open-bundle", tips=1, followups=0, attachments=0)
    return log, keyring


def _lines(log):
    return log.path.read_text().splitlines(keepends=True)


def test_audit_vector_hashes_and_macs_are_reproduced():
    unit = keys.UnitPrivateKey(
        VECTOR["unit"],
        X25519PrivateKey.from_private_bytes(bytes.fromhex(VECTOR["x25519_private"])),
        Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTOR["ed25519_private"])),
        "2024-05-01")
    key = chain.audit_key(unit)
    assert key.hex() == VECTOR["audit_key"]
    prev = chain.GENESIS
    for e in VECTOR["entries"]:
        assert audit._info_text(e["info"]) == e["info_text"]
        digest = chain.entry_hash(prev, e["seq"], e["time"], e["officer"], e["action"],
                                  e["tip"] or "", e["info_text"], e["key_id"])
        assert digest.hex() == e["hash"] and e["prev"] == prev.hex()
        assert chain.entry_mac(key, unit.unit, digest).hex() == e["mac"]
        prev = digest
    head = VECTOR["head"]
    assert chain.head_mac(key, unit.unit, head["seq"], prev).hex() == head["mac"]


def test_every_action_is_recorded_after_one_unlock_with_the_officers_slot(tmp_path):
    log, keyring = _filled(tmp_path)
    entries = log.verify(keyring)
    assert [e["action"] for e in entries] == ["unlock", "show", "note", "status", "outbox",
                                                   "open-bundle"]
    assert {e["officer"] for e in entries} == {"aigerim"}
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5, 6]


def test_entries_hold_tip_ids_and_numbers_never_text(tmp_path):
    log, _ = _filled(tmp_path)
    text = log.path.read_text()
    assert TIP in text and "in-progress" in text
    for line in text.splitlines():
        assert set(json.loads(line)) == set(audit._FIELDS)


@pytest.mark.parametrize("tamper,says", [
    (lambda ls: ls[:2] + [ls[2].replace('"note"', '"show"')] + ls[3:], "entry 3 was changed"),
    (lambda ls: ls[:2] + ls[3:], "entry 3"),
    (lambda ls: ls[:1] + [ls[2], ls[1]] + ls[3:], "entry 2"),
    (lambda ls: ls[:-1], "removed from the end"),
    (lambda ls: [], "deleted"),
    (lambda ls: ls + ["{}\n"], "line 7"),
    (lambda ls: ls[:-1] + [ls[-1].rstrip("\n")], "incomplete"),
], ids=["edited", "deleted", "reordered", "cut-at-end", "emptied", "added-garbage", "torn"])
def test_a_changed_deleted_or_reordered_entry_is_detected(tmp_path, tamper, says):
    log, keyring = _filled(tmp_path)
    log.path.write_text("".join(tamper(_lines(log))))
    with pytest.raises(AuditError, match=says):
        log.verify(keyring)


def test_a_chain_rebuilt_without_the_unit_key_is_detected(tmp_path):
    # An attacker who knows the format but not the key recomputes every hash
    # after editing an entry: the hashes link, the HMACs cannot be made.
    log, keyring = _filled(tmp_path)
    entries = [json.loads(line) for line in _lines(log)]
    entries[1]["tip"] = "ffffffffffffffffffffffffffffffff"
    prev = chain.GENESIS
    for e in entries:
        e["prev"] = prev.hex()
        prev = chain.entry_hash(prev, e["seq"], e["time"], e["officer"], e["action"],
                                e["tip"] or "", audit._info_text(e["info"]), e["key_id"])
        e["hash"] = prev.hex()
    log.path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    with pytest.raises(AuditError, match="entry 2 was not written with the unit key"):
        log.verify(keyring)


def test_a_head_rewritten_without_the_key_is_detected(tmp_path):
    log, keyring = _filled(tmp_path)
    lines = _lines(log)[:-1]
    log.path.write_text("".join(lines))
    last = json.loads(lines[-1])
    head = json.loads(log.head_path.read_text()) | {"seq": last["seq"], "hash": last["hash"]}
    log.head_path.write_text(json.dumps(head))
    with pytest.raises(AuditError, match="head was not written with the unit key"):
        log.verify(keyring)


def test_another_units_key_cannot_verify_the_log(tmp_path):
    log, _ = _filled(tmp_path)
    with pytest.raises(MissingKeyError):
        log.verify(_keyring())


def test_a_line_torn_by_a_crash_is_dropped_before_the_next_entry(tmp_path):
    log, keyring = _filled(tmp_path)
    with open(log.path, "ab") as f:
        f.write(b'{"seq": 7, "time": "2026-')
    log.record(keyring, "show", TIP)
    entries = log.verify(keyring)
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5, 6, 7]


def test_a_head_one_write_behind_after_a_crash_still_verifies(tmp_path):
    log, keyring = _filled(tmp_path)
    head = log.head_path.read_text()
    log.record(keyring, "show", TIP)
    log.head_path.write_text(head)
    assert len(log.verify(keyring)) == 7


def test_an_unknown_action_is_a_programming_error(tmp_path):
    with pytest.raises(ValueError):
        AuditLog(tmp_path).record(_keyring(), "read-minds", TIP)


def test_lines_filter_by_tip_prefix_including_lists_of_tips(tmp_path):
    log, keyring = _filled(tmp_path)
    shown = list(audit.lines(log.verify(keyring), TIP[:6]))
    assert len(shown) == 4 and all("aigerim" in line for line in shown)
    assert list(audit.lines(log.verify(keyring), "ffff")) == []


def test_entries_cut_off_the_end_stay_detected_after_the_next_entry(tmp_path):
    # Without this, the next unlock would move the head past the gap and hide it.
    log, keyring = _filled(tmp_path)
    log.path.write_text("".join(_lines(log)[:-2]))
    log.record(keyring, "show", TIP)
    with pytest.raises(AuditError, match="entry 5 records that entries were removed"):
        log.verify(keyring)


def test_a_deleted_head_is_recorded_by_the_next_entry(tmp_path):
    log, keyring = _filled(tmp_path)
    log.head_path.unlink()
    log.record(keyring, "show", TIP)
    with pytest.raises(AuditError, match="removed before"):
        log.verify(keyring)


def test_the_workspace_gives_one_tips_trail_for_the_officer_app(tmp_path):
    from tipdrop.officer.workspace import Workspace

    workspace = Workspace(tmp_path)
    try:
        keyring = _keyring()
        workspace.audit.record(keyring, "show", TIP)
        workspace.audit.record(keyring, "show", "f" * 32)
        workspace.audit.record(keyring, "replies-sent", replies=2, tip_ids=[TIP, "e" * 32])
        trail = workspace.audit_trail(TIP, keyring)
        assert [e["action"] for e in trail] == ["show", "replies-sent"]
        assert workspace.audit_trail(TIP) == trail
    finally:
        workspace.close()


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**70) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(line=st.integers(0, 5), field=st.sampled_from(audit._FIELDS), value=_values)
def test_any_value_in_any_field_of_any_entry_fails_verification_cleanly(tmp_path, line, field,
                                                                        value):
    import tempfile

    log, keyring = _filled(Path(tempfile.mkdtemp(dir=tmp_path)))
    lines = _lines(log)
    entry = json.loads(lines[line])
    if entry[field] == value:
        return
    entry[field] = value
    lines[line] = json.dumps(entry) + "\n"
    log.path.write_text("".join(lines))
    with pytest.raises(TipdropError):
        log.verify(keyring)


def test_one_tips_trail_names_it_in_an_entry_that_lists_several_tips(tmp_path):
    # An import entry names up to 1,000 tips (Workspace.open_bundle): a tip's
    # own trail (officer audit --tip) shows it as an entry of its own would.
    log, keyring = AuditLog(tmp_path), _keyring()
    log.record(keyring, "import", tip_ids=["e" * 32, TIP, "f" * 32])
    [shown] = list(audit.lines(log.verify(keyring), tip=TIP[:8]))
    assert f"import          tip {TIP} (and 2 more)" in shown
    [everything] = [line for line in audit.lines(log.verify(keyring)) if "import" in line]
    assert "3 tip(s)" in everything
