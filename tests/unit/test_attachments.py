"""Attachment files on the server: orphan sweeping is safe to run concurrently."""

import os
import threading
import time

from tipdrop import attachments


def test_concurrent_sweeps_never_fail_and_never_touch_referenced_files(tmp_path):
    # Given many stale orphans and one referenced file
    (tmp_path / "tmp").mkdir()
    old = time.time() - 24 * 3600
    for i in range(300):
        path = tmp_path / f"{i:032x}.bin"
        path.write_bytes(b"\x01" * 100)
        os.utime(path, (old, old))
    keep = tmp_path / ("f" * 32 + ".bin")
    keep.write_bytes(b"ciphertext")
    os.utime(keep, (old, old))
    errors = []

    def sweep():
        try:
            attachments.sweep_orphans(tmp_path, {keep.name})
        except Exception as e:  # noqa: BLE001 - the test is that nothing escapes
            errors.append(e)

    # When four workers sweep at the same moment
    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # Then none failed, the orphans are gone and the referenced file is intact
    assert errors == []
    assert [p.name for p in tmp_path.glob("*.bin")] == [keep.name]
    assert keep.read_bytes() == b"ciphertext"


def test_young_unreferenced_files_belong_to_requests_in_flight_and_stay(tmp_path):
    (tmp_path / "tmp").mkdir()
    young = tmp_path / ("a" * 32 + ".bin")
    young.write_bytes(b"x")
    part = tmp_path / "tmp" / "upload.part"
    part.write_bytes(b"y")
    assert attachments.sweep_orphans(tmp_path, set()) == 0
    assert young.exists() and part.exists()


def test_removed_blob_is_overwritten_before_unlinking(tmp_path):
    path = tmp_path / ("b" * 32 + ".bin")
    path.write_bytes(b"secret-ish ciphertext")
    handle = open(path, "rb")  # keeps the inode readable after unlink
    attachments.remove_blob(tmp_path, path.name)
    assert not path.exists()
    assert handle.read() == bytes(len(b"secret-ish ciphertext"))
    handle.close()
