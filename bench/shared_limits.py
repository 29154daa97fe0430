"""What counting a request in the server-wide rate limit costs (tipdrop/server/web/ratelimit.py).

Every submit, check and follow-up now writes one row to a SQLite file in
RAM that all workers share, in a transaction taken in turn across processes.
This measures that cost as gunicorn would pay it: ``processes`` forked
processes with ``threads`` threads each, counting requests from many client
addresses as fast as they can, with a limit high enough never to refuse.
Set against the Argon2 bound, the figure says how far the shared count is
from ever being what caps the server.
"""

import multiprocessing
import shutil
import tempfile
import threading
import time
from pathlib import Path


def _worker(folder, hits, threads, results):
    from tipdrop.server.web.ratelimit import RateLimiter, SharedCounts

    counts = SharedCounts(folder)
    limiter = RateLimiter(counts, "check", 10**9, 3600)
    latencies = []

    def run():
        for i in range(hits):
            start = time.perf_counter()
            limiter.hit(f"10.{i % 251}.{i % 13}.{i % 7}")
            latencies.append(time.perf_counter() - start)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.put(latencies)


def measure(processes=2, threads=4, hits=2000, argon2_bound=None):
    from tipdrop.server.web.ratelimit import SharedCounts, shared_dir

    data_dir = Path(tempfile.mkdtemp(prefix="tipdrop-bench-limits-"))
    folder = shared_dir("/dev/shm", data_dir)
    try:
        SharedCounts.for_server("/dev/shm", data_dir)
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        workers = [context.Process(target=_worker, args=(folder, hits, threads, results))
                   for _ in range(processes)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        latencies = sorted(sum((results.get(timeout=600) for _ in workers), []))
        seconds = time.perf_counter() - start
        for worker in workers:
            worker.join()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)
    per_s = len(latencies) / seconds
    figures = {
        "ratelimit_processes": processes,
        "ratelimit_hits_per_s": per_s,
        "ratelimit_p50_ms": latencies[len(latencies) // 2] * 1000,
        "ratelimit_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }
    if argon2_bound:
        figures["ratelimit_vs_argon2_bound"] = per_s / argon2_bound
    return figures


if __name__ == "__main__":
    for key, value in measure().items():
        print(f"{key:<28} {value:,.2f}")
