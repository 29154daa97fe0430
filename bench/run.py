"""Run the benchmarks: ``make bench`` (full) or ``make bench-quick`` (< 2 min); run as ``python -m bench.run``.

Prints a table, writes the figures to bench/results.json and a summary with
the machine description to bench/RESULTS.md. Ratios measured in one run are
what to read: absolute times on a shared machine are noisy.
"""

import argparse
import json
import os
from pathlib import Path

from bench import http_load, receipt_work, stream_cipher
from bench.common import MiB, machine

HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes, under two minutes")
    mode.add_argument("--full", action="store_true", help="1 GiB streams, longer runs")
    args = parser.parse_args()
    quick = not args.full
    results = {"mode": "quick" if quick else "full", "machine": machine()}
    processes = os.cpu_count() or 2
    results |= receipt_work.measure(count=20 if quick else 100, processes=processes,
                              seconds=3 if quick else 10)
    results |= http_load.measure(workers=processes, seconds=10 if quick else 30,
                                 argon2_bound=results["argon2_bound_per_s"])
    size = 128 * MiB if quick else 1024 * MiB
    results |= stream_cipher.measure(size)
    growth = stream_cipher.memory_growth(16 * MiB, size)
    results["stream_peak_rss_mib_small"] = growth[16 * MiB]
    results["stream_peak_rss_mib_large"] = growth[size]
    write(results)


def write(results):
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / "RESULTS.md").write_text(summary(results))
    rows = [(k, v) for k, v in results.items()
            if k not in ("machine", "argon2_params") and not isinstance(v, dict)]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        shown = f"{value:,.2f}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    print(f"\nwritten: {HERE / 'results.json'}")


def _fmt(value, digits=0):
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else "not measured"


def summary(r):
    """The human summary: what was measured, against what, on which machine."""
    m = r["machine"]
    p = r["argon2_params"]
    per_day = r["argon2_bound_per_s"] * 86400
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python -m bench.run --{r['mode']}` (`make bench` / `make bench-quick`).",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python {m['python']}, "
        f"cryptography {m['cryptography']}, Linux {m['kernel']}. The machine is shared and noisy: "
        "read the ratios measured in one run, not the absolute times.",
        "",
        "## Receipt work (Argon2id)",
        "",
        f"Parameters: {p['memory_cost_kib'] // 1024} MiB, t={p['time_cost']}, p={p['parallelism']}.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| one receipt derivation | {_fmt(r['argon2_ms_per_hash'], 1)} ms |",
        f"| peak RSS of a process doing it | {_fmt(r['argon2_peak_rss_mib'], 1)} MiB |",
        f"| Argon2 bound, {r['argon2_bound_processes']} processes | {_fmt(r['argon2_bound_per_s'], 1)} derivations/s |",
        f"| that bound per day | {_fmt(per_day)} submits or checks |",
        "",
        "Every submit and every receipt check costs one derivation, so the Argon2 bound",
        "caps what one machine can serve. The national load in the design brief is about",
        "17,000 reports in a few months (a few hundred a day): "
        f"{_fmt(per_day / 300)} times less than the bound.",
        "",
        f"## Submits and checks through the real server ({r['http_workers']} gunicorn workers, loopback)",
        "",
        "A closed loop of client threads on the same machine (they take CPU from the",
        "server too); 2 KB report texts through `POST /api/v1/tips`, half right and half",
        "unknown receipts through `POST /api/v1/check`.",
        "",
        "| figure | per second | p50 / p99 latency | vs Argon2 bound (goal >= 0.85) |",
        "|---|---|---|---|",
        f"| submits | {_fmt(r['submit_per_s'], 1)} | {_fmt(r['submit_p50_ms'])} / {_fmt(r['submit_p99_ms'])} ms | "
        f"{_fmt(r['submit_vs_argon2_bound'], 2)} |",
        f"| receipt checks | {_fmt(r['check_per_s'], 1)} | {_fmt(r['check_p50_ms'])} / {_fmt(r['check_p99_ms'])} ms | "
        f"{_fmt(r['check_vs_argon2_bound'], 2)} |",
        "",
        f"Capacity: about {_fmt(r['submit_per_s'] * 86400)} submits a day, or "
        f"{_fmt(r['check_per_s'] * 86400)} checks a day, on this one 2-core machine.",
        "",
        f"## Attachment stream cipher, file to file ({_fmt(r['stream_size_mib'])} MiB of random data)",
        "",
        "| figure | MB/s | vs tipdrop |",
        "|---|---|---|",
        f"| tipdrop stream encrypt | {_fmt(r['stream_encrypt_mb_s'])} | 1.00 |",
        f"| tipdrop stream decrypt | {_fmt(r['stream_decrypt_mb_s'])} | 1.00 |",
        f"| raw AES-256-GCM 64 KiB chunk loop, in memory (bound) | {_fmt(r['raw_aead_mb_s'])} | "
        f"encrypt at {_fmt(r['encrypt_vs_raw_aead'], 2)} of it |",
    ]
    for name in ("age", "gpg", "gpg_z0"):
        label = {"age": "`age` 1.1 (Debian)", "gpg": "`gpg` default", "gpg_z0": "`gpg -z 0`"}[name]
        if f"{name}_encrypt_mb_s" in r:
            enc, dec = r[f"{name}_encrypt_mb_s"], r[f"{name}_decrypt_mb_s"]
            lines.append(f"| {label} encrypt / decrypt | {_fmt(enc)} / {_fmt(dec)} | "
                         f"tipdrop is {_fmt(r['stream_encrypt_mb_s'] / enc, 2)}x / "
                         f"{_fmt(r['stream_decrypt_mb_s'] / dec, 2)}x |")
    lines += [
        "",
        f"Peak RSS of the process encrypting and decrypting: {_fmt(r['stream_peak_rss_mib_small'], 1)} MiB "
        f"for 16 MiB, {_fmt(r['stream_peak_rss_mib_large'], 1)} MiB for {_fmt(r['stream_size_mib'])} MiB: "
        "memory does not grow with the size of the file.",
        "",
        "Decryption writes to /dev/null for every tool; encryption writes a file.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
