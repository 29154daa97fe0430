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
    results |= puzzle.measure(quick)
    sizes = [16 * MiB, 64 * MiB, 128 * MiB] if quick else [16 * MiB, 256 * MiB, 1024 * MiB]
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
    write(results)


def _stream_figures(size):
    results = stream_cipher.measure(size)
    peaks = stream_cipher.memory_growth(16 * MiB, size)
    return results | {"stream_peak_rss_mib_small": peaks[16 * MiB],
                      "stream_peak_rss_mib_large": peaks[size]}


#: What ``--only`` can run: the figures (for the run's largest size) and the section they fill.
PARTS = {
    "stream_cipher": (_stream_figures, lambda r: _stream_section(r)),
    "backup": (lambda size: backup.measure(size), lambda r: _backup_section(r)),
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
    path = HERE / "results.json"
    merged = (json.loads(path.read_text()) if path.exists() else {}) | results
    path.write_text(json.dumps(merged, indent=2) + "\n")
    text = (HERE / "RESULTS.md").read_text()
    for name in names:
        lines = PARTS[name][1](results)
        note = (f"Measured on its own by `{command}`, started {date} with a load average of "
                f"{load:.1f} on {os.cpu_count()} cores; the other sections are from the last "
                "full run.")
        text = replace_section(text, "\n".join([lines[0], "", note, *lines[1:]]))
    (HERE / "RESULTS.md").write_text(text)
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
        f"Written by `python -m bench.run --{r['mode']}` (`make bench` / `make bench-quick`)"
        + (f", started {r['date']} with a load average of {r['load_at_start']:.1f} on "
           f"{r['machine']['cores']} cores (other helpers' work on the same machine)."
           if "date" in r else "."),
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
        "Each of them is first counted in the server-wide rate limit, a write to a SQLite",
        f"file in RAM shared by the workers (bench/shared_limits.py): {r.get('ratelimit_processes', '?')} "
        f"processes x 4 threads count {_fmt(r.get('ratelimit_hits_per_s'))} requests/s "
        f"(p50 / p99 {_fmt(r.get('ratelimit_p50_ms'), 2)} / {_fmt(r.get('ratelimit_p99_ms'), 2)} ms), "
        f"{_fmt(r.get('ratelimit_vs_argon2_bound'))} times the Argon2 bound.",
        "",
        "A unit with duty alerts by e-mail and webhook adds two counter upserts to the",
        "transaction that stores each report (bench/alerts.py; the sending is another process):",
        f"a submission took {_fmt(r.get('alert_submit_ratio'), 2)} times as long as one to a unit "
        f"without alerts ({_fmt(r.get('alert_submit_ms'), 1)} ms), the store's transaction alone "
        f"{_fmt(r.get('alert_insert_ratio'), 2)} times ({_fmt(r.get('alert_insert_ms'), 2)} ms).",
        "",
    ]
    lines += _flood_section(r) + _refusal_section(r) + _stalled_section(r) + puzzle.section(r) + _upload_section(r) + _sealed_upload_section(r) + resume_3g.section(r) + _import_section(r)
    lines += _officer_app_section(r)
    lines += _stream_section(r)
    lines += _backup_section(r)
    lines += _browser_section(r) + _growth_section(r) + _above_bound_section(r)
    return "\n".join(lines)


def _stream_section(r):
    """The stream cipher against its bound, the disk (bench/stream_cipher.py)."""
    lines = [
        f"## Attachment stream cipher, file to file ({_fmt(r['stream_size_mib'])} MiB of random data)",
        "",
        "The bound is the disk: a plain copy of the same file, read and written in 64 KiB "
        "pieces and fsynced once at the end, no crypto, as the stream writes its file. "
        "Encryption and decryption write a file and fsync it the same way. The copy and the "
        f"stream take turns, {len(r.get('stream_rounds', []))} rounds; a ratio is the median "
        "of the rounds' (encrypt, decrypt: "
        f"{', '.join(f'{e:.2f}/{d:.2f}' for e, d in r.get('stream_rounds', []))}; load average "
        f"{_fmt(r.get('stream_load'), 1)} on {os.cpu_count()} cores).",
        "",
        "| figure | MB/s | vs tipdrop | goal |",
        "|---|---|---|---|",
        f"| plain copy, read + write + fsync (bound) | {_fmt(r['stream_copy_bound_mb_s'])} | | |",
        f"| tipdrop stream encrypt | {_fmt(r['stream_encrypt_mb_s'])} | "
        f"{_fmt(r['stream_encrypt_vs_copy_bound'], 2)} of the copy | >= 0.7: "
        f"{_met(r['stream_encrypt_vs_copy_bound'] >= 0.7)} |",
        f"| tipdrop stream decrypt | {_fmt(r['stream_decrypt_mb_s'])} | "
        f"{_fmt(r['stream_decrypt_vs_copy_bound'], 2)} of the copy | >= 0.7: "
        f"{_met(r['stream_decrypt_vs_copy_bound'] >= 0.7)} |",
        f"| tipdrop stream decrypt into /dev/null (as age and gpg below) | "
        f"{_fmt(r['stream_decrypt_devnull_mb_s'])} | | |",
        f"| raw AES-256-GCM 64 KiB chunk loop, in memory (what the CPU allows) | "
        f"{_fmt(r['raw_aead_mb_s'])} | encrypt at {_fmt(r['encrypt_vs_raw_aead'], 2)} of it | |",
    ]
    for name in ("age", "gpg", "gpg_z0"):
        label = {"age": "`age` 1.1 (Debian)", "gpg": "`gpg` default", "gpg_z0": "`gpg -z 0`"}[name]
        if f"{name}_encrypt_mb_s" in r:
            enc, dec = r[f"{name}_encrypt_mb_s"], r[f"{name}_decrypt_mb_s"]
            lines.append(f"| {label} encrypt / decrypt | {_fmt(enc)} / {_fmt(dec)} | "
                         f"tipdrop is {_fmt(r['stream_encrypt_mb_s'] / enc, 2)}x / "
                         f"{_fmt(r['stream_decrypt_devnull_mb_s'] / dec, 2)}x (into /dev/null) | |")
    lines += [
        "",
        f"Peak RSS of the process encrypting and decrypting: {_fmt(r['stream_peak_rss_mib_small'], 1)} MiB "
        f"for 16 MiB, {_fmt(r['stream_peak_rss_mib_large'], 1)} MiB for {_fmt(r['stream_size_mib'])} MiB: "
        "memory does not grow with the size of the file.",
        "",
        "age and gpg write their encrypted file without fsync, and decrypt into /dev/null.",
        "",
        "The same runs' CPU time (user + system, each process's own, the kernel's copies "
        "included; not the disk's time), the copy's over the stream's, median of the rounds: "
        f"encrypt {_fmt(r.get('stream_encrypt_cpu_vs_copy'), 2)}, decrypt "
        f"{_fmt(r.get('stream_decrypt_cpu_vs_copy'), 2)}. On a machine whose cores are "
        "saturated, wall time follows CPU time and the ratios above come down towards these; "
        "with idle cores both wait for the disk and the ratios rise towards 1.",
        "",
        "Where the time goes (perf at 5 kHz over ten 128 MiB runs of each, file to file, "
        "load average near 10): the plain copy spends about 50 ms of CPU per 128 MiB, nearly "
        "all of it the kernel's two copies (into the process, back into the page cache) and "
        "ext4. Encryption and decryption make the same kernel copies (the same samples in "
        "`_copy_to_iter` and `copy_folio_from_iter_atomic`) and add AES-GCM, about 14 ms per "
        "128 MiB (some 15 % of their CPU time), and Python per 64 KiB chunk (about 4 %): "
        "about 1.3 to 1.5 times the copy's CPU time. On this shared machine a process is on "
        "a core only part of the time, so wall time follows CPU time: three runs of this "
        "bench on 2026-12-06, at load averages of 8 to 11, gave encrypt 0.80, 0.89 and 0.65 "
        "and decrypt 0.80, 0.72 and 0.63 of the copy, one round differing from the next by "
        "tens of percent (the rounds above). What is left is AES-GCM itself, not Python: a "
        "minimal loop in the same process (read 256 KiB, `encrypt_into` four chunks, one "
        "write; no framing, no padding) took 0.76 of the copy's CPU time, `encrypt_stream` "
        "0.73 (seven runs each, medians).",
        "",
        "Fixed in this run: encryption held back each chunk written to it whole until more "
        "data showed it was not the final chunk, copying 64 KiB aside per 256 KiB read "
        "(a memmove, 3 % of its CPU time); written data is never the final chunk (the "
        "padding's marker always follows it), so a whole chunk is now sealed at once, from "
        "the caller's buffer. Decryption read one sealed chunk per call; it now reads four "
        "into two batch buffers used in turns (the next batch, read first, tells whether a "
        "batch ends the stream), a sixth less Python per byte. Already so before this run: "
        "AES-GCM through cryptography's `encrypt_into`/`decrypt_into` into preallocated "
        "buffers (no copy of a chunk in Python), four sealed chunks or opened chunks per "
        "write, and the unpadder's padding search block by block.",
        "",
        "Not done, and why: `os.writev` (the sealed chunks already lie in one buffer, one "
        "write each 256 KiB); larger write batches (the 512 writes per 128 MiB do not show "
        "among perf's costs, and eight chunks per batch would double the decryptor's "
        "buffers past the 1 MiB the memory test allows); `posix_fadvise` (the file is in the "
        "page cache for the copy and the stream alike, there is nothing to read ahead); "
        "reading the file through mmap, which would save the stream the kernel's copy into "
        "the process (a sixth of its CPU time) but not a copy made the same way, so it "
        "would move the ratio, not the stream nearer the disk, and mapped pages count in "
        "the process's RSS.",
        "",
    ]
    if min(r["stream_encrypt_vs_copy_bound"], r["stream_decrypt_vs_copy_bound"]) < 0.7:
        lines += [
            "Why a goal is not met in this run: besides the copy's own work (the kernel's "
            "copies, the disk), the stream does AES-GCM, which no framing can avoid; with "
            "the cores saturated, that CPU time shows in the wall time (the CPU-time ratios "
            "above), and one round differs from the next by tens of percent (the rounds "
            "above). The goal is met in runs where the disk, not the CPU, is what waits.",
            ""]
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
        f"one derivation took {_fmt(r.get('argon2_ms_per_hash'), 0)} ms in this run, about "
        "30 ms when the machine is quiet). Read these ratios as 1.",
        "",
    ]


def _growth_section(r):
    if "growth" not in r:
        return []
    return [
        "## How the costs grow with the work",
        "",
        "Seconds for one piece of work at each step (bench/growth.py): an upload of that many "
        "MiB (the median round above), an officer import of a bundle of that many tips, a "
        "purge of that many closed tips past the retention time (a database holding only "
        "them), the public figures of `/stats` over that many tips of the last 12 months. "
        "The last column is the cost per unit of work against the first step: 1.00 is linear "
        "growth, above 1 grows faster than the work.",
        "",
        *growth.table(r["growth"]),
        "",
        "![time multiple against work multiple, log-log](growth.svg)",
        "",
        f"Mode: {r['mode']}; `make bench` runs larger steps (uploads to 1 GiB, imports and "
        "purges to 100k tips, `/stats` over 1M tips). A purge's seconds are the median of "
        "three.",
        "",
        "Why a purge grew faster than its work, measured with /proc/self/io and perf on "
        "bench/growth.py's databases: it deleted 100 tips per transaction in its plan's order "
        "(oldest first, then by random id), so once the table outgrew a batch each tip "
        "changed 64 KiB pages of its own, of the table and of the random-keyed indexes "
        "(id, locator), and with secure_delete every changed page is rewritten and copied "
        "whole into the WAL; SQLite's default page cache, 2 MiB or 31 of those pages, "
        "spilled them to the WAL before each commit and read them back. Bytes written per "
        "purged tip: 8 KiB at 1,000 tips, 44 KiB at 10,000, 142 KiB at 100,000 (and 175 KiB "
        "read). Now (tipdrop/server/retention.py, store/deletion.py) a purge takes the tips in "
        "the order they are stored, 1,000 per transaction (and at most 64 MiB of their "
        "files), with a 64 MiB page cache: 8, 10 and 25 KiB per tip. What still grows "
        "past 10,000 is the random-keyed indexes: each batch changes pages across all of "
        "them, a cost per batch that grows with the table until a batch touches every page "
        "(then linear again).",
        "",
    ] + [f"{name} grows faster than its work: {steps[-1][0]:,} {growth.UNITS[name]} cost "
         f"{steps[-1][1] / steps[-1][0] / (steps[0][1] / steps[0][0]):.2f} times as much per "
         f"{growth.UNITS[name].removesuffix('s')} as {steps[0][0]:,}."
         for name, steps in r["growth"].items()
         if steps[-1][1] / steps[-1][0] > 1.5 * steps[0][1] / steps[0][0]] + [""]


def _met(ok):
    return "met" if ok else "**not met**"


def _flood_section(r):
    if "flood_peak_rss_mib" not in r:
        return []
    goal_ok = r["flood_peak_rss_mib"] <= r["flood_rss_goal_mib"]
    clean = r["flood_5xx_other_than_503"] == 0 and r["flood_crashed_workers"] == 0
    statuses = ", ".join(f"{v} x {k}" for k, v in sorted(r["flood_statuses"].items()))
    lines = [
        f"## Flood: {r['flood_clients']} clients checking receipts at once "
        f"({r['flood_workers']} workers)",
        "",
        f"The concurrency limit is the Argon2 slots, {r['flood_concurrency_limit']} "
        f"({r['flood_workers']} workers x TIPDROP_ARGON2_SLOTS); ten times as many clients "
        f"each sent receipt checks one after another: {r['flood_requests']} in "
        f"{_fmt(r['flood_seconds'], 1)} s ({statuses}). The rate limiter was set out of the "
        "way so the burst meets the concurrency bound. RSS is summed over master and workers.",
        "",
        "| figure | value | goal | |",
        "|---|---|---|---|",
        f"| base RSS before the burst | {_fmt(r['flood_base_rss_mib'])} MiB | | |",
        f"| peak RSS during the burst (sum of VmHWM after: {_fmt(r['flood_hwm_sum_mib'])} MiB) | "
        f"{_fmt(r['flood_peak_rss_mib'])} MiB | <= base + limit x Argon2 memory + 64 MiB = "
        f"{_fmt(r['flood_rss_goal_mib'])} MiB | {_met(goal_ok)} |",
        f"| share of 429 / 503 | {_fmt(r['flood_share_429'] * 100, 1)} % / "
        f"{_fmt(r['flood_share_503'] * 100, 1)} % | | |",
        f"| 5xx other than 503 / dropped connections | {r['flood_5xx_other_than_503']} / "
        f"{r['flood_connection_errors']} | 0 | {_met(clean and not r['flood_connection_errors'])} |",
        f"| workers crashed or replaced | {r['flood_crashed_workers']} | 0 | "
        f"{_met(r['flood_crashed_workers'] == 0)} |",
    ]
    lines.append("")
    lines += [
        "The server runs with glibc's mmap threshold fixed at 4 MiB (MALLOC_MMAP_THRESHOLD_, "
        "set by `tipdrop serve` for itself and its workers and by deploy/systemd/"
        "tipdrop.service; tipdrop/server/serve.py ALLOCATOR_ENV). Without it, glibc raises its "
        "dynamic threshold to the size of the first freed 19 MiB Argon2 block and every "
        "gthread thread then keeps one in its own malloc arena, so memory followed the "
        "threads (8 per worker), not the Argon2 slots: the same burst peaked at 298 MiB "
        "against a goal of 279 MiB before (issue 19).",
        ""]
    if not r["flood_share_503"]:
        lines += ["No 503: an Argon2 run takes tens of milliseconds, so a check waits for a slot "
                  "far less than the slot's 2 s before refusing; gunicorn queues the extra "
                  "connections as sockets. (tests/e2e/test_flood.py adds slow uploads to make "
                  "the slots refuse.)", ""]
    if not goal_ok:
        lines += [
            "Why the memory goal is not met in this run: the peak is over the goal although "
            "freed Argon2 blocks go back to the system; look at the workers' VmHWM above and "
            "at what else the threads allocate.",
            ""]
    return lines


def _refusal_section(r):
    if r.get("refusal_503_p95_s") is None:
        return []
    statuses = ", ".join(f"{v} x {k}" for k, v in sorted(r["refusal_statuses"].items()))
    return [
        f"## Refusals under a burst ({r['refusal_workers']} workers, 1 Argon2 and 1 upload slot each)",
        "",
        f"The burst of tests/e2e/test_flood.py: {r['refusal_requests']} requests from "
        f"{r['refusal_clients']} clients at once, every 4th an upload that pauses "
        f"{flood.SLOW_STALL} s after its first KiB, every 3rd a JSON submit, the rest receipt "
        f"checks ({statuses}). Seconds from sending a request to its answer; the test asserts "
        "only that every request is answered and every 503 has Retry-After, since these "
        "figures follow the machine's load.",
        "",
        "| answer | p50 | p95 | max |",
        "|---|---|---|---|",
        f"| 503 | {_fmt(r['refusal_503_p50_s'], 2)} s | {_fmt(r['refusal_503_p95_s'], 2)} s | "
        f"{_fmt(r['refusal_503_max_s'], 2)} s |",
        f"| any other | {_fmt(r['refusal_other_p50_s'], 2)} s | "
        f"{_fmt(r['refusal_other_p95_s'], 2)} s | |",
        "",
    ]


def _stalled_section(r):
    if "check_p99_ms_idle" not in r:
        return []
    stalled = r["stalled_uploads"]
    under = r[f"check_p99_ms_under_{stalled}_stalled_uploads"]
    under_p50 = r[f"check_p50_ms_under_{stalled}_stalled_uploads"]
    ends = ", ".join(f"{v} x {k}" for k, v in sorted(r["stalled_upload_ends"].items()))
    statuses = ", ".join(f"{v} x {k}" for k, v in
                         sorted(r["stalled_check_statuses_under_attack"].items()))
    return [
        f"## Receipt checks while {stalled} uploads stall ({r['http_workers']} workers)",
        "",
        f"{r['stalled_check_clients']} honest clients check a receipt in a closed loop, alone, "
        f"then while {stalled} connections each send the head of an upload and then nothing, "
        "starting a new one whenever the server ends theirs (and waiting for the server to "
        f"close before they do). How the server ended them: {ends}. The checks: {statuses}. "
        "A check not answered within 10 s counts as 10 s. Why the server holds: "
        "docs/deploy.md, \"Workers, threads and slow clients\".",
        "",
        "| figure | p50 | p99 |",
        "|---|---|---|",
        f"| checks, idle | {_fmt(r['check_p50_ms_idle'])} ms | {_fmt(r['check_p99_ms_idle'])} ms |",
        f"| checks, {stalled} stalled uploads | {_fmt(under_p50)} ms | {_fmt(under)} ms |",
        f"| ratio | | {_fmt(r['check_p99_ratio_stalled_vs_idle'], 2)} |",
        "",
        f"Server RSS during the attack (master and workers): {_fmt(r['stalled_server_rss_mib'])} MiB.",
        "",
    ]


def _upload_section(r):
    if "upload_mb_s" not in r:
        return []
    size = r["upload_size_mib"]
    sizes = r["upload_sizes_mib"]
    rss_ok = r["upload_peak_rss_mib"] <= 150
    speed_ok = r["upload_vs_wsgi_reader_bound"] >= 0.8
    sealed = "sealed_upload_mb_s" in r
    lines = [
        f"## Attachment upload through the real server ({', '.join(f'{n:,}' for n in sizes)} MiB, "
        f"{r['http_workers']} gunicorn workers, loopback)",
        "",
        "One non-photo file (random bytes labelled video/mp4) posted as multipart to "
        "`POST /api/v1/tips`, text fields first, streamed by the client with its "
        "Content-Length; the same file sealed on the device (bench/sealed_upload.py) posted to "
        "`POST /api/v1/sealed-tips` of the same server. The bound is the transport: "
        "bench/upload_reader.py, a WSGI app that reads `wsgi.input` in 1 MiB pieces and drops "
        "them, served by gunicorn with tipdrop's worker class (tipdrop/server/worker.py), threads, "
        "workers and allocator settings; below it the loopback socket alone. Each size is "
        f"uploaded in turns to the three, {r.get('upload_rounds', 3)} rounds; a ratio is the "
        "median of the rounds' (load average at the end: "
        f"{_fmt(r.get('upload_load'), 1)} on {os.cpu_count()} cores)."
        + (f" Recorded on its own with `{r['upload_command']}` ({r['upload_recorded']}), "
           "after the rest of this file." if "upload_command" in r else ""),
        "",
        "| size | tipdrop (server encrypts) | device-sealed | WSGI reader (bound) | "
        "tipdrop / bound | sealed / bound | sealed / tipdrop |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in sizes:
        tag = f"{n}mib"
        lines.append(
            f"| {n:,} MiB | {_fmt(r[f'upload_mb_s_{tag}'])} MB/s | "
            f"{_fmt(r.get(f'sealed_upload_mb_s_{tag}'))} MB/s | "
            f"{_fmt(r[f'wsgi_reader_mb_s_{tag}'])} MB/s | "
            f"{_fmt(r[f'upload_vs_wsgi_reader_bound_{tag}'], 2)} | "
            f"{_fmt(r.get(f'sealed_upload_vs_wsgi_reader_bound_{tag}'), 2)} | "
            f"{_fmt(r.get(f'sealed_upload_vs_server_{tag}'), 2)} |")
    if f"upload_worker_cpu_s_{sizes[-1]}mib" in r:
        lines += [
            "",
            "CPU seconds the serving worker spent on one upload (all its threads, from "
            "/proc/PID/stat, median of the rounds): what the upload costs the machine whatever "
            "else runs on it, where MB/s follows the load.",
            "",
            "| size | tipdrop (server encrypts) | device-sealed | WSGI reader (bound) | "
            "tipdrop / reader | sealed / reader |",
            "|---|---|---|---|---|---|",
        ]
        for n in sizes:
            tag = f"{n}mib"
            ours, bound = r[f"upload_worker_cpu_s_{tag}"], r[f"wsgi_reader_worker_cpu_s_{tag}"]
            device = r.get(f"sealed_upload_worker_cpu_s_{tag}")
            lines.append(
                f"| {n:,} MiB | {_fmt(ours, 2)} s | {_fmt(device, 2)} s | {_fmt(bound, 2)} s | "
                f"{_fmt(ours / bound if bound else None, 1)} x | "
                f"{_fmt(device / bound if bound and device else None, 1)} x |")
    lines += [
        "",
        "| figure | value | goal | |",
        "|---|---|---|---|",
        f"| tipdrop vs the WSGI reader, lowest over the sizes | "
        f"{_fmt(r['upload_vs_wsgi_reader_bound'], 2)} | >= 0.8 | {_met(speed_ok)} |",
    ]
    if sealed:
        lines.append(f"| device-sealed vs the WSGI reader, lowest over the sizes | "
                     f"{_fmt(r['sealed_upload_vs_wsgi_reader_bound'], 2)} | >= 0.8 | "
                     f"{_met(r['sealed_upload_vs_wsgi_reader_bound'] >= 0.8)} |")
    lines += [
        f"| WSGI reader vs the loopback socket alone ({_fmt(r['loopback_mb_s'])} MB/s) | "
        f"{_fmt(r['wsgi_reader_vs_loopback'], 2)} | | |",
        f"| storing ciphertext alone: BlobWriter into a fresh database, no HTTP, no "
        f"encryption ({_fmt(size)} MiB) | {_fmt(r['blob_store_mb_s'])} MB/s; tipdrop's upload "
        f"at {_fmt(r['upload_vs_blob_store_bound'], 2)} of it; "
        f"{_fmt(r.get('blob_store_cpu_s'), 2)} CPU seconds | | |",
        f"| multipart reader (tipdrop/server/web/multipart.py) on a body in memory | "
        f"{_fmt(r['upload_decoder_in_memory_mb_s'])} MB/s | | |",
        f"| peak RSS of the worker, {_fmt(size)} MiB (idle before: "
        f"{_fmt(r['upload_worker_rss_before_mib'])} MiB; VmHWM {_fmt(r['upload_worker_hwm_mib'])} "
        f"MiB) | {_fmt(r['upload_peak_rss_mib'])} MiB | <= 150 MiB for 1 GiB | {_met(rss_ok)} |",
        f"| the same for a 16 MiB upload, before the others | "
        f"{_fmt(r['upload_peak_rss_mib_16mib'])} MiB | no growth with size (within 32 MiB) | "
        f"{_met(r['upload_peak_rss_mib'] <= r['upload_peak_rss_mib_16mib'] + 32)} |",
        f"| peak RSS, master + all workers | {_fmt(r['upload_server_peak_rss_mib'])} MiB | | |",
        f"| peak RSS of the WSGI reader's worker | "
        f"{_fmt(r['wsgi_reader_worker_peak_rss_mib'])} MiB | | |",
        "",
    ]
    if size < 1024:
        lines += [f"This run went up to {_fmt(size)} MiB (quick mode); the goal is stated for "
                  "16 MiB, 256 MiB and 1 GiB (`make bench`).", ""]
    fixed = r.get("upload_fixed_seconds")
    lines += [
        "Where the time goes, sampled with py-spy (`py-spy record --threads --native -r 200` "
        "on the worker during five 128 MiB uploads of each kind, outside the bench run, same "
        "machine, load average about 10). Earlier rounds moved the storing of the ciphertext "
        "in SQLite to a thread of the upload's own (tipdrop/server/attachments.py, BlobWriter; "
        "SQLite works without the GIL) and read the body 1 MiB at a time. This round replaced "
        "Werkzeug's multipart decoder (it copied every byte into its buffer and out into its "
        "events, searching 64 KiB slices: 14 % of the request thread) with tipdrop's own "
        "reader (tipdrop/server/web/multipart.py: `bytes.find` over each piece as gunicorn "
        "returns it, views of it handed to the writers, no copy of its own, and no copy by "
        "Werkzeug's `LimitedStream.readinto` either), and made the storing thread give its "
        "1 MiB buffers back to be filled again (a fresh zeroed buffer per piece, faulted in "
        "again after glibc returned it, was about 4 % of a sealed upload's request "
        "thread). Together they cut the worker's CPU for a 128 MiB upload from 0.72 to "
        "0.53 s server-encrypted and from 0.65 to 0.53 s sealed (the same bench, 3 rounds, "
        "the server of the commit before and after, one run each, load average 9 to 11). "
        "The request thread now, server-encrypted: 49 % gunicorn reading the body (the reader's whole work: its "
        "`Unreader` and `Body` copy each piece three times in Python; `recv` itself 5 %), "
        "16 % the stream cipher around AES-GCM (each 64 KiB chunk's `encrypt_into` lets go of "
        "the GIL and takes it back: 8 %), 5 % AES-GCM itself, 8 % the multipart reader "
        "(the delimiter search, about 1 GB/s), 7 % copying the ciphertext into the storing "
        "thread's piece, 14 % waiting to hand a piece to that thread. Device-sealed: 69 % "
        "gunicorn reading, 10 % the multipart reader, 11 % copying into the piece, 6 % "
        "waiting for the storing thread, 5 % tipdrop's read wrappers (the per-read deadline).",
        "",
    ]
    if fixed is not None:
        lines += [
            f"What a submit costs whatever its size (a 1 KiB file, median of 5): "
            f"{fixed * 1000:,.0f} ms, against {r['wsgi_reader_fixed_seconds'] * 1000:,.0f} ms "
            "for the reader: the receipt's Argon2 derivation (19 MiB, t=2; 47 of its 53 CPU "
            "ms, measured per step on 2026-12-06), sealing the report and the fsync of its "
            "transaction (a staged blob is begun without one since then). At 16 MiB that is "
            f"{fixed / (16 * 1.048576 / r['upload_mb_s_16mib']):.0%} of the upload's time.",
            ""]
    if not speed_ok:
        lines += [
            "Why the speed goal is not met, measured in CPU seconds (the table above): "
            "on two cores shared with the client, and here with other work, an upload's "
            "speed follows what it costs the machine, and tipdrop's worker spends "
            f"{_cpu_ratio(r, 'upload')} times the reader's CPU on the same body at "
            f"{_fmt(size)} MiB (the sealed upload {_cpu_ratio(r, 'sealed_upload')} times). "
            "Reaching 0.8 of the reader would take at most 1.25 times. "
            "The reader only receives; tipdrop receives the same way (the same gunicorn "
            "copies: half of its request thread, two thirds for a sealed upload, see above) "
            "and also stores every byte in SQLite (the storing thread; measured alone, "
            f"{_fmt(r.get('blob_store_cpu_s'), 2)} CPU seconds for {_fmt(size)} MiB against "
            f"the reader's {_fmt(r.get(f'wsgi_reader_worker_cpu_s_{size:.0f}mib'), 2)}: each "
            "byte is written to the WAL and again at checkpoints), pays a fixed cost per "
            "submit (the receipt's "
            "Argon2 derivation, sealing the report, the fsync: the 1 KiB row above) and, "
            "when it encrypts, AES-GCM and its framing. What is left in Python per byte is "
            "one copy into the storing thread's piece and the delimiter search; the rest "
            "would take storing outside SQLite (ruled out by docs/threat-model.md's "
            "\"Times\") or a receiver outside Python, which the bound shares.",
            ""]
    if not rss_ok:
        lines += ["Why the memory goal is not met: the worker reached "
                  f"{_fmt(r['upload_peak_rss_mib'] - r['upload_worker_rss_before_mib'])} MiB "
                  "over its idle size: something holds the upload in memory (a photo is held up "
                  "to 32 MiB by design; this file is not a photo).", ""]
    return lines


def _cpu_ratio(r, kind):
    tag = f"{r['upload_sizes_mib'][-1]}mib"
    ours, bound = r.get(f"{kind}_worker_cpu_s_{tag}"), r.get(f"wsgi_reader_worker_cpu_s_{tag}")
    return _fmt(ours / bound, 1) if ours and bound else "not measured"


def _cpu_comparison(r):
    """Whether the sealed upload cost the worker no more CPU than the server-encrypted one."""
    pairs = [(n, r.get(f"sealed_upload_worker_cpu_s_{n}mib"), r.get(f"upload_worker_cpu_s_{n}mib"))
             for n in r["upload_sizes_mib"]]
    if any(sealed is None or ours is None for _, sealed, ours in pairs):
        return "not measured"
    more = [f"{n:,} MiB" for n, sealed, ours in pairs if sealed > ours]
    return ("no more than the server-encrypted one at every size in this run" if not more
            else f"more than the server-encrypted one at {', '.join(more)} in this run")


def _sealed_upload_section(r):
    if "sealed_upload_mb_s" not in r:
        return []
    size = r["upload_size_mib"]
    faster = r["sealed_upload_vs_server_min"] >= 1
    flat = r["sealed_upload_peak_rss_mib"] <= r["sealed_upload_peak_rss_mib_16mib"] + 32
    lines = [
        "## A report sealed on the device, uploaded through the same server",
        "",
        "The sealed uploads of the table above: the server only checks the framing and the "
        "key ids, and stores; it encrypts nothing. The stream is Padmé-padded: "
        f"{_fmt(r['sealed_upload_stream_mib'], 1)} MiB go over the wire for the "
        f"{_fmt(size)} MiB file; MB/s counts the stream's bytes.",
        "",
        "| figure | value | measured against | |",
        "|---|---|---|---|",
        f"| device-sealed vs server-encrypted upload, lowest over the sizes | "
        f"{_fmt(r['sealed_upload_vs_server_min'], 2)} | >= 1 at every size: nothing left to "
        f"encrypt | {_met(faster)} |",
        f"| time to deliver the same {_fmt(size)} MiB file, vs the server-encrypted upload | "
        f"{_fmt(r['sealed_upload_time_vs_server'], 2)} | | |",
        f"| the server's own work, without HTTP (Flask test client, one process, "
        f"{_fmt(min(size, 256))} MiB, in turns): device-sealed vs server-encrypted | "
        f"{_fmt(r.get('inproc_sealed_mb_s'))} vs {_fmt(r.get('inproc_server_mb_s'))} MB/s = "
        f"{_fmt(r.get('inproc_sealed_vs_server'), 2)} | >= 1 (0.95 allowing for noise) | "
        f"{_met(r.get('inproc_sealed_vs_server', 0) >= 0.95)} |",
        f"| peak RSS of the worker (idle before: {_fmt(r['sealed_upload_worker_rss_before_mib'])} "
        f"MiB; VmHWM {_fmt(r['sealed_upload_worker_hwm_mib'])} MiB) | "
        f"{_fmt(r['sealed_upload_peak_rss_mib'])} MiB | the same for a 16 MiB sealed upload: "
        f"{_fmt(r['sealed_upload_peak_rss_mib_16mib'])} MiB (within 32 MiB) | {_met(flat)} |",
        "",
    ]
    if not faster:
        lines += [
            "Why the goal is not met at every size: a sealed upload spares the server the "
            "cipher (in CPU seconds per upload, the table above, it cost "
            f"{_cpu_comparison(r)}; /proc counts 10 ms ticks), but both spend most "
            "of it on the same work, receiving the body and storing it (see above), so the "
            "time they take differs by less than two rounds of the same upload do on this "
            "shared machine, with both clients on the same two cores (the sealed stream is "
            "also 3 % longer, Padmé). Until this round the sealed client read its file "
            "during the upload, a fresh 4 MiB object per read, which the other client does "
            "not pay; it now sends the file from a memory mapping. In separate runs of 4 "
            "rounds at 128 MiB (one worker, load average 6 to 8), the server's CPU for the "
            "sealed upload was lower than for the other in 4 of 4 with the stream sent "
            "from memory and 3 of 4 from the mapping. The server's own work without HTTP, "
            "in the row above, and the CPU seconds are the steadier comparisons.",
            ""]
    return lines


def _browser_section(r):
    if "browser_skipped" in r:
        return ["## Encryption on the reporter's device", "",
                f"Not measured: {r['browser_skipped']}.", ""]
    if "browser_failed" in r:
        return ["## Encryption on the reporter's device", "",
                f"Failed with a {_fmt(r['browser_size_mib'])} MiB file: {r['browser_failed']}", ""]
    if "browser_stream_mb_s" not in r:
        return []
    size = r["browser_size_mib"]
    kept_small, kept_large = r["browser_heap_retained_mib_16mib"], r["browser_heap_retained_mib_large"]
    heap_flat = kept_large <= kept_small + 8
    read_bound = r["browser_blob_read_1mib_mb_s"] < r["browser_aesgcm_in_memory_mb_s"]
    seconds = size * MiB / 1e6 / r["browser_stream_mb_s"]
    lines = [
        f"## Encryption on the reporter's device (Chromium {r['browser_chromium']}, headless)",
        "",
        "bench/browser_crypto.py: a real `tipdrop serve` serves a page and the scripts of "
        "`/submit`; the page seals a file of random bytes put in a file input (a disk-backed "
        "File, as a picked video is), best of 3 in turns, a forced garbage collection before "
        "each run. This 2-core server stands in for a phone; phones differ, so read the ratios "
        "and the memory rather than the MB/s.",
        "",
        "| figure | value | measured against |",
        "|---|---|---|",
        f"| `TipdropCrypto.encryptStream`, pieces folded into a Blob as submit.js `sealFile` "
        f"does, {_fmt(size)} MiB | {_fmt(r['browser_stream_mb_s'])} MB/s | |",
        f"| the same, pieces dropped | {_fmt(r['browser_stream_dropped_mb_s'])} MB/s | |",
        f"| bound: bare WebCrypto AES-256-GCM, the same 64 KiB chunks read with "
        f"`blob.slice().arrayBuffer()` in 1 MiB slices, as encryptStream reads them | "
        f"{_fmt(r['browser_aesgcm_bound_mb_s'])} MB/s | "
        f"encryptStream at {_fmt(r['browser_stream_vs_bound'], 2)} of it |",
        f"| part of the bound: reading the File in 1 MiB slices, nothing else | "
        f"{_fmt(r['browser_blob_read_1mib_mb_s'])} MB/s | |",
        f"| part of the bound: AES-256-GCM on a 64 KiB chunk in memory, as many times | "
        f"{_fmt(r['browser_aesgcm_in_memory_mb_s'])} MB/s | |",
        f"| reading the File in 64 KiB slices instead (what encryptStream did first) | "
        f"{_fmt(r['browser_blob_read_64kib_mb_s'])} MB/s | |",
        f"| JS heap retained after sealing 16 MiB / {_fmt(size)} MiB, sealed Blob still held, "
        f"after a forced GC (before: {_fmt(r['browser_heap_base_mib_16mib'], 1)} / "
        f"{_fmt(r['browser_heap_base_mib_large'], 1)} MiB) | {_fmt(kept_small, 1)} / "
        f"{_fmt(kept_large, 1)} MiB | no growth with size (within 8 MiB): {_met(heap_flat)} |",
        f"| JS heap peak sampled while sealing 16 MiB / {_fmt(size)} MiB (garbage not yet "
        f"collected included) | {_fmt(r['browser_heap_peak_mib_16mib'], 1)} / "
        f"{_fmt(r['browser_heap_peak_mib_large'], 1)} MiB | |",
        f"| renderer process RSS, before -> peak, 16 MiB / {_fmt(size)} MiB | "
        f"{_fmt(r['browser_renderer_rss_before_mib_16mib'])} -> "
        f"{_fmt(r['browser_renderer_peak_rss_mib_16mib'])} / "
        f"{_fmt(r['browser_renderer_rss_before_mib_large'])} -> "
        f"{_fmt(r['browser_renderer_peak_rss_mib_large'])} MiB | |",
        f"| browser process RSS (holds Blob data), before -> peak, 16 MiB / {_fmt(size)} MiB | "
        f"{_fmt(r['browser_process_rss_before_mib_16mib'])} -> "
        f"{_fmt(r['browser_process_peak_rss_mib_16mib'])} / "
        f"{_fmt(r['browser_process_rss_before_mib_large'])} -> "
        f"{_fmt(r['browser_process_peak_rss_mib_large'])} MiB | |",
        f"| `TipdropPhotos.clean`, 12-megapixel JPEG with Exif, XMP, ICC "
        f"({_fmt(r['browser_photo_mib'], 1)} MiB) | {_fmt(r['browser_photo_clean_ms'], 1)} ms | "
        f"`tipdrop.common.photos.clean` on the same bytes: {_fmt(r['python_photo_clean_ms'], 1)} ms "
        f"(JS takes {_fmt(r['browser_photo_clean_vs_python'], 2)}x; same output bytes) |",
        "",
        f"What it means: sealing a {_fmt(size)} MiB video in the page takes about "
        f"{_fmt(seconds, 1)} s here; the server-side stream cipher above runs at "
        f"{_fmt(r.get('stream_encrypt_mb_s'))} MB/s. ",
    ]
    if read_bound:
        lines[-1] += (
            "Reading the file, not encrypting it, sets the bound: each "
            "`blob.slice().arrayBuffer()` is a round trip to the browser process, so "
            "encryptStream reads 1 MiB slices (64 KiB slices read "
            f"{_fmt(r['browser_blob_read_1mib_mb_s'] / r['browser_blob_read_64kib_mb_s'], 1)}"
            "x slower per byte; that was its first version), and AES-GCM alone is "
            f"{_fmt(r['browser_aesgcm_in_memory_mb_s'] / r['browser_blob_read_1mib_mb_s'], 1)}"
            "x faster than 1 MiB reads. "
        )
    lines[-1] += (
        "Folding the sealed pieces into a Blob costs the difference between the first two "
        "rows. "
        + ("What the JS heap keeps does not grow with the size: the sealed bytes leave it for "
           "Blob storage, which the browser process holds (its RSS grew by "
           f"{_fmt(r['browser_process_peak_rss_mib_large'] - r['browser_process_rss_before_mib_large'])}"
           f" MiB while the {_fmt(size)} MiB file was sealed: the sealed report waits there "
           "until it is sent). The sampled peak is "
           "higher and moves with the size because V8 collects the 1 MiB read buffers and "
           "64 KiB chunks lazily, not because they are kept." if heap_flat else
           "What the JS heap keeps grew with the size: something in the page holds sealed "
           "pieces.")
        + " Renderer and browser RSS are read from /proc every 20 ms; they move with garbage "
        "collection and Blob storage by tens of MiB, so read them as orders of magnitude."
    )
    return lines + [""]


def _import_section(r):
    if "officer_import_tips_per_s" not in r:
        return []
    ok = r["officer_import_vs_unseal_bound"] >= 0.5
    lines = [
        f"## Officer import: opening a bundle of {_fmt(r['officer_import_tips'])} tips",
        "",
        f"About 2 KB of text each, {r['officer_import_attachments']} with a 256 KiB attachment; "
        f"the bundle is {_fmt(r['officer_import_bundle_mib'], 1)} MiB, built through the library "
        "(tipdrop.server.tips, exchange.export_unit). `Workspace.open_bundle` opens and checks every "
        "envelope and stream, then stores everything in one transaction. The bound, in the "
        "same process and run, is `envelope.open_` (HPKE X25519 unseal) on the same tip "
        "envelopes in memory.",
        "",
        "| figure | value | goal | |",
        "|---|---|---|---|",
        f"| open_bundle | {_fmt(r['officer_import_tips_per_s'])} tips/s "
        f"({_fmt(r['officer_import_seconds'], 2)} s, peak RSS {_fmt(r['officer_import_peak_rss_mib'])} MiB) | | |",
        f"| unseal alone (bound) | {_fmt(r['officer_unseal_bound_per_s'])} envelopes/s | | |",
        f"| import vs the bound, median of {len(r.get('officer_import_rounds', [0]))} rounds in turns "
        f"({', '.join(_fmt(x, 2) for x in r.get('officer_import_rounds', []))}) | "
        f"{_fmt(r['officer_import_vs_unseal_bound'], 2)} | >= 0.5 | {_met(ok)} |",
        f"| the same in CPU time of the thread (load average {_fmt(r.get('officer_import_load'), 1)}) | "
        f"{_fmt(r.get('officer_import_vs_unseal_bound_cpu'), 2)} | | |",
        "",
    ]
    lines += [
        "Where the time goes, per tip, in CPU time of the thread (bench/officer_import.py's "
        "tips, each part timed inside the import, the timer's own cost included, load "
        "average about 7 on this 2-core machine, where the unseal took about 85 us instead "
        "of the 65 it takes on a quiet one): the unseal (`envelope.open_`, the bound's own "
        "call) about 85 us; parsing and checking the opened report (protocol.md section 13; "
        "the JSON parser about 6 us of it alone) about 20 us; reading the tip record and "
        "checking its fields (one regex, base64 of the sealed body, the reply key) about "
        "19 us; the SQLite insert about 9 us and the spill about 3 us; the rest (reading the "
        "file with its one SHA-256 pass, staging the row, the bindings, the chain, the "
        "duplicates, the audit log) about 25 us. Everything besides the unseal takes a "
        "little longer than the unseal itself.",
        "",
        "Fixed in this run (each measured alone, CPU time of the thread, the code before and "
        "after in one process or in turns): the file is read and hashed once, not twice "
        "(the whole file's SHA-256, which keys the bundles table, is the reader's hash "
        "continued over the end record; a bundle opened before is known at the end and "
        "nothing of it is stored; one refused on the way is hashed whole again and still "
        "said to be opened before): 3.4 us a tip; the spill is a plain scratch file read "
        "back row by row by a SQL function as the transaction inserts, not a SQLite file "
        "ATTACHed and copied by subselect: putting and inserting 17.2 -> 13.6 us a tip; a "
        "report's \\u escape is looked for by a compiled regex (`bytes.__contains__` "
        "mistakes common Cyrillic bytes for \"u\"): 2.4 -> 0.85 us; what the bindings keep "
        "of a report is sized as it is taken: 1.3 -> 0.5 us. Tried and not kept: orjson "
        "(a report in 2.8 us against json's 5.7, but where it accepts a document it "
        "differs from json on integers beyond 64 bits, which it gives as floats, and on "
        "nesting deeper than json's recursion allows; walking its value to prove it json's "
        "cost what it saved); the record's field checks called from C (operator.call) and "
        "progress counted by the reader instead of a file wrapper (no measurable change); "
        "disabling the garbage collector during the import (none). Earlier runs: the audit "
        "log's `import` entries of up to 1,000 tips (protocol.md section 17), the tip "
        "record's compact form read by one regex (protocol/compact.py), pybase64, openers "
        "cached per key, one query for the held tips, executemany.",
        ""]
    if not ok:
        lines += [
            "Why the goal is not met in this run: the code before and after this run's "
            "fixes, in turns (8 processes each, 3 rounds, median, CPU time of the thread, "
            "load average 6-7; one process ranged from 0.33 to 0.45 before, 0.36 to 0.49 "
            "after): 0.40 before, 0.44 after. What is left besides the unseal is "
            "work the checks need, none large alone: the report's JSON and checks (about a "
            "quarter of the unseal's time), the tip record's regex, base64 and field checks "
            "(about as much), SQLite and the spill (about a seventh), one SHA-256 pass and "
            "the reader's Python per record, and a few us of Python per tip for staging. "
            "Reaching 0.5 in CPU time needs about a fifth of that taken out, e.g. the "
            "record's and the report's checks done in C; on this shared 2-core machine one "
            "round still differs from the next by tens of percent (see the rounds), and "
            "the wall-clock ratio is lower than the CPU one: the import's few fsyncs (staged "
            "attachments, the commit, the audit log and its head) and the preemptions of a "
            "longer run are in its wall time and not in the bound's.",
            ""]
    return lines


def _officer_app_section(r):
    """The officer app over N tips (bench/officer_app.py): unlock, search, inbox, similar, RSS."""
    if "app_unlock_tips_per_s" not in r:
        return []
    unlock_ok = r["app_unlock_vs_unseal_bound"] >= 0.5
    ready, bound_cpu = r["app_unlock_seconds"], r.get("app_unseal_bound_cpu_seconds")
    list_cpu, words_cpu = r.get("app_unlock_list_cpu_seconds"), r.get("app_unlock_words_cpu_seconds")
    lines = [
        f"## The officer app over {_fmt(r['app_tips'])} tips",
        "",
        "About 2 KB of Russian or Kazakh text each, over 5 regions and 8 categories, made "
        "through the library and opened into a workspace (bench/officer_app.py); then, in one "
        "process: the real app's unlock (`Desk.start_unlock`: the passphrase, then every tip "
        "decrypted into the in-memory SQLite index), searches through `SearchIndex.inbox`, "
        "`GET /inbox` rendered by the real Flask app, and similar reports for one tip. The "
        "bound is `envelope.open_` (HPKE X25519 unseal) of the same tip envelopes in memory, "
        "on one core, the better of three turns with the unlock (and the best unlock).",
        "",
        "Unlocking uses two threads: one decrypts and folds the text (Python), the index's "
        "own thread writes the inbox's list and the FTS5 full-text index (SQLite, which lets "
        "go of Python's lock while it works). The inbox is usable once every tip is listed; "
        "search (and similar reports) once the full-text index is whole, and until then says "
        "\"search index: N %\" (never an empty result). The goal's figure is the second: "
        "every tip decrypted into the index, search ready.",
        "",
        "| figure | value | goal | |",
        "|---|---|---|---|",
        f"| unlock until search is ready | {_fmt(r['app_unlock_tips_per_s'])} tips/s "
        f"({_fmt(ready, 2)} s) | | |",
        f"| unseal alone (bound, one core) | {_fmt(r['app_unseal_bound_per_s'])} envelopes/s | | |",
        f"| unlock until search is ready vs the bound (wall clock, two threads) | "
        f"{_fmt(r['app_unlock_vs_unseal_bound'], 2)} | >= 0.5 | {_met(unlock_ok)} |",
        f"| unlock until the inbox is usable vs the bound (wall clock) | "
        f"{_fmt(r.get('app_inbox_ready_vs_unseal_bound'), 2)} "
        f"({_fmt(r.get('app_inbox_ready_seconds'), 2)} s) | | |",
        f"| unlock vs the bound in CPU time (this process, all threads: one core's work) | "
        f"{_fmt(r.get('app_unlock_vs_unseal_bound_cpu'), 2)} | | |",
    ]
    if list_cpu is not None and words_cpu is not None and ready:
        lines.append(
            f"| CPU time of the decrypting thread / the index's thread (cores used over the "
            f"unlock) | {_fmt(list_cpu, 2)} s / {_fmt(words_cpu, 2)} s ({_fmt(list_cpu / ready, 2)}"
            f" / {_fmt(words_cpu / ready, 2)} of a core; the bound: {_fmt(bound_cpu, 2)} s, so the "
            f"decrypting thread alone runs at {_fmt(bound_cpu / list_cpu, 2)} of it) | | |")
    lines += [
        f"| the index alone (`SearchIndex.build` until search is ready: no passphrase, no audit "
        f"entry) vs the bound | {_fmt(r.get('app_index_build_vs_unseal_bound'), 2)} | | |",
        f"| search p50 / p95 | {_fmt(r['app_search_p50_ms'], 1)} / {_fmt(r['app_search_p95_ms'], 1)} ms "
        f"(p95 in CPU time {_fmt(r.get('app_search_cpu_p95_ms'), 1)} ms) "
        f"| p95 <= 50 ms | {_met(r['app_search_p95_ms'] <= 50)} |",
        f"| inbox page p50 / p95 | {_fmt(r['app_inbox_p50_ms'], 1)} / {_fmt(r['app_inbox_p95_ms'], 1)} ms "
        f"(p95 in CPU time {_fmt(r.get('app_inbox_cpu_p95_ms'), 1)} ms) "
        f"| p95 <= 100 ms | {_met(r['app_inbox_p95_ms'] <= 100)} |",
        f"| similar reports for a tip, p50 / p95 | {_fmt(r['app_similar_p50_ms'], 1)} / "
        f"{_fmt(r['app_similar_p95_ms'], 1)} ms | | |",
        f"| RSS locked / after the first unlock (peak of the run) | "
        f"{_fmt(r['app_rss_locked_mib'])} / {_fmt(r['app_rss_unlocked_mib'])} MiB "
        f"({_fmt(r['app_peak_rss_mib'])}) | | |",
        "",
        f"Load average during the run: {_fmt(r.get('app_load_average'), 1)} on "
        f"{r['machine']['cores'] if 'machine' in r else 'the'} cores.",
        "",
        f"Similar reports: {r['app_similar_copies_found']} of {r['app_similar_copies']} planted "
        "near-copies (a tenth of the words moved, a twentieth replaced, ё typed as е, Kazakh "
        "letters as Russian ones) were the first suggestion for their original; "
        f"{r['app_similar_unrelated_suggested']} of {r['app_similar_unrelated_checked']} other "
        "tips got any suggestion; the best score of an unrelated report was "
        f"{r['app_similar_unrelated_top_score']} (suggested from {r['app_similar_min_score']}). "
        "Similarity adds nothing to build at unlock: it looks candidates up in the FTS5 index "
        "search already has and scores a handful with rapidfuzz (tipdrop/officer/similar.py).",
        "",
        "What made the unlock cheaper (each measured on 2,000 tips, CPU time): the FTS5 index "
        "uses the `ascii` tokenizer over text folding.fold has already folded (lower case, ё, "
        "Kazakh letters, Latin accents, and punctuation and spaces outside ASCII turned into "
        "spaces), instead of `unicode61` looking up and folding every Cyrillic letter again: "
        "FTS5 went from about 130 to 43 µs of CPU per 2 KB text. The table is contentless "
        "(the folded text is kept once, for similar reports, in a plain table). Folding "
        "itself got cheaper (lower() instead of casefold(), accents and punctuation looked "
        "for only when the text has a character of theirs). Tried and not kept: "
        "`detail=none` and `detail=column` (10-25 % cheaper FTS5, but similar reports rank "
        "their candidates by BM25, which then counts each word once and misses near-copies "
        "among short reports: tests/officer/test_similar.py fails); a regular expression "
        "or str.translate to fold punctuation (100 and 340 µs per 2 KB of Cyrillic, more "
        "than an unseal). Not used, without measuring: `columnsize=0` (BM25 would then "
        "tokenize every candidate's text again), prefix indexes (search's prefixes are stems "
        "of any length; each would add work to every insert); the merge settings (`pgsz`, "
        "`automerge`, `crisismerge`) changed FTS5's cost by under 15 % in an earlier run. "
        "The index is one FTS5 column per tip already.",
        "",
    ]
    if not unlock_ok:
        lines += [
            "Why the goal is not met in this run: the decrypting thread alone does more than "
            "the bound, whatever the second thread does. Per 2 KB tip, in CPU time: the "
            "unseal itself (the bound), then parsing the report's JSON (about 13 µs), folding "
            "its text (about 23 µs: NFC, lower case, the Kazakh letters) and the workspace "
            "rows and summary (about 10 µs) on top of the unseal's 65-75 µs: about 0.6 of the "
            "bound's speed at best, and only "
            "when the index's thread has a core of its own; on one core (the CPU-time ratio "
            "above) the index's work adds to it. On this shared 2-core machine, with the "
            "load average above, neither thread has a core to itself and the wall-clock "
            "ratio follows the CPU-time one (the cores-used figures above: the process had "
            "well under one core in all).",
            ""]
    return lines


def _backup_section(r):
    """`tipdrop backup` and `tipdrop restore` against a plain copy (bench/backup.py)."""
    if "backup_mb_s" not in r:
        return ["## Backup and restore", "", "Not measured in this run.", ""]
    ok = r["backup_vs_copy"] >= 0.5 and r["restore_vs_copy"] >= 0.5
    return [
        f"## Backup and restore ({_fmt(r['backup_db_mib'])} MiB database of attachment ciphertext)",
        "",
        "`tipdrop backup` reads the database in one read transaction and streams it, sealed to "
        "the backup key, into a file it fsyncs; `tipdrop restore` decrypts, loads a new "
        "database, fsyncs it and renames the folder into place. The baseline is a plain copy "
        "of the same database file (`shutil.copyfile`, in-kernel, then fsync): the least any "
        "durable backup must do, without a consistent snapshot or encryption. The four "
        f"take turns, {len(r.get('backup_rounds', []))} rounds, each run in its own process; "
        "a ratio is the median of the rounds' (backup, restore: "
        f"{', '.join(f'{b:.2f}/{x:.2f}' for b, x in r.get('backup_rounds', []))}; load "
        f"average {_fmt(r.get('backup_load'), 1)} on {os.cpu_count()} cores).",
        "",
        "| operation | MB/s | vs plain copy |",
        "|---|---|---|",
        f"| plain copy + fsync | {_fmt(r['backup_copy_mb_s'])} | 1.00 |",
        f"| tipdrop backup | {_fmt(r['backup_mb_s'])} | {_fmt(r['backup_vs_copy'], 2)} |",
        f"| tipdrop restore | {_fmt(r['restore_mb_s'])} | {_fmt(r['restore_vs_copy'], 2)} |",
        f"| for comparison: SQLite's online backup API to a clear file + fsync (what an operator "
        f"ran before `tipdrop backup`) | {_fmt(r['backup_sqlite_api_mb_s'])} | "
        f"{_fmt(r.get('backup_sqlite_api_vs_copy'), 2)} |",
        "",
        f"Goal: both at least 0.5 of the copy: {_met(ok)}.",
        "",
        "The same runs' CPU time (user + system, each process's own, the kernel's copies "
        "included; not the disk's time), the copy's over theirs, median of the rounds: "
        f"backup {_fmt(r.get('backup_cpu_vs_copy'), 2)}, restore "
        f"{_fmt(r.get('restore_cpu_vs_copy'), 2)}. With the cores saturated (load average "
        f"{_fmt(r.get('backup_load'), 1)} on {os.cpu_count()} cores) wall time follows CPU time "
        "and the ratios above come down towards these.",
        "",
        "Where the time goes (perf at 5 kHz over ten backups and ten restores of this "
        "database, load average near 10): the copy moves pages inside the kernel "
        "(sendfile) in about 50 ms of CPU; a backup or a restore takes 2.0 to 2.4 times "
        "that. Each makes two kernel copies where the copy makes one (reading the database "
        "into SQLite and writing the backup; reading the backup and writing the new "
        "database), 12-13 % and 10-12 % of its CPU time; AES-GCM 8-10 %; memmove 5-6 % (a "
        "backup copies each attachment piece out of SQLite's page, `sqlite3.Blob` has no "
        "readinto; a restore writes it into the page the same way, after SQLite zero-fills "
        "the row's blob, memset 4 %); the rest Python, the "
        "archive's parser and ext4. On this shared machine (2 cores, other tenants) CPU "
        "time is what stretches a run: three runs on 2026-12-06, at load averages of 7 to "
        "15, gave backup 0.46, 0.49 and 0.39 and restore 0.51, 0.49 and 0.51 of the copy, "
        "one round differing from the next by tens of percent (the rounds above), where an "
        "eight-round A/B of this run's backup against the one before it, in turns, gave "
        "0.55 and 0.60 (within the rounds' spread; perf counted a sixth less CPU for this "
        "run's); SQLite's own online backup API, in C, "
        f"reaches {_fmt(r.get('backup_sqlite_api_vs_copy'), 2)} of the copy here, in clear.",
        "",
        "Fixed in this run: a backup read each large blob 64 KiB at a time, and the record "
        "header before it put every piece off the encryptor's chunk boundaries, so the "
        "encryptor copied all of it aside (now four chunks per read: a quarter of it); the "
        "encryptor no longer holds back a whole chunk (see the stream cipher above); a "
        "restore reads the backup four chunks per call and writes each decrypted batch "
        "into its blob in one call instead of 64 KiB at a time. Kept from before: the "
        "restore loads a new database in a hidden folder beside the target with "
        "journal_mode=OFF and synchronous=OFF (all or nothing comes from the folder: it is "
        "fsynced and renamed into place only after the last chunk authenticates, and "
        "removed on any failure), 64 KiB pages, rows by executemany, and attachment "
        "pieces written from the decrypted buffer straight into their rows. Not done: "
        "SQLite's mmap for the backup's reads would save it a kernel copy, but mapped "
        "pages count in its RSS, which must stay flat in the data size; a larger page "
        "cache for the restore (16 MiB) did not help in perf's samples (every page is "
        "written once either way). Restores are rare and on no reporter's path; the backup runs "
        "daily, and the pause it causes submits is below.",
        "",
        f"Peak RSS: backup {_fmt(r['backup_rss_small_mib'], 1)} MiB for 16 MiB of data, "
        f"{_fmt(r['backup_rss_large_mib'], 1)} MiB for {_fmt(r['backup_size_mib'])} MiB; restore "
        f"{_fmt(r['restore_rss_small_mib'], 1)} / {_fmt(r['restore_rss_large_mib'], 1)} MiB: "
        "flat in the data size.",
        "",
        "Submit-like write transactions (a report row with a 4 KiB body, synchronous=FULL, "
        "one every 10 ms from another process): "
        f"99th percentile {_fmt(r['submit_idle_p99_ms'], 1)} ms and worst "
        f"{_fmt(r['submit_idle_max_ms'], 1)} ms with no backup; "
        f"{_fmt(r['submit_backup_p99_ms'], 1)} ms and {_fmt(r['submit_backup_max_ms'], 1)} ms "
        f"while a backup ran ({_fmt(r['backup_during_s'], 1)} s). A backup takes no lock "
        "writers wait for (WAL: readers and the writer do not block each other); what "
        "submits see is the disk and CPU it shares.",
        "",
    ]


if __name__ == "__main__":
    main()
