"""The flood and refusal sections of RESULTS.md (bench/flood.py's figures)."""

from bench import flood
from bench.report import fmt, met


def flood_section(r):
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
        f"{fmt(r['flood_seconds'], 1)} s ({statuses}). The rate limiter was set out of the "
        "way so the burst meets the concurrency bound. RSS is summed over master and workers.",
        "",
        "| figure | value | goal | |",
        "|---|---|---|---|",
        f"| base RSS before the burst | {fmt(r['flood_base_rss_mib'])} MiB | | |",
        f"| peak RSS during the burst (sum of VmHWM after: {fmt(r['flood_hwm_sum_mib'])} MiB) | "
        f"{fmt(r['flood_peak_rss_mib'])} MiB | <= base + limit x Argon2 memory + 64 MiB = "
        f"{fmt(r['flood_rss_goal_mib'])} MiB | {met(goal_ok)} |",
        f"| share of 429 / 503 | {fmt(r['flood_share_429'] * 100, 1)} % / "
        f"{fmt(r['flood_share_503'] * 100, 1)} % | | |",
        f"| 5xx other than 503 / dropped connections | {r['flood_5xx_other_than_503']} / "
        f"{r['flood_connection_errors']} | 0 | {met(clean and not r['flood_connection_errors'])} |",
        f"| workers crashed or replaced | {r['flood_crashed_workers']} | 0 | "
        f"{met(r['flood_crashed_workers'] == 0)} |",
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


def refusal_section(r):
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
        f"| 503 | {fmt(r['refusal_503_p50_s'], 2)} s | {fmt(r['refusal_503_p95_s'], 2)} s | "
        f"{fmt(r['refusal_503_max_s'], 2)} s |",
        f"| any other | {fmt(r['refusal_other_p50_s'], 2)} s | "
        f"{fmt(r['refusal_other_p95_s'], 2)} s | |",
        "",
    ]
