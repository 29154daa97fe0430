"""The ``tipdrop`` command: a thin click shell over the library.

Commands parse options, call one library function, and print. Every
tipdrop error reaching :func:`main` becomes one line ``error: <message>`` and
exit code 2; nothing prints a traceback.
"""

import sys

import click

from tipdrop.common import coredumps, terminal
from tipdrop.errors import EXIT_CODE, TipdropError, UsageError

EXIT_ERROR = EXIT_CODE
EXIT_INTERNAL = 1

#: Libraries only some zones need (setup.cfg's extras): a command that needs
#: one on a machine installed without it says which extra to install.
EXTRA_OF_LIBRARY = {
    "flask": "server", "flask_babel": "server", "babel": "server", "werkzeug": "server",
    "gunicorn": "server", "itsdangerous": "server", "sqlite_utils": "officer",
}
#: The names of each zone's top-level commands, for stand-ins when its libraries are missing.
ZONE_COMMAND_NAMES = {
    "tipdrop.server.cli": ("serve", "export", "import-replies", "import-ack", "purge",
                           "backup-keygen", "backup", "restore", "doctor", "nginx-pages"),
    "tipdrop.officer.keys_cli": ("keygen", "keys"),
    "tipdrop.officer.cli": ("officer",),
}
#: The extra that installs each zone's libraries.
EXTRA_OF_ZONE = {"tipdrop.server.cli": "server", "tipdrop.officer.keys_cli": "officer",
                 "tipdrop.officer.cli": "officer"}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tipdrop")
def cli():
    """tipdrop: an anonymous tip drop for police.

    Reports are encrypted on arrival to the police unit's public key; officers
    decrypt them offline on a workstation. See README.md and docs/.
    """


def register_commands(group=cli):
    """Add each zone's commands to ``group``; return it.

    Called by :func:`main` (and by tests that inspect the whole command
    tree), not at import: importing this module loads no zone's code. On a
    computer installed without a zone's libraries (setup.cfg's extras: a
    reporter's laptop has neither the server's nor the workstation's), that
    zone's commands say what to install instead of failing.
    """
    from tipdrop.reporter.cli import REPORTER_COMMANDS

    for command in REPORTER_COMMANDS:
        group.add_command(command)
    for extra, module, name in (("server", "tipdrop.server.cli", "SERVER_COMMANDS"),
                                ("officer", "tipdrop.officer.keys_cli", "KEY_COMMANDS"),
                                ("officer", "tipdrop.officer.cli", "officer")):
        for command in _zone_commands(extra, module, name):
            group.add_command(command)
    return group


def _zone_commands(extra, module, name):
    """The commands ``module.name`` (one or a tuple), or stand-ins naming ``extra``.

    A module that cannot be imported cannot name its commands either: the
    stand-ins take their names from :data:`ZONE_COMMAND_NAMES`.
    """
    import importlib

    try:
        found = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in EXTRA_OF_LIBRARY:
            raise
        return tuple(_needs_extra(command, e.name, extra)
                     for command in ZONE_COMMAND_NAMES[module])
    return found if isinstance(found, tuple) else (found,)


def _needs_extra(name, library, extra):
    """A stand-in command for a zone whose libraries are not installed."""

    @click.command(name, add_help_option=False,
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def missing():
        raise UsageError(f"this command needs {library}: pip install 'tipdrop[{extra}]'")

    missing.help = f"Not installed here: pip install 'tipdrop[{extra}]'."

    return missing


def _extra_for(argv, library):
    """The extra to install for ``library``: the running command's zone's, if it has one.

    sqlite_utils, say, is in both the server's and the workstation's extra:
    ``tipdrop backup`` on a computer without it needs the server's.
    """
    if library.split(".")[0] not in EXTRA_OF_LIBRARY:
        return None
    args = sys.argv[1:] if argv is None else argv
    command = next((arg for arg in args if not arg.startswith("-")), None)
    for module, names in ZONE_COMMAND_NAMES.items():
        if command in names:
            return EXTRA_OF_ZONE[module]
    return EXTRA_OF_LIBRARY[library.split(".")[0]]


def main(argv=None):
    """Entry point: run the CLI and turn every error into one line and an exit code."""
    coredumps.forbid()  # plaintext and unlocked keys in memory never reach a core file
    register_commands()
    try:
        # Not standalone: click returns the code of an explicit exit (doctor's 2).
        code = cli.main(args=argv, prog_name="tipdrop", standalone_mode=False)
    except TipdropError as e:
        # Details can quote a server's answer or a file: never raw control codes.
        click.echo(f"error: {terminal.inline(e.message)}", err=True)
        return EXIT_ERROR
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return EXIT_ERROR
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        return EXIT_ERROR
    except click.exceptions.Exit as e:
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    except ModuleNotFoundError as e:
        extra = _extra_for(argv, e.name or "")
        if extra is None:
            click.echo(f"error: internal error ({type(e).__name__}); please report it", err=True)
            return EXIT_INTERNAL
        click.echo(f"error: this command needs {e.name}: pip install 'tipdrop[{extra}]'",
                   err=True)
        return EXIT_ERROR
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        click.echo(f"error: {e.strerror or e}{where}", err=True)
        return EXIT_ERROR
    except Exception as e:  # a bug: still no traceback, which could carry secrets
        click.echo(f"error: internal error ({type(e).__name__}); please report it", err=True)
        return EXIT_INTERNAL
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
