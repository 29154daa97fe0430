"""``tipdrop officer list`` and ``show``: reading the tips a workspace holds.

Everything printed may be a stranger's text: it goes through
tipdrop.common.terminal, which escapes control and format characters.
"""

import json

import click

from tipdrop.common import terminal
from tipdrop.errors import InputError
from tipdrop.officer.cli import _workspace_options, officer, part_name
from tipdrop.protocol.fields import STATUSES


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
@click.option("--all-followups", is_flag=True,
              help="Print every follow-up, not only the newest 500.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (report, files, follow-ups with their origin), "
                   "for scripts.")
@_workspace_options
def show(workspace, key, tip, save_attachments, all_followups, as_json):
    """Print the full report, follow-ups, notes and replies of one tip.

    TIP is the tip id or its first characters (at least 4). Each file says
    whether the sealed report binds it, and each follow-up whether it was
    signed on the reporter's device by the receipt holder or sealed by the
    server (docs/officer-guide.md).

    Example: tipdrop officer show 3f9a --save-attachments ~/evidence --workdir ~/cases --key demo.key
    """
    tip_id = workspace.resolve(tip)
    data = workspace.show(tip_id, key.unlock(), save_to=save_attachments,
                          all_followups=all_followups)
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
    bound = "" if data["sealer_bound"] or t["damaged"] else " (the export's word: not bound)"
    say(f"region: {one(t['region'])}  category: {one(t['category'])}  "
        f"encrypted on: {t['encrypted_on']}{bound}")
    if not data["reply_key_bound"]:
        say("reply key not bound: the sealed report does not name the key replies are sealed "
            "to, so they go to the one the export named, which the server or whoever carried "
            "the export could have changed")
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
            f"{part_name(c['part'])} (opened {c['day']}): kept in the workspace as it came; "
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
    if data.get("followups_not_shown"):
        say(f"\n{data['followups_not_shown']} earlier follow-up(s) not shown "
            "(--all-followups prints them)")
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
