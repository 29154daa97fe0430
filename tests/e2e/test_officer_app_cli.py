"""`tipdrop officer app` as a real process: how it starts, where it listens, how it stops."""

import http.client
import os
import signal

import pytest

from tests.browser.test_officer_app_browser import _start_app
from tests.e2e.conftest import PASS, assert_clean_error
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
    process, url = _start_app(env, tmp_path)
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
