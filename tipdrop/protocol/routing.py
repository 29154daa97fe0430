"""Regions, categories, and which unit receives the tips of each region.

Regions and categories (with their names in Kazakh, Russian and English) ship
with the package in ``tipdrop/data``; the operator's ``routing.json`` in the
keys folder says which unit serves each region. Only region, category and a
coarse date are ever stored in the clear: they are needed to route a tip and
for the public aggregate figures.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeAlias, cast

from tipdrop.common import collation
from tipdrop.errors import ConfigError, InputError, UnknownUnitError
from tipdrop.protocol.fields import CODE
from tipdrop.protocol.questions import Question, parse_questions

LANGUAGES = ("kk", "ru", "en")
#: The categories urgent unless a unit says otherwise: the officer app lists
#: them first, and a duty alert counts them apart (when the categories file
#: defines them).
URGENT_BY_DEFAULT = ("child-in-danger", "domestic-violence")

#: One item of regions.json or categories.json: a name per language (checked
#: to be text) and, for a category, its "questions" (checked by parse_questions).
ItemNames: TypeAlias = dict[str, Any]


class _UnitKeys(Protocol):
    """What check_units_have_keys asks of the server's unit keys (tipdrop.server.unitkeys)."""

    def current(self, unit: str) -> object: ...


class UnknownRegionError(InputError):
    """Please choose a region from the list."""

    detail_is_message = False


class UnknownCategoryError(InputError):
    """Please choose a category from the list."""

    detail_is_message = False


def _load_names(filename: str, path: Path | None = None,
                questions: bool = False) -> dict[str, ItemNames]:
    """Names per language from the package data, or from ``path`` if given.

    With ``questions`` (the categories file), an item may also carry its
    questions (tipdrop/protocol/questions.py); they are checked here, at start.
    """
    if path is not None:
        try:
            doc = json.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise ConfigError(f"{path}: {e}") from None
    else:
        doc = json.loads(resources.files("tipdrop.data").joinpath(filename).read_text("utf-8"))
    items: object = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(items, dict) or not items:
        raise ConfigError(f"{path or filename}: expected {{\"items\": {{code: names}}}}")
    for code, names in items.items():
        if not isinstance(code, str) or not CODE.fullmatch(code):
            raise ConfigError(f"{path or filename}: {code!r} is not a code (a-z, 0-9 and -)")
        if not isinstance(names, dict):
            raise ConfigError(f"{path or filename}: {code} needs names per language")
        missing = [lang for lang in LANGUAGES if not isinstance(names.get(lang), str)
                   or not names[lang].strip()]
        if missing:
            raise ConfigError(f"{path or filename}: {code} has no name in {', '.join(missing)}")
        known = set(LANGUAGES) | ({"questions"} if questions else set())
        unknown = sorted(set(names) - known)
        if unknown:
            raise ConfigError(
                f"{path or filename}: {code} has unknown members {', '.join(unknown)}")
        if questions:
            parse_questions(names.get("questions"), f"{path or filename}: {code}")
    return cast(dict[str, ItemNames], items)  # every key and value checked above


@dataclass(frozen=True)
class Choice:
    code: str
    names: ItemNames

    def name(self, lang: str) -> str:
        # _load_names checked that every language's name is text.
        return cast(str, self.names.get(lang) or self.names["en"])

    @cached_property
    def questions(self) -> tuple[Question, ...]:
        """The category's questions (tipdrop/protocol/questions.py); none for a region."""
        return parse_questions(self.names.get("questions"), self.code)


def in_order(choices: Iterable[Choice], lang: str) -> list[Choice]:
    """``choices`` sorted by their names in ``lang``'s own alphabetical order (collation.py)."""
    return sorted(choices, key=lambda c: collation.sort_key(c.name(lang), lang))


class Routing:
    """Region → unit, plus the lists of regions and categories to offer."""

    def __init__(self, region_units: Mapping[str, str],
                 regions: Mapping[str, ItemNames] | None = None,
                 categories: Mapping[str, ItemNames] | None = None) -> None:
        self.regions = [Choice(c, n) for c, n in (regions or _load_names("regions.json")).items()]
        self.categories = [
            Choice(c, n) for c, n in
            (categories or _load_names("categories.json", questions=True)).items()
        ]
        known = {r.code for r in self.regions}
        unknown = sorted(set(region_units) - known)
        if unknown:
            raise ConfigError(f"routing.json names unknown regions: {', '.join(unknown)}")
        self._units = dict(region_units)
        #: Every known region, served or not: names for the public figures.
        self.all_regions = list(self.regions)
        # Only regions some unit serves are offered to reporters.
        self.regions = [r for r in self.regions if r.code in self._units]

    @classmethod
    def load(cls, path: Path, categories_path: Path | None = None) -> "Routing":
        """Load routing.json; ``categories_path``, if it exists, replaces the categories."""
        categories = None
        if categories_path is not None and categories_path.exists():
            categories = _load_names("categories.json", categories_path, questions=True)
        try:
            doc = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path} is missing") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"{path} is not valid JSON: {e}") from None
        if not isinstance(doc, dict) or doc.get("version") != 1 or not isinstance(doc.get("regions"), dict):
            raise ConfigError(f"{path}: expected {{\"version\": 1, \"regions\": {{...}}}}")
        return cls(doc["regions"], categories=categories)

    @property
    def units(self) -> list[str]:
        return sorted(set(self._units.values()))

    def unit_for(self, region: str) -> str:
        try:
            return self._units[region]
        except (KeyError, TypeError):
            raise UnknownRegionError() from None

    def check_category(self, category: str) -> str:
        if category not in {c.code for c in self.categories}:
            raise UnknownCategoryError()
        return category

    def questions_of(self, category: str) -> tuple[Question, ...]:
        """The questions a category asks (none for an unknown one: check_category refuses it)."""
        return next((c.questions for c in self.categories if c.code == category), ())

    def categories_document(self) -> dict[str, object]:
        """The categories and their questions, in the categories file's format.

        What /api/v1/categories answers.
        """
        return {"version": 1, "items": {
            c.code: {lang: c.names[lang] for lang in LANGUAGES}
            | {"questions": [q.as_document() for q in c.questions]}
            for c in self.categories}}

    def check_units_have_keys(self, unit_keys: _UnitKeys) -> None:
        """Every routed unit needs a public key, or its tips could not be sealed."""
        for unit in self.units:
            try:
                unit_keys.current(unit)
            except UnknownUnitError:
                raise ConfigError(f"routing.json sends tips to unit {unit!r}, which has no .pub in the keys folder") from None
