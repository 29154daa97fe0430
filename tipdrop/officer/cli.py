"""``tipdrop officer ...``: the workstation commands, a thin shell over Workspace.

Every command takes ``--workdir`` and ``--key`` (or TIPDROP_WORKDIR /
TIPDROP_KEY): one ``.key`` file, or a folder holding all of the unit's keys
after a rotation. Commands that decrypt, sign or write read the officer's
passphrase once (it opens the officer's slot in every key of the folder) from
``--passphrase-file``, else TIPDROP_PASSPHRASE, else a hidden prompt; each
unlock and what follows is recorded in the workspace's audit log (audit.py)
under the slot's name (``--officer``, or whichever slot the passphrase opens).
"""

import json
import os
import sys
from dataclasses import dataclass
from functools import wraps
from pathlib import Path

import click

from tipdrop.common import terminal
from tipdrop.common.passphrase import read_passphrase
from tipdrop.errors import InputError, TipdropError, UsageError
from tipdrop.officer.keyfiles import OFFICER_ENV
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol import bundles
from tipdrop.protocol.fields import REPLY_STATUSES, STATUSES


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
        _say_unavailable(counts)


def _item_name(part):
    """A follow-up's or attachment's part name as the officer reads it: ``follow-up 2``."""
    return f"follow-up {part[1:]}" if part.startswith("f") else f"attachment {part}"


def _say_unavailable(counts):
    if counts.get("differs"):
        click.echo(f"WARNING: {counts['differs']} tips already held here came with another "
                   f"sealed report (tips {', '.join(t[:12] for t in counts['differs_tips'])}): "
                   "the server changed them, or a bug did; the held copies were kept, the "
                   "copies received were kept beside them, sealed as they came, the rest of "
                   "the bundle was opened (docs/officer-guide.md)")
    if counts.get("differs_items"):
        items = counts["differs_items"]
        click.echo(f"WARNING: {len(items)} follow-ups or attachments already held here came "
                   f"changed ({', '.join(f'tip {t[:12]} {_item_name(p)}' for t, p in items)}): "
                   "the server changed them, or a bug did; the held copies were kept, the "
                   "copies received were kept beside them, sealed as they came, the rest of "
                   "the bundle was opened (docs/officer-guide.md)")
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
    _say_unavailable(counts)
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


@officer.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only tips with this status.")
@click.option("--category", help="Only this category code.")
@click.option("--region", help="Only this region code.")
@click.option("--since", help="Only tips received on or after this day (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, for scripts.")
@_workspace_options
def list_tips(workspace, key, status, category, region, since, as_json):
    """List tips: id, age, category, region, status, unread follow-ups.

    Example: tipdrop officer list --status received --workdir ~/cases --key demo.key
    """
    rows = workspace.list(status=status, category=category, region=region, since=since)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo("no tips")
        return
    import datetime

    today = datetime.date.today()
    for row in rows:
        try:
            age = f"{(today - datetime.date.fromisoformat(row['received'])).days:>3}d"
        except (TypeError, ValueError):  # a workspace filled before days were checked at open
            age = "   ?"
        flags = []
        if row["unread_followups"]:
            flags.append(f"{row['unread_followups']} new follow-up(s)")
        if row["attachments"]:
            flags.append(f"{row['attachments']} file(s)")
        if row["server_mismatch"]:
            flags.append("SERVER METADATA DIFFERS")
        if row["damaged"]:
            flags.append("DAMAGED")
        click.echo(terminal.inline(f"{row['id'][:12]}  {age}  {row['status']:<10} "
                                   f"{row['category']:<18} {row['region']:<16} {', '.join(flags)}"))


@officer.command("show")
@click.argument("tip")
@click.option("--save-attachments", type=click.Path(file_okay=False),
              help="Decrypt the attachments into this folder.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (report, files, follow-ups with their origin), "
                   "for scripts.")
@_workspace_options
def show(workspace, key, tip, save_attachments, as_json):
    """Print the full report, follow-ups, notes and replies of one tip.

    TIP is the tip id or its first characters (at least 4). Each file says
    whether the sealed report binds it, and each follow-up whether it was
    signed on the reporter's device by the receipt holder or sealed by the
    server (docs/officer-guide.md).

    Example: tipdrop officer show 3f9a --save-attachments ~/evidence --workdir ~/cases --key demo.key
    """
    tip_id = workspace.resolve(tip)
    data = workspace.show(tip_id, key.unlock(), save_to=save_attachments)
    if as_json:
        click.echo(json.dumps(data, indent=1, ensure_ascii=False))
        return
    _print_tip(data)


def _print_answers(report, say, one):
    """The category's questions as the reporter read them, with the answers.

    The labels come from the sealed report itself (protocol.md section 13),
    in the reporter's language: what was asked, as it was asked, whatever
    the server's categories file says today.
    """
    answers = report.get("answers") or []
    if answers:
        say(f"answers to the category's questions (asked in {one(report.get('language') or '?')}):")
    for a in answers:
        shown = a.get("value_label") or a["value"]
        code = f" [{one(a['value'])}]" if a.get("value_label") else ""
        say(f"  {one(a['label'])}: {one(shown)}{code}")


def _print_tip(data):
    t, r = data["tip"], data["report"]
    # Everything below may be a stranger's text: say() escapes control and
    # format characters, one() also line breaks, for text inside a line.
    say, one = terminal.echo, terminal.inline
    say(f"tip {t['id']}  received {t['received_day']}  status {t['status']} ({t['status_day']})")
    say(f"region: {one(t['region'])}  category: {one(t['category'])}  "
        f"encrypted on: {t['encrypted_on']}")
    if t["damaged"]:
        say(f"DAMAGED: this report was sealed on the reporter's device and cannot be read "
            f"({one(t['damaged'])}). Region and category are the server's, unverified.")
    if (t["region"], t["category"]) != (t["server_region"], t["server_category"]):
        say(f"WARNING: the server listed it as {t['server_region']}/{t['server_category']}")
    for c in data["other_copies"]:
        say(f"WARNING: export {c['export_seq']} carried another sealed copy of this report "
            f"(opened {c['day']}): kept in the workspace as it came; this is the copy held first"
            if c["why"] == "changed" else
            f"forwarded back to this unit (export {c['export_seq']}, opened {c['day']})")
    for c in data["other_item_copies"]:
        say(f"WARNING: export {c['export_seq']} carried another sealed copy of "
            f"{_item_name(c['part'])} (opened {c['day']}): kept in the workspace as it came; "
            "this is the copy held first")
    for label, key in (("what", "what"), ("where", "where"), ("when", "when")):
        if r.get(key):
            say(f"{label}: {one(r[key])}")
    _print_answers(r, say, one)
    say("\n" + r.get("description", ""))
    if r.get("contact"):
        say(f"\ncontact offered by the reporter: {r['contact']}")
    if data["attachments"] and not data["files_bound"] and not t["damaged"]:
        say("WARNING: this report does not bind its files (sealed before binding, or by an "
            "older app): any of them may have been added by the server")
    for part in data["missing_attachments"]:
        say(f"attachment {part}: MISSING: the sealed report lists it, the workspace never "
            "received it (dropped by the server or on the way)")
    for f in data["attachments"]:
        if "damaged" in f:
            say(f"attachment {f['part']}: DAMAGED, not shown ({one(f['damaged'])})")
            continue
        removed = ""
        if f["photo"]:
            kept = "location and time kept by the reporter" if f["kept_location_and_time"] \
                else "location and time removed"
            removed = f" (photo cleaned: {len(f['metadata_removed'])} items removed; {kept})"
        saved = f" -> {one(f['saved_to'])}" if "saved_to" in f else ""
        if "save_error" in f:
            saved = f" -> NOT SAVED: {one(f['save_error'])}"
        say(f"attachment {f['part']}: {one(f['name'])} {one(f['type'])} {f['size']} bytes"
            f"{removed}{saved}")
    for f in data["followups"]:
        head = f"\nfollow-up {f['seq']} ({f['day']}){' NEW' if f['new'] else ''}"
        if "damaged" in f:
            say(f"{head}: DAMAGED, sealed on the reporter's device and cannot be read "
                f"({one(f['damaged'])})")
            continue
        say(f"{head}, {f['origin_text']}:\n{f['text']}")
    for n in data["notes"]:
        say(f"\nnote ({n['day']}): {n['text']}")
    for reply in data["replies"]:
        state = f"sent {reply['sent']}" if reply["sent"] else "in outbox"
        say(f"\nreply {reply['seq']} ({reply['day']}, {reply['status']}, {state}): {reply['text']}")
    failed = [f for f in data["attachments"] if "save_error" in f]
    if failed:
        raise InputError(f"{len(failed)} of {len(data['attachments'])} attachments "
                                       "could not be saved (see above); the others were")


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
SERVER_ENV = "TIPDROP_SERVER"
_SERVER_HELP = ("The server's address: https://..., or http:// to this computer only "
                f"(127.0.0.1, localhost, ::1) (or {SERVER_ENV}).")


@officer.command("app")
@click.option("--port", default=0, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (default: any free one).")
@click.option("--no-browser", is_flag=True,
              help="Only print where the launch file is; do not open a browser.")
@click.option("--default-browser", is_flag=True,
              help="Open the launch file in the system's default browser, with your everyday "
                   "profile, instead of Chromium or Firefox with a new profile of its own "
                   "(removed when the app stops).")
@click.option("--show-link", is_flag=True,
              help="Also print the address with the one-time launch token (then on the screen "
                   "and, once opened, in the browser's history).")
@click.option("--idle-minutes", default=15, show_default=True, type=click.IntRange(1, 24 * 60),
              help="Lock (forget the keys and the decrypted index) after this long unused.")
@click.option("--urgent", multiple=True, metavar="CATEGORY",
              help="A category listed first in the inbox (repeat it); default: "
                   "child-in-danger and domestic-violence.")
@click.option("--outbox-dir", type=click.Path(file_okay=False),
              help="Where the app writes reply bundles (default: WORKDIR/outbox).")
@click.option("--workdir", type=click.Path(file_okay=False), envvar="TIPDROP_WORKDIR",
              help="The officer's workspace folder (or TIPDROP_WORKDIR).")
@click.option("--key", "key_path", type=click.Path(), envvar="TIPDROP_KEY",
              help="The unit's private key file UNIT.key, or a folder of the unit's "
                   ".key files after a key rotation (or TIPDROP_KEY).")
@click.option("--server", envvar=SERVER_ENV,
              help="The server the Exchange page pulls from and pushes to, as `officer pull` "
                   f"(or {SERVER_ENV}); without it the app exchanges files only.")
def app(port, no_browser, default_browser, show_link, idle_minutes, urgent, outbox_dir, workdir,
        key_path, server):
    """Open the officer app: inbox, search, tips, notes and replies in the browser.

    It listens on 127.0.0.1 only and opens a launch file only you can read,
    which signs the browser in once (Chromium or Firefox if on PATH, with a
    new profile removed when the app stops); the passphrase is typed in the
    page, and the keys and decrypted reports stay in this process's memory
    until Lock, the idle time, or Ctrl+C (docs/officer-guide.md).

    Example: tipdrop officer app --workdir ~/cases --key demo.key
    """
    from importlib import resources

    from tipdrop.officer.app.desk import Desk
    from tipdrop.officer.app.serve import CtrlC, run
    from tipdrop.officer.search import urgent_default

    if not workdir:
        raise UsageError("no workspace: pass --workdir or set TIPDROP_WORKDIR")
    if not key_path:
        raise UsageError("no key: pass --key or set TIPDROP_KEY")
    from tipdrop.officer.client import check_server_url

    ctrl_c = CtrlC.installed()  # from here on, Ctrl+C stops the app cleanly (serve.py)

    server = check_server_url(server) if server else None  # a wrong address stops it now
    urgent = urgent or urgent_default(resources.files("tipdrop.data") / "categories.json")
    desk = Desk(workdir, key_path, urgent=urgent, idle_seconds=idle_minutes * 60)
    run(desk, port=port, open_browser=not no_browser, outbox_dir=outbox_dir,
        say=lambda line: click.echo(line), server_url=server, show_link=show_link,
        default_browser=default_browser, ctrl_c=ctrl_c)




@officer.command("pull")
@click.option("--server", required=True, envvar=SERVER_ENV, help=_SERVER_HELP)
@click.option("--since-start", is_flag=True,
              help="Ask for everything again, not only what is new (e.g. after a lost download).")
@click.option("--ack", "send_ack", is_flag=True,
              help="First acknowledge the exports opened before this pull (back up the "
                   "workspace first): the server may then delete its copy of them.")
@_workspace_options
def pull(workspace, key, server, since_start, send_ack):
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
    counts = client.pull(workspace, client.OfficerClient(url, keyring.signing_key), keyring,
                         since_start=since_start)
    if counts["already_opened"] or not any(counts[k] for k in ("tips", "followups", "attachments")):
        click.echo("nothing new on the server")
    else:
        click.echo(f"pulled: {counts['tips']} new tips, {counts['followups']} follow-ups, "
                   f"{counts['attachments']} attachments")
    _say_unavailable(counts)


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
    if counts["forwards"]:
        click.echo(f"{counts['forwards']} forwarded tips handed to the server")


# team, passwd, audit, key-backup, key-restore; duplicate; backup
from tipdrop.officer import backup_cli, team_cli, triage_cli  # noqa: E402,F401
