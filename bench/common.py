"""Helpers shared by the benchmarks: child processes that report their peak RSS.

Each measured operation runs in its own Python process so its peak resident
memory (``ru_maxrss``) is its own and not the benchmark driver's. Servers
under test are watched from outside, through /proc: ``Sampler`` and
``measured_upload`` (used by upload.py, sealed_upload.py and flood.py).
"""

import http.client
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


def peak_rss_mib():
    """Peak resident memory of this process, in MiB.

    VmHWM of the process's own address space: ``ru_maxrss`` would also count
    what the parent held when it forked us, and the benchmark driver grows.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(module, *args):
    """Run ``python -m bench.MODULE worker ARGS`` and return its JSON result."""
    out = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", "worker", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def cpu_seconds():
    """CPU time (user + system) this process has used so far.

    Wall time on a shared machine follows CPU time once the cores are busy:
    the CPU time of two runs of the same work compares them without the
    other tenants' load (the kernel's work on a process's behalf, its copies
    and page cache, counts as its system time; the disk's own time does not).
    """
    return time.process_time()


def worker_result(**fields):
    print(json.dumps(fields | {"peak_rss_mib": round(peak_rss_mib(), 1)}))


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def machine():
    """A short description of the machine, for RESULTS.md."""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown"
    import cryptography

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "kernel": platform.release(),
    }


def settle():
    """Flush dirty pages so one tool's writes do not slow the next one down."""
    os.sync()
    time.sleep(0.5)


def make_file(path, size):
    """A file of ``size`` pseudo-random bytes (random data does not compress)."""
    block = os.urandom(4 * MiB)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n
    settle()


def proc_status(pid):
    """VmRSS and VmHWM of ``pid`` in MiB, or None if it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def proc_cpu_seconds(pid):
    """User + system CPU seconds ``pid`` has used (all its threads), or 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_children(pid):
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
            for pid in {self.master} | proc_children(self.master):
                status = proc_status(pid)
                if status:
                    total += status[0]
                    self.peaks[pid] = max(self.peaks.get(pid, 0.0), status[0])
            self.peak_sum = max(self.peak_sum, total)
            self._done.wait(0.02)

    def stop(self):
        self._done.set()
        self.join(timeout=10)


def post_streamed(port, path, content_type, pieces, length, timeout=120):
    """POST the bytes of ``pieces`` (produced as they are sent) with a known Content-Length.

    Returns the status, the seconds from the request line to the whole answer, and the body.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        start = time.perf_counter()
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", content_type)
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        for piece in pieces:
            conn.send(piece)
        response = conn.getresponse()
        body = response.read()
        return {"status": response.status, "seconds": time.perf_counter() - start, "body": body}
    finally:
        conn.close()


def measured_upload(server, send, nbytes):
    """Run ``send()``, one upload of ``nbytes`` to ``server``, sampling memory meanwhile.

    Returns MB/s and the figures of the worker that handled it: the one whose
    RSS grew most over its size before the upload.
    """
    master = server.process.pid
    before = {pid: proc_status(pid) for pid in {master} | proc_children(master)}
    cpu_before = {pid: proc_cpu_seconds(pid) for pid in before}
    sampler = Sampler(master)
    sampler.start()
    try:
        result = send()
    finally:
        sampler.stop()
    if result["status"] != 201:
        raise RuntimeError(f"upload answered {result['status']}: {result['body'][:300]!r}")
    workers = {pid: peak for pid, peak in sampler.peaks.items() if pid != master}
    busy = max(workers, key=lambda pid: workers[pid] - (before.get(pid) or (0, 0))[0])
    after = proc_status(busy)
    # The CPU the worker spent on this upload (all its threads): what the
    # upload costs the machine, whatever else runs on it.
    cpu = proc_cpu_seconds(busy) - cpu_before.get(busy, 0.0)
    return {"mb_s": nbytes / 1e6 / result["seconds"], "seconds": result["seconds"],
            "worker_cpu_seconds": cpu,
            "worker_peak": workers[busy], "worker_before": (before.get(busy) or (0, 0))[0],
            "worker_hwm": after and after[1], "server_peak": sampler.peak_sum}
