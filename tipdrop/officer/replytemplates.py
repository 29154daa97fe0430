"""Ready-made replies in the reporter's language, for the officer app's reply form.

The reply form starts from the report's language (reporters write in
Kazakh, Russian or English and read the answer in the same). The unit edits
its own set in ``WORKDIR/reply-templates.json`` (docs/officer-guide.md);
without that file the shipped :data:`DEFAULT_TEMPLATES` are offered. A file
that is there but wrong is refused with one line naming what is wrong and
where (the app refuses to start with it; a file broken while the app runs is
shown above the reply form, the shipped set standing in), never half-used.

The file is a JSON object: template code -> an object with the text in
``kk``, ``ru`` and/or ``en`` and, optionally, the ``name`` the form shows
(else the status of that code, or the code itself). A template whose code is a
reply status also preselects that status in the form (officer/app/views.py)::

    {"need-info": {"kk": "...", "ru": "...", "en": "..."},
     "call-us": {"name": "Ask to call", "ru": "Позвоните нам по номеру 102."}}
"""

import json
import re
from pathlib import Path

from tipdrop.errors import ConfigError

#: The file the unit edits, in the workspace folder.
FILE_NAME = "reply-templates.json"
LANGUAGES = ("kk", "ru", "en")
#: A template's text, at most (a reply is a short message read on a phone).
MAX_TEXT = 4000
#: Templates in one file, at most, and the file's size.
MAX_TEMPLATES = 100
MAX_FILE = 1024 * 1024
_CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")

#: Template code -> language -> text: the shipped set, used when the unit has no file.
DEFAULT_TEMPLATES = {
    "need-info": {
        "kk": "Хабарламаңызға рақмет. Бізге қосымша мәлімет керек: оқиға қай күні және "
              "қай уақытта болды, нақты қай жерде?",
        "ru": "Спасибо за сообщение. Нам нужны дополнительные сведения: в какой день и в какое "
              "время это было и где именно?",
        "en": "Thank you for your report. We need more information: on which day and at what "
              "time did it happen, and where exactly?",
    },
    "in-review": {
        "kk": "Хабарламаңыз алынды, оны полиция қызметкері тексеріп жатыр.",
        "ru": "Ваше сообщение получено, его проверяет сотрудник полиции.",
        "en": "Your report was received and an officer is checking it.",
    },
    "confirmed": {
        "kk": "Хабарламаңыз расталды, шара қолданылды. Көмегіңізге рақмет.",
        "ru": "Ваше сообщение подтвердилось, меры приняты. Спасибо за помощь.",
        "en": "Your report was confirmed and action was taken. Thank you for your help.",
    },
}
#: The name this module had before units could edit their templates.
REPLY_TEMPLATES = DEFAULT_TEMPLATES


class BadReplyTemplatesError(ConfigError):
    """The unit's reply templates file cannot be used."""

    http_status = 400


def templates_path(workdir) -> Path:
    return Path(workdir) / FILE_NAME


def load_templates(workdir) -> dict:
    """The unit's templates from WORKDIR/reply-templates.json; the shipped ones if it is absent."""
    path = templates_path(workdir)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE + 1)  # read for every tip page: never a huge file whole
    except FileNotFoundError:
        return DEFAULT_TEMPLATES
    except OSError as e:
        raise BadReplyTemplatesError(f"{path}: {e.strerror}") from None
    if len(raw) > MAX_FILE:
        raise BadReplyTemplatesError(f"{path}: larger than {MAX_FILE // 1024} KiB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadReplyTemplatesError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise BadReplyTemplatesError(f"{path}: not JSON ({e.msg}, line {e.lineno})") from None
    return parse_templates(data, str(path))


def parse_templates(data, where: str = FILE_NAME) -> dict:
    """Check a templates object; return it as code -> {name?, kk?, ru?, en?}."""
    if not isinstance(data, dict) or not data:
        raise BadReplyTemplatesError(f"{where}: must be a JSON object of templates, "
                                     "code -> {\"kk\": ..., \"ru\": ..., \"en\": ...}")
    if len(data) > MAX_TEMPLATES:
        raise BadReplyTemplatesError(f"{where}: more than {MAX_TEMPLATES} templates")
    for code, texts in data.items():
        if not _CODE.fullmatch(code):
            raise BadReplyTemplatesError(
                f"{where}: template code {code[:40]!r}: use lowercase letters a-z, digits and -")
        if not isinstance(texts, dict):
            raise BadReplyTemplatesError(f"{where}: template {code!r} must be an object")
        for key, text in texts.items():
            if key not in (*LANGUAGES, "name"):
                raise BadReplyTemplatesError(
                    f"{where}: template {code!r}: unknown key {key[:20]!r} "
                    f"(the languages are {', '.join(LANGUAGES)}, and name)")
            if not isinstance(text, str) or not text.strip():
                raise BadReplyTemplatesError(f"{where}: template {code!r}: {key} must be text")
            if len(text) > MAX_TEXT:
                raise BadReplyTemplatesError(
                    f"{where}: template {code!r}: {key} is longer than {MAX_TEXT} characters")
        if not any(language in texts for language in LANGUAGES):
            raise BadReplyTemplatesError(
                f"{where}: template {code!r} has no text in {', '.join(LANGUAGES)}")
    return data


def reply_template(code: str | None, language: str | None, templates=None) -> str:
    """The template ``code`` in ``language``, else in Russian, else in any; "" if none.

    The order after the asked language is the reporters' (Russian, Kazakh, English).
    """
    texts = (templates or DEFAULT_TEMPLATES).get(code or "")
    if not texts:
        return ""
    for wanted in (language, "ru", "kk", "en"):
        if wanted in LANGUAGES and texts.get(wanted):
            return texts[wanted]
    return ""


def typed_text(text: str, templates=None) -> str:
    """``text`` as the officer typed it, or "" if it is empty or a ready-made text unchanged.

    A browser sends a text box's lines ending in CR LF; the templates' end in
    LF. What this returns is work the officer would lose if it were replaced
    (officer/app/views.py, "Use" without a script).
    """
    text = text.replace("\r\n", "\n")
    if not text.strip():
        return ""
    every = (t for texts in (templates or DEFAULT_TEMPLATES).values()
             for key, t in texts.items() if key in LANGUAGES)
    return "" if any(text.strip() == t.replace("\r\n", "\n").strip() for t in every) else text
