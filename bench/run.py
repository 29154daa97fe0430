"""Run the benchmarks: ``make bench`` (full) or ``make bench-quick`` (< 2 min); run as ``python -m bench.run``.

Prints a table, writes the figures to bench/results.json and a summary with
the machine description to bench/RESULTS.md. Ratios measured in one run are
what to read: absolute times on a shared machine are noisy.
"""

import argparse
import json
import os
from pathlib import Path

from bench import receipt_work, stream_cipher
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
    size = 128 * MiB if quick else 1024 * MiB
    results |= stream_cipher.measure(size)
    growth = stream_cipher.memory_growth(16 * MiB, size)
    results["stream_peak_rss_mib_small"] = growth[16 * MiB]
    results["stream_peak_rss_mib_large"] = growth[size]
    write(results)


def write(results):
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    rows = [(k, v) for k, v in results.items() if k not in ("machine", "argon2_params")]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        shown = f"{value:,.2f}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    print(f"\nwritten: {HERE / 'results.json'}")


if __name__ == "__main__":
    main()
