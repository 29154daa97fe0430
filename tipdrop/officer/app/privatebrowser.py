"""The browser the app opens: Chromium or Firefox with a profile of its own, thrown away at the end.

A browser's everyday profile keeps what it was shown, on the disk outside
the workspace and long after the app stopped: the history (the app's
addresses name tips), the download list, caches, and a session to restore.
On a shared workstation all of it is there for the next user. So when
the app opens the browser itself, it prefers a browser it knows how to
start with a new, empty profile: the first of CANDIDATES found on PATH,
given a folder of the workspace as its profile (``browser-…``, 0700 like
the launch folder, and in the workspace for the same reason: a
snap-confined browser has a /tmp of its own, launchfile.py). When the app
stops it ends that browser (its process group: a browser's helpers, a
Firefox that restarted itself) and removes the folder; a folder left by an
app that was killed is removed at the next start. No private ("incognito")
window on top: the browser would then refuse the notifications of urgent
reports, and the profile is thrown away anyway.

With none of them on PATH, or ``--default-browser``, the launch page opens
in the system's default browser (Python's webbrowser), as before, and the
app says that its profile is the everyday one (docs/officer-guide.md).
"""

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

#: Browsers started with a profile of their own: (command on PATH, name, kind), in that order.
CANDIDATES = (
    ("chromium", "Chromium", "chromium"), ("chromium-browser", "Chromium", "chromium"),
    ("google-chrome", "Chrome", "chromium"), ("google-chrome-stable", "Chrome", "chromium"),
    ("firefox", "Firefox", "firefox"), ("firefox-esr", "Firefox", "firefox"),
)
#: Profile folders in the workspace are named so, to find those a killed app left.
PREFIX = "browser-"
#: Seconds the browser has to close by itself when the app stops, before it is killed.
STOP_SECONDS = 10

#: A new Firefox profile's first start: no welcome tabs, no default-browser question, and
#: nothing kept that the profile's removal would not remove anyway (form history, logins).
FIREFOX_PREFS = """\
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.aboutwelcome.enabled", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("startup.homepage_welcome_url", "");
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("browser.formfill.enable", false);
user_pref("signon.rememberSignons", false);
"""


def find() -> tuple[str, str, str] | None:
    """(path, name, kind) of the first known browser on PATH, or None."""
    for command, name, kind in CANDIDATES:
        path = shutil.which(command)
        if path:
            return path, name, kind
    return None


def environment(kind: str, profile: Path) -> dict[str, str]:
    """The browser's environment: its crash reports go to its profile, or nowhere.

    Chromium writes them under the everyday ~/.config/chromium whatever
    --user-data-dir says, and a renderer's crash dump holds the page's
    memory: decrypted text.
    """
    if kind == "firefox":
        return os.environ | {"MOZ_CRASHREPORTER_DISABLE": "1"}
    return os.environ | {"BREAKPAD_DUMP_LOCATION": str(profile / "Crash Reports")}


def command(path: str, kind: str, profile: Path, url: str) -> list[str]:
    """The command line that opens ``url`` in a new window of the browser, in ``profile``."""
    if kind == "firefox":
        return [path, "--no-remote", "--new-instance", "--profile", str(profile), url]
    # --password-store=basic: a new profile does not ask to unlock the desktop's keyring.
    return [path, f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check",
            "--password-store=basic", "--new-window", url]


class PrivateBrowser:
    """A browser this app started, with its profile folder in the workspace."""

    def __init__(self, process: subprocess.Popen, profile: Path, name: str):
        self.process, self.profile, self.name = process, profile, name
        self._stopping = threading.Event()

    @classmethod
    def start(cls, found: tuple[str, str, str], workdir: Path, url: str) -> "PrivateBrowser":
        """Start the browser ``found`` on ``url``; OSError if it cannot be started."""
        path, name, kind = found
        profile = Path(tempfile.mkdtemp(prefix=PREFIX, dir=workdir))  # 0700
        try:
            if kind == "firefox":
                (profile / "user.js").write_text(FIREFOX_PREFS, encoding="utf-8")
            # Its own session and process group: Ctrl+C in the app's terminal stops the app,
            # which then ends the browser itself (stop), helpers and all.
            process = subprocess.Popen(  # noqa: S603 (a browser found on PATH, our folder)
                command(path, kind, profile, url), env=environment(kind, profile),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
        except OSError:
            shutil.rmtree(profile, ignore_errors=True)
            raise
        return cls(process, profile, name)

    def watch(self, on_failure: Callable[[int], None]) -> None:
        """Call ``on_failure(exit code)`` if the browser ends in an error before stop()."""
        def wait():
            code = _exit_code(self.process.pid, block=True)
            if code and not self._stopping.is_set():
                on_failure(code)

        threading.Thread(target=wait, name="browser", daemon=True).start()

    def stop(self) -> None:
        """End the browser, its whole process group, and remove its profile.

        The browser is reaped only at the end: until then its pid (even as
        a zombie) holds the group's id, so no signal here can reach a
        process that took a freed id.
        """
        self._stopping.set()
        group = self.process.pid  # start_new_session: the group's id is the browser's pid
        if _exit_code(group) is None:
            _signal_group(group, signal.SIGTERM)
            for _ in range(STOP_SECONDS * 10):
                if _exit_code(group) is not None:
                    break
                time.sleep(0.1)
        _signal_group(group, signal.SIGKILL)  # what is left: a helper, a restarted Firefox
        self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def _exit_code(pid: int, block: bool = False) -> int | None:
    """The exit code (or -signal) of our child ``pid`` once it ended, without reaping it."""
    flags = os.WEXITED | os.WNOWAIT | (0 if block else os.WNOHANG)
    try:
        info = os.waitid(os.P_PID, pid, flags)
    except ChildProcessError:
        return 0  # reaped already
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def _signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except (ProcessLookupError, PermissionError):
        pass  # none of the group is left


def remove_leftovers(workdir: Path) -> None:
    """At start: profile folders an app that was killed left."""
    for folder in Path(workdir).glob(PREFIX + "*"):
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
