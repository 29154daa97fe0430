"""A file saved from the officer app never carries the reporter's file name.

A browser writes every download's name into its history, on the disk and
outside the workspace; "IMG_Aigerim_2026.jpg" names the reporter. The app
serves each file as tip-REF-PART.EXT (tipdrop/officer/saving.py,
download_name), EXT only when the declared type is known and the bytes are
of that type. A real workspace opened from a bundle the server's own code
exported; the real app through Flask's test client.
"""

import hashlib
import re

import pytest

from tests.memory import peak_traced
from tests.officer.test_officer_app import (  # noqa: F401 (fixtures)
    LAUNCH,
    PORT,
    clock,
    get,
    opened_workspace,
    unit,
    unlocked,
)
from tests.officer.test_photo_sandbox import picture
from tests.protocol.test_bundles import Server
from tipdrop.officer.app import create_app
from tipdrop.officer.app.desk import Desk
from tipdrop.officer.sandbox import Limits
from tipdrop.officer.saving import download_name
from tipdrop.officer.viewing import PhotoViews
from tipdrop.protocol.report import Report

REPORTER = "Aigerim"
FILES = [  # (the reporter's name, the declared type, bytes): a1 ... a4
    (f"IMG_{REPORTER}_2026.jpg", "image/jpeg", picture("JPEG")),
    (f"{REPORTER} заявление.pdf", "application/pdf", b"%PDF-1.4\nstatement\n%%EOF\n"),
    (f"{REPORTER}.mp4", "video/mp4", b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2"),
    (f"photo_{REPORTER}.exe", "image/jpeg", b"MZ\x90\0 a program, not a photo"),
]
TIP = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("declared, head, extension", [
    ("image/jpeg", b"\xff\xd8\xff\xe0\0\x10JFIF", ".jpg"),
    ("IMAGE/JPEG; charset=binary", b"\xff\xd8\xff\xdb", ".jpg"),
    ("image/png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", ".png"),
    ("image/webp", b"RIFF\x10\0\0\0WEBPVP8 ", ".webp"),
    ("image/heic", b"\0\0\0\x18ftypheic\0\0\0\0", ".heic"),
    ("application/pdf", b"%PDF-1.7\n", ".pdf"),
    ("video/mp4", b"\0\0\0\x20ftypmp42\0\0\0\0", ".mp4"),
    ("video/quicktime", b"\0\0\0\x14ftypqt  \0\0\0\0", ".mov"),
    ("audio/mpeg", b"ID3\x04\0\0\0\0\0\0", ".mp3"),
    ("audio/ogg", b"OggS\0\x02\0\0", ".ogg"),
    ("audio/wav", b"RIFF\x24\0\0\0WAVEfmt ", ".wav"),
    # The bytes contradict the type, or the type is not one the report's form takes
    ("image/jpeg", b"MZ\x90\0\x03\0\0\0", ".bin"),
    ("image/png", b"\xff\xd8\xff\xe0", ".bin"),
    ("application/pdf", b"<html><script>", ".bin"),
    ("video/quicktime", b"\0\0\0\x20ftypmp42", ".bin"),
    ("application/x-msdownload", b"MZ\x90\0", ".bin"),
    ("text/html", b"<html>", ".bin"),
    ("", b"\xff\xd8\xff", ".bin"),
    ("image/jpeg", b"", ".bin"),
])
def test_a_download_is_named_after_the_tip_and_part_with_the_extension_its_bytes_confirm(
        declared, head, extension):
    assert download_name(TIP, "a2", declared, head) == f"tip-{TIP[:12]}-a2{extension}"


@pytest.fixture
def workdir(tmp_path, unit):  # noqa: F811
    """A workspace with one tip whose files' names name their reporter."""
    key_path, key = unit
    server = Server(tmp_path / "server", key)
    draft = server.tips.start(region="almaty")
    for name, kind, data in FILES:
        draft.new_attachment(name, kind).write(data)
    server.tips.submit(draft, Report.build(region="almaty", category="theft", language="ru",
                                           description="Фото двора, где украли велосипед."))
    server.export("demo", tmp_path / "export.tdx")
    server.db.close()
    return opened_workspace(tmp_path / "export.tdx", key, tmp_path / "cases")


@pytest.fixture
def desk(workdir, unit, clock):  # noqa: F811
    made = Desk(workdir, unit[0], clock=clock)
    yield made
    made.close()


@pytest.fixture
def app(desk, tmp_path):
    return create_app(desk, PORT, launch_token=LAUNCH, outbox_dir=tmp_path / "outbox")


def test_a_saved_file_is_named_after_the_tip_never_after_the_reporters_file(app):
    client = unlocked(app)
    [tip] = re.findall(r'data-tip="([0-9a-f]+)"', get(client, "/inbox").get_data(as_text=True))
    # The page still shows the officer each file's own name
    page = get(client, f"/tip/{tip}").get_data(as_text=True)
    assert all(name in page for name, _, _ in FILES)
    for part, (_, _, data), extension in zip(("a1", "a2", "a3", "a4"), FILES,
                                             (".jpg", ".pdf", ".mp4", ".bin"), strict=True):
        answer = get(client, f"/tip/{tip}/file/{part}")
        assert answer.status_code == 200 and answer.data == data
        # The download's name, which the browser keeps in its history, does not
        disposition = answer.headers["Content-Disposition"]
        assert disposition == f'attachment; filename="tip-{tip[:12]}-{part}{extension}"'
        assert REPORTER not in str(answer.headers) and "filename*" not in disposition
        assert answer.mimetype == "application/octet-stream"


# --- a large file: memory does not grow with it (F2) -----------------------------------

MiB = 1024 * 1024
#: A "photo" far larger than the sandbox takes (set to 4 MiB below), and than a download may hold.
#: (Not a JPEG's bytes, which the server would clean: a type that says image is enough.)
LARGE = bytes(24 * MiB)


@pytest.fixture
def large_app(tmp_path, unit, clock):  # noqa: F811
    key_path, key = unit
    server = Server(tmp_path / "server", key)
    draft = server.tips.start(region="almaty")
    draft.new_attachment("clip.jpg", "image/jpeg").write(LARGE)
    server.tips.submit(draft, Report.build(region="almaty", category="theft", language="ru",
                                           description="Видео со двора."))
    server.export("demo", tmp_path / "export.tdx")
    server.db.close()
    made = Desk(opened_workspace(tmp_path / "export.tdx", key, tmp_path / "cases"), key_path,
                clock=clock)
    made.photos = PhotoViews(Limits(max_input=4 * MiB))
    yield create_app(made, PORT, launch_token=LAUNCH, outbox_dir=tmp_path / "outbox")
    made.close()


def test_a_photo_larger_than_the_sandbox_takes_is_refused_before_it_is_decrypted(large_app):
    client = unlocked(large_app)
    [tip] = re.findall(r'data-tip="([0-9a-f]+)"', get(client, "/inbox").get_data(as_text=True))
    pages = []
    peak = peak_traced(lambda: pages.append(get(client, f"/tip/{tip}").get_data(as_text=True)))
    assert 'id="photo-refused-a1"' in pages[0]
    # Before: the whole 24 MiB decrypted into memory, then refused as too large
    assert peak < 4 * MiB, peak


def test_a_download_streams_with_memory_that_does_not_grow_with_the_file(large_app):
    client = unlocked(large_app)
    [tip] = re.findall(r'data-tip="([0-9a-f]+)"', get(client, "/inbox").get_data(as_text=True))
    digest = hashlib.sha256()

    def download():
        answer = get(client, f"/tip/{tip}/file/a1", buffered=False)
        assert answer.status_code == 200
        assert answer.headers["Content-Disposition"] == \
            f'attachment; filename="tip-{tip[:12]}-a1.bin"'
        for piece in answer.response:
            digest.update(piece)
        answer.close()

    peak = peak_traced(download)
    assert digest.digest() == hashlib.sha256(LARGE).digest()
    # Before: the whole file in a BytesIO and its copy, 48 MiB
    assert peak < 4 * MiB, peak
