"""Run the officer app: 127.0.0.1 only, one request at a time, the idle lock on a timer.

werkzeug's own server, in this process: the app serves one officer's
browser on this computer, so it needs neither workers nor a proxy, and the
keys stay in the one process that asked for the passphrase. Connections get
a thread each (a browser's idle, preconnected socket must not hold up the
page), but requests run one at a time, under the desk's mutex. A connection
from another user of the computer is closed before it is read (peers.py).
One app runs on a workspace at a time (only_app). Ctrl+C stops it the same
way at any moment, starting, serving or stopping (CtrlC).
"""

import fcntl
import os
import re
import signal
import threading
import webbrowser
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server

from tipdrop.errors import InputError
from tipdrop.officer.app import create_app, privatebrowser
from tipdrop.officer.app.desk import Desk
from tipdrop.officer.app.launchfile import LaunchFile, remove_leftovers
from tipdrop.officer.app.peers import OwnUserOnly

HOST = "127.0.0.1"
#: How often the watchdog checks the idle time, in seconds.
WATCH_SECONDS = 5
#: The file whose lock the one app of a workspace holds while it runs, with its address.
APP_LOCK = ".app.lock"


class AppRunningError(InputError):
    """The officer app is already running on this workspace: use it, or stop it (Ctrl+C in its terminal) first."""

    detail_is_message = False


@contextmanager
def only_app(workdir):
    """Hold the workspace's app lock while the block runs; AppRunningError if another holds it.

    A second app on one workspace removed the first one's launch file (so
    its officer could not sign in) and the bundles it was receiving
    (incoming.py), and each showed an index the other's replies and imports
    did not reach. The block is given a function that writes the app's
    address into the lock file, for the refusal to name it.
    """
    fd = os.open(Path(workdir) / APP_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            address = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            raise AppRunningError(address if re.fullmatch(r"http://127\.0\.0\.1:\d+/", address)
                                  else None) from None

        def note(address):
            os.ftruncate(fd, 0)
            os.pwrite(fd, address.encode("ascii"), 0)

        yield note
    finally:
        os.close(fd)  # releases the lock


class CtrlC:
    """Ctrl+C (SIGINT) for the app's process: it ends serving, and is only noted elsewhere.

    Python raises KeyboardInterrupt wherever the signal lands: one pressed
    while the app started (after its address was printed, while it opened
    the browser) ended it with "aborted" and skipped its cleanup, leaving
    the launch file, the browser and its profile. Installed before the app
    starts, this handler raises only while the server waits for requests
    (serve), once, and notes every other press: a press while starting
    stops the app before it serves, one while stopping changes nothing.
    It stays installed until the process ends, right after the app stops.
    """

    def __init__(self):
        self.pressed = False
        self._serving = False

    @classmethod
    def installed(cls):
        """A CtrlC handling SIGINT, unless this is not the main thread or SIGINT is ignored."""
        ctrl_c = cls()
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, ctrl_c._pressed)
        return ctrl_c

    def _pressed(self, signum, frame):
        if self._serving:
            self._serving = False  # once: the stopping that follows is not interrupted
            raise KeyboardInterrupt
        self.pressed = True

    def serve(self, server):
        """``server.serve_forever()`` until Ctrl+C, unless it was pressed already."""
        try:
            try:
                self._serving = True
                if not self.pressed:
                    server.serve_forever()
            finally:
                self._serving = False
        except KeyboardInterrupt:
            self.pressed = True


class QuietHandler(WSGIRequestHandler):
    """No request log: its lines would hold tip ids and search words, plaintext's shadows."""

    #: Seconds a connection may stay silent (a stalled client gives up its thread).
    timeout = 30

    def log(self, type, message, *args):
        pass


class Serialised:
    """WSGI middleware: one request at a time, under the desk's mutex, body included."""

    def __init__(self, app, mutex):
        self.app, self.mutex = app, mutex

    def __call__(self, environ, start_response):
        with self.mutex:
            return list(self.app(environ, start_response))


def _starting(environ, start_response):
    """The app until create_app has the port the server was given (a moment, before any print)."""
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


def run(desk: Desk, port: int = 0, open_browser: bool = True, outbox_dir=None,
        say: Callable[[str], None] = print, server_url=None, show_link: bool = False,
        default_browser: bool = False, ctrl_c: CtrlC | None = None) -> None:
    """Serve until interrupted; print the address and the launch file, and open that file.

    The launch token is printed only with ``show_link`` (launchfile.py says
    why it is kept off command lines). ``server_url``: the tipdrop server
    the Exchange page pulls from (a ServerURL), if any. The file opens in a
    browser with a profile of its own (privatebrowser.py), or with
    ``default_browser`` in the system's default browser. ``ctrl_c``: the
    process's CtrlC, installed before the desk was made (else here).
    """
    ctrl_c = ctrl_c or CtrlC.installed()
    if ctrl_c.pressed:  # while the desk was made: nothing started yet
        desk.close()
        say("officer app: stopped; the keys are forgotten")
        return
    with only_app(desk.workspace.dir) as note_address:
        server = make_server(HOST, port, _starting, threaded=True, request_handler=QuietHandler)
        # Before a thread or a byte of the request: only this user's sockets (peers.py).
        server.verify_request = OwnUserOnly((HOST, server.server_port))  # type: ignore[method-assign,assignment]
        app = create_app(desk, server.server_port, outbox_dir=outbox_dir, server_url=server_url)
        server.app = Serialised(app, desk.mutex)
        note_address(app.extensions["officer_gate"].origin + "/")
        remove_leftovers(desk.workspace.dir)
        privatebrowser.remove_leftovers(desk.workspace.dir)
        launch = LaunchFile(app, desk.workspace.dir)
        browser = None
        try:
            gate = app.extensions["officer_gate"]
            say(f"officer app: {gate.launch_url() if show_link else gate.origin + '/'}")
            if ctrl_c.pressed:
                pass  # stopping already: no browser to open, no sign-in to offer
            elif open_browser:
                browser = _open_browser(launch, desk.workspace.dir, default_browser, say)
            else:
                say(f"officer app: open {launch.url} in the browser to sign in (it works once)")
            _serve(server, app, desk, ctrl_c)
        finally:
            if browser is not None:
                browser.stop()  # the pages on its screen go with the keys
            launch.remove()
    say("officer app: stopped; the keys are forgotten"
        + ("; the browser's profile is removed" if browser is not None else ""))


def _open_browser(launch, workdir, default_browser, say):
    """Open the launch file (a path: the token is only inside it); the PrivateBrowser, if any."""
    found = None if default_browser else privatebrowser.find()
    if found is not None:
        path, name, _ = found
        say(f"officer app: opening {launch.url} to sign in (it works once), in {name} "
            "with a new profile of its own, removed when the app stops")
        try:
            browser = privatebrowser.PrivateBrowser.start(found, workdir, launch.url)
        except OSError as e:
            say(f"officer app: {path} could not be started ({e.strerror or e}): opening the "
                "default browser instead, with your everyday profile")
        else:
            def failed(code):
                unused = launch.path.exists()  # else the officer signed in, then it failed
                say(f"officer app: {name} stopped (exit code {code})" + (
                    f"; open {launch.url} in a browser yourself to sign in" if unused else ""))

            browser.watch(failed)
            return browser
    else:
        say(f"officer app: opening {launch.url} in the default browser to sign in "
            "(it works once)")
        if not default_browser:
            say("officer app: no Chromium or Firefox on PATH: the default browser keeps the "
                "app's addresses and downloads in your everyday profile "
                "(docs/officer-guide.md)")
    webbrowser.open(launch.url)
    return None


def _serve(server, app, desk, ctrl_c):
    stop = threading.Event()

    def watch():
        while not stop.wait(WATCH_SECONDS):
            desk.check_idle()

    threading.Thread(target=watch, name="idle-lock", daemon=True).start()
    try:
        ctrl_c.serve(server)
    finally:
        stop.set()
        server.server_close()
        app.extensions["officer_courier"].close()
        desk.close()
