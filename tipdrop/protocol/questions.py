"""Questions a category asks besides the free text, and the answers sealed in the report.

The operator's categories file (routing.py) may give a category a few
questions — a car's plate for a traffic offence, the kind of place for
drugs — each with its label and help in Kazakh, Russian and English. The
file is checked strictly when the server starts: a mistake there would
otherwise show as a broken form to a reporter, so it stops the start with a
ConfigError naming the category and the question.

A reporter's answers travel only inside the sealed report document, as the
``answers`` list of docs/protocol.md section 13: each answer carries the
question's label (and, for a choice, the chosen option's label) *in the
language the reporter read it*. The workstation therefore shows what was
asked, as it was asked, without the server's categories file, and an
operator who later rewords or removes a question does not change the
meaning of reports already sent. The workstation checks the list with the
rules in fields.py (ANSWER).

This module is shared: the server (form), the reference client and the
API's ``/api/v1/categories`` all use the same parsing and the same
document builder.
"""

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NotRequired, TypedDict

from tipdrop.errors import ConfigError, InputError

LANGUAGES = ("kk", "ru", "en")
KINDS = ("text", "choice", "yes-no", "date")
#: What a question or option id looks like (it is part of form field names).
QUESTION_ID = re.compile(r"[a-z][a-z0-9-]{0,31}")
MAX_QUESTIONS = 10
MAX_OPTIONS = 20
MAX_LABEL = 200
MAX_HELP = 500
#: The longest answer to a text question (the form's other short answers' limit).
MAX_ANSWER = 2_000
DEFAULT_TEXT_LENGTH = 200
#: The labels of a yes/no answer, in every language.
YES_NO = {
    "yes": {"kk": "Иә", "ru": "Да", "en": "Yes"},
    "no": {"kk": "Жоқ", "ru": "Нет", "en": "No"},
}
_QUESTION_MEMBERS = {"id", "kind", "label", "help", "required", "options", "max_length"}

#: A text in every language: {"kk": ..., "ru": ..., "en": ...}.
Names = dict[str, str]


class OptionDocument(TypedDict):
    id: str
    label: Names


class QuestionDocument(TypedDict):
    """A question as the categories file (and /api/v1/categories) writes it."""

    id: str
    kind: str
    label: Names
    required: bool
    help: NotRequired[Names]
    options: NotRequired[list[OptionDocument]]
    max_length: NotRequired[int]


class Answer(TypedDict):
    """One entry of the report's ``answers`` list (docs/protocol.md section 13)."""

    id: str
    kind: str
    label: str
    value: str
    value_label: NotRequired[str]


class AnswerRequiredError(InputError):
    """Please answer every question marked *."""

    detail_is_message = False


class AnswerInvalidError(InputError):
    """One of the answers is not valid. Please check the questions about the category."""

    detail_is_message = False


@dataclass(frozen=True)
class Option:
    id: str
    labels: Names

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.labels["en"]


@dataclass(frozen=True)
class Question:
    """One question of a category, as the categories file defines it."""

    id: str
    kind: str
    labels: Names
    helps: Names | None = None
    required: bool = False
    options: tuple[Option, ...] = ()
    max_length: int = DEFAULT_TEXT_LENGTH

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.labels["en"]

    def help(self, lang: str) -> str:
        return (self.helps or {}).get(lang) or (self.helps or {}).get("en") or ""

    def option_labels(self, lang: str) -> list[tuple[str, str]]:
        """(value, label) pairs a reporter chooses from: a choice's options, or yes and no."""
        if self.kind == "yes-no":
            return [(value, names.get(lang) or names["en"]) for value, names in YES_NO.items()]
        return [(o.id, o.label(lang)) for o in self.options]

    def as_document(self) -> QuestionDocument:
        """The question as the categories file (and /api/v1/categories) writes it."""
        doc: QuestionDocument = {"id": self.id, "kind": self.kind, "label": dict(self.labels),
                                 "required": self.required}
        if self.helps:
            doc["help"] = dict(self.helps)
        if self.kind == "choice":
            doc["options"] = [{"id": o.id, "label": dict(o.labels)} for o in self.options]
        if self.kind == "text":
            doc["max_length"] = self.max_length
        return doc

    def answer(self, value: object, lang: str) -> Answer | None:
        """The answer document for ``value`` (form text), None if unanswered.

        Raises AnswerRequiredError or AnswerInvalidError: the reporter's input.
        """
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise AnswerInvalidError(f"question {self.id}: not text")
        value = value.replace("\r\n", "\n").strip()
        if not value:
            if self.required:
                raise AnswerRequiredError(f"question {self.id} is required")
            return None
        if "\x00" in value or _lone_surrogate(value):
            raise AnswerInvalidError(f"question {self.id}: not valid text")
        doc: Answer = {"id": self.id, "kind": self.kind, "label": self.label(lang), "value": value}
        if self.kind == "text":
            if len(value) > self.max_length:
                raise AnswerInvalidError(
                    f"question {self.id}: at most {self.max_length} characters")
        elif self.kind == "date":
            if not is_day(value):
                raise AnswerInvalidError(f"question {self.id}: not a real day YYYY-MM-DD")
        else:
            labels = dict(self.option_labels(lang))
            if value not in labels:
                raise AnswerInvalidError(f"question {self.id}: not one of the options")
            doc["value_label"] = labels[value]
        return doc


def _lone_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


_DAY = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


def is_day(value: object) -> bool:
    """A real calendar day written YYYY-MM-DD (ASCII digits only)."""
    if not isinstance(value, str) or not _DAY.search(value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def answers_document(questions: Iterable[Question], values: Mapping[str, object],
                     lang: str) -> list[Answer]:
    """The report's ``answers`` list: one entry per answered question, in the file's order.

    ``values`` maps question id to what the reporter typed or chose. Every
    question is checked, so a missing required answer is refused even when
    others are wrong too.
    """
    lang = lang if lang in LANGUAGES else "en"
    answers: list[Answer] = []
    for question in questions:
        answer = question.answer(values.get(question.id), lang)
        if answer is not None:
            answers.append(answer)
    return answers


def _names(value: object, where: str, limit: int) -> Names:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} needs texts per language ({', '.join(LANGUAGES)})")
    extra = sorted(set(value) - set(LANGUAGES))
    if extra:
        raise ConfigError(f"{where} has texts in unknown languages: {', '.join(extra)}")
    for lang in LANGUAGES:
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{where} has no text in {lang}")
        if len(text) > limit:
            raise ConfigError(f"{where}: the {lang} text is longer than {limit} characters")
    return dict(value)


def parse_questions(doc: object, where: str) -> tuple[Question, ...]:
    """The questions of one category, checked strictly; ``where`` names it in errors."""
    if doc is None:
        return ()
    if not isinstance(doc, list):
        raise ConfigError(f"{where}: \"questions\" must be a list")
    if len(doc) > MAX_QUESTIONS:
        raise ConfigError(f"{where}: at most {MAX_QUESTIONS} questions")
    questions: list[Question] = []
    seen: set[str] = set()
    for n, item in enumerate(doc, 1):
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: question {n} is not an object")
        qid = item.get("id")
        if not isinstance(qid, str) or not QUESTION_ID.fullmatch(qid):
            raise ConfigError(f"{where}: question {n} needs an id (a-z, 0-9 and -, up to 32)")
        here = f"{where}, question {qid}"
        if qid in seen:
            raise ConfigError(f"{here}: the id is used twice")
        seen.add(qid)
        unknown = sorted(set(item) - _QUESTION_MEMBERS)
        if unknown:
            raise ConfigError(f"{here}: unknown members {', '.join(unknown)}")
        kind = item.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            raise ConfigError(f"{here}: kind must be one of {', '.join(KINDS)}")
        required = item.get("required", False)
        if type(required) is not bool:
            raise ConfigError(f"{here}: required must be true or false")
        options: tuple[Option, ...] = ()
        if kind == "choice":
            options = _parse_options(item.get("options"), here)
        elif "options" in item:
            raise ConfigError(f"{here}: only a choice has options")
        max_length = item.get("max_length", DEFAULT_TEXT_LENGTH)
        if kind != "text" and "max_length" in item:
            raise ConfigError(f"{here}: only a text question has max_length")
        if type(max_length) is not int or not 1 <= max_length <= MAX_ANSWER:
            raise ConfigError(f"{here}: max_length must be a whole number from 1 to {MAX_ANSWER}")
        questions.append(Question(
            id=qid, kind=kind, labels=_names(item.get("label"), f"{here}: label", MAX_LABEL),
            helps=None if item.get("help") is None
            else _names(item.get("help"), f"{here}: help", MAX_HELP),
            required=required, options=options, max_length=max_length))
    return tuple(questions)


def _parse_options(doc: object, where: str) -> tuple[Option, ...]:
    if not isinstance(doc, list) or not 2 <= len(doc) <= MAX_OPTIONS:
        raise ConfigError(f"{where}: a choice needs a list of 2 to {MAX_OPTIONS} options")
    options: list[Option] = []
    seen: set[str] = set()
    for n, item in enumerate(doc, 1):
        if not isinstance(item, dict) or set(item) != {"id", "label"}:
            raise ConfigError(f"{where}: option {n} must be {{\"id\", \"label\"}}")
        oid = item["id"]
        if not isinstance(oid, str) or not QUESTION_ID.fullmatch(oid) or oid in seen:
            raise ConfigError(f"{where}: option {n} needs its own id (a-z, 0-9 and -)")
        seen.add(oid)
        options.append(Option(oid, _names(item["label"], f"{where}, option {oid}", MAX_LABEL)))
    return tuple(options)
