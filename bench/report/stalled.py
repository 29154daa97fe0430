"""The stalled-uploads section of RESULTS.md (bench/stalled.py's figures)."""

from bench.report import fmt


def section(r):
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
        f"| checks, idle | {fmt(r['check_p50_ms_idle'])} ms | {fmt(r['check_p99_ms_idle'])} ms |",
        f"| checks, {stalled} stalled uploads | {fmt(under_p50)} ms | {fmt(under)} ms |",
        f"| ratio | | {fmt(r['check_p99_ratio_stalled_vs_idle'], 2)} |",
        "",
        f"Server RSS during the attack (master and workers): {fmt(r['stalled_server_rss_mib'])} MiB.",
        "",
    ]


def small_bodies_section(r):
    """Receipt checks while connections trickle small bodies (bench/stalled.py, measure_small_bodies)."""
    if "small_body_trickles" not in r:
        return []
    trickling = r["small_body_trickles"]
    statuses = ", ".join(f"{v} x {k}" for k, v in
                         sorted(r["small_trickles_check_statuses_under_attack"].items()))
    return [
        f"## Receipt checks while {trickling} connections trickle small bodies "
        f"({r.get('http_workers', 2)} workers)",
        "",
        f"The same honest clients, alone, then while {trickling} connections each send the head "
        "of a JSON submit of about 200 KiB and then its body a little above "
        "TIPDROP_MIN_BODY_RATE. Such bodies are read by the worker's main loop, not by a thread "
        "(tipdrop/server/readahead.py); before, they held every thread and the checks got no "
        f"answer within 10 s. The checks: {statuses}.",
        "",
        "| figure | p50 | p99 |",
        "|---|---|---|",
        f"| checks, idle | {fmt(r['small_trickles_check_p50_ms_idle'])} ms | "
        f"{fmt(r['small_trickles_check_p99_ms_idle'])} ms |",
        f"| checks, {trickling} trickles | "
        f"{fmt(r[f'check_p50_ms_under_{trickling}_small_body_trickles'])} ms | "
        f"{fmt(r[f'check_p99_ms_under_{trickling}_small_body_trickles'])} ms |",
        f"| ratio | | {fmt(r['check_p99_ratio_small_trickles_vs_idle'], 2)} |",
        "",
        f"Server RSS during the attack (master and workers): "
        f"{fmt(r['small_trickles_server_rss_mib'])} MiB.",
        "",
    ]

