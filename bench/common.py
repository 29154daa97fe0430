"""Helpers shared by the benchmarks: child processes that report their peak RSS.

Each measured operation runs in its own Python process so its peak resident
memory (``ru_maxrss``) is its own and not the benchmark driver's.
"""

import json
import os
import platform
import resource
import subprocess
import sys
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
