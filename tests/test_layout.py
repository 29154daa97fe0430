"""The package layout is the trust map (docs/design.md, section 4): checked at run time.

The import-linter contracts in pyproject.toml check the imports as written
(`make test` runs `lint-imports`); these tests check what a process really
loads, which also catches an import hidden in a function or a plugin.
"""

import subprocess
import sys
from pathlib import Path

import tipdrop

PACKAGE = Path(tipdrop.__file__).parent


def _loaded_after(statement):
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    return set(result.stdout.split())


def test_the_package_top_holds_only_the_command_and_the_errors():
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "cli.py", "errors.py"]
    zones = {"crypto", "protocol", "common", "server", "officer", "reporter"}
    assert zones <= {path.name for path in PACKAGE.iterdir() if path.is_dir()}


def test_the_reporters_client_loads_no_web_server_or_database():
    loaded = _loaded_after("import tipdrop.reporter.cli, tipdrop.reporter.client")
    assert {"tipdrop.reporter.cli", "tipdrop.reporter.client"} <= loaded  # it did load
    server_side = {"flask", "flask_babel", "werkzeug", "gunicorn", "sqlite_utils", "sqlite3"}
    assert not loaded & server_side
    assert not {name for name in loaded if name.startswith(("tipdrop.server", "tipdrop.officer"))}


def test_the_workstation_loads_no_server_code():
    loaded = _loaded_after("import tipdrop.officer.cli")
    assert "tipdrop.officer.workspace" in loaded
    assert not {name for name in loaded
                if name.startswith(("tipdrop.server", "tipdrop.reporter", "gunicorn"))}


def test_each_zones_commands_load_only_their_own_zone():
    server = _loaded_after("import tipdrop.server.cli")
    assert "tipdrop.server.cli" in server
    assert not {name for name in server if name.startswith(("tipdrop.officer", "tipdrop.reporter"))}
    keys = _loaded_after("import tipdrop.officer.keys_cli")
    assert "tipdrop.officer.keyfiles" in keys
    assert not {name for name in keys if name.startswith(("tipdrop.server", "tipdrop.reporter"))}


def test_the_commands_of_every_zone_are_registered_by_main_alone():
    from tipdrop import cli

    assert set(cli.register_commands(cli.click.Group()).commands) == {
        "submit", "check", "followup", "officer",
        *(name for names in cli.ZONE_COMMAND_NAMES.values() for name in names)}
    assert set(cli.cli.commands) <= set(cli.register_commands().commands)


def test_the_protocol_loads_no_zone():
    loaded = _loaded_after("import tipdrop.protocol." + ", tipdrop.protocol.".join(
        sorted(path.stem for path in (PACKAGE / "protocol").glob("*.py")
               if path.stem != "__init__")))
    assert "tipdrop.protocol.receipts" in loaded
    assert not {name for name in loaded if name.startswith(
        ("tipdrop.server", "tipdrop.officer", "tipdrop.reporter", "tipdrop.cli", "flask"))}


#: What a reporter's computer lacks when tipdrop is installed without extras.
SERVER_LIBRARIES = ("flask", "flask_babel", "babel", "werkzeug", "gunicorn", "itsdangerous",
                    "sqlite_utils")

_WITHOUT = """
import sys

class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, Missing())
from tipdrop.cli import main
sys.exit(main({argv!r}))
"""


def _tipdrop_without(libraries, *argv):
    code = _WITHOUT.format(blocked=tuple(libraries), argv=list(argv))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)


def test_the_reporter_commands_work_with_the_base_install_only():
    for command in ("submit", "check", "followup"):
        result = _tipdrop_without(SERVER_LIBRARIES, command, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage:" in result.stdout


def test_a_command_of_a_zone_not_installed_names_the_extra_to_install(tmp_path):
    result = _tipdrop_without(SERVER_LIBRARIES, "serve", "--port", "8999")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: this command needs gunicorn: pip install 'tipdrop[server]'")
    result = _tipdrop_without(SERVER_LIBRARIES, "backup", "--prune", str(tmp_path))
    assert result.returncode == 2
    assert "pip install 'tipdrop[server]'" in result.stderr.strip()
    result = _tipdrop_without(SERVER_LIBRARIES, "officer", "list", "--workdir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: this command needs sqlite_utils: pip install 'tipdrop[officer]'")
    assert "Traceback" not in result.stderr
