"""``tipdrop officer backup``: a whole, consistent copy of the workspace (backing.py says why)."""

from pathlib import Path

import click

from tipdrop.errors import UsageError
from tipdrop.officer.backing import DATABASE, back_up
from tipdrop.officer.cli import officer
from tipdrop.officer.workspace import Workspace


@officer.command("backup")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="A new or empty folder for the copy, on an encrypted disk.")
@click.option("--workdir", type=click.Path(file_okay=False), envvar="TIPDROP_WORKDIR",
              help="The officer's workspace folder (or TIPDROP_WORKDIR).")
def backup(out, workdir):
    """Copy the workspace into a new folder, whole and consistent, even while the app runs.

    The copy holds what the workspace held at one moment: its database, the
    attachment files its rows name, the audit log with its head, and the
    unit's reply templates. It is ciphertext like the workspace and needs no
    key; to use it, pass its folder as --workdir. Make one before sending an
    acknowledgement: the workspace then holds the only copy of those reports.

    Example: tipdrop officer backup --out /media/backup/cases-2026-11-28 --workdir ~/cases
    """
    if not workdir:
        raise UsageError("no workspace: pass --workdir or set TIPDROP_WORKDIR")
    if not (Path(workdir) / DATABASE).is_file():
        raise UsageError(f"{workdir} is not a workspace (it has no {DATABASE})")
    workspace = Workspace(workdir)
    try:
        done = back_up(workspace, out)
    finally:
        workspace.close()
    click.echo(f"backed up {done['tips']} tip(s) and {done['attachments']} attachment file(s) "
               f"({done['bytes']} bytes) to {out}")
