"""Photos on a tip's page in the officer app: redrawn by the sandbox, never the reporter's file.

A real workspace opened from a bundle the server's own code exported, with a
photo, a decompression bomb, a damaged photo, a GIF that is also an HTML
page, and a document; the real app through Flask's test client; every photo
through a real sandboxed child process.
"""

import os
import re
import tempfile

import pytest

from tests.officer.test_officer_app import (  # noqa: F401 (fixtures)
    LAUNCH,
    PASSPHRASE,
    PORT,
    browser,
    clock,
    get,
    opened_workspace,
    post,
    unit,
    unlock,
    unlocked,
)
from tests.officer.test_photo_sandbox import (
    CANARY,
    decoded,
    gif_html_polyglot,
    picture,
    png_bomb,
    png_with_garbage_pixels,
)
from tests.protocol.test_bundles import Server
from tipdrop.officer.app import create_app
from tipdrop.officer.app.desk import Desk
from tipdrop.officer.sandbox import Limits
from tipdrop.officer.viewing import PhotoViews
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol.report import Report

FILES = [  # (name, claimed type, bytes): a1 ... a5
    ("двор.jpg", "image/jpeg", picture("JPEG", size=(320, 240))),
    ("bomb.png", "image/png", png_bomb()),
    ("broken.png", "image/png", png_with_garbage_pixels()),
    ("poly.gif", "image/gif", gif_html_polyglot()),
    ("заявление.pdf", "application/pdf", b"%PDF-1.4\n" + CANARY + b"\n%%EOF\n"),
]


@pytest.fixture
def app_tmp(tmp_path, monkeypatch):
    """The app's temporary folder (TMPDIR), to be searched for leaks afterwards."""
    folder = tmp_path / "app-tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)
    return folder


@pytest.fixture
def workdir(tmp_path, unit):  # noqa: F811
    """A workspace with one tip carrying FILES, exported by the server's code and opened."""
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
def app(desk, tmp_path, app_tmp):
    return create_app(desk, PORT, launch_token=LAUNCH, outbox_dir=tmp_path / "outbox")


def the_tip(client):
    [tip] = re.findall(r'data-tip="([0-9a-f]+)"', get(client, "/inbox").get_data(as_text=True))
    return tip


def files_holding(root, piece):
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                if piece in f.read():
                    found.append(path)
    return found


def test_a_photo_is_shown_inline_as_a_fresh_jpeg_from_this_app(app):
    client = unlocked(app)
    tip = the_tip(client)
    page = get(client, f"/tip/{tip}").get_data(as_text=True)
    src = re.search(r'<img id="photo-a1" src="([^"]+)"', page).group(1)
    assert src == f"/tip/{tip}/photo/a1"  # this app's address: no data: URL, CSP unchanged
    answer = get(client, src)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "image/jpeg"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.data != FILES[0][2] and decoded(answer.data).size == (320, 240)
    assert "img-src 'self'" in get(client, f"/tip/{tip}").headers["Content-Security-Policy"]


def test_a_decompression_bomb_gives_a_message_and_the_app_goes_on(app):
    client = unlocked(app)
    tip = the_tip(client)
    page = get(client, f"/tip/{tip}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="photo-a2"' not in text
    assert re.search(r'id="photo-refused-a2">This photo is too large to show safely', text)
    assert get(client, f"/tip/{tip}/photo/a2").status_code == 400  # no image, ever
    assert get(client, "/inbox").status_code == 200  # the next request is served


def test_a_damaged_photo_gives_a_message_and_the_app_goes_on(app):
    client = unlocked(app)
    tip = the_tip(client)
    text = get(client, f"/tip/{tip}").get_data(as_text=True)
    assert 'id="photo-a3"' not in text
    assert re.search(r'id="photo-refused-a3">This file could not be read as a photo', text)
    assert get(client, "/inbox").status_code == 200


def test_a_photo_that_takes_too_long_is_stopped_and_the_app_goes_on(app, desk):
    desk.photos = PhotoViews(Limits(wall_seconds=0.01))  # any photo is "too long" now
    client = unlocked(app)
    tip = the_tip(client)
    text = get(client, f"/tip/{tip}").get_data(as_text=True)
    assert re.search(r'id="photo-refused-a1">Showing this photo took too long', text)
    assert get(client, "/inbox").status_code == 200


def test_a_polyglot_is_shown_only_as_a_redrawn_image(app):
    client = unlocked(app)
    tip = the_tip(client)
    page = get(client, f"/tip/{tip}").get_data(as_text=True)
    # No byte of the file in the page: its only script is the app's own static file
    assert CANARY.decode() not in page
    assert re.findall(r"<script[^>]*>", page) == [
        re.search(r'<script src="/static/exchange.js"[^>]*>', page).group(0)]
    answer = get(client, re.search(r'<img id="photo-a4" src="([^"]+)"', page).group(1))
    assert answer.headers["Content-Type"] == "image/jpeg"
    assert answer.data.startswith(b"\xff\xd8\xff")
    assert b"<script" not in answer.data and CANARY not in answer.data
    assert decoded(answer.data).size == (64, 48)


def test_a_file_that_is_not_a_photo_is_only_offered_for_saving_with_a_warning(app):
    client = unlocked(app)
    tip = the_tip(client)
    page = get(client, f"/tip/{tip}").get_data(as_text=True)
    assert 'id="not-shown-a5"' in page and 'id="photo-a5"' not in page
    assert re.search(rf'href="/tip/{tip}/file/a5" download>', page)
    assert get(client, f"/tip/{tip}/photo/a5").status_code == 400  # never drawn either
    download = get(client, f"/tip/{tip}/file/a5")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.mimetype == "application/octet-stream"


def test_viewing_and_saving_are_recorded_in_the_audit_log(app, workdir):
    client = unlocked(app)
    tip = the_tip(client)
    get(client, f"/tip/{tip}")
    get(client, f"/tip/{tip}/photo/a1")
    get(client, f"/tip/{tip}/photo/a2")  # refused: not viewed
    get(client, f"/tip/{tip}/file/a5")
    entries = Workspace(workdir).audit.entries()
    done = [(e["action"], e["tip"], e["info"]) for e in entries
            if e["action"] in ("view-attachment", "save-attachment")]
    assert done == [("view-attachment", tip, {"part": "a1"}),
                    ("save-attachment", tip, {"part": "a5"})]


def test_no_byte_of_a_photo_lands_in_any_file_of_the_workspace_or_the_temp_folder(
        app, workdir, app_tmp):
    client = unlocked(app)
    tip = the_tip(client)
    page = get(client, f"/tip/{tip}").get_data(as_text=True)
    for src in re.findall(r'<img id="photo-a\d" src="([^"]+)"', page):
        assert get(client, src).status_code == 200
    post(client, "/lock")
    assert files_holding(workdir, CANARY) == []
    assert files_holding(app_tmp, CANARY) == []
    assert files_holding(tempfile.gettempdir(), CANARY) == []


def test_after_lock_no_photo_is_served_and_the_copies_are_forgotten(app, desk):
    client = unlocked(app)
    tip = the_tip(client)
    get(client, f"/tip/{tip}")
    assert get(client, f"/tip/{tip}/photo/a1").status_code == 200
    post(client, "/lock")
    assert desk.photos._views == {}
    answer = get(client, f"/tip/{tip}/photo/a1")
    assert answer.status_code == 403 and answer.mimetype == "text/html"
    unlock(client)
    assert get(client, f"/tip/{tip}/photo/a1").status_code == 200


@pytest.mark.parametrize("part", ["a0", "a01", "../a1", "x1", "a1000"])
def test_a_photo_address_names_only_a_files_part(app, part):
    client = unlocked(app)
    tip = the_tip(client)
    assert get(client, f"/tip/{tip}/photo/{part}").status_code in (400, 404)


def test_a_photo_is_served_to_this_session_only(app):
    client = unlocked(app)
    tip = the_tip(client)
    get(client, f"/tip/{tip}")
    stranger = browser(app)
    assert get(stranger, f"/tip/{tip}/photo/a1").status_code == 403
    answer = stranger.get(f"/tip/{tip}/photo/a1", base_url="http://evil.example")
    assert answer.status_code == 421


@pytest.mark.parametrize("lang, words", [("ru", "слишком велика"), ("kk", "тым үлкен")])
def test_the_message_about_a_photo_speaks_the_officers_language(app, lang, words):
    client = unlocked(app)
    tip = the_tip(client)
    post(client, "/language", {"lang": lang, "back": "/inbox"})
    text = get(client, f"/tip/{tip}").get_data(as_text=True)
    assert re.search(rf'id="photo-refused-a2">[^<]*{words}', text)
