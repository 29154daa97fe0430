"""Questions per category: the categories file checked at start, answers checked and built."""

import json

import pytest

from tipdrop.errors import ConfigError, FormatError
from tipdrop.protocol import fields, questions
from tipdrop.protocol.routing import Routing

L = {"kk": "Нөмірі", "ru": "Номер", "en": "Plate"}


def _category(*qs):
    return {"noise": {"en": "Noise", "ru": "Шум", "kk": "Шу", "questions": list(qs)}}


def _load(tmp_path, items):
    routing = tmp_path / "routing.json"
    routing.write_text(json.dumps({"version": 1, "regions": {"astana": "demo"}}))
    path = tmp_path / "categories.json"
    path.write_text(json.dumps({"version": 1, "items": items}), encoding="utf-8")
    return Routing.load(routing, path)


def test_shipped_categories_ask_questions_in_every_language():
    routing = Routing({"astana": "demo"})
    asked = {c.code: [q.id for q in c.questions] for c in routing.categories}
    assert asked["traffic"] == ["plate", "colour", "make", "direction"]
    assert asked["drugs"][0] == "place"
    for category in routing.categories:
        for q in category.questions:
            assert all(q.label(lang).strip() for lang in questions.LANGUAGES)
            # Optional: a client from before questions must not be refused (operations.md)
            assert not q.required


def test_operator_questions_are_loaded(tmp_path):
    routing = _load(tmp_path, _category({"id": "plate", "kind": "text", "label": L,
                                         "required": True, "max_length": 12}))
    [q] = routing.questions_of("noise")
    assert (q.id, q.kind, q.required, q.max_length, q.label("ru")) == ("plate", "text", True, 12, "Номер")


@pytest.mark.parametrize("question, message", [
    ({"id": "plate", "kind": "number", "label": L}, "kind must be one of"),
    ({"id": "Plate", "kind": "text", "label": L}, "needs an id"),
    ({"id": "plate", "kind": "text", "label": {"en": "Plate", "ru": "Номер"}}, "no text in kk"),
    ({"id": "plate", "kind": "text", "label": L | {"de": "Kennzeichen"}}, "unknown languages: de"),
    ({"id": "plate", "kind": "text", "label": L, "required": "yes"}, "required must be true or false"),
    ({"id": "plate", "kind": "text", "label": L, "colour": "red"}, "unknown members colour"),
    ({"id": "plate", "kind": "text", "label": L, "max_length": 0}, "max_length must be"),
    ({"id": "plate", "kind": "date", "label": L, "max_length": 10}, "only a text question"),
    ({"id": "plate", "kind": "yes-no", "label": L, "options": []}, "only a choice has options"),
    ({"id": "plate", "kind": "choice", "label": L,
      "options": [{"id": "a", "label": L}]}, "a choice needs a list of 2"),
    ({"id": "plate", "kind": "choice", "label": L,
      "options": [{"id": "a", "label": L}, {"id": "a", "label": L}]}, "needs its own id"),
    ({"id": "plate", "kind": "text", "label": L, "help": {"en": "x"}}, "help has no text in kk"),
])
def test_a_wrong_question_stops_the_start_naming_it(tmp_path, question, message):
    with pytest.raises(ConfigError, match=message) as error:
        _load(tmp_path, _category(question))
    assert "noise" in str(error.value)


def test_a_question_id_used_twice_is_refused(tmp_path):
    q = {"id": "plate", "kind": "text", "label": L}
    with pytest.raises(ConfigError, match="used twice"):
        _load(tmp_path, _category(q, q))


def test_questions_must_be_a_list_and_not_too_many(tmp_path):
    with pytest.raises(ConfigError, match="must be a list"):
        _load(tmp_path, {"noise": {"en": "N", "ru": "Ш", "kk": "Ш", "questions": {}}})
    many = [{"id": f"q{n}", "kind": "text", "label": L} for n in range(11)]
    with pytest.raises(ConfigError, match="at most 10"):
        _load(tmp_path, _category(*many))


def test_an_unknown_member_of_a_category_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown members question"):
        _load(tmp_path, {"noise": {"en": "N", "ru": "Ш", "kk": "Ш", "question": []}})


ASKED = questions.parse_questions([
    {"id": "plate", "kind": "text", "label": L, "max_length": 12},
    {"id": "place", "kind": "choice", "required": True, "label": L,
     "options": [{"id": "street", "label": {"kk": "Көшеде", "ru": "На улице", "en": "Street"}},
                 {"id": "home", "label": {"kk": "Үйде", "ru": "Дома", "en": "Home"}}]},
    {"id": "injured", "kind": "yes-no", "label": L},
    {"id": "day", "kind": "date", "label": L},
], "test")


def test_answers_carry_the_labels_the_reporter_read():
    doc = questions.answers_document(ASKED, {"plate": " 123 ABC 02 ", "place": "street",
                                             "injured": "no", "day": "2024-02-29"}, "kk")
    assert doc == [
        {"id": "plate", "kind": "text", "label": "Нөмірі", "value": "123 ABC 02"},
        {"id": "place", "kind": "choice", "label": "Нөмірі", "value": "street", "value_label": "Көшеде"},
        {"id": "injured", "kind": "yes-no", "label": "Нөмірі", "value": "no", "value_label": "Жоқ"},
        {"id": "day", "kind": "date", "label": "Нөмірі", "value": "2024-02-29"},
    ]
    assert fields.answers(doc) == doc


def test_unanswered_optional_questions_are_left_out():
    assert questions.answers_document(ASKED, {"place": "home"}, "ru") == [
        {"id": "place", "kind": "choice", "label": "Номер", "value": "home", "value_label": "Дома"}]


@pytest.mark.parametrize("values, error", [
    ({}, questions.AnswerRequiredError),
    ({"place": "  "}, questions.AnswerRequiredError),
    ({"place": "garage"}, questions.AnswerInvalidError),
    ({"place": "home", "injured": "maybe"}, questions.AnswerInvalidError),
    ({"place": "home", "day": "2023-02-29"}, questions.AnswerInvalidError),
    ({"place": "home", "day": "29.02.2024"}, questions.AnswerInvalidError),
    ({"place": "home", "day": "２０２４-01-01"}, questions.AnswerInvalidError),
    ({"place": "home", "plate": "X" * 13}, questions.AnswerInvalidError),
    ({"place": "home", "plate": "a\x00b"}, questions.AnswerInvalidError),
    ({"place": "home", "plate": "\ud800"}, questions.AnswerInvalidError),
])
def test_bad_answers_are_refused(values, error):
    with pytest.raises(error):
        questions.answers_document(ASKED, values, "en")


@pytest.mark.parametrize("answers, message", [
    ("plate", "not a list"),
    ([{"id": "plate", "kind": "text", "label": "P"}], "has no 'value'"),
    ([{"id": "plate", "kind": "text", "label": "P", "value": ""}], "'value' is not 1 to"),
    ([{"id": "day", "kind": "date", "label": "D", "value": "2023-02-29"}], "not a real day"),
    ([{"id": "x", "kind": "yes-no", "label": "X", "value": "maybe", "value_label": "?"}], "not yes or no"),
    ([{"id": "x", "kind": "choice", "label": "X", "value": "a"}], "no value_label"),
    ([{"id": "x", "kind": "text", "label": "X", "value": "a"}] * 2, "twice"),
    ([{"id": "x", "kind": "text", "label": "X" * 201, "value": "a"}], "'label' is not 1 to 200"),
])
def test_the_workstation_refuses_malformed_answers(answers, message):
    with pytest.raises(FormatError, match=message):
        fields.answers(answers)
