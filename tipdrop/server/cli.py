"""The server's commands: ``tipdrop serve``, the exchange, purge, backups, doctor.

Each is a thin click shell over one library function of tipdrop.server; the
top-level ``tipdrop`` command (tipdrop/cli.py) registers them in main() and
turns every error into one line and exit code 2.
"""

import click

from tipdrop.common.passphrase import read_passphrase
from tipdrop.errors import EXIT_CODE, UsageError
from tipdrop.server import settings as settings_mod


def _open_database(path):
    """The server's database for this command, closed when the command ends.

    Closed through store.close_database: with the server stopped, this is
    the last connection, and SQLite deletes the log as it closes.
    """
    from tipdrop.server import store

    db = store.open_database(path)
    click.get_current_context().call_on_close(lambda: store.close_database(db))
    return db


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--data-dir", type=click.Path(file_okay=False), help="Overrides TIPDROP_DATA_DIR.")
@click.option("--keys-dir", type=click.Path(file_okay=False), help="Overrides TIPDROP_KEYS_DIR.")
def serve(host, port, workers, data_dir, keys_dir):
    """Serve the web app with gunicorn.

    Example: tipdrop serve --host 127.0.0.1 --port 8080
    """
    from tipdrop.server.serve import run_gunicorn

    config = settings_mod.from_env(data_dir=data_dir, keys_dir=keys_dir)
    run_gunicorn(config, host=host, port=port, workers=workers)


@click.command("export")
@click.option("--unit", required=True, help="The unit whose tips to export.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Bundle file to write (must not exist).")
@click.option("--since-start", is_flag=True, help="Export everything again, not only what is new.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Overrides TIPDROP_DATA_DIR.")
def export(unit, out, since_start, data_dir):
    """Server: write a unit's new ciphertext (tips, follow-ups, files) to one bundle.

    The export cursor moves only once the file is complete; the bundle holds
    only ciphertext. Carry it to the workstation and run `tipdrop officer open`.

    Example: tipdrop export --unit demo --out /media/usb/export.tdx
    """
    from tipdrop.server import exchange

    config = settings_mod.from_env(data_dir=data_dir)
    db = _open_database(config.database_path)
    counts = exchange.export_unit(db, config.attachments_dir, unit=unit, out=out,
                                  since_start=since_start)
    click.echo(f"exported {counts['tips']} tips, {counts['followups']} follow-ups, "
               f"{counts['attachments']} attachments to {out}")


@click.command("import-replies")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False), help="Overrides TIPDROP_DATA_DIR.")
@click.option("--keys-dir", type=click.Path(file_okay=False), help="Overrides TIPDROP_KEYS_DIR.")
def import_replies(file, data_dir, keys_dir):
    """Server: import a reply bundle signed by a unit; all of it or nothing.

    Forged, modified or wrong-unit bundles are refused whole. The one
    exception: a tip whose replies do not follow the numbers held here
    (reordered, or another reply under a number held) is left out and
    named, and the other tips' replies are imported. A bundle written again
    with `tipdrop officer outbox --resend` may hold replies already
    imported: those that are byte for byte the ones here are counted and
    skipped. Tips the
    bundle forwards to another unit (`tipdrop officer forward`) move to that
    unit in the same transaction, and count toward that unit's duty alerts
    (keys/alerts.json) like a report that arrived for it.

    Example: tipdrop import-replies /media/usb/replies.json
    """
    from tipdrop.protocol import bundles
    from tipdrop.server import exchange
    from tipdrop.server.reload import load_config

    db, unit_keys, data = _server_and_file(data_dir, keys_dir, file, bundles.MAX_REPLY_BUNDLE,
                                           "a reply bundle")
    _, _, alerts = load_config(settings_mod.from_env(data_dir=data_dir, keys_dir=keys_dir))
    counts = exchange.import_replies(db, unit_keys, data, alerts=alerts)
    click.echo(f"{counts['already_imported']} replies already held, {counts['replies']} new "
               f"(for {counts['tips']} tips)")
    if counts.get("refused"):
        named = "; ".join(f"tip {tip_id[:8]}: {why}" for tip_id, why in counts["refused"].items())
        click.echo(f"WARNING: the replies of {len(counts['refused'])} tips were not imported, "
                   f"their numbers do not follow this server's ({named}); the other tips' "
                   "replies were. Tell the unit.")
    if "forwards" in counts:
        click.echo(f"{counts['forwards']} tips forwarded to another unit, "
                   f"{counts['forwards_already']} forwards already held")


def _server_and_file(data_dir, keys_dir, file, limit, what):
    """The server's database and installed keys, and the bytes of a file a unit sent.

    The file is read first, and only if it is a regular file within its
    format's maximum (docs/protocol.md): a device, a pipe or an oversized
    file is refused before it is read and before the database is opened.
    """
    from tipdrop.common.files import read_bounded
    from tipdrop.server.unitkeys import UnitKeys

    data = read_bounded(file, limit, what)
    config = settings_mod.from_env(data_dir=data_dir, keys_dir=keys_dir)
    db = _open_database(config.database_path)
    return db, UnitKeys.load(config.keys_dir), data


@click.command("import-ack")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False), help="Overrides TIPDROP_DATA_DIR.")
@click.option("--keys-dir", type=click.Path(file_okay=False), help="Overrides TIPDROP_KEYS_DIR.")
def import_ack(file, data_dir, keys_dir):
    """Server: record a unit's signed acknowledgement that its workstation holds an export.

    The file comes from `tipdrop officer ack`. It must be signed by an
    installed key of the unit and name only items exported to that unit;
    otherwise nothing is recorded. Importing it again changes nothing. The
    next `tipdrop purge` deletes the ciphertext of the items it names.

    Example: tipdrop import-ack /media/usb/ack.json
    """
    from tipdrop.protocol import acks
    from tipdrop.server import exchange

    db, unit_keys, data = _server_and_file(data_dir, keys_dir, file, acks.MAX_ACK,
                                           "an acknowledgement")
    counts = exchange.import_ack(db, unit_keys, data)
    click.echo(f"recorded as held by the unit: {counts['tips']} tips, {counts['followups']} "
               f"follow-ups, {counts['attachments']} attachments ({counts['already']} already "
               f"recorded, {counts['gone']} no longer on the server)")


@click.command()
@click.option("--older-than", "older_than", type=int, metavar="DAYS",
              help="Purge tips closed at least DAYS days ago. Overrides TIPDROP_RETENTION_DAYS "
                   "(default 90).")
@click.option("--dry-run", is_flag=True, help="Only list what would be purged; change nothing.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Overrides TIPDROP_DATA_DIR.")
def purge(older_than, dry_run, data_dir):
    """Server: delete closed tips for good, once the retention time is over.

    Purges tips closed (confirmed, unfounded, duplicate, referred, closed) at
    least DAYS days ago, and closed tips the unit already exported whose
    receipt was never used, with their follow-ups, replies and files. From
    the tips that stay it deletes the ciphertext the unit acknowledged
    holding (`tipdrop import-ack`): report, follow-ups and files; the status,
    receipt check and replies stay. Uploads in pieces begun more than a day
    before today, unfinished or not, are deleted too (docs/protocol.md section 19).
    Rows are overwritten (secure_delete),
    files overwritten then unlinked, and the write-ahead log overwritten then
    truncated. Safe
    while the server runs; schedule it daily (docs/operations.md).

    Example: tipdrop purge --dry-run
    """
    from tipdrop.common.days import today
    from tipdrop.server import retention, uploads

    config = settings_mod.from_env(data_dir=data_dir, retention_days=older_than)
    if not config.database_path.is_file():
        # Not created here: an empty new database would make a mistyped folder look purged.
        raise UsageError(f"no tipdrop database at {config.database_path}")
    db = _open_database(config.database_path)
    found = retention.plan(db, today=today(), closed_days=config.retention_days)
    counts = found.counts()
    summary = (f"{len(found.tips)} tips ({counts['expired']} closed {found.closed_days}+ days, "
               f"{counts['unused']} with a receipt never used)")

    def held(counts):
        return (f"the ciphertext the unit holds of {counts['tips']} reports, "
                f"{counts['followups']} follow-ups, {counts['attachments']} attachments")

    if dry_run:
        for tip in found.tips:
            click.echo(f"{tip.tip_id[:12]}  {tip.status:<10} {tip.status_day}  "
                       f"{found.reason(tip)}")
        expired = uploads.purge_expired(db, today(), dry_run=True)
        if expired:  # only then: the summary stays the last line
            click.echo(f"would delete {expired} uploads in pieces past their time")
        click.echo(f"would purge {summary} and delete {held(found.held)}; nothing was changed")
        return
    # Before the tips: the log truncated at the end holds these deletions too.
    expired = uploads.purge_expired(db, today())
    result = retention.purge(db, config.attachments_dir, found)
    click.echo(f"purged {result.tips} of {summary}; deleted {held(result.cleared)}; "
               f"files removed: {result.files} attachments, {result.orphans} orphaned")
    if expired:
        click.echo(f"deleted {expired} uploads in pieces past their time")
    if not result.wal_truncated:
        raise retention.WalBusyError()


@click.command("backup-keygen")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for backup.key (keep it offline) and backup.pub (for the server).")
@click.option("--passphrase-file", type=click.Path(dir_okay=False),
              help="Read the passphrase from this file instead of a prompt.")
def backup_keygen(out_dir, passphrase_file):
    """Make the operator's backup key pair, on a machine that is not the server.

    OUT/backup.key is encrypted under a passphrase (Argon2id) and opens every
    backup: keep it offline, away from the server. Install OUT/backup.pub on
    the server (outside its keys folder) and set TIPDROP_BACKUP_KEY to it.

    Example: tipdrop backup-keygen --out /media/offline-usb
    """
    from tipdrop.server.backups_cli import make_backup_key

    passphrase = read_passphrase(passphrase_file, confirm=True)
    key_id, private_path, public_path = make_backup_key(out_dir, passphrase)
    click.echo(f"key id:      {key_id}")
    click.echo(f"private key: {private_path}  (keep offline; it opens every backup)")
    click.echo(f"public key:  {public_path}  (install on the server, set TIPDROP_BACKUP_KEY)")


@click.command("backup")
@click.option("--out", type=click.Path(),
              help="Backup file to write (must not exist), or a folder to write it into.")
@click.option("--prune", "prune_dir", type=click.Path(file_okay=False),
              help="Then delete the backups in this folder older than TIPDROP_BACKUP_DAYS.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Overrides TIPDROP_DATA_DIR.")
def backup_cmd(out, prune_dir, data_dir):
    """Server: seal a consistent snapshot of the data folder to the backup key.

    Safe while the server runs: submits go on. The file holds the database
    and the token secret, encrypted to TIPDROP_BACKUP_KEY; the server cannot
    read it. With --prune DIR, backups made more than TIPDROP_BACKUP_DAYS
    days ago are overwritten and deleted, so a purged report is gone from
    backups too (docs/operations.md).

    Example: tipdrop backup --out /var/backups/tipdrop --prune /var/backups/tipdrop
    """
    from tipdrop.server import backup
    from tipdrop.server.backups_cli import load_backup_public

    if not out and not prune_dir:
        raise UsageError("give --out FILE, --prune DIR, or both")
    config = settings_mod.from_env(data_dir=data_dir)
    # Pruning first: a backup that fails (a full disk) must not keep old ones alive.
    if prune_dir:
        removed = backup.prune(prune_dir, config.backup_days)
        click.echo(f"pruned {len(removed)} backup(s) older than {config.backup_days} days "
                   f"from {prune_dir}")
    if out:
        path = backup.write_backup(config.data_dir, load_backup_public(config.backup_key), out)
        click.echo(f"backup written: {path}")


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The backup private key file (backup.key from tipdrop backup-keygen).")
@click.option("--passphrase-file", type=click.Path(dir_okay=False),
              help="Read the passphrase from this file instead of a prompt.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Overrides TIPDROP_DATA_DIR.")
def restore_cmd(file, key_file, passphrase_file, data_dir):
    """Server: restore a backup onto an empty data folder, all of it or nothing.

    Refuses a data folder that is not empty. A wrong key, a changed byte or
    a file cut short writes nothing. Run `tipdrop purge` right after: the
    backup may hold reports purged since it was made (docs/operations.md).

    Example: tipdrop restore /var/backups/tipdrop/tipdrop-20240630T040000Z.tdbackup --key /media/offline-usb/backup.key
    """
    from tipdrop.server.backups_cli import unlock_backup_key
    from tipdrop.server.restore import restore

    config = settings_mod.from_env(data_dir=data_dir)
    private = unlock_backup_key(key_file, read_passphrase(passphrase_file))
    counts = restore(file, private, config.data_dir)
    click.echo(f"restored the backup of {counts['created']} into {config.data_dir}: "
               f"{counts.get('tips', 0)} tips, {counts.get('followups', 0)} follow-ups, "
               f"{counts.get('replies', 0)} replies, {counts.get('attachments', 0)} attachments")


@click.command()
@click.option("--data-dir", type=click.Path(file_okay=False), help="Overrides TIPDROP_DATA_DIR.")
@click.option("--keys-dir", type=click.Path(file_okay=False), help="Overrides TIPDROP_KEYS_DIR.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes tipdrop serve runs (for the disk space and memory checks).")
@click.option("--nginx-config", type=click.Path(dir_okay=False),
              help="nginx configuration serving tipdrop: check it never buffers uploads to disk, "
                   "logs no address, and answers its own refusals with tipdrop's pages.")
@click.option("--check-url", metavar="URL",
              help="Public address of the site: check the proxy's "
                   "X-Tipdrop-Proxy-Buffering header on URL/healthz.")
def doctor(data_dir, keys_dir, workers, nginx_config, check_url):
    """Server: check a deployment and say how to fix what is wrong.

    Checks the keys folder (no private key, every file readable), that every
    routed unit has a public key, the data folder (0700, owned by you), the
    database pragmas (WAL, synchronous=FULL, secure_delete), the token secret
    (32+ bytes, 0600), the rate-limit folder (in RAM), with TIPDROP_BACKUP_DIR
    set the backup key and the age of the newest backup, the clock, free disk
    space for uploads, memory for the small bodies the workers read ahead
    (TIPDROP_READ_AHEAD_MB), with TIPDROP_PROXIES set that the running server
    listens on loopback or a Unix socket only, and, if given, the nginx
    configuration (buffering, logs, its own refusals answered with the pages
    of tipdrop nginx-pages) or the live proxy (docs/reverse-proxy.md). Prints one line
    per problem with its fix; exit code 0 only if all is well, else 2. Run it
    as the user that runs the server.

    Example: tipdrop doctor --nginx-config /etc/nginx/sites-enabled/tipdrop
    """
    from tipdrop.server import doctor as doctor_mod

    config = settings_mod.from_env(data_dir=data_dir, keys_dir=keys_dir)
    results = doctor_mod.diagnose(config, nginx_config=nginx_config, check_url=check_url,
                                  workers=workers)
    findings = [finding for _, found in results for finding in found]
    for finding in findings:
        click.echo(str(finding))
    if not (nginx_config or check_url):
        click.echo("note: the reverse proxy was not checked (give --nginx-config or --check-url)")
    if config.proxies and "listening address" not in {name for name, _ in results}:
        click.echo("note: no running server of this data folder was found (run the doctor as "
                   "its user), so its listening address was not checked")
    checked = ", ".join(name for name, _ in results)
    if findings:
        click.echo(f"doctor: {len(findings)} problem(s) found (checked {checked})")
        click.get_current_context().exit(EXIT_CODE)
    click.echo(f"doctor: all is well (checked {checked})")


@click.command("nginx-pages")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="The folder deploy/nginx/tipdrop.conf names (/etc/nginx/tipdrop-refusals).")
def nginx_pages(out_dir):
    """Server: write the pages nginx shows for the requests it refuses itself.

    A body over nginx's client_max_body_size (413), a request line or
    header over its buffers (414, 431) or a head it cannot parse (400)
    never reaches tipdrop: deploy/nginx/tipdrop.conf answers them with
    these files, tipdrop's own refusal in kk, ru or en (an HTML page, or
    JSON under /api/), not nginx's English page. Run it again after an
    upgrade (docs/reverse-proxy.md, "nginx's own refusals").

    Example: tipdrop nginx-pages --out /etc/nginx/tipdrop-refusals
    """
    from tipdrop.server import nginxpages

    try:
        written = nginxpages.write_pages(out_dir)
    except OSError as e:
        raise UsageError(f"cannot write the pages to {out_dir}: {e.strerror}") from None
    click.echo(f"wrote {len(written)} pages to {out_dir}")


#: Added to the top-level group by tipdrop.cli.register_commands.
SERVER_COMMANDS = (serve, export, import_replies, import_ack, purge, backup_keygen, backup_cmd, restore_cmd, doctor,
                   nginx_pages)
