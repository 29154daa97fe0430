"""The category's questions on the report form, without JavaScript, and sealed in the report."""

import json
import re
from importlib import resources

import pytest

from tests.server.web.conftest import form_token
from tipdrop.common import sqlite
from tipdrop.crypto import envelope
from tipdrop.server.web import create_app


def required_categories(path, *required):
    """The shipped categories with ``required`` ("category.question") made required."""
    doc = json.loads(resources.files("tipdrop.data").joinpath("categories.json").read_text("utf-8"))
    for name in required:
        category, qid = name.split(".")
        [q] = [q for q in doc["items"][category]["questions"] if q["id"] == qid]
        q["required"] = True
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


@pytest.fixture
def strict(tmp_path, keys_dir):
    """An app whose operator made the kind of place required for drugs."""
    required_categories(keys_dir / "categories.json", "drugs.place")
    app = create_app({"data_dir": tmp_path / "instance", "keys_dir": keys_dir})
    return app, app.test_client()


def _report(app, unit_key):
    [tip] = list(sqlite.connect(app.config["TIPDROP"].database_path)["tips"].rows)
    return tip, json.loads(envelope.open_(tip["body"], unit_key.opener, kind="tip", tip_id=tip["id"]))


def _send(client, lang, category, **fields):
    token = form_token(client, f"/submit?lang={lang}")
    data = {"token": token, "region": "astana", "category": category,
            "description": "Видел сам.", "website": ""} | fields
    return client.post(f"/submit?lang={lang}", data=data, content_type="multipart/form-data",
                       follow_redirects=True)


def test_without_javascript_every_categorys_questions_are_in_the_one_form(client):
    """No second step: the category chosen never travels in an address (history, proxy logs)."""
    page = client.get("/submit?lang=kk").text
    assert "category-step" not in page and 'method="get"' not in page
    form = re.search(r'<form id="report-form"[^>]*>', page).group(0)
    assert "hidden" not in form
    # Each category's questions are a closed part of the form, none disabled or required
    boxes = re.findall(r'<details class="questions" data-category="([a-z-]+)">', page)
    assert "traffic" in boxes and "drugs" in boxes and "other" not in boxes
    assert not re.search(r'<details class="questions"[^>]* open', page)
    assert not re.search(r'<fieldset class="questions"[^>]*(disabled|hidden)', page)
    assert "Көліктің мемлекеттік нөмірі" in page and 'name="q.traffic.plate"' in page
    assert 'id="questions-note"' in page


def test_a_category_in_the_address_is_ignored(client):
    page = client.get("/submit?lang=en&category=traffic").text
    assert "selected" not in page[page.index('id="category"'):]


def test_answers_are_sealed_in_the_report_with_the_labels_read(app, client, unit_key):
    response = _send(client, "ru", "drugs", **{"q.drugs.place": "school", "q.drugs.ongoing": "yes",
                                               "q.traffic.plate": "not asked"})
    assert response.status_code == 203 and 'id="receipt"' in response.text
    tip, report = _report(app, unit_key)
    assert report["answers"] == [
        {"id": "place", "kind": "choice", "label": "Где это происходит?", "value": "school",
         "value_label": "Возле школы или колледжа"},
        {"id": "ongoing", "kind": "yes-no", "label": "Это продолжается сейчас?", "value": "yes",
         "value_label": "Да"},
    ]
    assert b"school" not in tip["body"]


def test_a_report_without_answers_has_no_answers_member(app, client, unit_key):
    _send(client, "en", "rudeness")
    _, report = _report(app, unit_key)
    assert "answers" not in report


@pytest.mark.parametrize("lang, fields, fragment", [
    ("ru", {}, "Пожалуйста, ответьте на все вопросы"),
    ("kk", {"q.drugs.place": "garage"}, "Жауаптардың бірі жарамсыз"),
    ("en", {"q.drugs.place": "home", "q.drugs.ongoing": "maybe"}, "One of the answers is not valid"),
])
def test_a_missing_or_wrong_answer_is_explained_and_nothing_is_stored(strict, lang, fields,
                                                                         fragment):
    app, client = strict
    response = _send(client, lang, "drugs", **fields)
    assert response.status_code == 400
    assert fragment in response.text
    assert not list(sqlite.connect(app.config["TIPDROP"].database_path)["tips"].rows)


def test_a_date_answer_must_be_a_real_day(app, client):
    response = _send(client, "en", "theft", **{"q.theft.day": "2023-02-30"})
    assert response.status_code == 400 and "One of the answers is not valid" in response.text


def test_the_api_takes_answers_as_json(app, client, unit_key):
    response = client.post("/api/v1/tips?lang=kk", json={
        "region": "astana", "category": "traffic", "description": "Жылдамдықты асырды.",
        "answers": {"plate": "123 ABC 02", "colour": "ақ"}})
    assert response.status_code == 201
    _, report = _report(app, unit_key)
    assert [(a["label"], a["value"]) for a in report["answers"]] == [
        ("Көліктің мемлекеттік нөмірі", "123 ABC 02"), ("Көліктің түсі", "ақ")]


def test_an_app_fetches_the_questions_in_every_language(client):
    doc = client.get("/api/v1/categories").get_json()
    drugs = doc["items"]["drugs"]
    assert drugs["ru"] == "Наркотики"
    place = drugs["questions"][0]
    assert place["id"] == "place" and place["kind"] == "choice" and place["required"] is False
    assert place["label"]["kk"] == "Бұл қай жерде болып жатыр?"
    assert doc["items"]["other"]["questions"] == []


def test_the_form_lists_regions_and_categories_in_the_languages_order(client):
    page = client.get("/submit?lang=kk&category=other").text
    form = page[page.index('id="report-form"'):]
    categories = re.findall(r'<option value="[a-z-]+"(?: selected)?>([^<]+)</option>',
                            form[form.index('id="category"'):form.index("</select>", form.index('id="category"'))])
    assert categories[:3] == ["Алаяқтық", "Балаға қауіп төнді", "Басқа"]
    assert categories.index("Қоғамдық орындағы дөрекілік пен боқтық сөз") < categories.index("Полиция қызметкеріне шағым")
    assert categories[-1] == "Ұрлық"


def test_the_language_links_of_the_form_carry_no_category(client):
    page = client.get("/submit?lang=ru&category=drugs").text
    assert 'href="/submit?lang=kk"' in page and 'href="/submit?lang=en"' in page
    assert "category=drugs" not in page and "?category" not in page


def test_an_app_from_before_questions_is_not_refused_for_a_category_with_questions(app, client,
                                                                                  unit_key):
    response = client.post("/api/v1/tips?lang=ru", json={
        "region": "astana", "category": "drugs", "description": "Закладки во дворе."})
    assert response.status_code == 201
    _, report = _report(app, unit_key)
    assert "answers" not in report
