"""Attachment streaming through the real server, against the multipart bound.

One large non-photo file (random bytes labelled video/mp4) is POSTed as
multipart to ``POST /api/v1/tips`` of ``tipdrop serve``, the text fields
first, the body streamed from a repeated block with its Content-Length known
(the client never holds the upload in memory). The same body goes to
bench/upload_sink.py, the same multipart decoder loop into a sink, served by
gunicorn with the same settings (gthread, 4 threads, same worker count): the
bound of the multipart path. Both servers run at once and take turns.

While an upload runs, the VmRSS of the master and every worker is sampled
every 20 ms; the figure that matters is the peak of the worker that handled
the upload (the others stay idle), set against its size before the upload.
"""

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from .common import MiB, ROOT
from .http_load import Server, _port

BOUNDARY = "tipdropbench7d2f9c"
BLOCK = 4 * MiB
SMALL = 16 * MiB
TIMEOUT = 120


def _status(pid):
    """VmRSS and VmHWM of ``pid`` in MiB, or None if it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _children(pid):
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(c) for c in (task / "children").read_text().split())
        except OSError:
            pass
    return found


class Sampler(threading.Thread):
    """Peak VmRSS per process and of the sum over master + workers, every 20 ms."""

    def __init__(self, master):
        super().__init__(daemon=True)
        self.master = master
        self.peaks = {}
        self.peak_sum = 0.0
        self._done = threading.Event()

    def run(self):
        while not self._done.is_set():
            total = 0.0
            for pid in {self.master} | _children(self.master):
                status = _status(pid)
                if status:
                    total += status[0]
                    self.peaks[pid] = max(self.peaks.get(pid, 0.0), status[0])
            self.peak_sum = max(self.peak_sum, total)
            self._done.wait(0.02)

    def stop(self):
        self._done.set()
        self.join(timeout=10)


class SinkServer:
    """bench/upload_sink.py under gunicorn, launched and configured like ``tipdrop serve``."""

    def __init__(self, workers):
        self.port = _port()
        env = os.environ | {"PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.upload_sink", str(self.port), str(workers)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if _upload(self.port, 1024)["status"] == 201:
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the sink server did not start")

    def stop(self):
        Server.stop(self)


def _parts(size):
    """(head, tail) of the multipart body around ``size`` file bytes."""
    head = "".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in (("region", "astana"), ("category", "drugs"),
                            ("description", "A video of the sale, filmed from the window.")))
    head += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
             f'filename="clip.mp4"\r\nContent-Type: video/mp4\r\n\r\n')
    return head.encode(), f"\r\n--{BOUNDARY}--\r\n".encode()


_BLOCK = b"\0" + os.urandom(BLOCK - 1)  # a leading zero: never sniffed as a photo


def _upload(port, size):
    """POST ``size`` file bytes as one streamed multipart submit; return status and seconds."""
    head, tail = _parts(size)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        start = time.perf_counter()
        conn.putrequest("POST", "/api/v1/tips")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        conn.putheader("Content-Length", str(len(head) + size + len(tail)))
        conn.endheaders()
        conn.send(head)
        view = memoryview(_BLOCK)
        left = size
        while left:
            n = min(left, BLOCK)
            conn.send(view[:n])
            left -= n
        conn.send(tail)
        response = conn.getresponse()
        body = response.read()
        return {"status": response.status, "seconds": time.perf_counter() - start, "body": body}
    finally:
        conn.close()


def _measured_upload(server, size):
    """One upload with memory sampling: figures of the worker that handled it."""
    master = server.process.pid
    before = {pid: _status(pid) for pid in {master} | _children(master)}
    sampler = Sampler(master)
    sampler.start()
    try:
        result = _upload(server.port, size)
    finally:
        sampler.stop()
    if result["status"] != 201:
        raise RuntimeError(f"upload answered {result['status']}: {result['body'][:300]!r}")
    workers = {pid: peak for pid, peak in sampler.peaks.items() if pid != master}
    busy = max(workers, key=lambda pid: workers[pid] - (before.get(pid) or (0, 0))[0])
    after = _status(busy)
    return {"mb_s": size / 1e6 / result["seconds"], "worker_peak": workers[busy],
            "worker_before": (before.get(busy) or (0, 0))[0], "worker_hwm": after and after[1],
            "server_peak": sampler.peak_sum}


def decoder_in_memory(size=64 * MiB):
    """MB/s of the sink's decoder loop alone, on a body already in memory (no HTTP)."""
    import io

    from .upload_sink import app

    head, tail = _parts(size)
    body = head + _BLOCK * (size // BLOCK) + _BLOCK[:size % BLOCK] + tail
    environ = {"CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    start = time.perf_counter()
    app(environ, lambda *args: None)
    return size / 1e6 / (time.perf_counter() - start)


def measure(size, workers, rounds=2):
    """Upload ``size`` bytes to tipdrop and to the sink, ``rounds`` times each, in turns.

    The best round of each counts (the machine is shared and noisy); the
    memory figure is the worst round's.
    """
    tipdrop = Server(workers, extra_env={
        "TIPDROP_MAX_UPLOAD_MB": str(size // 1_000_000 + 100), "TIPDROP_UPLOAD_SLOTS": "4"})
    try:
        sink = SinkServer(workers)
        try:
            # Warm both (first request, imports) with a small upload each.
            _upload(tipdrop.port, MiB)
            _upload(sink.port, MiB)
            # A small upload first: if memory grew with size, the large ones would peak higher.
            small = _measured_upload(tipdrop, SMALL)
            ours, bound = [], []
            for _ in range(rounds):
                ours.append(_measured_upload(tipdrop, size))
                bound.append(_measured_upload(sink, size))
        finally:
            sink.stop()
    finally:
        tipdrop.stop()
    best = max(r["mb_s"] for r in ours)
    best_bound = max(r["mb_s"] for r in bound)
    peak = max(ours, key=lambda r: r["worker_peak"])
    return {
        "upload_size_mib": size / MiB,
        "upload_mb_s": best,
        "upload_sink_bound_mb_s": best_bound,
        "upload_vs_sink_bound": best / best_bound,
        "upload_peak_rss_mib": peak["worker_peak"],
        "upload_worker_rss_before_mib": min(r["worker_before"] for r in ours),
        "upload_peak_rss_mib_16mib": small["worker_peak"],
        "upload_worker_hwm_mib": max(r["worker_hwm"] or 0 for r in ours),
        "upload_server_peak_rss_mib": max(r["server_peak"] for r in ours),
        "upload_sink_worker_peak_rss_mib": max(r["worker_peak"] for r in bound),
        "upload_decoder_in_memory_mb_s": decoder_in_memory(),
    }


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) * MiB if len(sys.argv) > 1 else 128 * MiB, 2, 3),
                     indent=2))
