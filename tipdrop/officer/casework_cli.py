"""``tipdrop officer note``, ``reply`` and ``forward``: the officer's work on one tip.

A note stays in the workspace; a reply and a forward are queued in its
outbox, sealed, for ``officer outbox`` or ``officer push`` to carry to the
server (docs/officer-guide.md).
"""

import sys

import click

from tipdrop.errors import UsageError
from tipdrop.officer.cli import _workspace_options, officer
from tipdrop.protocol.fields import REPLY_STATUSES


@officer.command("note")
@click.argument("tip")
@click.argument("text")
@_workspace_options
def note(workspace, key, tip, text):
    """Record a verification note; notes stay on the workstation, encrypted.

    It needs the passphrase: the audit log names who wrote it.

    Example: tipdrop officer note 3f9a "Called the shop: CCTV confirms 22:10" --workdir ~/cases --key demo.key
    """
    tip_id = workspace.resolve(tip)
    n = workspace.add_note(tip_id, text, key.unlock())
    click.echo(f"note {n} added to {tip_id[:12]}")


@officer.command("reply")
@click.argument("tip")
@click.option("--message", help="Text the reporter reads with their receipt code.")
@click.option("--status", type=click.Choice(REPLY_STATUSES), help="New status of the tip.")
@_workspace_options
def reply(workspace, key, tip, message, status):
    """Queue a signed reply and/or status change for the reporter.

    Use --status need-info when asking the reporter a question. Replies
    leave the workstation with `tipdrop officer outbox`.

    Example: tipdrop officer reply 3f9a --status need-info --message "Which entrance?" --workdir ~/cases --key demo.key
    """
    tip_id = workspace.resolve(tip)
    seq = workspace.reply(tip_id, key.unlock(), message=message, status=status)
    click.echo(f"reply {seq} for {tip_id[:12]} queued in the outbox")


@officer.command("forward")
@click.argument("tip")
@click.option("--to", "to_unit", help="The unit to forward the tip to.")
@click.option("--unit-key", type=click.Path(exists=True, dir_okay=False),
              help="That unit's public key file (.pub).")
@click.option("--cancel", is_flag=True, help="Withdraw this tip's forward (one the server "
                                             "refused); the tip gets its status back.")
@click.option("--fingerprint", help="That key's fingerprint, as its unit read it to you "
                                    "(`tipdrop keys show`); without it you are asked to confirm.")
@_workspace_options
def forward(workspace, key, tip, to_unit, unit_key, fingerprint, cancel):
    """Forward a tip (report, follow-ups, files) to another unit, sealed to its key.

    Use it when a tip belongs to another unit's area. The tip is opened
    here and sealed again to the other unit's public key, whose
    fingerprint you check against the one that unit gave you by another
    channel. The signed forward leaves with the next `tipdrop officer
    outbox` or `push`; the server then hands the tip to that unit, and the
    reporter's receipt goes on working with it. Here the tip becomes
    `transferred` and takes no more replies.

    Example: tipdrop officer forward 3f9a --to astana --unit-key astana.pub --fingerprint "1A2B ..." --workdir ~/cases --key demo.key
    """
    from tipdrop.crypto.keys import format_fingerprint
    from tipdrop.officer import forwarding

    tip_id = workspace.resolve(tip)
    if cancel:
        if to_unit or unit_key or fingerprint:
            raise UsageError("--cancel takes only the TIP")
        to_unit = forwarding.cancel(workspace, key.unlock(), tip_id)
        click.echo(f"the forward of {tip_id[:12]} to unit {to_unit} is withdrawn")
        return
    if not to_unit or not unit_key:
        raise UsageError("give --to UNIT and --unit-key FILE (or --cancel)")
    target = forwarding.target_key(unit_key, to_unit=to_unit, fingerprint=fingerprint)
    if fingerprint is None:
        click.echo(f"unit {target.unit}, key {target.key_id.hex()}")
        click.echo(f"fingerprint: {format_fingerprint(target.fingerprint)}")
        if not sys.stdin.isatty() or not click.confirm(
                "Is this the fingerprint the unit gave you?", default=False):
            raise UsageError("fingerprint not confirmed: nothing was forwarded "
                             "(or give it with --fingerprint)")
    counts = forwarding.forward(workspace, key.unlock(), tip_id, target)
    click.echo(f"tip {tip_id[:12]} sealed to unit {target.unit} with {counts['followups']} "
               f"follow-ups and {counts['attachments']} attachments; it leaves with the next "
               "outbox or push")
