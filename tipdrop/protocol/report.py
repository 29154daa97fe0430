"""What a report may hold: its fields, their limits, and how text is tidied.

The server checks a report with these rules before sealing it, and the reference
client before sealing it on the device, so both refuse the same input.
"""

from dataclasses import dataclass, field
from typing import Any

from tipdrop.errors import (
    InputError,
    TextEncodingError,
)

#: Photos are cleaned in memory; larger images are refused rather than sent
#: uncleaned. Phone photos are 2-12 MB.
MAX_PHOTO_BYTES = 32 * 1024 * 1024


class PhotoTooLargeError(InputError):
    """This photo is too large to be cleaned of identifying data. Please send a smaller one."""

    http_status = 413
    detail_is_message = False


MAX_DESCRIPTION = 20_000
MAX_ANSWER = 2_000
MAX_CONTACT = 500
MAX_FOLLOWUP = 20_000
MAX_ATTACHMENTS = 10


class EmptyDescriptionError(InputError):
    """Please describe what happened."""

    detail_is_message = False


class TextTooLongError(InputError):
    """The text is too long."""

    http_status = 413
    detail_is_message = False


class TooManyFilesError(InputError):
    """Too many files: please attach at most 10."""

    detail_is_message = False


def _clean_text(value: object, limit: int, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{name} must be text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, e.g. from a JSON "\ud800" escape
        raise TextEncodingError(name) from None
    value = value.replace("\r\n", "\n").strip()
    if "\x00" in value:
        raise InputError(f"{name} contains a NUL character")
    if len(value) > limit:
        raise TextTooLongError(f"{name}: at most {limit} characters")
    return value


#: The report's text fields, as the form names them, and their limits.
TEXT_LIMITS = {"what": MAX_ANSWER, "where": MAX_ANSWER, "when": MAX_ANSWER,
               "description": MAX_DESCRIPTION, "contact": MAX_CONTACT}


def text_field(name: str, value: object) -> str:
    """One of the report's text fields (TEXT_LIMITS), checked and tidied as Report.build does."""
    return _clean_text(value, TEXT_LIMITS[name], name)


def followup_text(value: object) -> str:
    """A reporter's follow-up, checked and tidied like the report's text; never empty."""
    text = _clean_text(value, MAX_FOLLOWUP, "message")
    if not text:
        raise EmptyDescriptionError()
    return text


@dataclass(frozen=True)
class Report:
    """What the reporter wrote. Lives only in memory, then inside the envelope."""

    region: str
    category: str
    description: str
    what: str = ""
    where: str = ""
    when: str = ""
    contact: str = ""
    language: str = ""
    #: What the form answered to the category's questions: question id -> text.
    #: Checked against the questions when the tip is submitted (questions.py).
    answers: dict[str, object] = field(default_factory=dict)

    @classmethod
    def build(cls, **fields: Any) -> "Report":
        # Values come from a form or a JSON request: the texts are checked by
        # _clean_text, region and category by the routing when the tip is sealed.
        report = cls(
            region=fields.get("region") or "",
            category=fields.get("category") or "",
            description=_clean_text(fields.get("description"), MAX_DESCRIPTION, "description"),
            what=_clean_text(fields.get("what"), MAX_ANSWER, "what happened"),
            where=_clean_text(fields.get("where"), MAX_ANSWER, "where"),
            when=_clean_text(fields.get("when"), MAX_ANSWER, "when"),
            contact=_clean_text(fields.get("contact"), MAX_CONTACT, "contact"),
            language=(fields.get("language") or "")[:8],
            answers=dict(fields.get("answers") or {}),
        )
        if not report.description:
            raise EmptyDescriptionError()
        return report
