"""Flood: a burst of concurrent receipt checks ten times above the concurrency limit.

Measures, with no assertions (tests/e2e/test_flood.py asserts), what a real
``tipdrop serve`` does when ten times more clients than it has Argon2 slots
check receipts at once: the peak server memory (VmRSS summed over master and
workers, sampled every 50 ms, and the summed VmHWM at the end) against the
goal ``base + limit x Argon2 memory + 64 MiB``, the share of 429 and 503
answers, any other 5xx or dropped connection, and whether a worker died or was
replaced (worker pids before and after).

The concurrency limit is the server's Argon2 slots: ``TIPDROP_ARGON2_SLOTS``
(default 2) per worker times the workers. The per-client rate limit is raised
out of the way, so the burst meets the concurrency bound, not the limiter.
"""

import http.client
import json
import os
import select
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench.common import proc_children, proc_status
from bench.http_load import Server

ARGON2_SLOTS = 2
#: Clients per unit of the concurrency limit.
OVER_LIMIT = 10
#: Memory the goal allows on top of base + limit x Argon2 memory.
MARGIN_MIB = 64


class _Sampler(threading.Thread):
    def __init__(self, master):
        super().__init__(daemon=True)
        self.master = master
        self.peak = 0.0
        self.pids = set()
        self._done = threading.Event()

    def run(self):
        while not self._done.is_set():
            workers = proc_children(self.master)
            self.pids |= workers
            total = sum((proc_status(pid) or (0, 0))[0] for pid in {self.master} | workers)
            self.peak = max(self.peak, total)
            self._done.wait(0.05)

    def stop(self):
        self._done.set()
        self.join(timeout=10)


def _settled_workers(master, count, deadline=30):
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        workers = proc_children(master)
        sizes = tuple(round((proc_status(pid) or (0, 0))[0]) for pid in sorted(workers))
        now = (tuple(sorted(workers)), sizes)
        if len(workers) == count and now == last:
            return workers
        last = now
        time.sleep(0.5)
    raise RuntimeError(f"{count} workers did not settle")


def measure(workers, requests_per_client, extra_env=None):
    from tipdrop.crypto import kdf
    from tipdrop.protocol import receipts

    limit = workers * ARGON2_SLOTS
    clients = limit * OVER_LIMIT
    argon2_mib = kdf.RECEIPT_PARAMS.memory_cost_kib / 1024
    server = Server(workers, extra_env={"TIPDROP_ARGON2_SLOTS": str(ARGON2_SLOTS)} | (extra_env or {}))
    try:
        master = server.process.pid
        before = _settled_workers(master, workers)
        base = sum((proc_status(pid) or (0, 0))[0] for pid in {master} | before)
        bodies = [json.dumps({"receipt": receipts.generate().formatted}).encode()
                  for _ in range(64)]
        statuses, lock = {}, threading.Lock()
        gate = threading.Barrier(clients)

        def client(n):
            gate.wait()  # all clients start at once
            for i in range(requests_per_client):
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                try:
                    conn.request("POST", "/api/v1/check", body=bodies[(n + i) % len(bodies)],
                                 headers={"Content-Type": "application/json"})
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                except (OSError, http.client.HTTPException):
                    status = "error"
                finally:
                    conn.close()
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1

        sampler = _Sampler(master)
        sampler.start()
        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(client, range(clients)))
        seconds = time.perf_counter() - start
        sampler.stop()
        after = proc_children(master)
        hwm = sum((proc_status(pid) or (0, 0))[1] for pid in {master} | after)
        # Still serving afterwards?
        status_after, _ = server.request("POST", "/api/v1/check", bodies[0])
    finally:
        server.stop()
    total = sum(statuses.values())
    other_5xx = sum(v for k, v in statuses.items()
                    if isinstance(k, int) and k >= 500 and k != 503)
    # A worker that died is gone from ``after``; gunicorn's replacement is a new pid.
    crashed = max(len(before - after), len((sampler.pids | after) - before))
    bound = base + limit * argon2_mib + MARGIN_MIB
    return {
        "flood_workers": workers,
        "flood_concurrency_limit": limit,
        "flood_clients": clients,
        "flood_requests": total,
        "flood_seconds": seconds,
        "flood_statuses": {str(k): v for k, v in statuses.items()},
        "flood_base_rss_mib": base,
        "flood_peak_rss_mib": sampler.peak,
        "flood_hwm_sum_mib": hwm,
        "flood_rss_goal_mib": bound,
        "flood_share_429": statuses.get(429, 0) / total,
        "flood_share_503": statuses.get(503, 0) / total,
        "flood_5xx_other_than_503": other_5xx,
        "flood_connection_errors": statuses.get("error", 0),
        "flood_crashed_workers": crashed,
        "flood_check_after_status": status_after,
    }


#: glibc's dynamic mmap threshold rises to the size of the first freed Argon2
#: block, after which every thread keeps a freed block in its own malloc arena:
#: a worker's RSS then follows its gthread threads, not its Argon2 slots.
#: A fixed threshold keeps such blocks mmapped, returned to the system on free.
FIXED_MMAP_THRESHOLD = {"MALLOC_MMAP_THRESHOLD_": str(1024 * 1024)}


def measure_both(workers, requests_per_client):
    """The flood as tipdrop serves it, then again with a fixed glibc mmap threshold."""
    result = measure(workers, requests_per_client)
    fixed = measure(workers, requests_per_client, FIXED_MMAP_THRESHOLD)
    result |= {f"flood_fixed_mmap_{key[len('flood_'):]}": fixed[key]
               for key in ("flood_base_rss_mib", "flood_peak_rss_mib", "flood_rss_goal_mib",
                           "flood_seconds", "flood_5xx_other_than_503", "flood_crashed_workers")}
    return result


#: The burst of tests/e2e/test_flood.py: one Argon2 and one upload slot per worker,
#: REFUSAL_REQUESTS requests from REFUSAL_CLIENTS threads, every 4th a multipart upload
#: that pauses SLOW_STALL s after its first KiB (unless answered first), every 3rd a
#: JSON submit, the rest receipt checks.
REFUSAL_CLIENTS = 40
REFUSAL_REQUESTS = 200
SLOW_STALL = 1.5


def _slow_upload(port, number):
    boundary = f"bench{number}"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"region\"\r\n\r\nastana\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\ntheft\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\n"
            f"slow {number}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() \
        + os.urandom(32 * 1024) + f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("POST", "/api/v1/tips")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        conn.send(body[:1024])
        if not select.select([conn.sock], [], [], SLOW_STALL)[0]:
            conn.send(body[1024:])
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def measure_refusals(workers):
    """How long a 503 takes to come back under a burst far above the slots.

    tests/e2e/test_flood.py asserts that the burst is answered with successes
    and 503s (with Retry-After) within its memory bound; the latency of the
    503s, which depends on the machine's load, is measured here: seconds from
    sending a request to its 503, and for comparison to any other answer.
    """
    from tipdrop.protocol import receipts

    server = Server(workers, extra_env={"TIPDROP_ARGON2_SLOTS": "1",
                                        "TIPDROP_UPLOAD_SLOTS": "1"})
    answers, lock = [], threading.Lock()

    def one(number):
        start = time.perf_counter()
        try:
            if number % 4 == 0:
                status = _slow_upload(server.port, number)
            else:
                path, doc = (("/api/v1/tips", {"region": "astana", "category": "theft",
                                               "description": f"b{number}"})
                             if number % 3 == 0 else
                             ("/api/v1/check", {"receipt": receipts.generate().formatted}))
                status, _ = server.request("POST", path, json.dumps(doc).encode())
        except (OSError, http.client.HTTPException):
            status = "error"
        with lock:
            answers.append((status, time.perf_counter() - start))

    try:
        with ThreadPoolExecutor(REFUSAL_CLIENTS) as pool:
            list(pool.map(one, range(REFUSAL_REQUESTS)))
    finally:
        server.stop()
    refused = sorted(seconds for status, seconds in answers if status == 503)
    served = sorted(seconds for status, seconds in answers if status != 503)
    statuses = {}
    for status, _ in answers:
        statuses[str(status)] = statuses.get(str(status), 0) + 1

    def quantile(values, q):
        return values[min(len(values) - 1, int(q * len(values)))] if values else None

    return {
        "refusal_workers": workers,
        "refusal_clients": REFUSAL_CLIENTS,
        "refusal_requests": len(answers),
        "refusal_statuses": statuses,
        "refusal_503_p50_s": quantile(refused, 0.5),
        "refusal_503_p95_s": quantile(refused, 0.95),
        "refusal_503_max_s": refused[-1] if refused else None,
        "refusal_other_p50_s": quantile(served, 0.5),
        "refusal_other_p95_s": quantile(served, 0.95),
    }


if __name__ == "__main__":
    print(json.dumps(measure(2, 10) | measure_refusals(2), indent=2))
