"""The anti-flood puzzle section of RESULTS.md (bench/puzzle.py's figures)."""

import os

from bench import puzzle
from bench.report import fmt


def section(r):
    """The "Anti-flood puzzle" section of RESULTS.md."""
    if "puzzle_bits" not in r:
        return []
    bits = r["puzzle_bits"]
    lines = [
        f"## Anti-flood puzzle ({bits} bits, the shipped TIPDROP_PUZZLE_BITS)",
        "",
        "Measured by `.venv/bin/python -m bench.puzzle` (also part of `make bench`; "
        "`--quick`: fewer solves, 60 s floods); bench/puzzle.py says how. Past a limit a "
        "client proves work: 2^bits SHA-256 digests on average (docs/protocol.md section 21). "
        f"Load average when this run began: {fmt(r.get('puzzle_loadavg'), 1)} on "
        f"{os.cpu_count()} cores (other work shared the machine).",
        "",
    ]
    if "puzzle_browser_skipped" in r:
        lines += [f"Browser not measured: {r['puzzle_browser_skipped']}.", ""]
    else:
        lines += [
            f"**A phone's side** (puzzle.js in Chromium {r['puzzle_chromium']}, headless, this "
            "machine; CPU throttling by CDP Emulation.setCPUThrottlingRate stands for a phone):",
            "",
            "| CPU | digests/s | expected solve | median / longest of the solves run |",
            "|---|---|---|---|",
        ]
        for rate in puzzle.THROTTLES:
            label = "this machine" if rate == 1 else f"{rate}x slower (phone class)"
            lines.append(
                f"| {label} | {fmt(r[f'puzzle_js_digests_per_s_x{rate}'])} | "
                f"{fmt(r[f'puzzle_js_expected_solve_s_x{rate}'], 1)} s | "
                f"{fmt(r[f'puzzle_js_median_solve_s_x{rate}'], 1)} / "
                f"{fmt(r[f'puzzle_js_max_solve_s_x{rate}'], 1)} s "
                f"({r[f'puzzle_js_solves_x{rate}']} solves) |")
        raw = ", ".join(f"{b}: {fmt(r[f'puzzle_raw_digests_per_s_batch_{b}'])}" for b in puzzle.BATCHES)
        lines += ["", f"Bare `crypto.subtle.digest` per second with that many in flight: {raw} "
                  f"(puzzle.js asks {puzzle.JS_BATCH} at a time).", ""]
    lines += [
        "**The server's side**, per request, in microseconds:",
        "",
        "| work | µs |",
        "|---|---|",
        f"| read and check a solution (MAC, expiry, difficulty, one SHA-256) | {fmt(r['puzzle_check_us'], 1)} |",
        f"| the whole redeem, spent id written to the RAM file: table empty / 10,000 live ids | "
        f"{fmt(r['puzzle_redeem_us_empty'])} / {fmt(r['puzzle_redeem_us_10k_live'])} |",
        f"| make a challenge | {fmt(r['puzzle_issue_us'], 1)} |",
        f"| for comparison: the rate-limit count every request pays | {fmt(r['puzzle_ratelimit_hit_us'])} |",
        f"| for comparison: one Argon2id receipt derivation (each accepted submit) | {fmt(r['puzzle_argon2_us'])} |",
        "",
    ]
    phone = r.get("puzzle_js_digests_per_s_x6")
    if phone:
        lines += [
            f"So one solve costs a 6x-throttled browser about {fmt(2 ** bits / phone, 1)} s and the "
            f"server {fmt(r['puzzle_redeem_us_empty'])} µs to check: "
            f"{fmt(2 ** bits / phone * 1e6 / r['puzzle_redeem_us_empty'])} times more.",
            "",
        ]
    lines += [
        "**A flooder's side**, digests per second on one core: tipdrop's Python solver "
        f"{fmt(r['puzzle_python_digests_per_s'])}"
        + (f", `openssl speed` SHA-256 on 64-byte inputs {fmt(r['puzzle_openssl_digests_per_s'])}"
           if "puzzle_openssl_digests_per_s" in r else "")
        + (f" ({fmt(r['puzzle_openssl_digests_per_s'] / phone)} times a 6x-throttled browser)"
           if phone and "puzzle_openssl_digests_per_s" in r else "")
        + ". Hash puzzles cost native code far less than a browser: the puzzle does not "
        "stop a determined flood, it makes every request past the limit cost CPU, and the "
        "difficulty rises with the accepted rate.",
        "",
        f"**A flood through the real server** (2 workers, {puzzle.FLOOD_LIMIT} submits an hour allowed, "
        f"one flooding process, {r['puzzle_flood_seconds']} s, JSON submits):",
        "",
        "| server | accepted | accepted/s | in the last third, /s | refused |",
        "|---|---|---|---|---|",
        *[f"| {label} | {r[f'puzzle_flood_{name}_accepted']} | "
          f"{fmt(r[f'puzzle_flood_{name}_accepted_per_s'], 2)} | "
          f"{fmt(r[f'puzzle_flood_{name}_last_third_per_s'], 2)} | "
          f"{r[f'puzzle_flood_{name}_refused']} |"
          for name, label in (("limit", "limit, no puzzle (before)"),
                              ("puzzle", "limit and puzzle, the flooder solving in Python"),
                              ("unlimited", "no limit (what onion reporters needed before)"))],
        "",
        f"With the limit alone the flood takes the hour's {puzzle.FLOOD_LIMIT} submits and every other "
        "onion reporter is refused for the rest of the hour; without a limit the flood gets "
        "what the server can store. With the puzzle the flooder spent "
        f"{fmt(r['puzzle_flood_solving_share'] * 100)} % of its time solving, and at the end "
        f"the server asked {r['puzzle_flood_end_difficulty']} bits"
        + (f": a 6x-throttled browser would then wait about "
           f"{fmt(2 ** r['puzzle_flood_end_difficulty'] / phone, 0)} s, and keeps its way in."
           if phone and r.get("puzzle_flood_end_difficulty") else ".")
        + " The machine has 2 cores shared by server and flooder: the accepted rate is bounded "
        "by the flooder's CPU and the server's Argon2 alike.",
        "",
    ]
    return lines
