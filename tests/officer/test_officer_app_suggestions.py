"""The tip page's suggestions: similar reports, and the unit's own reply templates.

The same real parts as test_officer_app.py: a workspace opened from a
bundle the server's code exported, a real key file, Flask's test client as
the browser; the start-up refusal is the real `tipdrop officer app` process.
"""
# The app's fixtures are imported from test_officer_app.py and used as arguments:
# ruff: noqa: F811

import json
import re
import subprocess

import pytest

from tests.e2e.conftest import TIPDROP, assert_clean_error
from tests.officer.test_officer_app import (  # noqa: F401 (fixtures)
    Clock,
    app,
    clock,
    desk,
    get,
    opened_workspace,
    post,
    search,
    tip_ids,
    unit,
    unlocked,
)
from tests.protocol.test_bundles import Server
from tipdrop.officer.app.desk import Desk
from tipdrop.officer.replytemplates import (
    BadReplyTemplatesError,
    load_templates,
    templates_path,
)
from tipdrop.protocol.report import Report

REPORT = ("Сообщаю: каждый вечер у остановки Абая возле школы номер 12 продают наркотики, машина "
          "белая Лада с номером 123 ABC 02, водитель высокий, в чёрной куртке.")
AGAIN = ("Пишу снова: возле школы номер 12 у остановки Абая каждый вечер продают "
         "наркотики, белая машина Лада номер 123 ABC 02, водитель высокий в черной куртке.")
OTHER = "Во дворе продают наркотики, закладки под скамейкой у фонтана, номер дома 12."
TIPS = [("drugs", "ru", REPORT), ("drugs", "ru", AGAIN), ("drugs", "ru", OTHER),
        ("theft", "ru", AGAIN.replace("продают наркотики", "украли велосипед")),
        ("child-in-danger", "kk", "Қараусыз қалған бала көшеде жылап отыр.")]
UNIT_TEMPLATES = {
    "call-us": {"name": "Просьба позвонить", "kk": "Бізге 102 нөміріне қоңырау шалыңыз.",
                "ru": "Позвоните нам по номеру 102."},
    "thanks": {"ru": "Спасибо, мы разберёмся."},
}


@pytest.fixture
def workdir(tmp_path, unit):  # this module's tips
    key_path, key = unit
    server = Server(tmp_path / "server", key)
    for category, language, description in TIPS:
        draft = server.tips.start(region="almaty")
        server.tips.submit(draft, Report.build(region="almaty", category=category,
                                               description=description, language=language))
    server.export("demo", tmp_path / "export.tdx")
    server.db.close()
    return opened_workspace(tmp_path / "export.tdx", key, tmp_path / "cases")


def _template_choices(page):
    return page.split('id="template"')[1].split("</select>")[0]


def _tip(client, words):
    [tip] = tip_ids(search(client, words))
    return tip


# --- similar reports --------------------------------------------------------------------


def test_the_tip_page_suggests_the_same_report_written_again_and_not_the_others(app):
    client = unlocked(app)
    first, again = _tip(client, "сообщаю"), _tip(client, "пишу снова наркотики")
    other, theft = _tip(client, "фонтана"), _tip(client, "велосипед")
    page = get(client, f"/tip/{first}").get_data(as_text=True)
    suggested = page.split('id="similar"')[1].split("</ul>")[0]
    assert f'data-tip="{again}"' in suggested and "% alike" in suggested
    # Same region and category but about something else; same words but another category.
    assert other not in suggested and theft not in suggested


def test_a_tip_without_a_similar_report_says_so(app):
    client = unlocked(app)
    page = get(client, f"/tip/{_tip(client, 'фонтана')}").get_data(as_text=True)
    assert "No similar report of the same region and category." in page


# --- reply templates ----------------------------------------------------------------------


def test_the_units_templates_file_replaces_the_shipped_ones_in_the_reports_language(
        app, workdir):
    templates_path(workdir).write_text(json.dumps(UNIT_TEMPLATES, ensure_ascii=False))
    client = unlocked(app)
    kazakh = _tip(client, "бала")
    page = get(client, f"/tip/{kazakh}", query_string={"template": "call-us"}).get_data(
        as_text=True)
    assert "Бізге 102 нөміріне қоңырау шалыңыз." in page  # the report's language, Kazakh
    offered = _template_choices(page)
    assert ">Просьба позвонить</option>" in offered and 'value="need-info"' not in offered
    page = get(client, f"/tip/{kazakh}", query_string={"template": "call-us",
                                                      "reply_lang": "ru"}).get_data(as_text=True)
    assert "Позвоните нам по номеру 102." in page


def test_a_template_without_the_reports_language_says_so(app, workdir):
    templates_path(workdir).write_text(json.dumps(UNIT_TEMPLATES, ensure_ascii=False))
    client = unlocked(app)
    page = get(client, f"/tip/{_tip(client, 'бала')}", query_string={"template": "thanks"})
    page = page.get_data(as_text=True)
    assert "Спасибо, мы разберёмся." in page and 'id="template-language"' in page


BAD_FILES = [
    ("{not json", "not JSON"),
    ("[]", "must be a JSON object"),
    ('{"call-us": {"kz": "Қоңырау шалыңыз"}}', "unknown key 'kz'"),
    ('{"call-us": {"ru": ""}}', "ru must be text"),
    ('{"call-us": {"name": "Позвонить"}}', "has no text in kk, ru, en"),
    ('{"Call Us": {"ru": "Позвоните"}}', "template code 'Call Us'"),
    ('{"call-us": "Позвоните"}', "must be an object"),
    ('{"call-us": {"ru": "' + "д" * 600_000 + '"}}', "larger than 1024 KiB"),
    (b"\xff\xfe{}", "not UTF-8 text"),
]


@pytest.mark.parametrize("text, fragment", BAD_FILES)
def test_a_bad_templates_file_is_refused_naming_what_is_wrong(tmp_path, text, fragment):
    path = templates_path(tmp_path)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(BadReplyTemplatesError) as raised:
        load_templates(tmp_path)
    assert fragment in raised.value.message and "reply-templates.json" in raised.value.message


def test_the_app_refuses_to_start_with_a_bad_templates_file(workdir, unit, tmp_path):
    """One line, exit 2, from the real command; nothing is served."""
    templates_path(workdir).write_text('{"call-us": {"kz": "Қоңырау шалыңыз"}}')
    result = subprocess.run([str(TIPDROP), "officer", "app", "--no-browser", "--workdir",
                             str(workdir), "--key", str(unit[0])], capture_output=True,
                            text=True, timeout=60, cwd=tmp_path)
    assert_clean_error(result, "reply templates file cannot be used", "unknown key 'kz'")
    assert "officer app: http" not in result.stdout
    with pytest.raises(BadReplyTemplatesError):
        Desk(workdir, unit[0], clock=Clock())


def test_a_templates_file_broken_while_the_app_runs_is_shown_with_the_shipped_ones(
        app, workdir):
    client = unlocked(app)
    tip = _tip(client, "бала")
    templates_path(workdir).write_text('{"call-us": {"ru": ')
    answer = get(client, f"/tip/{tip}", query_string={"template": "need-info"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and 'id="templates-error"' in page
    assert "not JSON" in page and "Хабарламаңызға рақмет" in page  # the shipped set stands in


def test_the_shipped_templates_are_offered_without_a_file(app, workdir):
    assert not templates_path(workdir).exists()
    client = unlocked(app)
    page = get(client, f"/tip/{_tip(client, 'бала')}").get_data(as_text=True)
    assert 'value="need-info"' in _template_choices(page) and 'id="templates-error"' not in page


def test_use_keeps_a_typed_reply_but_replaces_an_untouched_ready_made_text(app, workdir):
    # A unit's template of two lines comes back from a browser's text box with CR LF ends:
    # still the ready-made text, not the officer's work.
    lines = {"two-lines": {"ru": "Спасибо.\nПозвоните нам по номеру 102."}}
    templates_path(workdir).write_text(json.dumps(lines, ensure_ascii=False))
    client = unlocked(app)
    tip = _tip(client, "бала")

    def use(message, **form):
        return post(client, f"/tip/{tip}/compose", {"template": "need-info",
                                                    "reply_lang": "ru", "message": message,
                                                    "from_tip": tip, **form})

    for untouched in ("", "  \r\n", "Спасибо.\r\nПозвоните нам по номеру 102.\r\n"):
        answer = use(untouched)
        assert answer.status_code == 303, untouched
        assert answer.location == f"/tip/{tip}?template=need-info&reply_lang=ru"
    # A typed reply is kept: in the app's memory for this tip, never in the address
    kept = use("Уточните номер дома.", status="in-review")
    assert kept.status_code == 303 and "beside=1" in kept.location
    assert "Уточните" not in kept.location and "%D0" not in kept.location
    page = get(client, kept.location).get_data(as_text=True)
    assert 'id="template-kept"' in page
    assert re.search(r'id="message"[^>]*>Уточните номер дома.</textarea>', page)
    assert '<option value="in-review" selected>' in page
    # It is shown on no other tip's page: a reply stays with its reporter
    other = next(t for t in tip_ids(get(client, "/inbox")) if t != tip)
    page = get(client, f"/tip/{other}?{kept.location.split('?')[1]}").get_data(as_text=True)
    assert "Уточните номер дома." not in page and 'id="template-kept"' not in page
    # Asked and agreed (the page's script): the ready-made text replaces it
    agreed = use("Уточните номер дома.", replace="1")
    assert agreed.location == f"/tip/{tip}?template=need-info&reply_lang=ru"
