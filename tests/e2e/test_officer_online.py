"""The officer exchange online: the real CLI against the real server (gunicorn).

keygen → a reporter submits on the web → `tipdrop officer pull --server` →
list/show → reply → `tipdrop officer push --server` → the reporter sees the
reply. Requests are signed with the unit key; a replayed one is refused.
"""

import http.client
import http.server
import json
import re
import threading

import pytest

from tests.e2e.conftest import assert_clean_error
from tests.serving import free_port
from tests.web_forms import check_on_web, submit_on_web
from tipdrop.crypto import kdf, keys
from tipdrop.protocol import officer_auth

pytestmark = pytest.mark.e2e


def _submit(server, description):
    return submit_on_web(server, {"region": "almaty", "category": "theft",
                                  "description": description})


def test_pull_reply_and_push_make_the_loop_without_carrying_files(ceremony, run_cli):
    server, officer = ceremony
    url = f"http://127.0.0.1:{server.port}"
    receipt = _submit(server, "Велосипеды продают за вокзалом.")

    # When the officer pulls over the officer API
    pulled = run_cli("officer", "pull", "--server", url, env=officer)
    assert pulled.returncode == 0, pulled.stderr
    assert "pulled: 1 new tips" in pulled.stdout

    # Then the tip is on the workstation and opens
    [tip] = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    shown = run_cli("officer", "show", tip["id"][:6], env=officer, check=True)
    assert "Велосипеды продают за вокзалом." in shown.stdout

    # When the officer replies
    run_cli("officer", "reply", tip["id"][:6], "--status", "need-info", "--message",
            "Во сколько это было?", env=officer, check=True)

    # And a push that cannot reach the server leaves the reply queued
    down = run_cli("officer", "push", "--server", f"http://127.0.0.1:{free_port()}", env=officer)
    assert_clean_error(down, "Cannot reach the server")
    assert "in outbox" in run_cli("officer", "show", tip["id"], env=officer, check=True).stdout

    # Until a push reaches it
    pushed = run_cli("officer", "push", "--server", url, env=officer)
    assert pushed.returncode == 0, pushed.stderr
    assert "1 replies sent to the server" in pushed.stdout

    # Then the reporter sees the question and the status
    page = check_on_web(server, receipt)
    assert 'data-status="need-info"' in page
    assert re.search(r'class="[^"]*\breply\b[^"]*".*Во сколько это было\?', page, re.S)

    # And the workstation knows the reply left; nothing is queued any more
    shown = run_cli("officer", "show", tip["id"], env=officer, check=True)
    assert "need-info, sent " in shown.stdout
    again = run_cli("officer", "push", "--server", url, env=officer)
    assert_clean_error(again, "outbox is empty")
    assert "nothing new" in run_cli("officer", "pull", "--server", url, env=officer,
                                    check=True).stdout

    # And the server's log says nothing about the officer's requests
    assert "officer" not in server.log_path.read_text()


class _Recorder(http.server.BaseHTTPRequestHandler):
    """A proxy that forwards to the server and keeps a copy of every request."""

    def do_GET(self):
        self._forward()

    do_POST = do_GET

    def _forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        self.server.captured.append((self.command, self.path, headers, body))
        conn = http.client.HTTPConnection("127.0.0.1", self.server.upstream, timeout=60)
        conn.request(self.command, self.path, body=body or None, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "content-length", "date",
                                    "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder(server):
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    proxy.upstream, proxy.captured = server.port, []
    thread = threading.Thread(target=proxy.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()


@pytest.fixture
def cheap_officer(server, tmp_path):
    """The workstation of start_server's own unit key (cheap Argon2 parameters)."""
    return {"TIPDROP_PASSPHRASE": "officer pass", "TIPDROP_WORKDIR": str(tmp_path / "cases"),
            "TIPDROP_KEY": str(server.key_file)}


def test_a_captured_request_replayed_to_the_server_is_refused(server, recorder, cheap_officer,
                                                              run_cli):
    _submit(server, "Кража со склада.")
    # Given the officer's real pull went through a recording proxy
    pulled = run_cli("officer", "pull", "--server", f"http://127.0.0.1:{recorder.server_port}",
                     env=cheap_officer)
    assert pulled.returncode == 0, pulled.stderr
    assert "pulled: 1 new tips" in pulled.stdout
    # (only the export: a pull acknowledges nothing unless asked with --ack)
    [(method, path, headers, body)] = recorder.captured
    assert set(officer_auth.HEADERS) <= set(headers)

    # When someone sends exactly that request again
    status, _, answer = server.request(method, path, body or None, headers)

    # Then it is refused as a replay, in JSON, and the officer can still pull
    assert status == 401
    doc = json.loads(answer)
    assert doc["error"] == "RequestAuthError" and "already received" in doc["detail"]
    since = run_cli("officer", "pull", "--server", f"http://127.0.0.1:{server.port}",
                    "--since-start", env=cheap_officer, check=True)
    assert "nothing new" in since.stdout  # the workstation already holds it all


def test_http_to_another_computer_is_refused_before_the_passphrase(run_cli, tmp_path):
    result = run_cli("officer", "pull", "--server", "http://192.0.2.10:8080",
                     env={"TIPDROP_WORKDIR": str(tmp_path / "w"), "TIPDROP_KEY": "absent.key"})
    assert_clean_error(result, "Refusing plain http:// to another computer")


def test_a_server_that_does_not_answer_is_a_clear_error(server, cheap_officer, run_cli):
    server.stop()
    result = run_cli("officer", "pull", "--server", f"http://127.0.0.1:{server.port}",
                     env=cheap_officer)
    assert_clean_error(result, "Cannot reach the server", "127.0.0.1")


def test_a_key_the_server_does_not_know_gets_the_servers_reason(server, run_cli, tmp_path):
    stranger = tmp_path / "stranger.key"
    stranger.write_bytes(keys.private_to_file(keys.generate("demo"), "pw", kdf.TEST_PARAMS))
    result = run_cli("officer", "pull", "--server", f"http://localhost:{server.port}",
                     env={"TIPDROP_PASSPHRASE": "pw", "TIPDROP_WORKDIR": str(tmp_path / "w"),
                          "TIPDROP_KEY": str(stranger)})
    assert_clean_error(result, "The server refused the request", "not installed", "HTTP 401")
