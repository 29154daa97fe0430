"""The launch file: how the officer's browser gets the launch token, seen by no one else.

An address given to ``webbrowser.open`` is an argument of xdg-open and of
the browser, and every local user can read a process's arguments in
``/proc/PID/cmdline``: a launch token in it could be taken by another user
of the workstation before the officer's browser uses it (and so lock the
officer out, or hold the session). So the browser is given the path of a
small page instead, in a folder of the workspace that only the officer can
open (0700, the file 0600): its form POSTs the token to the app, by itself
when scripts run, with a visible Continue button when they do not. The
token is in no command line, no address and no history entry; the file is
removed once the token is used, and when the app stops.

The folder is in the workspace, not the system's temporary folder: a
browser confined as a snap (Ubuntu's default Firefox and Chromium) has a
/tmp of its own and could not open a file put there.
"""

import base64
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from flask import Flask, render_template

from tipdrop.officer.app.gate import LAUNCH_FIELD, LAUNCH_PATH

#: The one script of the launch page (its CSP allows exactly this text).
SCRIPT = 'document.getElementById("launch").submit();'
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
#: Launch folders in the workspace are named so, to find those a stopped app left.
PREFIX = "launch-"
NAME = "open.html"


class LaunchFile:
    """The launch page of one run of the app, in its own private folder."""

    def __init__(self, app: Flask, workdir: Path):
        gate = app.extensions["officer_gate"]
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=workdir))  # 0700
        self.path = self.folder / NAME
        with app.test_request_context("/"):  # the page in the app's default language
            page = render_template(
                "launch_file.html", action=gate.origin + LAUNCH_PATH, field=LAUNCH_FIELD,
                token=gate.launch_token, script=SCRIPT,
                csp=f"default-src 'none'; script-src 'sha256-{_SCRIPT_HASH}'; "
                    f"form-action {gate.origin}; base-uri 'none'")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
        gate.on_launch = self.remove

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def remove_leftovers(workdir: Path) -> None:
    """At start: launch folders an app that was killed left (their tokens died with it)."""
    for folder in Path(workdir).glob(PREFIX + "*"):
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
