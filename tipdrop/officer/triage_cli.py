"""``tipdrop officer duplicate``: link a tip to the one it duplicates, list or undo the link.

A thin command over triage.py; the officer app does the same from a tip's
page (docs/officer-guide.md).
"""

import click

from tipdrop.errors import UsageError
from tipdrop.officer import triage
from tipdrop.officer.cli import _workspace_options, officer


@officer.command("duplicate")
@click.argument("tip")
@click.option("--of", "of", metavar="OTHER", help="The tip this one duplicates.")
@click.option("--undo", is_flag=True, help="Remove TIP's link to the tip it duplicates.")
@_workspace_options
def duplicate(workspace, key, tip, of, undo):
    """Mark TIP as a duplicate of OTHER (linked both ways), undo it, or show TIP's links.

    The link is kept in the workspace, sealed like a note, and recorded in
    the audit log; it does not change the status (send "duplicate" with
    `officer reply` for the reporter to see it). Without --of or --undo,
    print the links.

    Example: tipdrop officer duplicate 3f9a --of 81c0 --workdir ~/cases --key demo.key
    """
    if of and undo:
        raise UsageError("give --of or --undo, not both")
    tip_id = workspace.resolve(tip)
    keyring = key.unlock()
    if of:
        other = workspace.resolve(of)
        triage.mark_duplicate(workspace, tip_id, other, keyring)
        click.echo(f"{tip_id[:12]} is now a duplicate of {other[:12]}")
        return
    if undo:
        other = triage.undo_duplicate(workspace, tip_id, keyring)
        click.echo(f"{tip_id[:12]} is no longer a duplicate of {other[:12]}")
        return
    found = triage.links(workspace, tip_id, keyring)
    if found["duplicate_of"]:
        click.echo(f"{tip_id[:12]} is a duplicate of {found['duplicate_of']}")
    for other in found["duplicates"]:
        click.echo(f"{other} is a duplicate of {tip_id[:12]}")
    if not found["duplicate_of"] and not found["duplicates"]:
        click.echo(f"{tip_id[:12]} has no duplicates and duplicates no tip")
