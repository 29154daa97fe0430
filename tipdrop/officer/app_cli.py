"""``tipdrop officer app``: the officer app, served on 127.0.0.1 to this officer's browser.

A thin command over tipdrop.officer.app.serve (docs/officer-guide.md).
"""

import click

from tipdrop.errors import UsageError
from tipdrop.officer.cli import officer
from tipdrop.officer.online_cli import SERVER_ENV


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
@click.option("--answer-days", default=3, show_default=True, type=click.IntRange(1, 365),
              help="Your unit's target for a first answer, in days: reports waiting longer "
                   "are counted and marked in the inbox's view of reports waiting for one.")
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
def app(port, no_browser, default_browser, show_link, idle_minutes, urgent, answer_days,
        outbox_dir, workdir, key_path, server):
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
    desk = Desk(workdir, key_path, urgent=urgent, idle_seconds=idle_minutes * 60,
                answer_days=answer_days)
    run(desk, port=port, open_browser=not no_browser, outbox_dir=outbox_dir,
        say=lambda line: click.echo(line), server_url=server, show_link=show_link,
        default_browser=default_browser, ctrl_c=ctrl_c)
