"""Backups (tipdrop.server.backup, tipdrop.server.restore) on real SQLite files: format, refusals, prune, doctor."""

import datetime
import io
import sqlite3
import struct
from contextlib import closing

import pytest

from tests.memory import peak_traced
from tipdrop.common import sqlite
from tipdrop.crypto import backupkey, kdf, stream
from tipdrop.errors import (
    DecryptionError,
    KeyFileError,
    TruncatedError,
    WrongKeyError,
    WrongPassphraseError,
)
from tipdrop.server import backup, doctor, restore, store
from tipdrop.server.store import blobs

NOW = datetime.datetime(2026, 6, 30, 4, 0, 0, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def key():
    return backupkey.generate(NOW)


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "instance"
    db = sqlite.connect(folder / "tipdrop.db")
    store.init(db)
    blob = blobs.new(db, "2026-06-29")
    blobs.append(db, blob, 0, b"\x01" * blobs.CHUNK_BYTES)
    blobs.append(db, blob, 1, b"\x02" * 1000)
    with sqlite.transaction(db):
        db.execute("INSERT INTO spent_forms (digest, expires_day) VALUES (?, ?)",
                   [b"\x07" * 32, "2026-07-01"])
        db.execute("INSERT INTO officer_nonces (nonce, expires_day) VALUES ('n1', '2026-01-05')")
    db.conn.close()
    (folder / "token-secret").write_bytes(b"S" * 32)
    (folder / "attachments").mkdir()
    (folder / "attachments" / "ab12.bin").write_bytes(b"legacy ciphertext")
    return folder


def _dump(path):
    with closing(sqlite3.connect(path)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables} | {
            "schema": conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()}


def test_a_restored_folder_equals_the_original(tmp_path, data_dir, key):
    out = backup.write_backup(data_dir, key.public, tmp_path, now=NOW)
    assert out.name == "tipdrop-20260630T040000Z.tdbackup"
    restore.restore(out, key, tmp_path / "restored")
    assert _dump(tmp_path / "restored" / "tipdrop.db") == _dump(data_dir / "tipdrop.db")
    assert (tmp_path / "restored" / "token-secret").read_bytes() == b"S" * 32
    assert (tmp_path / "restored" / "attachments" / "ab12.bin").read_bytes() == b"legacy ciphertext"


def test_the_backup_names_its_time_in_clear_and_binds_it(tmp_path, data_dir, key):
    out = backup.write_backup(data_dir, key.public, tmp_path, now=NOW)
    data = out.read_bytes()
    assert data[:28] == b"TDBACKUP2026-06-30T04:00:00Z"
    assert backup.read_prefix(out) == NOW
    moved = tmp_path / "moved.tdbackup"
    moved.write_bytes(data[:8] + b"2026-06-30T04:00:01Z" + data[28:])
    with pytest.raises(DecryptionError):
        restore.restore(moved, key, tmp_path / "restored")
    assert not (tmp_path / "restored").exists()


def test_wrong_key_and_damage_write_nothing(tmp_path, data_dir, key):
    out = backup.write_backup(data_dir, key.public, tmp_path / "b.tdbackup", now=NOW)
    data = out.read_bytes()
    cases = {"other key": (out, backupkey.generate(NOW), WrongKeyError)}
    for name, cut, error in (("cut", data[:-1], DecryptionError),
                             ("empty body", data[:28], TruncatedError)):
        (tmp_path / name).write_bytes(cut)
        cases[name] = (tmp_path / name, key, error)
    for name, (path, private, error) in cases.items():
        with pytest.raises(error):
            restore.restore(path, private, tmp_path / "restored")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            ["instance", "b.tdbackup", "cut", "empty body"]), name


def _forged(tmp_path, key, records):
    """A backup made by someone holding only the public key, with the given archive body."""
    created = "2026-06-30T04:00:00Z"
    header = backup._archive_header(created)
    plain = struct.pack(">I", len(header)) + header + records
    out = io.BytesIO()
    out.write(backup.MAGIC + created.encode())
    stream.encrypt_stream(io.BytesIO(plain), out, key.public.recipient, kind="backup",
                          tip_id="backup", part=created)
    path = tmp_path / "forged.tdbackup"
    path.write_bytes(out.getvalue())
    return path


def _sql(text):
    return bytes([backup.SQL]) + struct.pack(">I", len(text)) + text.encode()


@pytest.mark.parametrize("records", [
    _sql("ATTACH DATABASE '/tmp/x.db' AS x") + bytes([backup.END]) + struct.pack(">Q", 1),
    _sql("CREATE TABLE t (a) ; ATTACH DATABASE 'x' AS y") + bytes([backup.END]) + struct.pack(">Q", 1),
    bytes([backup.FILE]) + struct.pack(">H", 9) + b"../escape" + struct.pack(">Q", 1) + b"x",
    bytes([backup.ROW]) + b"\x00",
    bytes([backup.END]) + struct.pack(">Q", 5),
    bytes([backup.END]) + struct.pack(">Q", 0) + b"trailing",
    _sql("CREATE TABLE t (a)") + bytes([backup.TABLE]) + struct.pack(">H", 1) + b"t\x00"
    + struct.pack(">H", 1) + struct.pack(">H", 1) + b"a" + bytes([backup.ROW, backup.BLOB])
    + struct.pack(">I", restore.MAX_VALUE + 1),
    b"",
], ids=["attach", "two statements", "path", "row without table", "count", "trailing", "huge",
        "no end"])
def test_a_forged_archive_is_refused_and_writes_nothing(tmp_path, key, records):
    path = _forged(tmp_path, key, records)
    with pytest.raises(restore.BackupFormatError):
        restore.restore(path, key, tmp_path / "restored")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forged.tdbackup"]


def test_a_folder_that_is_not_empty_is_refused(tmp_path, data_dir, key):
    out = backup.write_backup(data_dir, key.public, tmp_path / "b.tdbackup", now=NOW)
    with pytest.raises(restore.TargetNotEmptyError):
        restore.restore(out, key, data_dir)
    (tmp_path / "empty").mkdir()
    restore.restore(out, key, tmp_path / "empty")
    assert (tmp_path / "empty" / "tipdrop.db").is_file()


def test_prune_removes_only_backups_older_than_the_kept_days(tmp_path, data_dir, key):
    folder = tmp_path / "backups"
    folder.mkdir()
    for days in (20, 15, 14, 1):
        backup.write_backup(data_dir, key.public, folder, now=NOW - datetime.timedelta(days=days))
    (folder / "notes.txt").write_text("not a backup")
    (folder / ".tipdrop-x.tdbackup.tmp").write_bytes(b"TDBACKUP2026-01-01T00:00:00Z...")
    removed = backup.prune(folder, 14, now=NOW)  # made exactly 14 days ago: kept
    assert sorted(p.name for p in removed) == [
        ".tipdrop-x.tdbackup.tmp", "tipdrop-20260610T040000Z.tdbackup",
        "tipdrop-20260615T040000Z.tdbackup"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "notes.txt", "tipdrop-20260616T040000Z.tdbackup", "tipdrop-20260629T040000Z.tdbackup"]


def test_doctor_warns_when_the_newest_backup_is_too_old(tmp_path, data_dir, key):
    folder = tmp_path / "backups"
    folder.mkdir()
    pub = tmp_path / "backup.pub"
    pub.write_bytes(key.public.to_json())
    assert "no backup" in str(doctor.check_backups(folder, 36, pub, NOW.timestamp())[0])
    backup.write_backup(data_dir, key.public, folder, now=NOW - datetime.timedelta(hours=40))
    [late] = doctor.check_backups(folder, 36, pub, NOW.timestamp())
    assert "40 hours ago" in late.problem
    backup.write_backup(data_dir, key.public, folder, now=NOW - datetime.timedelta(hours=2))
    assert doctor.check_backups(folder, 36, pub, NOW.timestamp()) == []
    assert "TIPDROP_BACKUP_KEY" in doctor.check_backups(folder, 36, None, NOW.timestamp())[0].problem


def test_the_private_key_file_opens_only_with_its_passphrase(key):
    data = backupkey.private_to_file(key, "offline pass", kdf.TEST_PARAMS)
    assert backupkey.parse_private(data, "offline pass").public.key_id == key.public.key_id
    with pytest.raises(WrongPassphraseError):
        backupkey.parse_private(data, "wrong")
    edited = data.replace(key.created.encode(), b"2026-01-01T00:00:00Z")
    with pytest.raises((WrongPassphraseError, KeyFileError)):
        backupkey.parse_private(edited, "offline pass")
    with pytest.raises(KeyFileError):
        backupkey.parse_public(data)
    assert backupkey.parse_public(key.public.to_json()).key_id == key.public.key_id
    from tipdrop.crypto.keys import looks_private
    assert looks_private(data)


def test_restoring_a_large_blob_does_not_hold_it_in_memory(tmp_path, key):
    # Given a data folder holding one 32 MiB value (no tipdrop piece is so large,
    # but a backup may hold one: restore accepts up to restore.MAX_VALUE)
    folder = tmp_path / "big"
    db = sqlite.connect(folder / "tipdrop.db")
    store.init(db)
    blob = blobs.new(db, "2026-06-29")
    blobs.append(db, blob, 0, bytes(range(256)) * (32 * 1024 * 1024 // 256))
    db.conn.close()
    out = backup.write_backup(folder, key.public, tmp_path, now=NOW)
    # When it is restored
    peak = peak_traced(lambda: restore.restore(out, key, tmp_path / "restored"))
    # Then the value went into its row piece by piece as it was decrypted
    assert _dump(tmp_path / "restored" / "tipdrop.db") == _dump(folder / "tipdrop.db")
    assert peak < 4 * 1024 * 1024, peak
