"""A real ``tipdrop serve`` (gunicorn) on loopback, for e2e and browser tests."""

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tipdrop.crypto import kdf, keys

TIPDROP = Path(sys.executable).with_name("tipdrop")


REGIONS = {"astana": "demo", "almaty": "demo", "shymkent": "demo"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    process: object

    def request(self, method, path, body=None, headers=None, source="127.0.0.1"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60,
                                          source_address=(source, 0))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def env(self):
        """Environment for server-side CLI commands against this server's folders."""
        return {"TIPDROP_DATA_DIR": str(self.data_dir), "TIPDROP_KEYS_DIR": str(self.keys_dir)}

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


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


def start_server(tmp_path, workers=2, extra_env=None, public_key_file=None):
    """Start ``tipdrop serve`` with a demo unit; by default its key is made here
    (private file with cheap test KDF parameters, passphrase "officer pass")."""
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
    data_dir = tmp_path / "instance"
    tmp_dir = tmp_path / "tmp"
    tmp_dir.mkdir()
    log_path = tmp_path / "server.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    env |= {"TMPDIR": str(tmp_dir), "TIPDROP_DATA_DIR": str(data_dir),
            "TIPDROP_KEYS_DIR": str(keys_dir)} | (extra_env or {})
    log = open(log_path, "wb")
    process = subprocess.Popen(
        [str(TIPDROP), "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers)],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
    )
    server = Server(port, data_dir, keys_dir, tmp_dir, log_path, unit_key, key_file, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {log_path.read_text()}")
        try:
            if server.request("GET", "/")[0] == 200:
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise AssertionError("server did not start in 30 s")
