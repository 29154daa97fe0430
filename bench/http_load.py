"""Submits and receipt checks through the real server, against the Argon2 bound.

A closed loop of client threads on loopback (each sends its next request when
the previous answer arrives) drives ``tipdrop serve`` with N gunicorn
workers for a fixed time. Every submit and every check costs one Argon2id
derivation, so the best the server can do is the Argon2 bound of N
processes measured in the same run; the ratio says how much everything else
(HTTP, parsing, sealing, SQLite with fsync) costs on top.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import ROOT

TEXT = ("Каждый вечер у остановки продают наркотики. " * 40)[:2000]


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``tipdrop serve`` with a throwaway demo unit, for benchmarks only."""

    def __init__(self, workers, extra_env=None):
        sys.path.insert(0, str(ROOT))
        from tipdrop.crypto import keys

        self.dir = Path(tempfile.mkdtemp(prefix="tipdrop-bench-http-"))
        keys_dir = self.dir / "keys"
        keys_dir.mkdir()
        unit = keys.generate("demo")
        (keys_dir / "demo.pub").write_bytes(unit.public.to_json())
        (keys_dir / "routing.json").write_text(json.dumps({"version": 1, "regions": {"astana": "demo"}}))
        self.port = _port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
        env |= {"TIPDROP_DATA_DIR": str(self.dir / "data"), "TIPDROP_KEYS_DIR": str(keys_dir),
                "TIPDROP_SUBMITS_PER_HOUR": "1000000", "TIPDROP_CHECKS_PER_HOUR": "1000000",
                "TIPDROP_ARGON2_SLOTS": "1"} | (extra_env or {})
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("tipdrop")), "serve", "--port", str(self.port),
             "--workers", str(workers)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start")

    def request(self, method, path, body=None, conn=None):
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            if own:
                conn.close()

    def pids(self):
        pids = [self.process.pid]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == self.process.pid:
                    pids.append(int(entry.name))
        return pids

    def rss_mib(self):
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024

    def stop(self):
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
        if getattr(self, "dir", None):
            shutil.rmtree(self.dir, ignore_errors=True)


def _closed_loop(server, clients, seconds, make_request):
    latencies, statuses, lock = [], {}, threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(n):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        i = 0
        while time.monotonic() < stop_at:
            method, path, body = make_request(n, i)
            start = time.perf_counter()
            try:
                status, _ = server.request(method, path, body, conn)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                status = "error"
            elapsed = time.perf_counter() - start
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status in (200, 201, 404):
                    latencies.append(elapsed)
            i += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else None

    return {"per_s": len(latencies) / elapsed, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "statuses": {str(k): v for k, v in statuses.items()}}


def measure(workers, seconds, argon2_bound):
    """Submit and check throughput of a server with ``workers`` processes."""
    server = Server(workers)
    try:
        body = json.dumps({"region": "astana", "category": "drugs", "description": TEXT}).encode()
        submit = _closed_loop(server, clients=workers * 3, seconds=seconds,
                              make_request=lambda n, i: ("POST", "/api/v1/tips", body))
        from tipdrop.protocol import receipts

        made = []
        for _ in range(20):
            status, answer = server.request("POST", "/api/v1/tips", body)
            if status == 201:
                made.append(json.loads(answer)["receipt"])
        check_bodies = [json.dumps({"receipt": r}).encode() for r in made]
        unknown = [json.dumps({"receipt": receipts.generate().formatted}).encode() for _ in range(20)]
        mixed = check_bodies + unknown
        check = _closed_loop(server, clients=workers * 3, seconds=seconds,
                             make_request=lambda n, i: ("POST", "/api/v1/check",
                                                        mixed[(n * 7 + i) % len(mixed)]))
        rss = server.rss_mib()
    finally:
        server.stop()
    return {
        "submit_per_s": submit["per_s"], "submit_p50_ms": submit["p50_ms"],
        "submit_p99_ms": submit["p99_ms"], "submit_statuses": submit["statuses"],
        "submit_vs_argon2_bound": submit["per_s"] / argon2_bound,
        "check_per_s": check["per_s"], "check_p50_ms": check["p50_ms"],
        "check_p99_ms": check["p99_ms"], "check_statuses": check["statuses"],
        "check_vs_argon2_bound": check["per_s"] / argon2_bound,
        "server_rss_after_mib": rss,
        "http_workers": workers,
    }
