"""Regions, categories, and which unit receives the tips of each region.

Regions and categories (with their names in Kazakh, Russian and English) ship
with the package in ``tipdrop/data``; the operator's ``routing.json`` in the
keys folder says which unit serves each region. Only region, category and a
coarse date are ever stored in the clear: they are needed to route a tip and
for the public aggregate figures.
"""

import json
import re
from dataclasses import dataclass
from importlib import resources

from .errors import ConfigError, InputError, UnknownUnitError

LANGUAGES = ("kk", "ru", "en")


class UnknownRegionError(InputError):
    """Please choose a region from the list."""

    detail_is_message = False


class UnknownCategoryError(InputError):
    """Please choose a category from the list."""

    detail_is_message = False


#: What a region or category code looks like. Codes travel inside reports
#: sealed on reporters' devices too, where the workstation checks them.
CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def _load_names(filename, path=None):
    """Names per language from the package data, or from ``path`` if given."""
    if path is not None:
        try:
            doc = json.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise ConfigError(f"{path}: {e}") from None
    else:
        doc = json.loads(resources.files("tipdrop.data").joinpath(filename).read_text("utf-8"))
    items = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(items, dict) or not items:
        raise ConfigError(f"{path or filename}: expected {{\"items\": {{code: names}}}}")
    for code, names in items.items():
        if not CODE.fullmatch(code):
            raise ConfigError(f"{path or filename}: {code!r} is not a code (a-z, 0-9 and -)")
        if not isinstance(names, dict):
            raise ConfigError(f"{path or filename}: {code} needs names per language")
        missing = [lang for lang in LANGUAGES if not names.get(lang)]
        if missing:
            raise ConfigError(f"{filename}: {code} has no name in {', '.join(missing)}")
    return items


@dataclass(frozen=True)
class Choice:
    code: str
    names: dict

    def name(self, lang):
        return self.names.get(lang) or self.names["en"]


class Routing:
    """Region → unit, plus the lists of regions and categories to offer."""

    def __init__(self, region_units, regions=None, categories=None):
        self.regions = [Choice(c, n) for c, n in (regions or _load_names("regions.json")).items()]
        self.categories = [
            Choice(c, n) for c, n in (categories or _load_names("categories.json")).items()
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
    def load(cls, path, categories_path=None):
        """Load routing.json; ``categories_path``, if it exists, replaces the categories."""
        categories = None
        if categories_path is not None and categories_path.exists():
            categories = _load_names("categories.json", categories_path)
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
    def units(self):
        return sorted(set(self._units.values()))

    def unit_for(self, region):
        try:
            return self._units[region]
        except (KeyError, TypeError):
            raise UnknownRegionError() from None

    def check_category(self, category):
        if category not in {c.code for c in self.categories}:
            raise UnknownCategoryError()
        return category

    def check_units_have_keys(self, unit_keys):
        """Every routed unit needs a public key, or its tips could not be sealed."""
        for unit in self.units:
            try:
                unit_keys.current(unit)
            except UnknownUnitError:
                raise ConfigError(f"routing.json sends tips to unit {unit!r}, which has no .pub in the keys folder") from None
