"""``tipdrop officer open``, ``reopen``, ``ack`` and ``outbox``: bundle files carried by hand.

An export bundle comes from the server on a stick and is opened here; an
acknowledgement and an outbox of replies go back the same way
(docs/officer-guide.md). online_cli.py does the same over the officer API.
"""

import os
import sys

import click

from tipdrop.errors import InputError, UsageError
from tipdrop.officer.cli import _workspace_options, officer, part_name
from tipdrop.protocol import bundles


@officer.command("open")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False))
@_workspace_options
def open_bundle(workspace, key, bundle):
    """Import an export bundle: every item is decrypted once to prove it authentic.

    Nothing is imported unless the whole bundle is intact, except what a
    reporter's device sealed and does not open: that is imported marked
    DAMAGED, so that it cannot hold up the rest.

    Example: tipdrop officer open export-2026-11-28.tdx --workdir ~/cases --key demo.key
    """
    keyring = key.unlock()
    size = os.path.getsize(bundle)
    stderr = sys.stderr
    with click.progressbar(length=size, label="opening", file=stderr,
                           hidden=not stderr.isatty()) as bar:
        counts = workspace.open_bundle(bundle, keyring, progress=bar.update)
    if counts["already_opened"]:
        click.echo("this bundle was already opened; nothing new")
    else:
        click.echo(f"opened: {counts['tips']} new tips, {counts['followups']} follow-ups, "
                   f"{counts['attachments']} attachments")
        say_import(counts)


def say_import(counts):
    """What `officer open` and `officer pull` say of an import beyond its counts."""
    if counts.get("differs"):
        click.echo(f"WARNING: {counts['differs']} tips already held here came with another "
                   f"sealed report (tips {', '.join(t[:12] for t in counts['differs_tips'])}): "
                   "the server changed them, or a bug did; the held copies were kept, the "
                   "copies received were kept beside them, sealed as they came, the rest of "
                   "the bundle was opened (docs/officer-guide.md)")
    if counts.get("differs_items"):
        items = counts["differs_items"]
        click.echo(f"WARNING: {len(items)} follow-ups or attachments already held here came "
                   f"changed ({', '.join(f'tip {t[:12]} {part_name(p)}' for t, p in items)}): "
                   "the server changed them, or a bug did; the held copies were kept, the "
                   "copies received were kept beside them, sealed as they came, the rest of "
                   "the bundle was opened (docs/officer-guide.md)")
    if counts.get("relabelled"):
        items = counts["relabelled"]
        click.echo(f"WARNING: {len(items)} reports or follow-ups were labelled in the export as "
                   "sealed elsewhere than their sealed documents say "
                   f"({', '.join(f'tip {t[:12]} {p}' for t, p in items)}): the sealed label "
                   "was taken; the server, or whoever carried the export, changed it")
    if counts.get("rekeyed"):
        click.echo(f"WARNING: {len(counts['rekeyed'])} tips came with a reply key other than "
                   f"the one their sealed report binds (tips "
                   f"{', '.join(t[:12] for t in counts['rekeyed'])}): replies will be sealed "
                   "only to the report's key; the server, or whoever carried the export, "
                   "changed it")
    if counts.get("returned"):
        click.echo(f"{counts['returned']} tips forwarded from here came back (tips "
                   f"{', '.join(f'{t[:12]} sent to {u}' for t, u in counts['returned_to'].items())}"
                   "): they are this unit's again; replies may be queued for them")
    if counts.get("replaced"):
        click.echo(f"replaced {counts['replaced']} damaged items with intact copies "
                   f"(tips {', '.join(t[:12] for t in counts['replaced_tips'])})")
    if counts.get("not_bound"):
        click.echo(f"WARNING: {counts['not_bound']} attachments are not the ones their sealed "
                   "reports list (added, replaced or dropped after the reporter sealed them); "
                   "the ones present were imported marked DAMAGED (see `officer show`)")
    if counts.get("not_signed"):
        click.echo(f"WARNING: {counts['not_signed']} follow-ups are not signed by the holder "
                   "of their report's receipt: anyone could have written them (see "
                   "`officer show`)")
    if counts.get("damaged"):
        click.echo(f"{counts['damaged']} items sealed on reporters' devices could not be read "
                   "and were imported marked DAMAGED (see `officer list`)")
    if counts.get("unavailable"):
        click.echo(f"skipped {counts['unavailable']} tips whose reports are no longer on the "
                   "server: the unit acknowledged holding them in another workspace")


@officer.command("reopen")
@click.argument("tip")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False))
@_workspace_options
def reopen(workspace, key, tip, bundle):
    """Replace the damaged copy of a tip with the intact one a bundle holds.

    BUNDLE is an export, e.g. from `tipdrop export --since-start`, opened
    before or not; it is checked exactly like `officer open`, and everything
    new in it is imported too. Each of the tip's damaged items (report,
    follow-up, file) that the bundle holds intact, and that passes every
    check, replaces the damaged copy; the tip keeps its status, notes and
    replies. `officer open` and `officer pull` do this by themselves.

    Example: tipdrop officer reopen 3f9a export-all.tdx --workdir ~/cases --key demo.key
    """
    tip_id = workspace.resolve(tip)
    if not workspace.is_damaged(tip_id):
        raise InputError(f"tip {tip_id[:12]} holds nothing damaged; nothing to replace")
    counts = workspace.open_bundle(bundle, key.unlock(), again=True)
    say_import(counts)
    if workspace.is_damaged(tip_id):
        raise InputError(f"tip {tip_id[:12]} is still damaged: {bundle} holds no intact copy "
                         "of its damaged items (anything else new in it was opened)")
    click.echo(f"tip {tip_id[:12]} is intact now")


@officer.command("ack")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="File to write the signed acknowledgement to (must not exist).")
@click.option("--all", "everything", is_flag=True,
              help="Acknowledge every export opened here again, not only the new ones "
                   "(e.g. if an acknowledgement file was lost).")
@_workspace_options
def ack(workspace, key, out, everything):
    """Sign what this workspace holds of the exports it opened, for the server.

    Carry the file to the server and run `tipdrop import-ack FILE` there;
    the server's next `tipdrop purge` then deletes its copy of those
    reports, follow-ups and files (statuses and replies stay, so reporters
    can still check). `tipdrop officer pull --ack` sends it online. Back the
    workspace up first: once acknowledged, it holds the only copy.

    Example: tipdrop officer ack --out ack.json --workdir ~/cases --key demo.key
    """
    numbers = workspace.write_ack(key.unlock(), out, everything=everything)
    click.echo(f"acknowledged export(s) {', '.join(map(str, sorted(numbers)))} in {out}")


@officer.command("outbox")
@click.argument("tips", nargs=-1)
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="File to write the signed reply bundle to.")
@click.option("--resend", is_flag=True,
              help="Write replies already sent again (a lost or damaged outbox file): all "
                   "of them, those sent since --since, or those of the TIPs given.")
@click.option("--since", help="With --resend: only replies sent on or after this day "
                              "(YYYY-MM-DD).")
@_workspace_options
def outbox(workspace, key, out, tips, resend, since):
    """Write all queued replies into one bundle signed by the unit.

    Carry the file to the server and run `tipdrop import-replies FILE` there
    (or send them online with `tipdrop officer push`). If that file is lost,
    `--resend` writes the replies already sent once more: the server skips
    those it holds byte for byte and imports the rest.

    Example: tipdrop officer outbox --out replies.json --workdir ~/cases --key demo.key
    """
    if not resend:
        if tips or since:
            raise UsageError("TIP and --since go with --resend")
        count = workspace.outbox(key.unlock(), out)
        click.echo(f"{count} replies and forwards written to {out}" if workspace.forwarded_in_last
                   else f"{count} replies written to {out}")
        return
    if since is not None and not bundles.DAY.match(since):
        raise UsageError("--since must be a day, YYYY-MM-DD")
    if since is not None and tips:
        raise UsageError("give --since or TIPs, not both")
    tip_ids = tuple(sorted({workspace.resolve(tip) for tip in tips}))
    count = workspace.outbox(key.unlock(), out, resend={"since": since, "tip_ids": tip_ids})
    click.echo(f"{count} replies already sent written again to {out}")


#: ``--server`` of pull, push and the app: one setting, so the app pulls from where the CLI does.
