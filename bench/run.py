"""Run the benchmarks: ``make bench`` (full) or ``make bench-quick`` (< 2 min); run as ``python -m bench.run``.

Prints a table, writes the figures to bench/results.json and a summary with
the machine description to bench/RESULTS.md. Ratios measured in one run are
what to read: absolute times on a shared machine are noisy.
"""

import argparse
import datetime
import json
import os
from pathlib import Path

from bench import (
    alerts,
    backup,
    browser_crypto,
    flood,
    growth,
    http_load,
    officer_app,
    officer_import,
    puzzle,
    receipt_work,
    resume_3g,
    sealed_upload,
    shared_limits,
    stalled,
    stream_cipher,
    upload,
)
from bench.common import MiB, machine
from bench.report import backup as report_backup
from bench.report import browser as report_browser
from bench.report import flood as report_flood
from bench.report import fmt
from bench.report import growth as report_growth
from bench.report import officer as report_officer
from bench.report import puzzle as report_puzzle
from bench.report import stalled as report_stalled
from bench.report import stream as report_stream
from bench.report import upload as report_upload

HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes, under two minutes")
    mode.add_argument("--full", action="store_true", help="1 GiB streams, longer runs")
    parser.add_argument("--only", metavar="NAME[,NAME]",
                        help=f"run only these ({', '.join(PARTS)}): merge their figures into "
                             "results.json and rewrite only their sections of RESULTS.md")
    args = parser.parse_args()
    quick = not args.full
    if args.only:
        names = args.only.split(",")
        if unknown := set(names) - set(PARTS):
            parser.error(f"--only: unknown {', '.join(sorted(unknown))}")
        return partial(names, quick)
    results = {"mode": "quick" if quick else "full", "machine": machine(),
               "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
               "load_at_start": os.getloadavg()[0]}
    processes = os.cpu_count() or 2
    results |= receipt_work.measure(count=20 if quick else 100, processes=processes,
                              seconds=3 if quick else 10)
    results |= http_load.measure(workers=processes, seconds=10 if quick else 30,
                                 argon2_bound=results["argon2_bound_per_s"])
    results |= shared_limits.measure(processes, hits=1000 if quick else 5000,
                                     argon2_bound=results["argon2_bound_per_s"])
    results |= alerts.measure(20 if quick else 100)
    results |= flood.measure(workers=processes, requests_per_client=8 if quick else 25)
    results |= flood.measure_refusals(workers=processes)
    results |= stalled.measure(workers=processes, seconds=10 if quick else 30)
    results |= stalled.measure_small_bodies(workers=processes, seconds=10 if quick else 30)
    results |= puzzle.measure(quick)
    sizes = upload_sizes(quick)
    size = max(sizes)
    results |= upload.measure(sizes, workers=processes, rounds=3, sealed=True)
    results |= sealed_upload.in_process(min(size, 256 * MiB))
    results |= officer_import.measure(2_000 if quick else 10_000)
    results |= officer_app.measure(2_000 if quick else 10_000)
    results |= stream_cipher.measure(size)
    peaks = stream_cipher.memory_growth(16 * MiB, size)
    results["stream_peak_rss_mib_small"] = peaks[16 * MiB]
    results["stream_peak_rss_mib_large"] = peaks[size]
    results |= backup.measure(size)
    # Phones send videos of this order; sealed in the page, in Chromium.
    results |= browser_crypto.measure(64 * MiB if quick else 256 * MiB)
    # The figure is 200 MB over 3G: about 20 minutes, so the full run only.
    results |= resume_3g.measure(4_000_000 if quick else 200_000_000)
    results |= growth.measure(quick, results)
    results["load_at_end"] = os.getloadavg()[0]
    write(results)


def upload_sizes(quick):
    """The upload sizes of a quick or a full run."""
    return [16 * MiB, 64 * MiB, 128 * MiB] if quick else [16 * MiB, 256 * MiB, 1024 * MiB]


def _stream_figures(size):
    results = stream_cipher.measure(size)
    peaks = stream_cipher.memory_growth(16 * MiB, size)
    return results | {"stream_peak_rss_mib_small": peaks[16 * MiB],
                      "stream_peak_rss_mib_large": peaks[size]}


def _growth_figures(size):
    """The growth steps of the run ``size`` stands for, uploads included.

    The upload steps are the upload section's medians when results.json
    holds them for these sizes; otherwise the uploads are measured here, one
    round each (their section of RESULTS.md is left as it is).
    """
    quick = size < 1024 * MiB
    sizes = upload_sizes(quick)
    path = HERE / "results.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    keys = [f"{kind}_mb_s_{n // MiB}mib" for n in sizes for kind in ("upload", "sealed_upload")]
    if all(key in known for key in keys):
        uploads = {key: known[key] for key in keys} | {
            "upload_sizes_mib": [n // MiB for n in sizes]}
    else:
        uploads = upload.measure(sizes, workers=os.cpu_count() or 2, rounds=1, sealed=True)
    return growth.measure(quick, uploads)


def _upload_figures(size):
    """The uploads of the full or quick run ``size`` stands for, and the server's own work."""
    sizes = upload_sizes(size < 1024 * MiB)
    return (upload.measure(sizes, workers=os.cpu_count() or 2, rounds=3, sealed=True)
            | sealed_upload.in_process(min(size, 256 * MiB)))


#: What ``--only`` can run: the figures (for the run's largest size) and the sections they fill.
PARTS = {
    "uploads": (_upload_figures, lambda r: report_upload.upload_section(r),
                lambda r: report_upload.sealed_section(r)),
    "stream_cipher": (_stream_figures, lambda r: report_stream.section(r)),
    "backup": (lambda size: backup.measure(size), lambda r: report_backup.section(r)),
    "sealed_inproc": (lambda size: sealed_upload.in_process(min(size, 256 * MiB)),
                      lambda r: report_upload.sealed_section(r)),
    "growth": (_growth_figures, lambda r: report_growth.section(
        r | {"mode": "full" if r["growth"]["upload"][-1][0] >= 1024 else "quick"})),
}


def partial(names, quick):
    """Run only ``names``; update their keys in results.json and their sections of RESULTS.md.

    For working on one figure without the whole run: the other sections
    stay as the last full run wrote them, and each rewritten section says
    when and under what load it was measured.
    """
    size = 128 * MiB if quick else 1024 * MiB
    command = f"python -m bench.run --{'quick' if quick else 'full'} --only {','.join(names)}"
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    results = {}
    for name in names:
        results |= PARTS[name][0](size)
    end_load = os.getloadavg()[0]
    path = HERE / "results.json"
    merged = (json.loads(path.read_text()) if path.exists() else {}) | results
    path.write_text(json.dumps(merged, indent=2) + "\n")
    text = (HERE / "RESULTS.md").read_text()
    for name in names:
        note = (f"The figures of `{name}` were measured on their own by `{command}`, started "
                f"{date} with a load average of {load:.1f} ({end_load:.1f} at its end) on "
                f"{os.cpu_count()} cores; the other figures are from the last full run.")
        for section in PARTS[name][1:]:
            lines = section(merged)
            text = replace_section(text, "\n".join([lines[0], "", note, *lines[1:]]))
    (HERE / "RESULTS.md").write_text(text)
    if "growth" in results:
        (HERE / "growth.svg").write_text(growth.svg(results["growth"]))
    for key, value in results.items():
        print(f"{key}  {value:,.3f}" if isinstance(value, float) else f"{key}  {value}")
    print(f"\nwritten: {path} and the sections of {HERE / 'RESULTS.md'}")


def replace_section(text, section):
    """``text`` with the section of ``section``'s heading (up to the next "## ") replaced."""
    heading = section.split("(", 1)[0].split("\n", 1)[0]
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    end = len(text) if end < 0 else end + 1
    return text[:start] + section.rstrip("\n") + "\n\n" + text[end:]


def write(results):
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / "RESULTS.md").write_text(summary(results))
    if "growth" in results:
        (HERE / "growth.svg").write_text(growth.svg(results["growth"]))
    rows = [(k, v) for k, v in results.items()
            if k not in ("machine", "argon2_params") and not isinstance(v, dict)]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        shown = f"{value:,.2f}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    print(f"\nwritten: {HERE / 'results.json'}")


def summary(r):
    """The human summary: what was measured, against what, on which machine."""
    m = r["machine"]
    p = r["argon2_params"]
    per_day = r["argon2_bound_per_s"] * 86400
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python -m bench.run --{r['mode']}` (`make bench` / `make bench-quick`)"
        + (f", started {r['date']} with a load average of {r['load_at_start']:.1f}"
           + (f" ({r['load_at_end']:.1f} at its end)" if "load_at_end" in r else "")
           + f" on {r['machine']['cores']} cores." if "date" in r else "."),
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
        f"| one receipt derivation | {fmt(r['argon2_ms_per_hash'], 1)} ms |",
        f"| peak RSS of a process doing it | {fmt(r['argon2_peak_rss_mib'], 1)} MiB |",
        f"| Argon2 bound, {r['argon2_bound_processes']} processes | {fmt(r['argon2_bound_per_s'], 1)} derivations/s |",
        f"| that bound per day | {fmt(per_day)} submits or checks |",
        "",
        "Every submit and every receipt check costs one derivation, so the Argon2 bound",
        "caps what one machine can serve. The national load in the design brief is about",
        "17,000 reports in a few months (a few hundred a day): "
        f"{fmt(per_day / 300)} times less than the bound.",
        "",
        f"## Submits and checks through the real server ({r['http_workers']} gunicorn workers, loopback)",
        "",
        "A closed loop of client threads on the same machine (they take CPU from the",
        "server too); 2 KB report texts through `POST /api/v1/tips`, half right and half",
        "unknown receipts through `POST /api/v1/check`.",
        "",
        "| figure | per second | p50 / p99 latency | vs Argon2 bound (goal >= 0.85) |",
        "|---|---|---|---|",
        f"| submits | {fmt(r['submit_per_s'], 1)} | {fmt(r['submit_p50_ms'])} / {fmt(r['submit_p99_ms'])} ms | "
        f"{fmt(r['submit_vs_argon2_bound'], 2)} |",
        f"| receipt checks | {fmt(r['check_per_s'], 1)} | {fmt(r['check_p50_ms'])} / {fmt(r['check_p99_ms'])} ms | "
        f"{fmt(r['check_vs_argon2_bound'], 2)} |",
        "",
        f"Capacity: about {fmt(r['submit_per_s'] * 86400)} submits a day, or "
        f"{fmt(r['check_per_s'] * 86400)} checks a day, on this one 2-core machine.",
        "",
        "Each of them is first counted in the server-wide rate limit, a write to a SQLite",
        f"file in RAM shared by the workers (bench/shared_limits.py): {r.get('ratelimit_processes', '?')} "
        f"processes x 4 threads count {fmt(r.get('ratelimit_hits_per_s'))} requests/s "
        f"(p50 / p99 {fmt(r.get('ratelimit_p50_ms'), 2)} / {fmt(r.get('ratelimit_p99_ms'), 2)} ms), "
        f"{fmt(r.get('ratelimit_vs_argon2_bound'))} times the Argon2 bound.",
        "",
        "A unit with duty alerts by e-mail and webhook adds two counter upserts to the",
        "transaction that stores each report (bench/alerts.py; the sending is another process):",
        f"a submission took {fmt(r.get('alert_submit_ratio'), 2)} times as long as one to a unit "
        f"without alerts ({fmt(r.get('alert_submit_ms'), 1)} ms), the store's transaction alone "
        f"{fmt(r.get('alert_insert_ratio'), 2)} times ({fmt(r.get('alert_insert_ms'), 2)} ms).",
        "",
    ]
    lines += report_flood.flood_section(r) + report_flood.refusal_section(r) + report_stalled.section(r) + report_stalled.small_bodies_section(r) + report_puzzle.section(r) + report_upload.upload_section(r) + report_upload.sealed_section(r) + resume_3g.section(r) + report_officer.import_section(r)
    lines += report_officer.app_section(r)
    lines += report_stream.section(r)
    lines += report_backup.section(r)
    lines += report_browser.section(r) + report_growth.section(r) + kept_sections()
    lines += _above_bound_section(r)
    return "\n".join(lines)


#: Sections of RESULTS.md measured on their own, not by this run: kept as they are.
KEPT = ("## Officer bounds", "## The officer app over a unit's year",
        "## Purge: rebuilt indexes and the overwritten log", "## The submit page on a phone's 3G link")


def kept_sections(text=None):
    """The KEPT sections of RESULTS.md (or of ``text``), as lines, for a full run to keep."""
    if text is None:
        path = HERE / "RESULTS.md"
        text = path.read_text() if path.exists() else ""
    lines = []
    for heading in KEPT:
        start = text.find(heading)
        if start >= 0:
            end = text.find("\n## ", start + len(heading))
            lines += text[start:len(text) if end < 0 else end + 1].rstrip("\n").split("\n") + [""]
    return lines


def _above_bound_section(r):
    """Any figure above 1.05 of its bound means the bound was wrong in this run: say which."""
    above = {key: value for key, value in r.items()
             if "_vs_" in key and key.endswith("bound") and isinstance(value, float)
             and value > 1.05
             # Not a bound: how many times the Argon2 bound the rate limiter carries.
             and key != "ratelimit_vs_argon2_bound"}
    if not above:
        return ["No figure is above 1.05 of its bound.", ""]
    return [
        "## Figures above their bound",
        "",
        *[f"- `{key}` = {value:.2f}" for key, value in sorted(above.items())],
        "",
        "A bound measured at another moment of the run than its figure is only a bound if the "
        "machine's load stayed the same: here it did not (the Argon2 bound is measured first, "
        f"one derivation took {fmt(r.get('argon2_ms_per_hash'), 0)} ms in this run, about "
        "30 ms when the machine is quiet). Read these ratios as 1.",
        "",
    ]


if __name__ == "__main__":
    main()
