"""Real receivers of duty alerts, each a process of its own: an SMTP server and a webhook.

    python -m tests.alert_receivers smtp --port P --out DIR [--cert C --key K --user U --password W]
    python -m tests.alert_receivers webhook --port P --out DIR [--status N]

The SMTP server is aiosmtpd, with STARTTLS and login required when given a
certificate; the webhook is the standard library's HTTP server. Each message
or request received is written whole to a file of DIR (renamed into place,
so a reader never sees half of one); the process runs until SIGTERM. Tests
start and stop them (and start them again on the same port) through
:class:`Receiver`.
"""

import argparse
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_count = iter(range(1, 1_000_000))
_lock = threading.Lock()


def _save(out, suffix, data):
    with _lock:
        number = next(_count)
    name = f"{time.time_ns()}-{number:06d}{suffix}"
    tmp = Path(out) / f".{name}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, Path(out) / name)


def _smtp(args):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            _save(args.out, ".eml", json.dumps({
                "mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                "tls": session.ssl is not None,
                "login": session.auth_data.decode() if session.authenticated else None,
                "content": envelope.original_content.decode("ascii"),
            }).encode())
            return "250 OK"

    kwargs = {}
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == args.user \
                and auth_data.password.decode() == args.password
            return AuthResult(success=ok, auth_data=auth_data.login if ok else None)

        kwargs = {"tls_context": context, "require_starttls": True, "auth_require_tls": True,
                  "authenticator": authenticate, "auth_required": True}
    controller = Controller(Handler(), hostname="127.0.0.1", port=args.port,
                            server_hostname="localhost", **kwargs)
    controller.start()
    return controller.stop


def _webhook(args):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            _save(args.out, ".json", json.dumps({
                "path": self.path, "headers": dict(self.headers.items()), "body": body.hex(),
            }).encode())
            self.send_response(args.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.shutdown


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["smtp", "webhook"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--status", type=int, default=204)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()
    stop = (_smtp if args.kind == "smtp" else _webhook)(args)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print("ready", flush=True)
    done.wait()
    stop()


class Receiver:
    """One receiver process on a fixed port: start, stop, start again; what it received."""

    def __init__(self, kind, port, out, *options):
        self.kind, self.port, self.out, self.options = kind, port, Path(out), options
        self.out.mkdir(parents=True, exist_ok=True)
        self.process = None

    def start(self):
        root = Path(__file__).resolve().parents[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.alert_receivers", self.kind, "--port", str(self.port),
             "--out", str(self.out), *self.options], cwd=root, stdout=subprocess.PIPE)
        assert self.process.stdout.readline().strip() == b"ready", "receiver did not start"
        with socket.create_connection(("127.0.0.1", self.port), timeout=10):
            pass
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def received(self):
        """Everything received so far, oldest first, as dicts."""
        return [json.loads(p.read_bytes()) for p in sorted(self.out.iterdir())
                if not p.name.startswith(".")]

    def wait_for(self, count, timeout):
        """Wait until ``count`` messages arrived (or ``timeout`` passed); return them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.received()
            if len(found) >= count:
                return found
            time.sleep(0.1)
        return self.received()


if __name__ == "__main__":
    main()
