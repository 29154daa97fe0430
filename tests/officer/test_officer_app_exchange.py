"""The officer app's Exchange page (tipdrop/officer/app/exchange.py, transfers.py), offline.

A picked bundle opens in a transfer with its progress; Stop and Lock end it
with nothing imported; pages wait while it holds the workspace; the outbox
is written to a file the browser downloads. The fixtures are
tests/officer/test_officer_app.py's: a real workspace, a real key file, and
Flask's test client as the browser. The online buttons, against a real
server, are in tests/e2e/test_officer_app_online.py.
"""

import re
import threading

import pytest

from tests.officer import test_officer_app as base
from tests.officer.test_officer_app import (
    _upload,
    get,
    outcome,
    post,
    search,
    tip_ids,
    unlock,
    unlocked,
)
from tests.protocol.test_bundles import _bundle, _records
from tipdrop.crypto import kdf
from tipdrop.officer import keyfiles
from tipdrop.officer.app import create_app
from tipdrop.officer.app.desk import Desk
from tipdrop.officer.app.transfers import Transfer
from tipdrop.protocol import bundles

# The fixtures of the app's tests: a workspace of four tips, its key, the app, a clock.
app, clock, desk, unit, workdir = base.app, base.clock, base.desk, base.unit, base.workdir


def test_a_picked_bundle_opens_with_its_progress_shown_until_the_outcome(app, tmp_path):
    client = unlocked(app)
    desk = app.extensions["officer_desk"]
    # Given the transfer cannot start its work while we hold the desk (as a request would)
    with desk.mutex:
        started = _upload(client, tmp_path / "export2.tdx")
        assert started.status_code == 303 and started.location.endswith("/exchange/progress")
        # Then the progress page reloads itself without a script, and with one asks for figures
        page = get(client, "/exchange/progress")
        text = page.get_data(as_text=True)
        assert page.status_code == 200
        assert '<noscript><meta http-equiv="refresh" content="1"></noscript>' in text
        assert 'id="transfer-progress"' in text and 'id="stop-transfer"' in text
        state = get(client, "/exchange/progress.json").get_json()
        assert state["finished"] is False and state["text"]
    done = outcome(client, started)
    assert "New: 1 tips, 0 follow-ups, 0 files." in done.get_data(as_text=True)
    assert get(client, "/exchange/progress.json").get_json() == {
        "finished": True, "next": "/exchange/done"}


def test_stop_before_the_bundle_is_in_imports_nothing_and_removes_the_copy(app, tmp_path,
                                                                           workdir):
    client = unlocked(app)
    desk = app.extensions["officer_desk"]
    with desk.mutex:
        started = _upload(client, tmp_path / "export2.tdx")
        assert post(client, "/exchange/stop").status_code == 303
    done = outcome(client, started)
    assert done.status_code == 400
    assert "Stopped: nothing of this exchange was imported." in done.get_data(as_text=True)
    assert tip_ids(search(client, "телефон")) == []
    assert list((workdir / "incoming").iterdir()) == []
    # The same file opens when picked again.
    again = outcome(client, _upload(client, tmp_path / "export2.tdx"))
    assert "New: 1 tips" in again.get_data(as_text=True)


def test_lock_during_an_import_stops_it_and_nothing_is_imported(app, tmp_path, workdir):
    client = unlocked(app)
    desk = app.extensions["officer_desk"]
    courier = app.extensions["officer_courier"]
    with desk.mutex:
        _upload(client, tmp_path / "export2.tdx")
        transfer = courier.current
        assert post(client, "/lock").status_code == 303
    assert transfer.finished.wait(60)
    assert get(client, "/exchange/done").status_code == 403  # locked: the unlock page
    unlock(client)
    assert tip_ids(search(client, "телефон")) == []
    assert list((workdir / "incoming").iterdir()) == []


def test_while_a_transfer_holds_the_workspace_pages_wait_and_forms_are_not_lost(app):
    client = unlocked(app)
    courier = app.extensions["officer_courier"]
    [tip, *_] = tip_ids(get(client, "/inbox"))
    # Given a transfer busy with the workspace
    transfer = Transfer("import", app.extensions["officer_desk"].keyring)
    transfer.busy = True
    transfer.quiet.clear()
    courier.current = transfer
    try:
        # Then a page the officer opens is the progress page
        assert get(client, "/inbox").location.endswith("/exchange/progress")
        assert get(client, "/exchange/progress").status_code == 200
        # And a form sent meanwhile waits, then is done once the transfer lets go
        answers = []
        sender = threading.Thread(target=lambda: answers.append(
            post(client, f"/tip/{tip}/note", {"text": "Записал, пока шёл импорт."})))
        sender.start()
        sender.join(0.5)
        assert sender.is_alive() and answers == []
        transfer.busy = False
        transfer.quiet.set()
        sender.join(30)
        assert answers[0].status_code == 303
    finally:
        courier.current = None
    assert "Записал, пока шёл импорт." in get(client, f"/tip/{tip}").get_data(as_text=True)


def test_only_one_exchange_runs_at_a_time(app, tmp_path, workdir):
    client = unlocked(app)
    desk = app.extensions["officer_desk"]
    with desk.mutex:
        first = _upload(client, tmp_path / "export2.tdx")
        second = _upload(client, tmp_path / "export2.tdx")
        assert second.status_code == 409
        assert "Another exchange is running" in second.get_data(as_text=True)
    outcome(client, first)
    assert list((workdir / "incoming").iterdir()) == []


def test_the_outbox_is_written_to_a_file_the_browser_downloads(app, tmp_path):
    client = unlocked(app)
    [tip] = tip_ids(search(client, "взятку"))
    post(client, f"/tip/{tip}/reply", {"message": "В какой день это было?",
                                       "status": "need-info"})
    assert 'id="exchange-write-outbox">' in get(client, "/exchange").get_data(as_text=True)
    written = post(client, "/outbox")
    text = written.get_data(as_text=True)
    [path] = (tmp_path / "outbox").iterdir()
    assert written.status_code == 200 and str(path) in text
    link = re.search(r'id="download-outbox" href="([^"]+)"', text).group(1)
    assert link == f"/outbox/{path.name}"

    download = get(client, link)
    assert download.status_code == 200 and download.data == path.read_bytes()
    assert download.headers["Content-Disposition"] == f'attachment; filename="{path.name}"'
    assert download.mimetype == "application/octet-stream"
    assert "sandbox" in download.headers["Content-Security-Policy"]
    assert "В какой день".encode() not in download.data  # sealed for the reporter
    # The Exchange page lists it for a second download; nothing is queued any more.
    page = get(client, "/exchange").get_data(as_text=True)
    assert path.name in page and 'id="exchange-write-outbox" disabled' in page


@pytest.mark.parametrize("name", ["..%2Fworkspace.db", "workspace.db", "replies-x.json",
                                  "replies-2026-01-01-0000000g.json",
                                  "replies-2026-01-01-00000000.json"])
def test_only_files_the_outbox_wrote_can_be_downloaded(app, workdir, name):
    client = unlocked(app)
    answer = get(client, f"/outbox/{name}")
    assert answer.status_code == 404
    assert answer.mimetype == "text/html"


def test_nothing_of_the_exchange_is_served_while_locked(app, tmp_path):
    client = unlocked(app)
    [tip] = tip_ids(search(client, "взятку"))
    post(client, f"/tip/{tip}/reply", {"message": "Вопрос", "status": "need-info"})
    post(client, "/outbox")
    [path] = (tmp_path / "outbox").iterdir()
    post(client, "/lock")
    for answer in (get(client, "/exchange"), get(client, f"/outbox/{path.name}"),
                   get(client, "/exchange/done"), post(client, "/exchange/pull"),
                   post(client, "/exchange/auto-pull", {"minutes": "5"})):
        assert answer.status_code == 403
        assert 'id="passphrase"' in answer.get_data(as_text=True)
    assert get(client, "/exchange/news.json").get_json() == {"locked": True}


def test_without_a_server_the_online_part_says_how_to_set_it(app):
    client = unlocked(app)
    page = get(client, "/exchange").get_data(as_text=True)
    assert 'id="no-server"' in page and "TIPDROP_SERVER" in page and 'id="pull"' not in page
    for path in ("/exchange/pull", "/exchange/push", "/exchange/ack"):
        answer = post(client, path)
        assert answer.status_code == 400 and "No server is set" in answer.get_data(as_text=True)
    answer = post(client, "/exchange/auto-pull", {"minutes": "5"})
    assert answer.status_code == 400
    assert app.extensions["officer_courier"].auto_minutes is None


def test_asking_for_news_does_not_keep_an_unattended_app_unlocked(app, clock):
    client = unlocked(app)
    desk = app.extensions["officer_desk"]
    # Given a page's script asking for news every half minute, and nobody working
    for _ in range(40):
        clock.now += 30
        assert get(client, "/exchange/news.json").get_json()["locked"] is False
    # Then the idle time ran all along: the watchdog locks the app
    assert desk.check_idle()
    assert get(client, "/exchange/news.json").get_json() == {"locked": True}


def test_the_exchange_page_speaks_the_officers_language(app):
    client = unlocked(app)
    post(client, "/language", {"lang": "ru", "back": "/exchange"})
    page = get(client, "/exchange").get_data(as_text=True)
    assert "Обмен" in page and "Open an export bundle" not in page
    post(client, "/language", {"lang": "kk", "back": "/exchange"})
    page = get(client, "/exchange").get_data(as_text=True)
    assert "Алмасу" in page and "Open an export bundle" not in page


CHANGED = {
    "en": "This bundle differs from the copy of it opened here before: it was changed on the "
          "server or on the way, so nothing of it was imported.",
    "ru": "Этот пакет отличается от своей копии, открытой здесь раньше: его изменили на сервере "
          "или по дороге, поэтому из него ничего не импортировано.",
    "kk": "Бұл пакет мұнда бұрын ашылған көшірмесінен өзгеше: оны серверде немесе жолда "
          "өзгерткен, сондықтан одан ештеңе импортталған жоқ.",
}


@pytest.mark.parametrize("language", sorted(CHANGED))
def test_a_changed_copy_of_an_opened_bundle_is_refused_in_the_officers_language(
        app, tmp_path, workdir, language):
    # Given the bundle this workspace was opened from, rewritten with a correct checksum:
    # every item still opens, but the clear status of a tip is the server's word
    records = _records((tmp_path / "export.tdx").read_bytes())
    first_tip = next(i for i, (kind, _) in enumerate(records) if kind == bundles.TIP)
    records[first_tip] = (bundles.TIP, records[first_tip][1] | {"status": "confirmed"})
    changed = tmp_path / "changed.tdx"
    changed.write_bytes(_bundle(records))
    client = unlocked(app)
    post(client, "/language", {"lang": language, "back": "/exchange"})
    workspace = app.extensions["officer_desk"].workspace
    opened = workspace.db["bundles"].count

    # When the officer picks it in the Exchange page
    page = outcome(client, _upload(client, changed))

    # Then the page says it differs from the copy held, not that there is nothing new
    text = page.get_data(as_text=True)
    assert page.status_code == 400
    assert CHANGED[language] in text.replace("\n", " ")
    assert 'id="imported"' not in text
    # And nothing of it was stored
    assert workspace.db["bundles"].count == opened
    assert len(tip_ids(get(client, "/inbox"))) == 4
    assert list((workdir / "incoming").iterdir()) == []


def test_the_app_will_not_unlock_another_units_key_on_this_workspace(workdir, tmp_path, clock):
    # Given the demo unit's workspace, and the app started with another unit's key
    other = keyfiles.create_unit_key("astana-police", tmp_path / "other", base.PASSPHRASE,
                                     params=kdf.TEST_PARAMS)
    desk = Desk(workdir, other.private_path, idle_seconds=15 * 60, clock=clock)
    audit = (workdir / "audit.log").read_bytes()
    try:
        client = base.launched(create_app(desk, base.PORT, launch_token=base.LAUNCH,
                                          outbox_dir=tmp_path / "outbox"))
        post(client, "/language", {"lang": "ru", "back": "/"})
        # When the officer types the passphrase
        answer = post(client, "/unlock", {"passphrase": base.PASSPHRASE})
        if answer.status_code == 303:  # unlocking runs in a thread: its outcome is the page
            job = desk.unlocking
            assert job is None or job.finished.wait(60)
            answer = get(client, "/unlocking")
            if answer.status_code == 303:
                answer = get(client, answer.location)
        # Then it stays locked, saying why in the officer's language, and wrote nothing
        page = answer.get_data(as_text=True)
        assert "В этой рабочей папке хранятся сообщения другого подразделения" in page
        assert not desk.unlocked
        assert (workdir / "audit.log").read_bytes() == audit
    finally:
        desk.close()
