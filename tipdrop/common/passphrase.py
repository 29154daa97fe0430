"""Reading a passphrase for a command: from a file, the environment, or a hidden prompt.

The unit key's passphrase (officer commands, ``tipdrop keygen``) and the
backup key's (``tipdrop backup-keygen``, ``restore``) are read the same way,
so scripts can give either with ``--passphrase-file`` or TIPDROP_PASSPHRASE
and a person at a terminal is asked without echo.
"""

import os
import sys

import click

from tipdrop.errors import UsageError

#: The environment variable a script may give the passphrase in.
PASSPHRASE_ENV = "TIPDROP_PASSPHRASE"  # noqa: S105 (a variable name)


def read_passphrase(passphrase_file: str | None = None, confirm: bool = False) -> str:
    """Passphrase from a file, then TIPDROP_PASSPHRASE, then a hidden prompt.

    A file's trailing line break is not part of the passphrase (editors add one).
    """
    if passphrase_file:
        try:
            with open(passphrase_file, encoding="utf-8") as f:
                text = f.read().rstrip("\r\n")
        except OSError as e:
            raise UsageError(f"cannot read passphrase file: {e.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError("the passphrase file is not UTF-8 text") from None
        return text
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise UsageError(
            f"no passphrase: set {PASSPHRASE_ENV}, use --passphrase-file, "
            "or run in a terminal"
        )
    typed: str = click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)
    return typed
