"""Attachment ciphertext in the database: pieces, sweeping, and files an older tipdrop left.

Real SQLite files throughout; several sweeps run at once in threads with a
connection each, as gunicorn workers do when they start together.
"""

import os
import secrets
import threading
import time

import pytest

from tests.stored import all_blobs, blob_bytes
from tipdrop.common import sqlite
from tipdrop.server import attachments, store
from tipdrop.server.store import blobs

TODAY = "2024-06-30"


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "instance"
    (path / "attachments" / "tmp").mkdir(parents=True)
    db = sqlite.connect(path / "tipdrop.db")
    store.init(db)
    db.close()
    return path


def connect(data_dir):
    return sqlite.connect(data_dir / "tipdrop.db")


def stored_blob(db, content, day=TODAY):
    writer = attachments.BlobWriter(db, day)
    writer.write(content)
    writer.close()
    return writer.blob


def add_tip(db, blob):
    """A tip whose one attachment is ``blob`` (its bytes stand in for ciphertext)."""
    tip_id = secrets.token_hex(16)
    store.insert_tip(db, {
        "id": tip_id, "unit": "demo", "key_id": "00" * 8, "region": "astana",
        "category": "theft", "received_day": TODAY, "status": "received", "status_day": TODAY,
        "locator": secrets.token_hex(4), "receipt_salt": b"s", "receipt_params": "{}",
        "verifier": b"v", "reply_public": b"r", "body": b"b", "encrypted_on": "server",
        "export_seq": 0,
    }, [{"tip_id": tip_id, "part": "a1", "info": b"i", "blob": blob, "size": 1,
         "export_seq": 0}])
    return tip_id


def test_a_blob_is_stored_in_pieces_of_a_bounded_size_and_reads_back_whole(data_dir):
    db = connect(data_dir)
    content = os.urandom(2 * blobs.CHUNK_BYTES + 12345)
    writer = attachments.BlobWriter(db, TODAY)
    for start in range(0, len(content), 70_000):  # the stream cipher's write sizes
        writer.write(content[start:start + 70_000])
    writer.close()
    sizes = [row[0] for row in db.execute(
        "SELECT length(data) FROM blob_chunks WHERE blob = ? ORDER BY seq", [writer.blob])]
    assert sizes == [blobs.CHUNK_BYTES, blobs.CHUNK_BYTES, 12345]
    reader = blobs.Reader(db, writer.blob)
    assert reader.read(10) + reader.read() == content
    assert blobs.size(db, writer.blob) == writer.size == len(content)
    # And until a report links it, it is staged, with the day only
    assert all_blobs(data_dir) == {writer.blob: TODAY}


def test_a_long_upload_fills_the_same_few_piece_buffers_again_and_stores_every_byte(data_dir):
    db = connect(data_dir)
    content = os.urandom(16 * blobs.CHUNK_BYTES + 777)
    writer = attachments.BlobWriter(db, TODAY)
    buffers = []  # kept alive, so a new buffer could never take an old one's place
    for start in range(0, len(content), 300_000):
        writer.write(content[start:start + 300_000])
        if all(piece is not writer._piece for piece in buffers):
            buffers.append(writer._piece)
    writer.close()
    # One filling, at most QUEUED waiting, one being stored: nothing allocated per piece.
    assert len(buffers) <= attachments.BlobWriter.QUEUED + 2
    assert blobs.Reader(db, writer.blob).read() == content


def test_a_discarded_upload_leaves_no_blob_and_no_piece(data_dir):
    db = connect(data_dir)
    writer = attachments.BlobWriter(db, TODAY)
    writer.write(os.urandom(blobs.CHUNK_BYTES + 1))
    writer.discard()
    assert all_blobs(data_dir) == {} and db["blob_chunks"].count == 0


def test_only_blobs_staged_two_days_before_are_swept(data_dir):
    db = connect(data_dir)
    old = stored_blob(db, b"old", day="2024-06-28")
    yesterday = stored_blob(db, b"in flight since yesterday", day="2024-06-29")
    today = stored_blob(db, b"in flight", day=TODAY)
    linked = stored_blob(db, b"a report's file", day="2024-01-01")
    add_tip(db, linked)
    assert attachments.sweep_orphans(db, data_dir / "attachments", TODAY) == 1
    assert set(all_blobs(data_dir)) == {yesterday, today, linked}
    assert old not in all_blobs(data_dir)
    assert blob_bytes(data_dir, linked) == b"a report's file"


def test_concurrent_sweeps_never_fail_and_never_touch_what_a_report_refers_to(data_dir):
    # Given many stale orphans (legacy files and staged blobs), and referenced ones of each
    folder = data_dir / "attachments"
    db = connect(data_dir)
    old = time.time() - 24 * 3600
    for i in range(300):
        path = folder / f"{i:032x}.bin"
        path.write_bytes(b"\x01" * 100)
        os.utime(path, (old, old))
    for _ in range(100):
        stored_blob(db, b"\x02" * 100, day="2024-01-01")
    keep = folder / ("f" * 32 + ".bin")
    keep.write_bytes(b"ciphertext")
    os.utime(keep, (old, old))
    add_tip(db, keep.name)
    linked = stored_blob(db, b"linked ciphertext", day="2024-01-01")
    add_tip(db, linked)
    errors = []

    def sweep():
        conn = connect(data_dir)
        try:
            attachments.sweep_orphans(conn, folder, TODAY)
        except Exception as e:  # noqa: BLE001 - the test is that nothing escapes
            errors.append(e)
        finally:
            conn.close()

    # When four workers sweep at the same moment
    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # Then none failed, the orphans are gone and the referenced ones are intact
    assert errors == []
    assert [p.name for p in folder.glob("*.bin")] == [keep.name]
    assert keep.read_bytes() == b"ciphertext"
    assert all_blobs(data_dir) == {linked: None}
    assert blob_bytes(data_dir, linked) == b"linked ciphertext"


def test_young_unreferenced_legacy_files_belong_to_requests_in_flight_and_stay(data_dir):
    folder = data_dir / "attachments"
    young = folder / ("a" * 32 + ".bin")
    young.write_bytes(b"x")
    part = folder / "tmp" / "upload.part"
    part.write_bytes(b"y")
    assert attachments.sweep_orphans(connect(data_dir), folder, TODAY) == 0
    assert young.exists() and part.exists()


def test_removed_blob_is_overwritten_before_unlinking(tmp_path):
    path = tmp_path / ("b" * 32 + ".bin")
    path.write_bytes(b"secret-ish ciphertext")
    handle = open(path, "rb")  # keeps the inode readable after unlink
    attachments.remove_blob(tmp_path, path.name)
    assert not path.exists()
    assert handle.read() == bytes(len(b"secret-ish ciphertext"))
    handle.close()


def test_legacy_files_move_into_the_database_and_are_overwritten_and_unlinked(data_dir):
    # Given a tip stored by an older tipdrop: its file in attachments/
    folder = data_dir / "attachments"
    db = connect(data_dir)
    content = os.urandom(blobs.CHUNK_BYTES + 99)
    legacy = folder / (secrets.token_hex(16) + ".bin")
    legacy.write_bytes(content)
    tip_id = add_tip(db, legacy.name)
    handle = open(legacy, "rb")
    # When the files are moved
    assert attachments.migrate_files(db, folder, TODAY) == 1
    # Then the row names a blob in the database holding the same bytes
    [name] = [row[0] for row in db.execute("SELECT blob FROM attachments WHERE tip_id = ?",
                                           [tip_id])]
    assert not store.is_legacy_blob(name)
    assert blob_bytes(data_dir, name) == content and all_blobs(data_dir) == {name: None}
    # And the file was overwritten before it went; the emptied folders went too
    assert handle.read() == bytes(len(content))
    handle.close()
    assert not legacy.exists()
    attachments.sweep_orphans(db, folder, TODAY)
    assert not folder.exists()
    # And moving again finds nothing
    assert attachments.migrate_files(db, folder, TODAY) == 0


def test_a_report_whose_upload_was_swept_meanwhile_is_not_stored(data_dir):
    db = connect(data_dir)
    blob = stored_blob(db, b"staged, then swept", day="2024-01-01")
    attachments.sweep_orphans(db, data_dir / "attachments", TODAY)
    with pytest.raises(blobs.UploadSweptError):
        add_tip(db, blob)
    assert db["tips"].count == 0 and db["attachments"].count == 0


def test_a_row_naming_a_missing_blob_is_a_clear_error_on_export(data_dir):
    db = connect(data_dir)
    with pytest.raises(blobs.BlobMissingError):
        with attachments.open_blob(db, data_dir / "attachments", "0" * 32):
            pass


def test_a_writer_goes_on_receiving_while_the_database_is_busy_and_stores_it_all_after(
        data_dir):
    # Given an upload whose first piece is stored, and another connection that
    # then holds the database's write lock (a purge, another report)
    db = connect(data_dir)
    writer = attachments.BlobWriter(db, TODAY)
    content = os.urandom(4 * blobs.CHUNK_BYTES)
    writer.write(content[:blobs.CHUNK_BYTES])
    other = connect(data_dir)
    other.execute("BEGIN IMMEDIATE")
    # When the next pieces arrive: they are handed to the writer's storing
    # thread, which waits for the lock, while the receiving thread goes on
    # (it used to wait for each piece to be stored, here until the lock's
    # busy timeout ended the upload)
    done = threading.Event()

    def receive():
        writer.write(content[blobs.CHUNK_BYTES:3 * blobs.CHUNK_BYTES])
        done.set()

    receiver = threading.Thread(target=receive)
    receiver.start()
    try:
        assert done.wait(5)
    finally:
        other.execute("COMMIT")
        receiver.join()
    # Then, the lock released, everything is stored in order
    writer.write(content[3 * blobs.CHUNK_BYTES:])
    writer.close()
    assert blobs.Reader(db, writer.blob).read() == content


def test_a_piece_that_cannot_be_stored_ends_the_upload_and_discarding_leaves_nothing(data_dir):
    # Given an upload of several pieces whose staged blob is deleted on the way
    # (as the sweep does to one older than two days)
    db = connect(data_dir)
    writer = attachments.BlobWriter(db, TODAY)
    writer.write(os.urandom(blobs.CHUNK_BYTES))
    with sqlite.transaction(db):
        blobs.delete(db, [writer.blob])
    # When more pieces arrive, the storing thread cannot store them: the upload
    # fails, at a later write or at the latest when it is closed
    with pytest.raises(Exception) as failed:  # noqa: PT011 - SQLite's own error
        for _ in range(8):
            writer.write(os.urandom(blobs.CHUNK_BYTES))
        writer.close()
    assert "FOREIGN KEY" in str(failed.value)
    writer.discard()
    assert all_blobs(data_dir) == {} and db["blob_chunks"].count == 0
