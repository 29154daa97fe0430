"""A year of reports in the officer app: work per request that does not grow with the workspace.

bench/officer_year.py measures the app over thousands of tips; these prove
the reasons its figures hold, as counts of work, not times: an import
decrypts the tips it brought, not every tip held; viewing a tip again adds
nothing to the in-memory index; a note's words replace the tip's old ones.
The fixtures are tests/officer/test_officer_app.py's: a real workspace
opened from a bundle the server's code exported, a real key file, and
Flask's test client as the browser.
"""
# The app's fixtures are imported from test_officer_app.py and used as arguments:
# ruff: noqa: F811

import pytest

from tests.officer.test_officer_app import (  # noqa: F401 (fixtures)
    PASSPHRASE,
    Clock,
    _upload,
    app,
    browser,
    clock,
    desk,
    get,
    opened_workspace,
    outcome,
    post,
    search,
    tip_ids,
    unit,
    unlock,
    unlocked,
    workdir,
)
from tests.protocol.test_bundles import Server
from tipdrop.crypto import kdf
from tipdrop.officer import keyfiles
from tipdrop.officer import search as search_module
from tipdrop.officer.app import create_app
from tipdrop.officer.app.desk import Desk
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol.report import Report


@pytest.fixture
def decrypted(monkeypatch):
    """The ids of the tips the index decrypts from now on (the real decryption, counted)."""
    seen = []
    real = search_module.decrypted_tips

    def counted(*args, **kwargs):
        for tip in real(*args, **kwargs):
            seen.append(tip["id"])
            yield tip

    monkeypatch.setattr(search_module, "decrypted_tips", counted)
    return seen


def indexed_texts(app):
    """How many texts the full-text index holds (FTS5 keeps one size row per text)."""
    index = app.extensions["officer_desk"].index
    return index.db.execute("SELECT COUNT(*) FROM fulltext.words_docsize").fetchone()[0]


def test_an_import_decrypts_the_tips_it_brought_not_every_tip_held(app, tmp_path, decrypted):
    # Given the app unlocked over the workspace's four tips
    client = unlocked(app)
    decrypted.clear()
    # When a bundle with one new tip is opened in it
    done = outcome(client, _upload(client, tmp_path / "export2.tdx"))
    assert "New: 1 tips, 0 follow-ups, 0 files." in done.get_data(as_text=True)
    # Then only that tip was decrypted into the index, and the inbox and search have it
    [new] = decrypted
    assert new in tip_ids(get(client, "/inbox")) and len(tip_ids(get(client, "/inbox"))) == 5
    assert tip_ids(search(client, "остановке")) == [new]
    assert tip_ids(search(client, "велосипед")), "the tips held before are still found"
    assert indexed_texts(app) == 5


def test_viewing_a_tip_again_and_again_adds_nothing_to_the_index(app):
    client = unlocked(app)
    first = tip_ids(get(client, "/inbox"))[0]
    before = indexed_texts(app)
    for _ in range(10):
        assert get(client, f"/tip/{first}").status_code == 200
    assert indexed_texts(app) == before == 4


def test_a_note_replaces_the_tips_words_in_the_index_instead_of_adding_a_copy(app):
    client = unlocked(app)
    [tip] = tip_ids(search(client, "велосипед"))
    answer = post(client, f"/tip/{tip}/note", {"text": "Проверить камеры у гаража.",
                                               "from_tip": tip})
    assert answer.status_code == 303, answer.data
    # The tip is found by its report's words and by the note's, once; nothing is left over.
    assert tip_ids(search(client, "велосипед")) == [tip]
    assert tip_ids(search(client, "гаража")) == [tip]
    assert indexed_texts(app) == 4


def test_a_bulk_status_change_decrypts_only_the_tips_it_changed(app, decrypted):
    client = unlocked(app)
    tips = tip_ids(get(client, "/inbox"))
    decrypted.clear()
    answer = post(client, "/bulk-status", {"tip": tips[:2], "status": "unfounded"})
    assert answer.status_code == 200, answer.data
    assert sorted(decrypted) == sorted(tips[:2])
    assert sorted(tip_ids(get(client, "/inbox?status=unfounded"))) == sorted(tips[:2])
    assert indexed_texts(app) == 4


def test_tips_opened_beside_the_app_are_indexed_with_the_apps_next_import(tmp_path):
    """`tipdrop officer open` beside the unlocked app: the app's next import lists them too
    (it builds the whole index when the workspace holds tips the index does not)."""
    made = keyfiles.create_unit_key("demo", tmp_path / "keys", PASSPHRASE, params=kdf.TEST_PARAMS)
    key = keyfiles.unlock(made.private_path, PASSPHRASE)
    server = Server(tmp_path / "server", key)
    # Four tips in the first bundle, then one in each of the two next
    for n, texts in enumerate((["сарай", "крыша", "забор", "окно"], ["гараж"], ["подвал"])):
        for words in texts:
            draft = server.tips.start(region="almaty")
            server.tips.submit(draft, Report.build(region="almaty", category="theft",
                                                   language="ru", description=words))
        server.export("demo", tmp_path / f"e{n}.tdx")
    server.db.close()
    workdir = opened_workspace(tmp_path / "e0.tdx", key, tmp_path / "cases")
    desk = Desk(workdir, made.private_path, clock=Clock())
    app = create_app(desk, 48123, launch_token="launch", outbox_dir=tmp_path / "outbox")
    client = browser(app)
    assert client.get("/?token=launch", base_url="http://127.0.0.1:48123").status_code == 303
    try:
        client = unlock(client)
        # Given a bundle opened by the CLI while the app is unlocked
        beside = Workspace(workdir)
        beside.open_bundle(tmp_path / "e1.tdx", Keyring.of(key))
        beside.close()
        # When the app opens the next one
        done = outcome(client, _upload(client, tmp_path / "e2.tdx", name="e2.tdx"))
        assert "New: 1 tips" in done.get_data(as_text=True)
        # Then the inbox and search hold all six
        assert len(tip_ids(get(client, "/inbox"))) == 6
        assert len(tip_ids(search(client, "гараж"))) == 1
    finally:
        desk.close()


def _statements(app, path, client):
    """The SQL the index ran to render ``path``."""
    index = app.extensions["officer_desk"].index
    ran = []
    index.db.set_trace_callback(ran.append)
    try:
        assert get(client, path).status_code == 200
    finally:
        index.db.set_trace_callback(None)
    return ran


def test_an_inbox_page_counts_the_tips_once_until_they_change(app):
    """The counts by status, the attention counts, the filters' choices and the list's total
    read index entries in proportion to the tips: a page shown again reads its rows only."""
    client = unlocked(app)
    first = _statements(app, "/inbox", client)
    assert any("GROUP BY status" in sql for sql in first)
    again = _statements(app, "/inbox", client)
    assert len(again) == 1 and again[0].startswith("SELECT * FROM tips"), again
    # A change of the list (a status set) counts again, and the counts are right
    [tip] = tip_ids(search(client, "велосипед"))
    assert post(client, "/bulk-status", {"tip": [tip], "status": "closed"}).status_code == 200
    after = _statements(app, "/inbox", client)
    assert any("GROUP BY status" in sql for sql in after)
    assert "Closed: 1" in get(client, "/inbox").get_data(as_text=True)
