"""The browser the officer app opens gets a profile of its own, and the app ends it at the end.

Real processes: small scripts on PATH named as the browsers, which record
their arguments and then behave as a browser does (stay, start a helper,
ignore SIGTERM, fail). Real Chromium: tests/e2e/test_officer_app_cli.py.
"""

import os
import signal
import stat
import threading
import time
from pathlib import Path

import pytest

from tipdrop.officer.app import privatebrowser
from tipdrop.officer.app.privatebrowser import PrivateBrowser

URL = "file:///home/officer/cases/launch-x/open.html"


def _browser(folder, name, body):
    """An executable ``name`` in ``folder`` that records its arguments, one a line, then ``body``."""
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{folder}/{name}.argv"\n{body}\n')
    script.chmod(0o700)
    return script


def _written(path):
    """The lines of ``path`` once the script wrote it."""
    for _ in range(200):
        if path.exists() and path.read_text().endswith("\n"):
            return path.read_text().splitlines()
        time.sleep(0.05)
    raise AssertionError(f"{path.name} was not written: the script did not start")


def _argv(folder, name):
    return _written(folder / f"{name}.argv")


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_chromium_is_preferred_and_nothing_is_found_on_an_empty_path(tmp_path, monkeypatch):
    bin_ = tmp_path / "bin"
    _browser(bin_, "firefox", "")
    _browser(bin_, "chromium", "")
    monkeypatch.setenv("PATH", str(bin_))
    assert privatebrowser.find() == (str(bin_ / "chromium"), "Chromium", "chromium")
    (bin_ / "chromium").unlink()
    assert privatebrowser.find() == (str(bin_ / "firefox"), "Firefox", "firefox")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert privatebrowser.find() is None


def test_chromium_opens_the_page_in_a_new_private_profile_and_stop_ends_it_helpers_and_all(
        tmp_path, monkeypatch):
    bin_, workdir = tmp_path / "bin", tmp_path / "cases"
    workdir.mkdir()
    # A browser that starts a helper in its process group, as Chromium's zygote
    _browser(bin_, "chromium", f'echo "$BREAKPAD_DUMP_LOCATION" > "{bin_}/dumps"\n'
                               f'/bin/sleep 600 &\necho $! > "{bin_}/helper"\nexec /bin/sleep 600')
    monkeypatch.setenv("PATH", str(bin_))

    browser = PrivateBrowser.start(privatebrowser.find(), workdir, URL)
    argv = _argv(bin_, "chromium")
    profile = browser.profile
    assert profile.parent == workdir and profile.name.startswith("browser-")
    assert stat.S_IMODE(profile.stat().st_mode) == 0o700
    assert f"--user-data-dir={profile}" in argv and "--no-first-run" in argv
    assert argv[-1] == URL and "--incognito" not in argv  # notifications stay possible
    helper = int(_written(bin_ / "helper")[0])
    # Its crash dumps (the page's memory) go to the profile, not to ~/.config/chromium
    assert _written(bin_ / "dumps") == [str(profile / "Crash Reports")]
    assert _alive(browser.process.pid) and _alive(helper)

    browser.stop()
    assert not _alive(browser.process.pid) and not _alive(helper)
    assert not profile.exists()


def test_a_browser_that_ignores_sigterm_is_killed(tmp_path, monkeypatch):
    bin_ = tmp_path / "bin"
    _browser(bin_, "chromium", "trap '' TERM\nwhile true; do /bin/sleep 1; done")
    monkeypatch.setenv("PATH", str(bin_))
    monkeypatch.setattr(privatebrowser, "STOP_SECONDS", 1)
    browser = PrivateBrowser.start(privatebrowser.find(), tmp_path, URL)
    _argv(bin_, "chromium")
    browser.stop()
    assert browser.process.returncode == -signal.SIGKILL and not browser.profile.exists()


def test_firefox_gets_a_profile_of_its_own_and_no_remote(tmp_path, monkeypatch):
    bin_ = tmp_path / "bin"
    _browser(bin_, "firefox-esr", f'echo "$MOZ_CRASHREPORTER_DISABLE" > "{bin_}/dumps"\n'
                                  'exec /bin/sleep 600')
    monkeypatch.setenv("PATH", str(bin_))
    browser = PrivateBrowser.start(privatebrowser.find(), tmp_path, URL)
    try:
        argv = _argv(bin_, "firefox-esr")
        assert argv == ["--no-remote", "--new-instance", "--profile", str(browser.profile), URL]
        assert _written(bin_ / "dumps") == ["1"]  # no crash report in ~/.mozilla
        assert 'user_pref("browser.formfill.enable", false);' in \
            (browser.profile / "user.js").read_text()
    finally:
        browser.stop()
    assert not browser.profile.exists()


def test_a_browser_that_fails_at_start_is_reported_and_a_stopped_one_is_not(
        tmp_path, monkeypatch):
    bin_ = tmp_path / "bin"
    _browser(bin_, "chromium", "exit 3")
    monkeypatch.setenv("PATH", str(bin_))
    failed = threading.Event()
    codes = []
    browser = PrivateBrowser.start(privatebrowser.find(), tmp_path, URL)
    browser.watch(lambda code: (codes.append(code), failed.set()))
    assert failed.wait(30) and codes == [3]
    browser.stop()
    assert not browser.profile.exists()

    _browser(bin_, "chromium", "exec /bin/sleep 600")
    browser = PrivateBrowser.start(privatebrowser.find(), tmp_path, URL)
    browser.watch(codes.append)
    _argv(bin_, "chromium")
    browser.stop()  # ended by the app: not a failure to tell
    time.sleep(0.5)
    assert codes == [3]


def test_a_browser_that_cannot_be_started_leaves_no_profile(tmp_path):
    missing = (str(tmp_path / "no-such-browser"), "Chromium", "chromium")
    with pytest.raises(OSError):
        PrivateBrowser.start(missing, tmp_path, URL)
    assert not list(tmp_path.glob("browser-*"))


def test_profiles_a_killed_app_left_are_removed_at_start(tmp_path):
    left = tmp_path / "browser-abc123"
    (left / "Default").mkdir(parents=True)
    (left / "Default" / "History").write_bytes(b"tip addresses")
    kept = tmp_path / "tips.db"
    kept.write_bytes(b"")
    os.symlink(tmp_path / "elsewhere", tmp_path / "browser-link")
    privatebrowser.remove_leftovers(tmp_path)
    assert not left.exists() and kept.exists() and (tmp_path / "browser-link").is_symlink()
