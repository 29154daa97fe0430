"""The `tipdrop` command's modules: no import cycle, zones registered by main()."""

import subprocess
import sys


def _loaded_after(statement):
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    return set(result.stdout.split())


def test_importing_the_top_level_command_loads_no_zone_commands():
    loaded = _loaded_after("import tipdrop.cli")
    assert not {name for name in loaded
                if name.startswith(("tipdrop.officer", "tipdrop.reporter"))}


def test_the_officer_commands_do_not_import_the_top_level_command():
    assert "tipdrop.cli" not in _loaded_after("import tipdrop.officer.cli")


def test_main_registers_the_officer_group_and_the_reporter_commands():
    from tipdrop import cli

    registered = cli.register_commands(cli.click.Group())
    assert {"officer", "submit", "check", "followup"} <= set(registered.commands)
