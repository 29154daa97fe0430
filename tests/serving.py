"""A real ``tipdrop serve`` (gunicorn) on loopback, for e2e and browser tests."""

import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tipdrop.crypto import kdf, keys
from tipdrop.server.serve import ALLOCATOR_ENV

TIPDROP = Path(sys.executable).with_name("tipdrop")


REGIONS = {"astana": "demo", "almaty": "demo", "shymkent": "demo"}


def _ephemeral_range():
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default
    return low, high


def free_port():
    """A port nothing listens on, below the kernel's ephemeral range.

    A port the kernel hands out for port 0 is an ephemeral one: until the
    server binds it, any outgoing connection (another test's client, a
    restart after kill -9) may take it as its own source port, and the
    server then cannot bind ("Connection in use"). Ports below the range are
    never given to outgoing connections, so only another listener can take
    one, and the bind here checks for that.
    """
    low, _ = _ephemeral_range()
    candidates = list(range(max(1024, low - 20000), low))
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # every one taken: the kernel's choice, as before
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect_to_listener(host, port, timeout=1):
    """Connect to a process listening on (host, port); OSError if none is, yet.

    A free port is an ephemeral one, so while nothing listens there a
    connection to it can be given that very port as its source and meet
    itself (TCP self-connect): that is not a listener.
    """
    sock = socket.create_connection((host, port), timeout=timeout)
    if sock.getsockname() == sock.getpeername():
        sock.close()
        raise ConnectionRefusedError(f"nothing listens on {host}:{port} yet (self-connect)")
    return sock


@dataclass
class Server:
    """A running ``tipdrop serve`` (gunicorn) on loopback and its folders."""

    port: int
    data_dir: Path
    keys_dir: Path
    tmp_dir: Path
    log_path: Path
    unit_key: object
    key_file: Path
    process: object = None
    workers: int = 2
    launch_env: dict = field(default_factory=dict, repr=False)
    #: What gunicorn binds to; requests in these tests always go to 127.0.0.1.
    host: str = "127.0.0.1"

    def request(self, method, path, body=None, headers=None, source="127.0.0.1", timeout=60,
                follow=True):
        """One request; like a browser, a 303 (every reporter POST answers one,
        see tipdrop/server/web/reporter.py) is followed with a GET unless ``follow`` is False."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                          source_address=(source, 0))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            status, answer, data = response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()
        if follow and status == 303:
            kept = {k: v for k, v in (headers or {}).items()
                    if k.lower() not in ("content-type", "content-length")}
            target = urlsplit(answer["Location"])
            path = target.path + (f"?{target.query}" if target.query else "")
            return self.request("GET", path, headers=kept, source=source, timeout=timeout)
        return status, answer, data

    def form_token(self, path):
        """GET a page and return the signed token of its form."""
        status, _, body = self.request("GET", path)
        assert status == 203, status  # a form page (reporter.NOT_FOR_BACK)
        return re.search(rb'name="token" value="([^"]+)"', body).group(1).decode()

    def env(self):
        """Environment for server-side CLI commands against this server's folders."""
        return {"TIPDROP_DATA_DIR": str(self.data_dir), "TIPDROP_KEYS_DIR": str(self.keys_dir)}

    def start(self):
        """Run ``tipdrop serve`` on this server's folders and port; return once it answers.

        Also the way to restart after :meth:`kill`: same data, keys and port.
        The server gets a process group of its own, so a crash can take the
        master and all its workers at once.
        """
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(TIPDROP), "serve", "--host", self.host, "--port", str(self.port),
                 "--workers", str(self.workers)],
                stdout=log, stderr=subprocess.STDOUT, env=self.launch_env,
                cwd=self.data_dir.parent, start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log_path.read_text()}")
            try:
                if self.request("GET", "/", timeout=5)[0] == 200:
                    return self
            except (OSError, http.client.HTTPException):
                # Not listening yet. A connect to a free port of the ephemeral range
                # can even meet itself (TCP self-connect) and read back its own
                # "GET / HTTP/1.1" as the answer: closed at once, so the port is
                # free again for the server, and tried again.
                time.sleep(0.02)
        self.stop()
        raise AssertionError("server did not start in 30 s")

    def kill(self):
        """Crash the server: SIGKILL the gunicorn master and every worker at once.

        Returns only when none of them can run any more (zombies aside), so
        nothing is still writing to the data folder.
        """
        group = self.process.pid
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=20)
        deadline = time.monotonic() + 20
        while _group_alive(group):
            if time.monotonic() > deadline:
                raise AssertionError(f"process group {group} survived SIGKILL")
            time.sleep(0.02)

    def stop(self):
        """Stop the server as an operator would (SIGTERM), and wait for every worker.

        gunicorn's master can exit while a worker it gave up on is still
        ending; waiting for the whole process group means no process still
        holds the data folder's files when the caller looks at them.
        """
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        group = self.process.pid
        deadline = time.monotonic() + 20
        while _group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.02)


def _group_alive(group):
    """Whether a process of ``group`` still runs (Linux /proc; zombies do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue
        if int(pgrp) == group and state not in ("Z", "X"):
            return True
    return False


def multipart(fields, files=()):
    """Encode a multipart/form-data body by hand: (content type, bytes)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                     + value.encode("utf-8") + b"\r\n")
    for name, filename, content_type, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def start_server(tmp_path, workers=2, extra_env=None, public_key_file=None, host="127.0.0.1",
                 keys_files=None, allocator_env=True):
    """Start ``tipdrop serve`` with a demo unit; by default its key is made here
    (private file with cheap test KDF parameters, passphrase "officer pass").
    ``keys_files``: more files for the keys folder, {name: text} (e.g. alerts.json).
    ``allocator_env``: start it with serve.ALLOCATOR_ENV already set, as
    deploy/systemd/tipdrop.service does, so that ``tipdrop serve`` need not start
    itself again to set it (half a CPU-second per server); False starts it without,
    as an operator might (tests/e2e/test_allocator.py proves it then sets them)."""
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    officer = tmp_path / "officer"
    officer.mkdir(exist_ok=True)
    unit_key, key_file = None, None
    if public_key_file is not None:
        (keys_dir / "demo.pub").write_bytes(Path(public_key_file).read_bytes())
    else:
        unit_key = keys.generate("demo")
        (keys_dir / "demo.pub").write_bytes(unit_key.public.to_json())
        key_file = officer / "demo.key"
        key_file.write_bytes(keys.private_to_file(unit_key, "officer pass", kdf.TEST_PARAMS))
    (keys_dir / "routing.json").write_text(json.dumps({"version": 1, "regions": REGIONS}))
    for name, text in (keys_files or {}).items():
        (keys_dir / name).write_text(text)
    data_dir = tmp_path / "instance"
    tmp_dir = tmp_path / "tmp"
    tmp_dir.mkdir()
    log_path = tmp_path / "server.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    if allocator_env:
        env = ALLOCATOR_ENV | env
    env |= {"TMPDIR": str(tmp_dir), "TIPDROP_DATA_DIR": str(data_dir),
            "TIPDROP_KEYS_DIR": str(keys_dir)} | (extra_env or {})
    log_path.write_bytes(b"")
    server = Server(port, data_dir, keys_dir, tmp_dir, log_path, unit_key, key_file,
                    workers=workers, launch_env=env, host=host)
    return server.start()
