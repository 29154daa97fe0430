"""The workstation's officer API client: which addresses it talks to, and how it fails."""

import datetime
import http.server
import io
import json
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tipdrop.common import remote
from tipdrop.errors import UsageError
from tipdrop.officer import client
from tipdrop.protocol.officer_auth import HEADERS


@pytest.mark.parametrize("url,expected", [
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("http://127.5.6.7", "http://127.5.6.7:80"),
    ("http://localhost:5000/", "http://localhost:5000"),
    ("http://LOCALHOST:5000", "http://localhost:5000"),
    ("http://[::1]:8080", "http://[::1]:8080"),
    ("https://tips.example.kz", "https://tips.example.kz:443"),
    ("https://tips.example.kz:8443/tipdrop/", "https://tips.example.kz:8443/tipdrop"),
    ("  https://10.1.2.3  ", "https://10.1.2.3:443"),
])
def test_https_anywhere_and_http_to_this_computer_are_accepted(url, expected):
    assert str(remote.check_server_url(url)) == expected


@pytest.mark.parametrize("url", [
    "http://10.0.0.1", "http://tips.example.kz", "http://localhost.example.com",
    "http://127.0.0.1.nip.io", "http://0.0.0.0:8080", "http://[::]:8080", "http://192.168.1.5",
])
def test_plain_http_to_another_computer_is_refused(url):
    with pytest.raises(remote.InsecureServerError, match="https://"):
        remote.check_server_url(url)


@pytest.mark.parametrize("url", [
    "", "tips.example.kz", "ftp://tips.example.kz", "https://", "https://user:pw@tips.example.kz",
    "https://tips.example.kz/?unit=demo", "https://tips.example.kz/#x", "https://tips:99999",
])
def test_addresses_that_are_not_a_server_are_refused(url):
    with pytest.raises(UsageError):
        remote.check_server_url(url)


# --- against small local servers ------------------------------------------------------


class _Canned(http.server.BaseHTTPRequestHandler):
    """Answers every request with the server's canned (status, headers, body)."""

    def do_GET(self):
        self.server.seen.append((self.command, self.path, dict(self.headers)))
        status, headers, body = self.server.answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def canned():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    server.seen, server.answer = [], (200, {}, b"")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _client(server, unit_key, scheme="http"):
    return client.OfficerClient(f"{scheme}://127.0.0.1:{server.server_port}/base", unit_key,
                                timeout=10)


def test_requests_are_signed_for_the_path_under_the_servers_address(canned, unit_key):
    canned.answer = (200, {"Content-Length": "3"}, b"abc")
    out = io.BytesIO()
    assert _client(canned, unit_key).download_export(out, since_start=True) == 3
    assert out.getvalue() == b"abc"
    [(method, path, headers)] = canned.seen
    assert (method, path) == ("GET", "/base/officer/v1/export?since_start=1")
    assert set(HEADERS) <= set(headers)
    assert "Cookie" not in headers and headers["Accept-Language"] == "en"


def test_a_download_cut_short_is_an_error(canned, unit_key):
    canned.answer = (200, {"Content-Length": "100", "Connection": "close"}, b"only ten..")
    with pytest.raises(remote.ServerAnswerError, match="connection closed"):
        _client(canned, unit_key).download_export(io.BytesIO())


def test_the_servers_json_reason_becomes_the_message(canned, unit_key):
    answer = {"error": "RequestAuthError", "message": "The request's signature was refused.",
              "detail": "check the workstation's clock"}
    canned.answer = (401, {"Content-Type": "application/json"}, json.dumps(answer).encode())
    with pytest.raises(remote.ServerRefusedError) as refused:
        _client(canned, unit_key).send_replies(b"{}")
    assert refused.value.message == ("The server refused the request: The request's signature "
                                     "was refused: check the workstation's clock (HTTP 401)")


def test_an_answer_that_is_not_the_officer_api_is_named_by_its_status(canned, unit_key):
    canned.answer = (502, {"Content-Type": "text/html"}, b"<h1>Bad Gateway</h1>")
    with pytest.raises(remote.ServerRefusedError, match="HTTP 502"):
        _client(canned, unit_key).download_export(io.BytesIO())


def test_replies_count_as_delivered_only_when_the_server_confirms(canned, unit_key):
    canned.answer = (200, {}, b"<html>a captive portal</html>")
    with pytest.raises(remote.ServerAnswerError):
        _client(canned, unit_key).send_replies(b"{}")


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return tmp_path / "cert.pem", tmp_path / "key.pem"


def test_a_certificate_the_system_does_not_trust_is_refused(canned, unit_key, tmp_path):
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    canned.socket = context.wrap_socket(canned.socket, server_side=True)
    with pytest.raises(remote.ServerUnreachableError, match="certificate is not trusted"):
        _client(canned, unit_key, scheme="https").download_export(io.BytesIO())
    assert canned.seen == []
