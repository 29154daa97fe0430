"""The ``tipdrop`` command: a thin click shell over the library.

Commands parse options, call one library function, and print. Every
tipdrop error reaching :func:`main` becomes one line ``error: <message>`` and
exit code 2; nothing prints a traceback.
"""

import sys

import click

from tipdrop.common import terminal
from tipdrop.errors import TipdropError, UsageError
from tipdrop.server import settings as settings_mod

EXIT_ERROR = 2
EXIT_INTERNAL = 1

#: Libraries only some zones need (setup.cfg's extras): a command that needs
#: one on a machine installed without it says which extra to install.
EXTRA_OF_LIBRARY = {
    "flask": "server", "flask_babel": "server", "babel": "server", "werkzeug": "server",
    "gunicorn": "server", "itsdangerous": "server", "sqlite_utils": "server] or [officer",
}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tipdrop")
def cli():
    """tipdrop: an anonymous tip drop for police.

    Reports are encrypted on arrival to the police unit's public key; officers
    decrypt them offline on a workstation. See README.md and docs/.
    """


@cli.command()
@click.option("--unit", required=True, help="Unit name: lowercase letters, digits, '-'.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for UNIT.key (stays on the workstation) and UNIT.pub.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False),
              help="Read the passphrase from this file instead of a prompt.")
@click.option("--rotate", is_flag=True,
              help="Add a new key for a unit that has one: writes UNIT-<key id>.key/.pub.")
def keygen(unit, out_dir, passphrase_file, rotate):
    """Make a unit's key pair (X25519 + Ed25519).

    The private key is written encrypted under a passphrase (Argon2id) to
    OUT/UNIT.key and must never leave the workstation; copy OUT/UNIT.pub to
    the server's keys/ folder and check its fingerprint out of band. With
    --rotate, the unit's next key goes to OUT/UNIT-<key id>.key/.pub; new
    tips use it once its .pub is in keys/ and the server restarted.

    Example: TIPDROP_PASSPHRASE=... tipdrop keygen --unit almaty-city --out ~/tipdrop-keys --rotate
    """
    from tipdrop.crypto.keys import check_unit_name, format_fingerprint
    from tipdrop.officer.cli import read_passphrase
    from tipdrop.officer.keyfiles import create_unit_key

    check_unit_name(unit)
    passphrase = read_passphrase(passphrase_file, confirm=True)
    created = create_unit_key(unit, out_dir, passphrase, rotate=rotate)
    click.echo(f"unit:        {created.public.unit}")
    click.echo(f"key id:      {created.public.key_id.hex()}")
    click.echo(f"fingerprint: {format_fingerprint(created.public.fingerprint)}")
    click.echo(f"private key: {created.private_path}  (keep on the workstation, never on the server)")
    click.echo(f"public key:  {created.public_path}  (copy to the server's keys/ folder)")


@cli.group()
def keys():
    """Inspect key files."""


@keys.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
def keys_show(file):
    """Print the unit, key id and fingerprint of a .pub or .key file.

    Compare the fingerprint with the one printed at key generation, read
    aloud or on paper, before trusting a public key.

    Example: tipdrop keys show keys/demo.pub
    """
    from tipdrop.crypto.keys import format_fingerprint
    from tipdrop.officer.keyfiles import describe

    kind, public = describe(file)
    click.echo(f"file:        {file} ({kind} key)")
    click.echo(f"unit:        {public.unit}")
    click.echo(f"created:     {public.created}")
    click.echo(f"key id:      {public.key_id.hex()}")
    click.echo(f"fingerprint: {format_fingerprint(public.fingerprint)}")


@cli.command()
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


@cli.command("export")
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
    from tipdrop.server import exchange, store

    config = settings_mod.from_env(data_dir=data_dir)
    db = store.open_database(config.database_path)
    counts = exchange.export_unit(db, config.attachments_dir, unit=unit, out=out,
                                  since_start=since_start)
    click.echo(f"exported {counts['tips']} tips, {counts['followups']} follow-ups, "
               f"{counts['attachments']} attachments to {out}")


@cli.command("import-replies")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False), help="Overrides TIPDROP_DATA_DIR.")
@click.option("--keys-dir", type=click.Path(file_okay=False), help="Overrides TIPDROP_KEYS_DIR.")
def import_replies(file, data_dir, keys_dir):
    """Server: import a reply bundle signed by a unit; all of it or nothing.

    Forged, modified, reordered or wrong-unit bundles are refused whole. A
    bundle written again with `tipdrop officer outbox --resend` may hold
    replies already imported: those that are byte for byte the ones here
    are counted and skipped, any that differ refuse the bundle. Tips the
    bundle forwards to another unit (`tipdrop officer forward`) move to that
    unit in the same transaction.

    Example: tipdrop import-replies /media/usb/replies.json
    """
    from tipdrop.server import exchange

    db, unit_keys, data = _server_and_file(data_dir, keys_dir, file)
    counts = exchange.import_replies(db, unit_keys, data)
    click.echo(f"{counts['already_imported']} replies already held, {counts['replies']} new "
               f"(for {counts['tips']} tips)")
    if "forwards" in counts:
        click.echo(f"{counts['forwards']} tips forwarded to another unit, "
                   f"{counts['forwards_already']} forwards already held")


def _server_and_file(data_dir, keys_dir, file):
    """The server's database and installed keys, and the bytes of a file a unit sent."""
    from tipdrop.server import store
    from tipdrop.server.unitkeys import UnitKeys

    config = settings_mod.from_env(data_dir=data_dir, keys_dir=keys_dir)
    db = store.open_database(config.database_path)
    with open(file, "rb") as f:
        data = f.read()
    return db, UnitKeys.load(config.keys_dir), data


@cli.command("import-ack")
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
    from tipdrop.server import exchange

    db, unit_keys, data = _server_and_file(data_dir, keys_dir, file)
    counts = exchange.import_ack(db, unit_keys, data)
    click.echo(f"recorded as held by the unit: {counts['tips']} tips, {counts['followups']} "
               f"follow-ups, {counts['attachments']} attachments ({counts['already']} already "
               f"recorded, {counts['gone']} no longer on the server)")


@cli.command()
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
    receipt check and replies stay. Rows are overwritten (secure_delete),
    files overwritten then unlinked, and the write-ahead log truncated. Safe
    while the server runs; schedule it daily (docs/operations.md).

    Example: tipdrop purge --dry-run
    """
    from tipdrop.common.days import today
    from tipdrop.server import retention, store

    config = settings_mod.from_env(data_dir=data_dir, retention_days=older_than)
    if not config.database_path.is_file():
        # Not created here: an empty new database would make a mistyped folder look purged.
        raise UsageError(f"no tipdrop database at {config.database_path}")
    db = store.open_database(config.database_path)
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
        click.echo(f"would purge {summary} and delete {held(found.held)}; nothing was changed")
        return
    result = retention.purge(db, config.attachments_dir, found)
    click.echo(f"purged {result.tips} of {summary}; deleted {held(result.cleared)}; "
               f"files removed: {result.files} attachments, {result.orphans} orphaned")
    if not result.wal_truncated:
        raise retention.WalBusyError()


@cli.command("backup-keygen")
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
    from tipdrop.officer.cli import read_passphrase
    from tipdrop.server.backups_cli import make_backup_key

    passphrase = read_passphrase(passphrase_file, confirm=True)
    key_id, private_path, public_path = make_backup_key(out_dir, passphrase)
    click.echo(f"key id:      {key_id}")
    click.echo(f"private key: {private_path}  (keep offline; it opens every backup)")
    click.echo(f"public key:  {public_path}  (install on the server, set TIPDROP_BACKUP_KEY)")


@cli.command("backup")
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


@cli.command("restore")
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
    from tipdrop.officer.cli import read_passphrase
    from tipdrop.server.backups_cli import unlock_backup_key
    from tipdrop.server.restore import restore

    config = settings_mod.from_env(data_dir=data_dir)
    private = unlock_backup_key(key_file, read_passphrase(passphrase_file))
    counts = restore(file, private, config.data_dir)
    click.echo(f"restored the backup of {counts['created']} into {config.data_dir}: "
               f"{counts.get('tips', 0)} tips, {counts.get('followups', 0)} follow-ups, "
               f"{counts.get('replies', 0)} replies, {counts.get('attachments', 0)} attachments")


@cli.command()
@click.option("--data-dir", type=click.Path(file_okay=False), help="Overrides TIPDROP_DATA_DIR.")
@click.option("--keys-dir", type=click.Path(file_okay=False), help="Overrides TIPDROP_KEYS_DIR.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes tipdrop serve runs (for the disk space check).")
@click.option("--nginx-config", type=click.Path(dir_okay=False),
              help="nginx configuration serving tipdrop: check it never buffers uploads to disk.")
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
    space for uploads, with TIPDROP_PROXIES set that the running server
    listens on loopback or a Unix socket only, and, if given, the nginx
    configuration or the live proxy (docs/reverse-proxy.md). Prints one line
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
        click.get_current_context().exit(EXIT_ERROR)
    click.echo(f"doctor: all is well (checked {checked})")


def register_commands(group=cli):
    """Add the officer group and the reporter commands to ``group``; return it.

    Called by :func:`main` (and by tests that inspect the whole command
    tree), not at import: importing this module loads neither zone's code.
    On a reporter's computer installed without the workstation's libraries
    (setup.cfg's extras), ``tipdrop officer`` says what to install.
    """
    from tipdrop.reporter.cli import REPORTER_COMMANDS

    for command in REPORTER_COMMANDS:
        group.add_command(command)
    try:
        from tipdrop.officer.cli import officer
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in EXTRA_OF_LIBRARY:
            raise
        officer = _needs_extra("officer", e.name)
    group.add_command(officer)
    return group


def _needs_extra(name, library):
    """A stand-in command for a zone whose libraries are not installed."""

    @click.command(name, add_help_option=False,
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def missing():
        """Not installed here: pip install 'tipdrop[officer]'."""
        raise UsageError(f"this command needs {library}: pip install 'tipdrop[{name}]'")

    return missing


def main(argv=None):
    """Entry point: run the CLI and turn every error into one line and an exit code."""
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
        extra = EXTRA_OF_LIBRARY.get((e.name or "").split(".")[0])
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
