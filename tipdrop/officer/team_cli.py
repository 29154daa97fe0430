"""``tipdrop officer team|passwd|audit|key-backup|key-restore``: who holds the unit key.

Thin commands over keyfiles.py (unlock slots, paper backups) and audit.py.
The officers' guide (docs/officer-guide.md) says when to add or remove a
slot, when to rotate instead, and how the key ceremony uses paper backups.
"""

import os
import re
import sys
from pathlib import Path

import click

from tipdrop.common import terminal
from tipdrop.common.passphrase import read_passphrase
from tipdrop.crypto import keys
from tipdrop.errors import UsageError
from tipdrop.officer import audit, keyfiles
from tipdrop.officer.cli import _workspace_options, officer, officer_option
from tipdrop.officer.keyfiles import NEW_PASSPHRASE_ENV
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace


def read_new_passphrase(new_passphrase_file: str | None, whose: str) -> str:
    """The new passphrase: from a file, then TIPDROP_NEW_PASSPHRASE, then a prompt (twice)."""
    if new_passphrase_file:
        text = read_passphrase(new_passphrase_file)
    elif os.environ.get(NEW_PASSPHRASE_ENV):
        text = os.environ[NEW_PASSPHRASE_ENV]
    elif sys.stdin.isatty():
        text = click.prompt(f"New passphrase for {whose}", hide_input=True,
                            confirmation_prompt=True)
    else:
        raise UsageError(f"no new passphrase: set {NEW_PASSPHRASE_ENV}, use "
                         "--new-passphrase-file, or run in a terminal")
    if not text:
        raise UsageError("the new passphrase must not be empty")
    return text


class _Audited:
    """Records a key command in the workspace's audit log, when there is a workspace.

    The keyring is unlocked before the command changes anything, so the
    entry can be written even after the officer's own slot changed or went.
    """

    def __init__(self, workdir, key_path, passphrase, officer):
        self.keyring = None
        if workdir:
            self.workdir = workdir
            self.keyring = Keyring.load(key_path, passphrase, officer)
            self.keyring.unlock_newest()

    def record(self, action, **info):
        if self.keyring is None:
            return
        workspace = Workspace(self.workdir)
        try:
            workspace.audit.record(self.keyring, action, **info)
        finally:
            workspace.close()


def _key_options(command):
    @click.option("--key", "key_path", type=click.Path(), envvar="TIPDROP_KEY", required=True,
                  help="The unit's private key file UNIT.key, or the folder of its .key "
                       "files (or TIPDROP_KEY).")
    @click.option("--passphrase-file", type=click.Path(dir_okay=False),
                  help="Read your passphrase from this file instead of TIPDROP_PASSPHRASE "
                       "or a prompt.")
    @click.option("--workdir", type=click.Path(file_okay=False), envvar="TIPDROP_WORKDIR",
                  help="Record the change in this workspace's audit log (or TIPDROP_WORKDIR).")
    @officer_option
    def wrapper(key_path, passphrase_file, workdir, officer, **kwargs):
        passphrase = read_passphrase(passphrase_file)
        audited = _Audited(workdir, Path(key_path), passphrase, officer)
        return command(Path(key_path), passphrase, officer, audited, **kwargs)

    wrapper.__name__ = command.__name__
    wrapper.__doc__ = command.__doc__
    return wrapper


_NEW_PASSPHRASE = click.option(
    "--new-passphrase-file", type=click.Path(dir_okay=False),
    help="Read the new passphrase from this file instead of TIPDROP_NEW_PASSPHRASE or a "
         "prompt.")


@officer.group("team")
def team():
    """Unlock slots: each officer of the unit opens the key with their own passphrase.

    Example: tipdrop officer team list --key ~/tipdrop-keys
    """


@team.command("add")
@click.argument("name")
@_NEW_PASSPHRASE
@_key_options
def team_add(key_path, passphrase, officer, audited, name, new_passphrase_file):
    """Give officer NAME their own passphrase for every key file of --key.

    You unlock with your passphrase; NAME then types theirs (or it comes
    from --new-passphrase-file / TIPDROP_NEW_PASSPHRASE). A file that still
    has one shared passphrase keeps it as the slot "shared".

    Example: tipdrop officer team add aigerim --key ~/tipdrop-keys --officer daniyar
    """
    keyfiles.check_new_member(key_path, name)
    new = read_new_passphrase(new_passphrase_file, name)
    changed = keyfiles.add_member(key_path, passphrase, officer, name, new)
    audited.record("team-add", name=name, files=len(changed))
    click.echo(f"{name} can now unlock {len(changed)} key file(s)")


@team.command("remove")
@click.argument("name")
@_key_options
def team_remove(key_path, passphrase, officer, audited, name):
    """Remove officer NAME's slot from every key file of --key.

    This stops NAME's passphrase opening these files, not a copy of a file
    taken before: when someone leaves who could have copied the key, rotate
    it (`tipdrop keygen --rotate`; docs/officer-guide.md).

    Example: tipdrop officer team remove aigerim --key ~/tipdrop-keys --officer daniyar
    """
    changed = keyfiles.remove_member(key_path, passphrase, officer, name)
    audited.record("team-remove", name=name, files=len(changed))
    click.echo(f"removed {name} from {len(changed)} key file(s); a copy taken before still "
               "opens with the old passphrase: rotate the key if that matters")


@team.command("list")
@click.option("--key", "key_path", type=click.Path(), envvar="TIPDROP_KEY", required=True,
              help="The unit's private key file, or the folder of its .key files.")
def team_list(key_path):
    """List the unlock slots of each key file (no passphrase needed).

    Example: tipdrop officer team list --key ~/tipdrop-keys
    """
    for file in keyfiles.key_files(key_path):
        public = keyfiles.describe_private(file)
        names = ", ".join(keyfiles.slot_names(file))
        click.echo(terminal.inline(f"{file.name}  key {public.key_id.hex()[:8]}  "
                                   f"created {public.created}  slots: {names}"))


@officer.command("passwd")
@_NEW_PASSPHRASE
@_key_options
def passwd(key_path, passphrase, officer, audited, new_passphrase_file):
    """Change your own passphrase in every key file of --key.

    Only the slot your current passphrase opens changes; the other
    officers' slots stay as they are.

    Example: tipdrop officer passwd --key ~/tipdrop-keys --officer aigerim
    """
    slot, changed = keyfiles.change_passphrase(
        key_path, passphrase, officer, read_new_passphrase(new_passphrase_file, "you"))
    audited.record("passwd", files=len(changed))
    click.echo(f"new passphrase for {slot} in {len(changed)} key file(s)")


@officer.command("audit")
@click.option("--verify", is_flag=True,
              help="Check the chain and its authentication with the unit key (needs the "
                   "passphrase).")
@click.option("--tip", help="Only the entries of this tip (its id or first characters).")
@_workspace_options
def audit_log(workspace, key, verify, tip):
    """Print the workspace's audit log: who unlocked, read, answered or exported what, when.

    With --verify, every entry's hash link and authentication and the
    log's head are checked with the unit key: an entry changed, deleted or
    moved is an error (exit 2). Entries name tips and actions, never content.

    Example: tipdrop officer audit --verify --tip 3f9a --workdir ~/cases --key demo.key
    """
    tip = audit.check_tip_filter(tip)
    if verify:
        entries = workspace.verify_audit(key.unlock(audited=False))
    else:
        entries = workspace.audit.entries()
    for line in audit.lines(entries, tip):
        click.echo(terminal.inline(line))
    if verify:
        head = entries[-1]["hash"][:16] if entries else "-"
        click.echo(f"verified: {len(entries)} entries, chain intact, head {head}")
    elif entries:
        click.echo("(not verified: --verify checks them with the unit key)")


@officer.command("key-backup")
@click.option("--shares", "count", type=click.IntRange(2, 16), required=True,
              help="How many people get a share (2 to 16).")
@click.option("--threshold", type=click.IntRange(2, 16), required=True,
              help="How many of them must come together to rebuild the key (at least 2).")
@_key_options
def key_backup(key_path, passphrase, officer, audited, count, threshold):
    """Split one unit key into SLIP-39 word shares for paper backups.

    Any --threshold of the --shares shares rebuild the key with
    `tipdrop officer key-restore`; fewer tell nothing about it. Each holder
    writes down one share and keeps it apart from the others. Run it on the
    offline workstation: the shares are printed, nowhere stored.

    Example: tipdrop officer key-backup --shares 3 --threshold 2 --key ~/tipdrop-keys/demo.key
    """
    if threshold > count:
        raise UsageError("--threshold cannot be more than --shares")
    public, words = keyfiles.backup_shares(key_path, passphrase, officer, count, threshold)
    audited.record("key-backup", key=public.key_id.hex()[:8], shares=count, threshold=threshold)
    click.echo(f"unit {public.unit}, key {public.key_id.hex()}, created {public.created}")
    click.echo(f"fingerprint {keys.format_fingerprint(public.fingerprint)}")
    click.echo(f"{count} shares; any {threshold} rebuild the key. Give each holder one share "
               "to write down, and keep the unit's .pub file with the backup.")
    for number, share in enumerate(words, 1):
        click.echo(f"share {number} of {count}: {share}")


_SHARE_PREFIX = re.compile(r"^\s*share\s+\d+\s+of\s+\d+\s*:", re.IGNORECASE)


def _read_shares(shares_file):
    if shares_file:
        try:
            with open(shares_file, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise UsageError(f"cannot read {shares_file}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{shares_file} is not UTF-8 text") from None
    elif not sys.stdin.isatty():
        text = sys.stdin.read()
    else:
        text = "\n".join(click.prompt(f"Share {n} (blank when done)", default="",
                                      show_default=False, hide_input=True)
                         for n in range(1, 17))
    shares = [_SHARE_PREFIX.sub("", line).strip() for line in text.splitlines()]
    return [share for share in shares if share and not share.startswith("#")]


@officer.command("key-restore")
@click.option("--public", "public_path", type=click.Path(dir_okay=False), required=True,
              help="The unit's public key file (.pub) of the key the shares hold.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="The key file to write (must not exist).")
@click.option("--officer", required=True, envvar="TIPDROP_OFFICER", metavar="NAME",
              help="The name of the new key file's one slot: yours.")
@click.option("--shares-file", type=click.Path(dir_okay=False),
              help="Read the shares from this file, one per line (else stdin or a prompt).")
@_NEW_PASSPHRASE
def key_restore(public_path, out, officer, shares_file, new_passphrase_file):
    """Rebuild a unit's key file from the threshold number of paper shares.

    The shares must rebuild exactly the key of --public, or nothing is
    written. The new file has one slot, --officer, under a new passphrase;
    add the other officers with `tipdrop officer team add`.

    Example: tipdrop officer key-restore --public demo.pub --out demo.key --officer aigerim --shares-file shares.txt
    """
    private = keyfiles.rebuild_from_shares(public_path, _read_shares(shares_file), out, officer)
    keyfiles.write_restored(private, out, officer,
                            read_new_passphrase(new_passphrase_file, officer))
    click.echo(f"restored key {private.key_id.hex()} of unit {private.unit} to {out}; "
               f"slot: {officer}")
