"""``tipdrop officer pull`` and ``push``: the exchange with the server over the officer API.

The online variants of carrying bundle files by hand (bundles_cli.py):
every request is signed with the unit key (docs/protocol.md section 12).
"""

import click

from tipdrop.errors import TipdropError
from tipdrop.officer.bundles_cli import say_import
from tipdrop.officer.cli import _workspace_options, officer

SERVER_ENV = "TIPDROP_SERVER"
_SERVER_HELP = ("The server's address: https://..., or http:// to this computer only "
                f"(127.0.0.1, localhost, ::1) (or {SERVER_ENV}).")


@officer.command("pull")
@click.option("--server", required=True, envvar=SERVER_ENV, help=_SERVER_HELP)
@click.option("--since-start", is_flag=True,
              help="Ask for everything again, not only what is new (e.g. after a lost download).")
@click.option("--max-mb", type=click.IntRange(min=1), envvar="TIPDROP_PULL_MAX_MB",
              default=None, show_default=False,
              help="Refuse an export larger than this many MB (default 4096, or "
                   "TIPDROP_PULL_MAX_MB): a hostile server cannot fill the disk.")
@click.option("--ack", "send_ack", is_flag=True,
              help="First acknowledge the exports opened before this pull (back up the "
                   "workspace first): the server may then delete its copy of them.")
@_workspace_options
def pull(workspace, key, server, since_start, max_mb, send_ack):
    """Fetch the unit's new ciphertext over the officer API and open it.

    The online variant of `tipdrop export` + `tipdrop officer open`: the
    request is signed with the unit key, the bundle is checked and imported
    whole, exactly like a bundle file. The server counts what it sent as
    exported; if a download is lost, pull again with --since-start.

    With --ack it first sends the server the signed acknowledgement of what
    the workspace holds from earlier pulls (like `tipdrop officer ack` +
    `tipdrop import-ack`), so the server's next purge deletes its copy.
    What this pull brings is acknowledged at a later one, after a backup.

    Example: tipdrop officer pull --ack --server https://tips.example.kz --workdir ~/cases --key demo.key
    """
    from tipdrop.officer import client

    url = client.check_server_url(server)
    keyring = key.unlock()
    if send_ack:
        _acknowledge(workspace, client.OfficerClient(url, keyring.signing_key), keyring)
    max_download = (max_mb or client.DEFAULT_MAX_DOWNLOAD_MB) * 1024 * 1024
    counts = client.pull(workspace, client.OfficerClient(url, keyring.signing_key,
                                                         max_download=max_download),
                         keyring, since_start=since_start)
    if counts["already_opened"] or not any(counts[k] for k in ("tips", "followups", "attachments")):
        click.echo("nothing new on the server")
    else:
        click.echo(f"pulled: {counts['tips']} new tips, {counts['followups']} follow-ups, "
                   f"{counts['attachments']} attachments")
    say_import(counts)


def _acknowledge(workspace, officer_client, keyring):
    """Send the pending acknowledgement; whatever becomes of it, the pull goes on."""
    from tipdrop.officer import client

    try:
        held = client.acknowledge(workspace, officer_client, keyring)
    except TipdropError as e:
        click.echo(f"WARNING: the acknowledgement was not sent ({e.message}); it stays "
                   "pending for the next pull --ack")
        return
    if held is None:
        click.echo("nothing to acknowledge")
    elif "refused" in held:
        click.echo(f"WARNING: the server refused the acknowledgement of export(s) "
                   f"{', '.join(map(str, held['exports']))}: {held['refused']}. It is set "
                   "aside and not sent again, and the server keeps its copy of those items "
                   "(e.g. after a restore, it never made those exports); tell the operator. "
                   "`officer ack --all` writes everything again.")
    else:
        click.echo(f"acknowledged to the server: {held['tips']} tips, {held['followups']} "
                   f"follow-ups, {held['attachments']} attachments newly held")


@officer.command("push")
@click.option("--server", required=True, envvar=SERVER_ENV, help=_SERVER_HELP)
@_workspace_options
def push(workspace, key, server):
    """Send all queued replies to the server over the officer API.

    The online variant of `tipdrop officer outbox` + `tipdrop import-replies`:
    one bundle signed by the unit, sent in a signed request. Replies are
    marked sent only once the server has stored them; if anything fails,
    they stay in the outbox and the next push sends them again.

    Example: tipdrop officer push --server https://tips.example.kz --workdir ~/cases --key demo.key
    """
    from tipdrop.officer import client

    url = client.check_server_url(server)
    keyring = key.unlock()
    counts = client.push(workspace, client.OfficerClient(url, keyring.signing_key), keyring)
    already = counts["already_imported"]
    note = f" ({already} of them were already there)" if already else ""
    click.echo(f"{counts['sent']} replies sent to the server{note}")
    if counts["refused"]:
        click.echo(f"WARNING: the server did not take the replies of {len(counts['refused'])} "
                   "tips: their numbers do not follow the server's (the export that brought "
                   "the tip may have been altered); they stay in the outbox. Tell the "
                   "operator. Tips " + ", ".join(t[:12] for t in counts["refused"]))
    if counts["forwards"]:
        click.echo(f"{counts['forwards']} forwarded tips handed to the server")


# team, passwd, audit, key-backup, key-restore; duplicate; backup
