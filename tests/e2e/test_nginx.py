"""The shipped nginx configuration (deploy/nginx/tipdrop.conf) with a real nginx.

The file is rendered for the test (loopback ports, a self-signed certificate,
temp folders in a private prefix) by replacing only addresses and paths, and
wrapped in a minimal nginx.conf the way Debian's includes sites-enabled/:

* ``nginx -t`` accepts it, TLS block and onion block both;
* a 2 MB attachment carrying a canary, uploaded through nginx to a real
  ``tipdrop serve``, arrives (receipt page) and leaves no trace of the canary
  in nginx's temp folders or logs (request buffering is off);
* a client that stalls mid-upload is cut off by nginx's ``client_body_timeout``
  and tipdrop discards the draft (no staged blob left);
* uploads nginx refuses, cuts off or sees abandoned, a broken request line
  and a broken TLS handshake, all from a distinct loopback address, leave
  that address nowhere in nginx's error log (and, as a control, a variant
  without the blocks' ``error_log /dev/null`` does log it);
* ``tipdrop doctor --nginx-config`` accepts the file and flags a variant
  with ``proxy_request_buffering on``, and one that logs per-request errors.
* requests over nginx's own limits (413, 414, 431, 400) are answered, on both
  blocks, with tipdrop's own refusal in the reader's language from the files
  ``tipdrop nginx-pages`` writes, not nginx's English page; tipdrop's own
  refusals pass through unchanged.

Skipped only where nginx is missing and cannot be installed (not root); in CI
(root) ``make test`` installs it with .ci/system-packages.
"""

import copy
import datetime
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e import test_doctor_cli
from tests.serving import connect_to_listener, free_port, multipart, start_server
from tests.stored import all_blobs, staged_blobs
from tipdrop.server import nginxpages

#: A data and keys folder as on a first start (the fixture of test_doctor_cli).
deployment = test_doctor_cli.deployment

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "deploy" / "nginx" / "tipdrop.conf"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)

needs_nginx = pytest.mark.skipif(
    NGINX is None and os.geteuid() != 0,
    reason="nginx is not installed (make test installs it when run as root)")

CANARY = b"CANARY-NGINX-BODY-5e1d"
#: Short, so the stalled-upload case takes seconds, not the shipped 60 s.
TEST_BODY_TIMEOUT = 2


def _self_signed(folder):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tips.example.kz")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def render(prefix, app_port, tls_port, onion_port, body_timeout=None, buffering="off",
           client_log=False):
    """Write PREFIX/nginx.conf including the shipped file with test addresses and paths.

    ``client_log`` (a control case) drops the server blocks' ``error_log /dev/null``,
    so nginx writes per-request errors to the main error log, as by default.
    """
    prefix.mkdir(parents=True, exist_ok=True)
    cert, key = _self_signed(prefix)
    text = SHIPPED.read_text()
    replacements = [
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{tls_port} ssl http2;"),
        ("listen 127.0.0.1:8081;", f"listen 127.0.0.1:{onion_port};"),
        ("http://127.0.0.1:8080", f"http://127.0.0.1:{app_port}"),
        ("/etc/letsencrypt/live/tips.example.kz/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/tips.example.kz/privkey.pem", str(key)),
        ("/run/nginx-tipdrop-proxy", str(prefix / "proxy_temp")),
        ("/run/nginx-tipdrop", str(prefix / "client_body_temp")),
        ("/etc/nginx/tipdrop-refusals/", f"{prefix / 'refusals'}/"),
    ]
    for old, new in replacements:
        assert old in text, f"the shipped config no longer has {old!r}"
        text = text.replace(old, new)
    # No IPv6 listener: the test machine may have no ::1.
    text = re.sub(r"^\s*listen \[::\]:443.*$", "", text, flags=re.M)
    # Only for the test's control case: the unsafe setting, to see the check catch it.
    text = text.replace("proxy_request_buffering off;", f"proxy_request_buffering {buffering};")
    if client_log:
        assert "error_log /dev/null;" in text
        text = text.replace("error_log /dev/null;", "")
    if body_timeout is not None:
        text = text.replace("client_body_timeout 60s;", f"client_body_timeout {body_timeout}s;")
    (prefix / "tipdrop.conf").write_text(text)
    nginxpages.write_pages(prefix / "refusals")
    # As Debian's /etc/nginx/nginx.conf, with everything inside the prefix. As
    # root, workers would drop to "nobody" and could not enter the private
    # pytest folders: keep them as root (never do this in production).
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {prefix / (kind + '_temp')};"
                     for kind in ("fastcgi", "uwsgi", "scgi"))
    (prefix / "nginx.conf").write_text(f"""{user}worker_processes 1;
pid {prefix / 'nginx.pid'};
error_log {prefix / 'error.log'} info;
events {{ worker_connections 64; }}
http {{
    access_log {prefix / 'access.log'};
    gzip on;
{temp}
    include {prefix / 'tipdrop.conf'};
}}
""")
    return prefix / "nginx.conf"


def _nginx(conf, *args):
    prefix = conf.parent
    return subprocess.run([NGINX, "-p", str(prefix), "-e", str(prefix / "error.log"),
                           "-c", str(conf), *args], capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module", autouse=True)
def nginx_installed():
    global NGINX
    if NGINX is None and os.geteuid() == 0:
        subprocess.run([str(ROOT / ".ci" / "system-packages"), "nginx:nginx"], check=True)
        NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@needs_nginx
def test_nginx_accepts_the_shipped_config(tmp_path):
    conf = render(tmp_path / "nginx", free_port(), free_port(), free_port())
    result = _nginx(conf, "-t")
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def start_nginx(conf, port, server):
    """Run nginx on ``conf``; return its process once it listens on ``port``.

    If it never does (within 15 seconds, or it exits), ``server`` is stopped
    and the test fails with nginx's own error.
    """
    process = subprocess.Popen(
        [NGINX, "-p", str(conf.parent), "-e", str(conf.parent / "error.log"), "-c", str(conf),
         "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while True:
        try:
            connect_to_listener("127.0.0.1", port).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise AssertionError(f"nginx did not start: {process.stderr.read()}") from None
            time.sleep(0.1)


@pytest.fixture
def proxied(tmp_path, request):
    """tipdrop serve behind the shipped nginx config: (server, nginx prefix, ports).

    Parametrize indirectly with "on" for the control case with request buffering on,
    "client-log" for the one where nginx logs per-request errors.
    """
    server = start_server(tmp_path, extra_env={"TIPDROP_PROXIES": "1"})
    tls_port, onion_port = free_port(), free_port()
    variant = getattr(request, "param", "")
    conf = render(tmp_path / "nginx", server.port, tls_port, onion_port,
                  body_timeout=TEST_BODY_TIMEOUT, buffering="on" if variant == "on" else "off",
                  client_log=variant == "client-log")
    process = start_nginx(conf, onion_port, server)
    yield server, conf.parent, tls_port, onion_port
    process.terminate()
    process.wait(timeout=15)
    server.stop()


def _through(port, server):
    """A Server-like request helper aimed at nginx's port instead of tipdrop's."""
    proxy = copy.copy(server)
    proxy.port = port
    return proxy


def _files_with_canary(prefix):
    """Files under ``prefix`` holding the canary: those in a folder, and those open
    in a process (nginx opens its body temp files and unlinks them at once, so
    they are on disk but in no folder; /proc/PID/fd still reads them)."""
    found = {str(p.relative_to(prefix)) for p in prefix.rglob("*")
             if p.is_file() and CANARY in p.read_bytes()}
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            target = os.readlink(fd)
            if target.startswith(str(prefix) + "/") and CANARY in fd.read_bytes():
                found.add(target[len(str(prefix)) + 1:])
        except OSError:
            continue
    return sorted(found)


def _upload_with_a_pause(port, path, content_type, body, prefix):
    """POST ``body`` in two halves with a pause between; return (status, Location, page, files
    under ``prefix`` that held the canary during the pause). nginx deletes its
    body temp files when a request ends, so the time to look is mid-upload."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", content_type)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        half = len(body) // 2
        conn.send(body[:half])
        time.sleep(1.0)
        seen = _files_with_canary(prefix)
        conn.send(body[half:])
        response = conn.getresponse()
        return response.status, response.getheader("Location"), response.read(), seen
    finally:
        conn.close()


@needs_nginx
def test_upload_through_nginx_arrives_and_leaves_no_plaintext_in_nginx(proxied):
    server, prefix, tls_port, onion_port = proxied
    onion = _through(onion_port, server)
    # Given the submit form, fetched through the onion block
    status, headers, page = onion.request("GET", "/submit")
    assert status == 203
    assert headers.get("X-Tipdrop-Proxy-Buffering") == "off"
    token = re.search(rb'name="token" value="([^"]+)"', page).group(1).decode()

    # When a report with a 2 MB attachment carrying a canary goes through nginx
    file_bytes = (CANARY + b"\x00" * 1000) * 2000
    content_type, body = multipart(
        {"token": token, "region": "astana", "category": "drugs", "website": "",
         "description": "through nginx " + CANARY.decode()},
        [("files", "clip.mp4", "video/mp4", file_bytes)])
    status, location, page, seen_mid_upload = _upload_with_a_pause(
        onion_port, "/submit", content_type, body, prefix)

    # Then nginx held none of it in a file, not even while the upload was in flight
    assert seen_mid_upload == []

    # Then it arrived: a redirect to the receipt page, and one encrypted attachment on tipdrop's side
    assert status == 303, page[:500]
    status, _, page = onion.request("GET", location)
    assert re.search(rb'id="receipt">([^<]+)<', page), page[:500]
    blobs = [name for name, staged in all_blobs(server.data_dir).items() if staged is None]
    assert len(blobs) == 1

    # And the TLS block answers too, with the marker doctor --check-url looks for
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", tls_port, context=context, timeout=30)
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("X-Tipdrop-Proxy-Buffering") == "off"
    conn.close()

    # And nothing of the report is in nginx's temp folders or logs
    files = [p for p in prefix.rglob("*") if p.is_file()]
    assert any(p.name == "error.log" for p in files)
    for path in files:
        content = path.read_bytes()
        assert CANARY not in content, f"canary found in {path}"
        assert b"/submit" not in content or path.name == "access.log", path
    # access_log off in the server blocks overrides the http-level log
    access = prefix / "access.log"
    assert not access.exists() or access.read_bytes() == b""


@needs_nginx
@pytest.mark.parametrize("proxied", ["on"], indirect=True)
def test_control_with_request_buffering_on_the_check_above_sees_the_leak(proxied):
    """The mid-upload look is not vacuous: with buffering on, nginx spools the body
    to an (unlinked) temp file, and the look finds it."""
    server, prefix, _, onion_port = proxied
    content_type, body = multipart(
        {"region": "astana", "category": "drugs", "description": "buffered"},
        [("files", "clip.mp4", "video/mp4", (CANARY + b"\x00" * 1000) * 2000)])
    status, _, page, seen = _upload_with_a_pause(onion_port, "/api/v1/tips", content_type,
                                                 body, prefix)
    assert status == 201, page[:300]
    assert any(name.startswith("client_body_temp") for name in seen), seen


@needs_nginx
def test_a_stalled_upload_is_cut_off_by_nginx_and_discarded(proxied):
    server, prefix, _, onion_port = proxied
    content_type, body = multipart(
        {"region": "astana", "category": "theft", "description": "stalls"},
        [("files", "slow.mp4", "video/mp4", (CANARY + b"\x00" * 500) * 2000)])
    sock = socket.create_connection(("127.0.0.1", onion_port), timeout=30)
    try:
        sock.sendall((f"POST /api/v1/tips HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:256 * 1024])
        deadline = time.monotonic() + 10
        while not staged_blobs(server.data_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert staged_blobs(server.data_dir), "the upload never reached tipdrop"
        stalled = time.monotonic()
        # When the client stops sending but keeps the connection open
        deadline = stalled + TEST_BODY_TIMEOUT + 15
        while staged_blobs(server.data_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        # Then nginx gave up after client_body_timeout and tipdrop discarded the draft
        assert not staged_blobs(server.data_dir), "the stalled upload's staged blob is still there"
        assert time.monotonic() - stalled >= TEST_BODY_TIMEOUT - 0.5
        # ... and the client got no receipt, only a closed connection or an error
        sock.settimeout(10)
        try:
            answer = sock.recv(200)
        except OSError:
            answer = b""
        assert not answer.startswith(b"HTTP/1.1 201"), answer
    finally:
        sock.close()
    assert CANARY not in b"".join(p.read_bytes() for p in prefix.rglob("*") if p.is_file())


#: The address the clients of the error-log test come from; no other test uses it.
SOURCE = "127.0.0.78"


def _from_source(port, payload, wait=0.0):
    """Send ``payload`` to nginx's ``port`` from SOURCE, wait, read until closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=TEST_BODY_TIMEOUT + 20,
                                  source_address=(SOURCE, 0)) as sock:
        sock.sendall(payload)
        time.sleep(wait)
        sock.shutdown(socket.SHUT_WR)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass


def _refused_and_broken_requests(tls_port, onion_port):
    """What makes nginx write per-request errors: each kind, from SOURCE."""
    content_type, body = multipart({"region": "astana", "category": "theft", "description": "x"},
                                   [("files", "a.mp4", "video/mp4", b"\x00" * 200_000)])
    head = (f"POST /api/v1/tips HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    # A body over client_max_body_size: nginx refuses it (an "error" line).
    _from_source(onion_port, b"POST /submit HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 900000000\r\n\r\n")
    # An upload that stalls until client_body_timeout, and one cut by the client.
    _from_source(onion_port, head + body[:50_000], wait=TEST_BODY_TIMEOUT + 1)
    with socket.create_connection(("127.0.0.1", onion_port), source_address=(SOURCE, 0)) as sock:
        sock.sendall(head + body[:50_000])
        time.sleep(0.5)
    # A broken request line, a header nginx refuses, and a broken TLS handshake.
    _from_source(onion_port, b"GARBAGE\r\n\r\n")
    _from_source(onion_port, b"GET / HTTP/1.1\r\nHost: x\r\nBad\x01Header: y\r\n\r\n")
    _from_source(tls_port, b"\x16\x03\x01\x00\x10" + b"\x01" * 16)
    time.sleep(1.0)  # nginx's and tipdrop's sides of the cut upload finish


@needs_nginx
def test_no_client_address_reaches_nginx_error_log_after_refused_and_cut_uploads(proxied):
    server, prefix, tls_port, onion_port = proxied
    # When uploads are refused, stall, are cut short, and heads and handshakes are broken
    _refused_and_broken_requests(tls_port, onion_port)
    # Then the upload the client cut is gone, and nginx logged who sent none of it
    assert not staged_blobs(server.data_dir)
    log = (prefix / "error.log").read_bytes()
    assert SOURCE.encode() not in log, log.decode(errors="replace")[-3000:]
    assert b"client:" not in log, log.decode(errors="replace")[-3000:]


@needs_nginx
@pytest.mark.parametrize("proxied", ["client-log"], indirect=True)
def test_control_without_error_log_off_nginx_logs_the_client_address(proxied):
    """The search above is not vacuous: by default nginx names the client in these lines."""
    server, prefix, tls_port, onion_port = proxied
    _refused_and_broken_requests(tls_port, onion_port)
    log = (prefix / "error.log").read_bytes()
    assert f"client: {SOURCE}".encode() in log, log.decode(errors="replace")[-3000:]


@needs_nginx
def test_doctor_accepts_the_shipped_config_and_flags_buffering(run_cli, deployment, tmp_path):
    doctor = test_doctor_cli.doctor
    shipped = test_doctor_cli.with_pages(run_cli, tmp_path, SHIPPED)
    result = doctor(run_cli, deployment, "--nginx-config", shipped)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "problem:" not in result.stdout
    assert "nginx refusal pages" in result.stdout

    buffering = tmp_path / "buffering.conf"
    buffering.write_text(SHIPPED.read_text().replace(
        "proxy_request_buffering off;", "proxy_request_buffering on;", 1))
    result = doctor(run_cli, deployment, "--nginx-config", buffering)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "proxy_request_buffering" in result.stdout

    # Without the error_page lines, it names each line to add
    lines = tmp_path / "no-refusal-pages.conf"
    lines.write_text("\n".join(line for line in shipped.read_text().split("\n")
                               if not line.strip().startswith("error_page 4")))
    result = doctor(run_cli, deployment, "--nginx-config", lines)
    assert result.returncode == 2, result.stdout + result.stderr
    problems = [ln for ln in result.stdout.splitlines() if ln.startswith("problem: ")]
    assert len(problems) == 4, result.stdout  # head and body refusals, in both server blocks
    assert all("its own English page" in ln or "nginx's English 413" in ln for ln in problems)
    assert "'error_page 494 =431 /.tipdrop-refused/431.$tipdrop_lang.$tipdrop_refusal_kind;'" \
        in result.stdout

    # Without the pages written, it gives the command that writes them
    unwritten = tmp_path / "unwritten.conf"
    unwritten.write_text(SHIPPED.read_text().replace(nginxpages.FOLDER, str(tmp_path / "none")))
    result = doctor(run_cli, deployment, "--nginx-config", unwritten)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"fix: write them: tipdrop nginx-pages --out {tmp_path / 'none'}" in result.stdout

    logging = tmp_path / "logging.conf"
    logging.write_text(SHIPPED.read_text().replace("error_log /dev/null;", "", 1))
    result = doctor(run_cli, deployment, "--nginx-config", logging)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error_log is not /dev/null" in result.stdout


def _answer(port, payload, tls=False):
    """Send ``payload`` to nginx on ``port``; return (status, headers, body) of its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        sock = raw
        if tls:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            sock = context.wrap_socket(raw)
        sock.sendall(payload)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    return int(lines[0].split(" ")[1]), headers, body


def _nginx_refusals():
    """Requests over nginx's own limits: (name, request bytes, status, language, kind)."""
    big_body = b"Content-Length: 900000000\r\n"
    return [
        ("body over client_max_body_size, Kazakh reader",
         b"POST /submit HTTP/1.1\r\nHost: x\r\nAccept-Language: kk-KZ,kk;q=0.9\r\n" + big_body
         + b"\r\n", 413, "kk", "html"),
        ("the same to the API, ?lang=en over Accept-Language",
         b"POST /api/v1/tips?lang=en HTTP/1.1\r\nHost: x\r\nAccept-Language: kk\r\n" + big_body
         + b"\r\n", 413, "en", "json"),
        ("a header over large_client_header_buffers, English reader",
         b"GET /check HTTP/1.1\r\nHost: x\r\nAccept-Language: en-GB,en\r\nX-Big: "
         + b"A" * 20_000 + b"\r\n\r\n", 431, "en", "html"),
        ("a request line over them (nothing of it readable: Russian)",
         b"GET /check?lang=kk&x=" + b"B" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
         414, "ru", "html"),
        ("a head nginx cannot parse",
         b"GET / HTTP/1.1\r\nHost: x\r\nAccept-Language: ru\r\nBad\x01Header: y\r\n\r\n",
         400, "ru", "html"),
    ]


@needs_nginx
@pytest.mark.parametrize("case", _nginx_refusals(), ids=[c[0] for c in _nginx_refusals()])
def test_nginx_refuses_over_its_own_limits_with_tipdrops_page_in_the_readers_language(
        proxied, case):
    server, prefix, tls_port, onion_port = proxied
    _, payload, status, lang, kind = case
    for port, tls in ((onion_port, False), (tls_port, True)):
        # When a request over nginx's limits comes, on the onion block and the TLS block
        got, headers, body = _answer(port, payload, tls)
        # Then it is refused with its status and tipdrop's own answer in the reader's language
        assert got == status, (port, got, body[:300])
        assert body == nginxpages.page(status, lang, kind), body[:300]
        assert headers["content-language"] == lang
        assert headers["content-type"].startswith(
            "text/html" if kind == "html" else "application/json")
        assert headers["cache-control"] == "no-store"
        assert b"nginx" not in body


@needs_nginx
def test_tipdrops_own_refusals_still_pass_through_nginx_unchanged(proxied):
    # A request within nginx's limits that tipdrop refuses keeps tipdrop's answer
    server, prefix, tls_port, onion_port = proxied
    status, headers, body = _answer(onion_port, b"GET /no-such-page?lang=kk HTTP/1.1\r\n"
                                    b"Host: x\r\nConnection: close\r\n\r\n")
    assert status == 404 and b'lang="kk"' in body, body[:300]
    assert b"nginx" not in body and b".tipdrop-refused" not in body


def test_nginx_pages_writes_every_refusal_in_every_language_readable_by_nginx(run_cli, tmp_path):
    out = tmp_path / "refusals"
    result = run_cli("nginx-pages", "--out", out)
    assert result.returncode == 0, result.stderr
    names = sorted(path.name for path in out.iterdir())
    assert names == sorted(f"{status}.{lang}.{kind}" for status in (400, 413, 414, 431)
                           for lang in ("kk", "ru", "en") for kind in ("html", "json"))
    assert all(path.stat().st_mode & 0o777 == 0o644 for path in out.iterdir())
    kk = (out / "413.kk.html").read_text("utf-8")
    assert 'lang="kk"' in kk and "Файлдар тым үлкен" in kk
    assert json.loads((out / "431.ru.json").read_text("utf-8"))["error"] == "http-431"
    # A folder it cannot write: one line, exit 2
    (tmp_path / "file").write_text("")
    result = run_cli("nginx-pages", "--out", tmp_path / "file" / "x")
    assert result.returncode == 2 and result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@needs_nginx
@pytest.mark.parametrize("lang, accept", [("kk", b"?lang=kk"), ("en", b"")])
def test_the_refusal_pages_address_asked_for_from_outside_gets_tipdrops_not_found_page(
        proxied, lang, accept):
    """The location the refusal pages live under is internal; asked for directly,
    it is an address tipdrop does not know: its 404 in the reader's language, as
    for any other unknown address, not nginx's English page nor a refusal page."""
    server, prefix, tls_port, onion_port = proxied
    head = b"Host: x\r\nAccept-Language: en-GB,en\r\nConnection: close\r\n\r\n"
    _, _, unknown = _answer(onion_port, b"GET /no-such-page" + accept + b" HTTP/1.1\r\n" + head)
    for port, tls in ((onion_port, False), (tls_port, True)):
        for path in (b"/.tipdrop-refused/413." + lang.encode() + b".html",
                     b"/.tipdrop-refused/", b"/.tipdrop-refused/nothing"):
            status, headers, body = _answer(port, b"GET " + path + accept + b" HTTP/1.1\r\n"
                                            + head, tls)
            assert status == 404, (port, path, status, body[:300])
            assert f'lang="{lang}"'.encode() in body, body[:300]
            assert body == unknown
            assert b"nginx" not in body and headers["x-tipdrop-proxy-buffering"] == "off"


@needs_nginx
def test_check_pages_keep_their_padded_size_through_nginx(proxied):
    # Given nginx as Debian ships it (gzip on for text/html) in front of tipdrop, and a report
    server, _, _, onion_port = proxied
    onion = _through(onion_port, server)
    status, _, body = onion.request("POST", "/api/v1/tips", json.dumps(
        {"region": "astana", "category": "theft", "description": "A bicycle."}).encode(),
        {"Content-Type": "application/json"})
    assert status == 201, body[:300]
    known = json.loads(body)["receipt"]
    gzip_ok = {"Accept-Encoding": "gzip"}

    # When a browser that accepts gzip checks its receipt, and a code no report has
    answers = {}
    for name, receipt in (("known", known), ("unknown", "0000-0000-0000-0000-0000-0000")):
        _, _, page = onion.request("GET", "/check?lang=ru")
        token = re.search(rb'name="token" value="([^"]+)"', page).group(1).decode()
        answers[name] = onion.request(
            "POST", "/check?lang=ru", f"token={token}&receipt={receipt}".encode(),
            gzip_ok | {"Content-Type": "application/x-www-form-urlencoded"})

    # Then nginx passes both pages uncompressed, at the size tipdrop padded them to
    (status_known, headers_known, known_page) = answers["known"]
    (status_unknown, headers_unknown, unknown_page) = answers["unknown"]
    assert (status_known, status_unknown) == (203, 404)  # 203: reporter.NOT_FOR_BACK
    assert "Content-Encoding" not in headers_known and "Content-Encoding" not in headers_unknown
    assert len(known_page) == len(unknown_page) and len(known_page) % 8192 == 0
