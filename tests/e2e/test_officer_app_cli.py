"""`tipdrop officer app` as a real process: how it starts, where it listens, how it stops,
and how the browser gets its one-time launch token (seen by no other local user)."""

import fcntl
import http.client
import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.browser.test_officer_app_browser import _ctrl_c_as_at_a_terminal, _start_app
from tests.e2e.conftest import PASS, TIPDROP, assert_clean_error
from tests.serving import connect_to_listener

pytestmark = pytest.mark.e2e


def test_the_app_needs_a_workspace_and_a_private_key(ceremony, run_cli, tmp_path):
    _, officer = ceremony
    without_workdir = {k: v for k, v in officer.items() if k != "TIPDROP_WORKDIR"}
    assert_clean_error(run_cli("officer", "app", "--no-browser", env=without_workdir), "--workdir")
    public = tmp_path / "ceremony" / "demo.pub"
    assert_clean_error(run_cli("officer", "app", "--no-browser", "--key", public, env=officer),
                       "public key")


def test_the_app_listens_on_127_0_0_1_only_logs_no_request_and_stops_on_ctrl_c(ceremony, tmp_path):
    _, officer = ceremony
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    env |= {k: v for k, v in officer.items() if k not in PASS}
    process, _, url = _start_app(env, tmp_path)
    try:
        port = int(url.split(":")[2].split("/")[0])
        # Another loopback address of this machine is not listened on: the bind is 127.0.0.1.
        with pytest.raises(ConnectionRefusedError):
            connect_to_listener("127.0.0.2", port, timeout=10).close()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/inbox?q=secretword", headers={"Host": "rebound.example"})
        assert connection.getresponse().status == 421
        connection.close()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        code = process.wait(timeout=30)
    out, err = process.stdout.read(), process.stderr.read()
    assert code == 0, err
    assert "stopped" in out
    assert "secretword" not in out + err and "inbox" not in err and "GET" not in err


def _recording_browser(folder):
    """A browser command (for BROWSER) that records its arguments and the launch file's
    and folder's modes at that moment, and exits, as xdg-open does once it handed on."""
    script = folder / "browser.sh"
    script.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$0.argv"\n'
                      'path=$(printf "%s" "$1" | sed "s|^file://||")\n'
                      'stat -c %a "$path" "$(dirname "$path")" > "$0.modes"\n')
    script.chmod(0o700)
    return script


def test_the_launch_token_is_in_no_command_line_and_its_file_is_private_and_used_once(
        ceremony, tmp_path):
    _, officer = ceremony
    browser = _recording_browser(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    env |= {k: v for k, v in officer.items() if k not in PASS} | {"BROWSER": str(browser)}
    # When the app is started as the officer starts it: opening the (default) browser itself
    process, launch_url, address = _start_app(env, tmp_path, "--default-browser", browser=True)
    try:
        for _ in range(300):  # webbrowser.open runs the command just after the lines
            if browser.with_suffix(".sh.modes").exists():
                break
            time.sleep(0.1)
        argv = browser.with_suffix(".sh.argv").read_text().split("\n")
        launch = Path(urllib.parse.unquote(urllib.parse.urlsplit(launch_url).path))
        page = launch.read_text()
        token = re.search(r'name="token" value="([^"]+)"', page).group(1)
        port = int(address.split(":")[2].split("/")[0])

        # Then the browser was given the file, and the token is on no command line
        assert argv[0] == launch_url and len(token) >= 40
        assert all(token not in arg and "token=" not in arg for arg in argv)
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                assert token.encode() not in cmdline.read_bytes()
            except OSError:
                continue  # a process that ended meanwhile
        # and only the officer could read the file: 0600, in a folder of its own at 0700
        assert browser.with_suffix(".sh.modes").read_text().split() == ["600", "700"]
        assert launch.parent.parent == Path(officer["TIPDROP_WORKDIR"])

        # When the browser sends the file's form, the session begins and the file is gone
        answer = _post_launch(port, token)
        assert answer.status == 200 and "SameSite=Strict" in answer.getheader("Set-Cookie")
        assert not launch.exists() and not launch.parent.exists()
        assert _post_launch(port, token).status == 403  # once only
    finally:
        os.killpg(process.pid, signal.SIGINT)
        code = process.wait(timeout=30)
    out, err = process.stdout.read(), process.stderr.read()
    assert code == 0, err
    assert token not in out + err and "token=" not in out


def _post_launch(port, token):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/launch", body=urllib.parse.urlencode({"token": token}),
                       headers={"Content-Type": "application/x-www-form-urlencoded",
                                "Origin": "null"})
    answer = connection.getresponse()
    answer.read()
    connection.close()
    return answer


def test_an_unused_launch_file_is_removed_when_the_app_stops(ceremony, tmp_path):
    _, officer = ceremony
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    env |= {k: v for k, v in officer.items() if k not in PASS}
    process, launch_url, address = _start_app(env, tmp_path)
    launch = Path(urllib.parse.unquote(urllib.parse.urlsplit(launch_url).path))
    assert launch.exists()
    # (an answer, refused without the session: Ctrl+C now reaches the serving loop)
    assert _post_launch(int(address.split(":")[2].split("/")[0]), "wrong").status == 403
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=30) == 0, process.stderr.read()
    assert not launch.parent.exists()
    assert not list(Path(officer["TIPDROP_WORKDIR"]).glob("launch-*"))


def test_a_relative_workdir_gives_a_launch_file_by_its_full_path(ceremony, tmp_path):
    # An officer in ~ typing `--workdir cases`: the launch page's file: address
    # needs the folder's full path (it was an internal error, ValueError).
    _, officer = ceremony
    workdir = Path(officer["TIPDROP_WORKDIR"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    env |= {k: v for k, v in officer.items() if k not in PASS and k != "TIPDROP_WORKDIR"}
    process, launch_url, _ = _start_app(env, workdir.parent, "--workdir", workdir.name)
    try:
        launch = Path(urllib.parse.unquote(urllib.parse.urlsplit(launch_url).path))
        assert launch.is_absolute() and launch.exists() and launch.parent.parent == workdir
    finally:
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 0, process.stderr.read()


def test_the_address_with_the_token_is_printed_only_when_asked(ceremony, tmp_path):
    _, officer = ceremony
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    env |= {k: v for k, v in officer.items() if k not in PASS}
    process, launch_url, address = _start_app(env, tmp_path, "--show-link")
    try:
        launch = Path(urllib.parse.unquote(urllib.parse.urlsplit(launch_url).path))
        token = re.search(r'name="token" value="([^"]+)"', launch.read_text()).group(1)
        assert address.endswith(f"/?token={token}")
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)


def test_a_second_app_on_the_same_workspace_is_refused_and_leaves_the_first_as_it_was(
        ceremony, run_cli, tmp_path):
    _, officer = ceremony
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    env |= {k: v for k, v in officer.items() if k not in PASS}
    process, launch_url, address = _start_app(env, tmp_path)
    try:
        launch = Path(urllib.parse.unquote(urllib.parse.urlsplit(launch_url).path))
        incoming = Path(officer["TIPDROP_WORKDIR"]) / "incoming"
        incoming.mkdir(mode=0o700, exist_ok=True)
        receiving = incoming / "0123456789abcdef.tdx"  # a bundle the first app is receiving
        receiving.write_bytes(b"TDX")

        # When the officer starts the app again on the same workspace
        again = run_cli("officer", "app", "--no-browser", env=env)

        # Then it is refused in one line naming the running app's address
        assert_clean_error(again, "already running on this workspace", address)
        # and the first app's launch file and the bundle it was receiving are still there
        assert launch.exists() and receiving.exists()
        port = int(address.split(":")[2].split("/")[0])
        token = re.search(r'name="token" value="([^"]+)"', launch.read_text()).group(1)
        assert _post_launch(port, token).status == 200
    finally:
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 0
    # Once the first has stopped, the app starts again
    process, _, _ = _start_app(env, tmp_path)
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=30) == 0, process.stderr.read()


def _headless_chromium(folder):
    """``chromium`` for PATH: Debian's /usr/bin/chromium itself (exec'd: the same process),
    told to run without a screen (there is none here) and, as root in a container, without
    its sandbox."""
    folder.mkdir()
    script = folder / "chromium"
    script.write_text('#!/bin/sh\nexec /usr/bin/chromium --headless --no-sandbox --disable-gpu '
                      '"$@"\n')
    script.chmod(0o700)
    return folder


def _running_with(argument):
    """The pids of the processes whose command line holds ``argument``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if argument.encode() in cmdline.read_bytes().split(b"\0"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue  # a process that ended meanwhile
    return found


def test_the_app_opens_chromium_with_a_profile_of_its_own_and_removes_it_at_exit(
        ceremony, tmp_path):
    _, officer = ceremony
    workdir, home = Path(officer["TIPDROP_WORKDIR"]), tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    env |= {k: v for k, v in officer.items() if k not in PASS} | {
        "PATH": f"{_headless_chromium(tmp_path / 'bin')}:{os.environ['PATH']}", "HOME": str(home)}
    # When the app opens the browser itself, with Chromium on PATH
    process, launch_url, _ = _start_app(env, tmp_path, browser=True)
    launch = Path(urllib.parse.unquote(urllib.parse.urlsplit(launch_url).path))
    try:
        # Then the real Chromium signs in with the launch page (its token used, the file gone)
        for _ in range(600):
            if not launch.exists():
                break
            time.sleep(0.1)
        assert not launch.exists(), "Chromium did not sign in with the launch page"
        # in a profile of its own in the workspace, only the officer's, that Chromium filled
        [profile] = workdir.glob("browser-*")
        assert oct(profile.stat().st_mode & 0o777) == "0o700"
        assert (profile / "Local State").exists() or (profile / "Default").is_dir()
        assert _running_with(f"--user-data-dir={profile}")
        # and not in the everyday profile of the officer's home folder
        assert not (home / ".config" / "chromium").exists()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        code = process.wait(timeout=60)
    out, err = process.stdout.read(), process.stderr.read()
    assert code == 0, err
    assert "the browser's profile is removed" in out and "Traceback" not in err
    # When the app stopped: the browser is gone, and its profile with it
    assert not profile.exists() and not list(workdir.glob("browser-*"))
    for _ in range(50):
        if not _running_with(f"--user-data-dir={profile}"):
            break
        time.sleep(0.1)
    assert not _running_with(f"--user-data-dir={profile}"), "Chromium was left running"


def _fake_browser(folder):
    """``chromium`` for PATH that starts and waits, as a browser does until it is closed."""
    folder.mkdir()
    script = folder / "chromium"
    script.write_text("#!/bin/sh\nexec sleep 60\n")
    script.chmod(0o700)
    return folder


@pytest.mark.parametrize("browser", [False, True], ids=["no browser", "private browser"])
def test_a_ctrl_c_at_any_moment_of_the_start_stops_the_app_cleanly(ceremony, tmp_path, browser):
    """A Ctrl+C right after the address is printed, before the app serves (it opens the
    browser meanwhile), stops it as one while it serves does: exit 0, one line, and nothing
    left behind (its launch file, its browser and profile, its lock)."""
    _, officer = ceremony
    workdir = Path(officer["TIPDROP_WORKDIR"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    env |= {k: v for k, v in officer.items() if k not in PASS}
    if browser:
        env["PATH"] = f"{_fake_browser(tmp_path / 'bin')}:{os.environ['PATH']}"
    # The moment it lands varies from run to run: a few runs, a little later each time
    for attempt in range(5):
        process = subprocess.Popen(
            [str(TIPDROP), "officer", "app", *([] if browser else ["--no-browser"])], env=env,
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True, preexec_fn=_ctrl_c_as_at_a_terminal)
        first = queue.Queue()
        threading.Thread(target=lambda q=first, out=process.stdout: q.put(out.readline()),
                         daemon=True).start()
        try:
            address = first.get(timeout=60)
        except queue.Empty:
            process.kill()
            pytest.fail("the officer app printed no address within 60 s")
        assert address.startswith("officer app: http://127.0.0.1:"), address
        time.sleep(attempt * 0.003)

        # When the officer presses Ctrl+C
        os.killpg(process.pid, signal.SIGINT)

        # Then the app stops as it always does, in one line, with no error
        code = process.wait(timeout=60)
        out, err = process.stdout.read(), process.stderr.read()
        assert (code, err) == (0, ""), (attempt, code, err)
        assert out.splitlines()[-1].startswith("officer app: stopped; the keys are forgotten"), out
        # and leaves nothing behind: no launch file, no browser profile or browser, no lock
        assert not list(workdir.glob("launch-*")) and not list(workdir.glob("browser-*"))
        assert not _running_with(str(tmp_path / "bin" / "chromium")) or not browser
        with open(workdir / ".app.lock", "rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: no app holds it
