"""Receipt work: Argon2id cost per receipt and the Argon2 bound of a machine.

The *Argon2 bound* is how many receipt derivations per second N processes
reach doing nothing else; every server-side throughput figure is set against
it.
"""

import sys
import time
from concurrent.futures import ProcessPoolExecutor

from bench.common import run_worker, worker_result


def _derive_many(count):
    from tipdrop.crypto import kdf

    for i in range(count):
        kdf.receipt_keys(b"A" * 18, i.to_bytes(16, "big"), kdf.RECEIPT_PARAMS)
    return count


def _worker(count):
    from tipdrop.crypto import kdf

    count = int(count)
    start = time.perf_counter()
    _derive_many(count)
    seconds = time.perf_counter() - start
    p = kdf.RECEIPT_PARAMS
    worker_result(seconds_per_hash=seconds / count, params=p.as_dict())


def bound(processes, seconds_each):
    """Hashes per second across ``processes`` processes running flat out."""
    per_batch = 10
    with ProcessPoolExecutor(processes) as pool:
        # Warm every worker (process start, imports) before the clock starts.
        list(pool.map(_derive_many, [1] * processes))
        start = time.perf_counter()
        done = 0
        while time.perf_counter() - start < seconds_each:
            done += sum(pool.map(_derive_many, [per_batch] * processes))
        return done / (time.perf_counter() - start)


def measure(count, processes, seconds):
    single = run_worker("receipt_work", count)
    return {
        "argon2_params": single["params"],
        "argon2_ms_per_hash": single["seconds_per_hash"] * 1000,
        "argon2_peak_rss_mib": single["peak_rss_mib"],
        "argon2_bound_per_s": bound(processes, seconds),
        "argon2_bound_processes": processes,
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        _worker(*sys.argv[2:])
