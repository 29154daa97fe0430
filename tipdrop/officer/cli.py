"""``tipdrop officer ...``: the workstation commands, a thin shell over Workspace.

Every command takes ``--workdir`` and ``--key`` (or TIPDROP_WORKDIR /
TIPDROP_KEY): one ``.key`` file, or a folder holding all of the unit's keys
after a rotation. Commands that decrypt, sign or write read the officer's
passphrase once (it opens the officer's slot in every key of the folder) from
``--passphrase-file``, else TIPDROP_PASSPHRASE, else a hidden prompt; each
unlock and what follows is recorded in the workspace's audit log (audit.py)
under the slot's name (``--officer``, or whichever slot the passphrase opens).

This module is the ``officer`` group and what its commands share; the
commands are in the modules named after what they do, registered at its
end: bundles_cli (files carried to and from the server), online_cli (the
same over the officer API), reading_cli (list, show), casework_cli (notes,
replies, forwards), app_cli, triage_cli, team_cli and backup_cli.
"""

from dataclasses import dataclass
from functools import wraps
from pathlib import Path

import click

from tipdrop.common.passphrase import read_passphrase
from tipdrop.errors import UsageError
from tipdrop.officer.keyfiles import OFFICER_ENV
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace


def officer_option(command):
    return click.option("--officer", envvar=OFFICER_ENV, metavar="NAME",
                        help="Your slot in the key file (or TIPDROP_OFFICER); without it "
                             "every slot is tried in turn, one Argon2id run each.")(command)


@dataclass(frozen=True)
class _UnitKey:
    """Where the unit's private keys are, and where their passphrase comes from."""

    path: Path
    passphrase_file: str | None
    officer: str | None
    workspace: Workspace

    def unlock(self, audited=True):
        """The keyring, unlocked now with the officer's passphrase; the unlock is audited."""
        keyring = Keyring.load(self.path, read_passphrase(self.passphrase_file), self.officer)
        if audited:
            self.workspace.unlocked(keyring)
        else:
            keyring.unlock_newest()
        return keyring


def _workspace_options(command):
    @click.option("--workdir", type=click.Path(file_okay=False), envvar="TIPDROP_WORKDIR",
                  help="The officer's workspace folder (or TIPDROP_WORKDIR).")
    @click.option("--key", "key_path", type=click.Path(), envvar="TIPDROP_KEY",
                  help="The unit's private key file UNIT.key, or a folder of the unit's "
                       ".key files after a key rotation (or TIPDROP_KEY).")
    @click.option("--passphrase-file", type=click.Path(dir_okay=False),
                  help="Read the key's passphrase from this file (first line) instead of "
                       "TIPDROP_PASSPHRASE or a prompt.")
    @officer_option
    @wraps(command)
    def wrapper(workdir, key_path, passphrase_file, officer, **kwargs):
        if not workdir:
            raise UsageError("no workspace: pass --workdir or set TIPDROP_WORKDIR")
        if not key_path:
            raise UsageError("no key: pass --key or set TIPDROP_KEY")
        workspace = Workspace(workdir)
        try:
            return command(workspace, _UnitKey(Path(key_path), passphrase_file, officer, workspace),
                           **kwargs)
        finally:
            workspace.close()

    return wrapper


@click.group()
def officer():
    """The workstation: open bundles, read and verify tips, reply.

    Run these on the unit's workstation, ideally offline. The private key
    never leaves it.
    """


def part_name(part):
    """A follow-up's or attachment's part name as the officer reads it: ``follow-up 2``."""
    return f"follow-up {part[1:]}" if part.startswith("f") else f"attachment {part}"


# The commands, registered on the group as they are defined (after it, hence the position).
from tipdrop.officer import (  # noqa: E402,F401
    app_cli,
    backup_cli,
    bundles_cli,
    casework_cli,
    online_cli,
    reading_cli,
    team_cli,
    triage_cli,
)
