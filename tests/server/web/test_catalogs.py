"""Compiled catalogs: built by `make translations`, never written by the app as it starts."""

import os
import shutil

import pytest

from tipdrop.errors import ConfigError
from tipdrop.server.web import catalog, create_app


@pytest.fixture
def translations(tmp_path, monkeypatch):
    """A copy of the package's catalogs, used in place of the real ones."""
    copy = tmp_path / "translations"
    shutil.copytree(catalog.TRANSLATIONS, copy)
    monkeypatch.setattr(catalog, "TRANSLATIONS", copy)
    return copy


def _mo(translations, lang):
    return translations / lang / "LC_MESSAGES" / "messages.mo"


def test_the_app_starts_with_compiled_catalogs(translations, app_config):
    assert catalog.stale() == []
    assert create_app(app_config)


def test_a_missing_compiled_catalog_stops_the_app_and_nothing_is_written(translations, app_config):
    _mo(translations, "kk").unlink()
    with pytest.raises(ConfigError, match=r"kk translations .*make translations"):
        create_app(app_config)
    assert not _mo(translations, "kk").exists()


def test_a_catalog_older_than_its_po_stops_the_app_and_is_left_alone(translations, app_config):
    mo = _mo(translations, "ru")
    po = mo.with_suffix(".po")
    os.utime(mo, (po.stat().st_mtime - 60,) * 2)
    before = mo.read_bytes(), mo.stat().st_mtime
    with pytest.raises(ConfigError, match=r"ru translations"):
        create_app(app_config)
    assert (mo.read_bytes(), mo.stat().st_mtime) == before


def test_compiling_is_what_makes_them_current(translations, app_config):
    _mo(translations, "kk").unlink()
    catalog.compile_all()
    assert catalog.stale() == []
    assert create_app(app_config)
