"""Settings: every one declared is one the code reads."""

import ast
from pathlib import Path

import pytest

from tipdrop.server import settings

PACKAGE = Path(settings.__file__).resolve().parent


def _attributes_read():
    """Every ``x.name`` attribute the package reads, outside settings.py itself."""
    names = set()
    for source in PACKAGE.rglob("*.py"):
        if source.name == "settings.py" and source.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                names.add(node.attr)
    return names


READ = _attributes_read()


@pytest.mark.parametrize("setting", settings.SETTINGS, ids=lambda s: s.name)
def test_every_declared_setting_is_read_somewhere(setting):
    assert setting.name in READ, f"{setting.env} is declared but never read"


def test_workstation_options_are_not_server_settings():
    # TIPDROP_KEY and TIPDROP_WORKDIR are options of the officer commands.
    assert {"TIPDROP_KEY", "TIPDROP_WORKDIR"}.isdisjoint(s.env for s in settings.SETTINGS)
