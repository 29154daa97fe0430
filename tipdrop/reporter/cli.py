"""The reporter's commands: the reference client, sealing on this computer.

`tipdrop submit`, `tipdrop check` and `tipdrop followup` do what an app does
(docs/integration.md): seal on the reporter's own computer and talk to the
server's JSON API (tipdrop/reporter/client.py does the work). The receipt is
never a command-line argument: it would stay in the shell history and show
in `ps`.
"""

import sys
from pathlib import Path

import click

from tipdrop.common import terminal
from tipdrop.errors import UsageError

_SERVER_HELP = "The tip drop's address: https://..., or http:// to this computer only."
_PIN_HELP = ("A unit's .pub file whose fingerprint you checked out of band: refuse any other "
             "key (repeatable).")


def _read_text_file(path):
    try:
        return Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None


@click.command("submit")
@click.option("--server", required=True, metavar="URL", help=_SERVER_HELP)
@click.option("--region", required=True, help="Region code (the server's /api/v1/options).")
@click.option("--category", required=True, help="Category code (the server's /api/v1/options).")
@click.option("--text-file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="What happened, in full: a UTF-8 text file.")
@click.option("--details-file", metavar="FILE",
              help="The report's short details, one 'NAME: VALUE' a line: what (in a few "
                   "words), where, when, contact (only if you want to be reached), and "
                   "'answer ID' for each of the category's questions. - reads standard input.")
@click.option("--attach", "files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A file to attach (repeatable, at most 10).")
@click.option("--keep-location", is_flag=True,
              help="Keep the GPS position and capture time in photos (all else is removed).")
@click.option("--what", "--where", "--when", "--contact", "--answer", "on_command_line",
              multiple=True, hidden=True, help="Refused: use --details-file.")
@click.option("--language", type=click.Choice(["kk", "ru", "en"]), default="en",
              help="The language of the questions' labels sealed with the answers.")
@click.option("--unit-key", "unit_keys", multiple=True, help=_PIN_HELP,
              type=click.Path(exists=True, dir_okay=False))
def submit_command(server, region, category, text_file, details_file, files, keep_location,
                   on_command_line, language, unit_keys):
    """Send a report sealed on this computer: the server never sees its text or files.

    The report and every file are encrypted here to the unit's public key;
    photos (JPEG, PNG) are first cleaned of identifying metadata. The
    receipt code is made here too, after its first five symbols, which the
    server reserves for it: the server never sees the code, and follow-ups
    sent with it are signed. Prints the receipt code, once: keep it to read
    the police's replies with `tipdrop check`. Nothing of the report is a
    command-line argument: the shell history and `ps` would keep it.

    Example: tipdrop submit --server https://tips.example.kz --region almaty --category corruption --text-file report.txt --details-file details.txt --attach IMG_0001.jpg --unit-key demo.pub
    """
    from tipdrop.reporter import client as reporter_client

    if on_command_line:
        raise UsageError("report details are not taken from the command line (the shell history "
                         "and ps keep it): write them in a file, one 'NAME: VALUE' a line, and "
                         "pass --details-file FILE (or - for standard input)")
    details, answers = _read_details(details_file)
    sent = reporter_client.submit(
        server, region=region, category=category, description=_read_text_file(text_file),
        files=files, keep_location=keep_location, pinned=reporter_client.load_pinned(unit_keys),
        answers=answers, language=language, **details)
    pin = "pinned" if sent.pinned else "not pinned: use --unit-key to be sure"
    terminal.echo(f"sealed here to unit {sent.unit}, key {sent.key_id.hex()} ({pin})")
    for name, info in sent.files:
        if info.get("photo"):
            kept = "location and time kept" if info["kept_location_and_time"] else \
                "location and time removed"
            click.echo(f"{name}: photo cleaned, {len(info['metadata_removed'])} metadata "
                       f"items removed ({kept})")
    click.echo(f"receipt: {sent.receipt.formatted}")
    click.echo("Keep this code: a lost receipt cannot be recovered by anyone, not even the police.")


#: The names a --details-file may give, besides "answer ID".
DETAILS = ("what", "where", "when", "contact")


def _read_details(path):
    """--details-file: ({what, where, when, contact}, {question id: answer}).

    One ``NAME: VALUE`` a line; empty lines and lines starting with # are
    skipped. Each name once.
    """
    if path is None:
        return {}, {}
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        text = raw.decode("utf-8")
    except OSError as e:
        raise UsageError(f"--details-file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--details-file {path}: not UTF-8 text") from None
    details, answers = {}, {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition(":")
        name, value = " ".join(name.split()), value.strip()
        qid = name[len("answer "):] if name.startswith("answer ") else None
        if not sep or not (name in DETAILS or qid):
            raise UsageError(f"--details-file line {number}: expected NAME: VALUE, with NAME one "
                             f"of {', '.join(DETAILS)} or 'answer ID'")
        into, key = (answers, qid) if qid else (details, name)
        if key in into:
            raise UsageError(f"--details-file line {number}: {name} given twice")
        into[key] = value
    return details, answers


def _read_receipt():
    """The receipt from a hidden prompt, or stdin: never argv (shell history, ps)."""
    if sys.stdin.isatty():
        return click.prompt("Receipt code", hide_input=True)
    text = sys.stdin.readline(1000).strip()
    if not text:
        raise UsageError("no receipt code on standard input")
    return text


@click.command("check")
@click.option("--server", required=True, metavar="URL", help=_SERVER_HELP)
@click.option("--unit-key", "unit_keys", multiple=True, help=_PIN_HELP,
              type=click.Path(exists=True, dir_okay=False))
def check_command(server, unit_keys):
    """Check a report: its status, and the police's replies, verified and decrypted here.

    The receipt code is read from a hidden prompt, or from standard input
    when that is not a terminal; never from the command line, where it would
    stay in the shell history and show in `ps`. A reply is shown only if the
    unit's signature on it verifies (with --unit-key: by a key you pinned).
    A report forwarded to another unit says so, between the replies before
    and after it, without naming either unit.

    Example: tipdrop check --server https://tips.example.kz --unit-key demo.pub < receipt.txt
    """
    from tipdrop.reporter import client as reporter_client

    pinned = reporter_client.load_pinned(unit_keys)
    answer = reporter_client.check(server, _read_receipt(), pinned)
    terminal.echo(f"status: {answer.status} (since {answer.status_day}), "
               f"received {answer.received_day}")
    if answer.status == "transferred":
        terminal.echo("your report was forwarded to the police unit responsible for it: its "
                      "officers will answer you here, and your messages go to them")
    # A transfer shows between the replies before and after it, as on the status page.
    transfers = {}
    for day, after in answer.transfers:
        transfers.setdefault(after, []).append(day)
    _echo_transfers(transfers.get(0, ()))
    for count, reply in enumerate(answer.replies, start=1):
        _echo_reply(reply, forwarded=any(after < count for after in transfers))
        _echo_transfers(transfers.get(count, ()))


def _echo_transfers(days):
    for day in days:
        terminal.echo(f"forwarded ({day}) to the police unit responsible for it")


def _echo_reply(reply, forwarded):
    head = f"reply {reply.seq} ({reply.day}, {reply.status})"
    if not reply.verified:
        # After a forward the replies come from another unit, whose key may not be pinned.
        hint = "; the report was forwarded since: pin that unit's key too, with --unit-key" \
            if forwarded and not reply.pinned else ""
        terminal.echo(f"{head}: NOT VERIFIED, not shown: {reply.problem}{hint}")
        return
    signer = f"unit {reply.signer_unit}, key {reply.signer_key_id.hex()[:16]}"
    pin = "pinned" if reply.pinned else "not pinned"
    problem = f": {reply.problem}" if reply.problem else ""
    terminal.echo(f"{head}, signed by {signer} ({pin}){problem}")
    if reply.message:
        terminal.echo(reply.message)


@click.command("followup")
@click.option("--server", required=True, metavar="URL", help=_SERVER_HELP)
@click.option("--text-file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="What to add to the report: a UTF-8 text file.")
@click.option("--unit-key", "unit_keys", multiple=True, help=_PIN_HELP,
              type=click.Path(exists=True, dir_okay=False))
def followup_command(server, text_file, unit_keys):
    """Add information to a report, sealed on this computer: the server never sees it.

    The receipt code is read as `tipdrop check` reads it: from a hidden
    prompt, or from standard input; never from the command line. The text
    is encrypted here to the key of the unit the report went to (with
    --unit-key: only to a key you pinned).

    Example: tipdrop followup --server https://tips.example.kz --text-file more.txt --unit-key demo.pub < receipt.txt
    """
    from tipdrop.reporter import client as reporter_client

    text = _read_text_file(text_file)
    pinned = reporter_client.load_pinned(unit_keys)
    added = reporter_client.add_followup(server, _read_receipt(), text, pinned)
    pin = "pinned" if added.pinned else "not pinned: use --unit-key to be sure"
    terminal.echo(f"sealed here to unit {added.unit}, key {added.key_id.hex()} ({pin})")
    click.echo(f"follow-up {added.seq} added")


#: Registered on the top-level `tipdrop` group by tipdrop.cli.register_commands (in main()).
REPORTER_COMMANDS = (submit_command, check_command, followup_command)
