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


def test_the_read_ahead_budget_is_a_setting_in_mebibytes_with_the_old_constant_as_default():
    from tipdrop.server import readahead

    assert settings.Settings().read_ahead_bytes == readahead.BUDGET == 32 * 1024 * 1024
    assert settings.from_env({}).read_ahead_mb == 32
    chosen = settings.from_env({"TIPDROP_READ_AHEAD_MB": "8"})
    assert chosen.read_ahead_mb == 8 and chosen.read_ahead_bytes == 8 * 1024 * 1024
    assert chosen.as_env()["TIPDROP_READ_AHEAD_MB"] == "8"


@pytest.mark.parametrize("value, says", [
    ("0", " is out of range: 0 (at least 1)"),
    ("-4", " is out of range: -4 (at least 1)"),
    ("lots", ": 'lots' is not a whole number"),
    ("1.5", ": '1.5' is not a whole number"),
    ("32MB", ": '32MB' is not a whole number"),
])
def test_a_bad_read_ahead_budget_is_refused_naming_the_variable(value, says):
    from tipdrop.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        settings.from_env({"TIPDROP_READ_AHEAD_MB": value})
    assert refused.value.message == (
        f"The configuration is not valid: setting read_ahead_mb (TIPDROP_READ_AHEAD_MB){says}")
