"""What waits for the officer: reports not answered yet, and follow-ups not read yet.

The inbox's two views (tipdrop/officer/search.py VIEWS, views.inbox): the
reports no one has answered (no reply, no status change), the longest
waiting first, those waiting longer than the unit's target
(``--answer-days``) counted and marked; and the reports with follow-ups not
read yet. A real workspace opened from a bundle the server's code exported,
its tips received on days of the past, a real key file, and Flask's test
client as the browser.
"""

from datetime import date, timedelta

import pytest

from tests.officer.test_officer_app import (
    Clock,
    browser,
    get,
    opened_workspace,
    post,
    search,
    tip_ids,
    unlock,
)
from tests.protocol.test_bundles import Server
from tipdrop.common.days import today
from tipdrop.crypto import kdf
from tipdrop.officer import keyfiles
from tipdrop.officer.app import create_app
from tipdrop.officer.app.desk import Desk
from tipdrop.protocol.report import Report

PORT = 48123
PASSPHRASE = "correct horse battery staple"
#: The unit's target in these tests, in days.
TARGET = 7
#: (name, received so many days ago, description); "answered" gets a reply before the app starts.
AGED = [
    ("old", 12, "Во дворе продают закладки, уже двенадцать дней."),
    ("answered", 9, "Сосед бьёт жену, крики каждую ночь."),
    ("week", 5, "Украли велосипед у подъезда."),
    ("new", 0, "Таксист взял деньги и уехал."),
]


def day(ago):
    return (date.fromisoformat(today()) - timedelta(days=ago)).isoformat()


@pytest.fixture
def aged(tmp_path):
    """A workspace of AGED tips, "week" with a follow-up; the key file; the ids by name."""
    made = keyfiles.create_unit_key("demo", tmp_path / "keys", PASSPHRASE, params=kdf.TEST_PARAMS)
    key = keyfiles.unlock(made.private_path, PASSPHRASE)
    server = Server(tmp_path / "server", key)
    ids = {}
    for name, ago, description in AGED:
        server.tips.clock = lambda ago=ago: day(ago)
        draft = server.tips.start(region="almaty")
        server.tips.submit(draft, Report.build(region="almaty", category="theft",
                                               language="ru", description=description))
        ids[name] = draft.tip_id
    server.tips.clock = today
    server.tips.add_followup(tip_id=ids["week"], text="Велосипед видели на рынке.")
    server.export("demo", tmp_path / "export.tdx")
    server.db.close()
    workdir = opened_workspace(tmp_path / "export.tdx", key, tmp_path / "cases")
    from tipdrop.officer.keyring import Keyring
    from tipdrop.officer.workspace import Workspace

    workspace = Workspace(workdir)
    workspace.reply(ids["answered"], Keyring.of(key), message="Мы проверяем.", status=None)
    workspace.close()
    return workdir, made.private_path, ids


@pytest.fixture
def client(aged, tmp_path):
    workdir, key_path, _ = aged
    desk = Desk(workdir, key_path, idle_seconds=15 * 60, clock=Clock(), answer_days=TARGET)
    app = create_app(desk, PORT, launch_token="launch", outbox_dir=tmp_path / "outbox")
    made = browser(app)
    assert made.get("/?token=launch", base_url=f"http://127.0.0.1:{PORT}").status_code == 303
    yield unlock(made)
    desk.close()


def test_the_waiting_view_lists_unanswered_reports_longest_waiting_first(client, aged):
    _, _, ids = aged
    page = get(client, "/inbox?view=waiting")
    text = page.get_data(as_text=True)
    # The answered one is not there; the others, the longest waiting first
    assert tip_ids(page) == [ids["old"], ids["week"], ids["new"]]
    assert "Waiting for a first answer: 3" in text
    # Each with how long it has waited; only the one past the target marked
    assert "waiting 12 days" in text and "waiting 5 days" in text and "received today" in text
    assert text.count("Over the target") == 1
    assert "over 7 days: 1" in text


def test_a_reply_or_a_status_takes_a_report_out_of_the_waiting_view(client, aged):
    _, _, ids = aged
    answer = post(client, f"/tip/{ids['old']}/reply", {"message": "Спасибо, проверяем.",
                                                         "from_tip": ids["old"]})
    assert answer.status_code == 303, answer.data
    answer = post(client, "/bulk-status", {"tip": [ids["new"]], "status": "in-review"})
    assert answer.status_code == 200, answer.data
    page = get(client, "/inbox?view=waiting")
    assert tip_ids(page) == [ids["week"]]
    text = page.get_data(as_text=True)
    assert "Waiting for a first answer: 1" in text and "Over the target" not in text


def test_the_new_follow_ups_view_lists_reports_until_their_page_is_read(client, aged):
    _, _, ids = aged
    page = get(client, "/inbox?view=unread")
    assert tip_ids(page) == [ids["week"]]
    assert "Follow-ups not read yet: 1" in page.get_data(as_text=True)
    assert get(client, f"/tip/{ids['week']}").status_code == 200  # read now
    page = get(client, "/inbox?view=unread")
    assert tip_ids(page) == []
    assert "Follow-ups not read yet: 0" in page.get_data(as_text=True)


def test_a_search_keeps_the_view_and_the_view_keeps_the_filters(client, aged):
    _, _, ids = aged
    # The view is a filter of the search form: a search within it, and back to every tip
    assert tip_ids(search(client, "велосипед", view="waiting")) == [ids["week"]]
    assert tip_ids(search(client, "жену", view="waiting")) == []
    assert tip_ids(search(client, "жену")) == [ids["answered"]]
    # An unknown view is every tip
    assert len(tip_ids(get(client, "/inbox?view=everything"))) == 4


@pytest.mark.parametrize("language, words", [
    ("ru", ["Ждут первого ответа: 3", "более 7 дней: 1", "ждёт 12 дней", "Срок превышен",
            "Непрочитанные дополнения: 1", "получено сегодня"]),
    ("kk", ["Алғашқы жауапты күтуде: 3", "7 күннен астам: 1", "12 күн күтуде", "Мерзімі өтті",
            "Оқылмаған толықтырулар: 1", "бүгін қабылданды"]),
])
def test_the_views_speak_the_officers_language(client, language, words):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    text = get(client, "/inbox?view=waiting").get_data(as_text=True)
    for word in words:
        assert word in text, word


def test_the_counts_are_read_from_indexes_not_from_every_row(client):
    """However many tips, the attention counts look up the index's b-trees (no full scan)."""
    index = client.application.extensions["officer_desk"].index
    statements = []
    index.db.set_trace_callback(statements.append)
    try:
        counts = index.attention(day(TARGET))
    finally:
        index.db.set_trace_callback(None)
    assert counts == {"waiting": 3, "overdue": 1, "unread": 1}
    assert len(statements) == 3
    for sql in statements:
        plan = " ".join(row[-1] for row in index.db.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert "USING COVERING INDEX" in plan, (sql, plan)
