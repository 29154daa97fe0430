"""How the cost of each headline figure grows with the work, and a plot of it.

For each figure, the seconds one piece of work takes at a few sizes:
uploads (from bench/upload.py's sizes), the officer import
(bench/officer_import.py at several bundle sizes), a purge of closed tips
(tipdrop.server.retention on a database holding only those tips, written straight
in SQL) and the public figures of ``/stats`` (tipdrop.server.stats.figures over a
database of that many tips spread over the last 12 months). A cost that
grows like the work is linear: the plot (:func:`svg`) shows each figure's
time multiple against its work multiple on log scales, with the line of
linear growth to read them against.
"""

import datetime
import json
import os
import secrets
import tempfile
import time
from pathlib import Path

from bench import officer_import
from tipdrop.common import sqlite

_ROWS = 10_000
_REGIONS = ("astana", "almaty", "shymkent", "karaganda")
_CATEGORIES = ("drugs", "theft", "fraud", "violence")


def _database(path, count, *, closed_days_ago=None, today):
    """A server database of ``count`` tips; with ``closed_days_ago`` all closed that long ago."""
    from tipdrop.server import store

    db = sqlite.connect(path)
    store.init(db)
    db.execute("PRAGMA synchronous=OFF")  # building is not measured
    body = os.urandom(2048)
    columns = ("id", "unit", "key_id", "region", "category", "received_day", "status",
               "status_day", "locator", "receipt_salt", "receipt_params", "verifier",
               "reply_public", "body", "encrypted_on")
    sql = (f"INSERT INTO tips ({', '.join(columns)}) "
           f"VALUES ({', '.join('?' * len(columns))})")
    for start in range(0, count, _ROWS):
        rows = []
        for i in range(start, min(count, start + _ROWS)):
            if closed_days_ago is None:
                day = today - datetime.timedelta(days=1 + i % 360)
                status, status_day = ("received", "in_review", "closed")[i % 3], day
            else:
                day = today - datetime.timedelta(days=closed_days_ago + 30)
                status, status_day = "closed", today - datetime.timedelta(days=closed_days_ago)
            rows.append((secrets.token_hex(16), "demo", "00" * 16, _REGIONS[i % 4],
                         _CATEGORIES[i % 4 // 2 + i % 2], day.isoformat(), status,
                         status_day.isoformat(), secrets.token_hex(8), os.urandom(16),
                         "{}", os.urandom(32), os.urandom(32), body, "server"))
        with sqlite.transaction(db):
            db.conn.executemany(sql, rows)
    return db


def stats_seconds(count: int) -> float:
    """Seconds of ``tipdrop.server.stats.figures`` over ``count`` tips, best of 3."""
    from tipdrop.server import stats

    today = datetime.date.today()
    with tempfile.TemporaryDirectory(prefix="tipdrop-bench-stats-") as tmp:
        db = _database(Path(tmp) / "tipdrop.db", count, today=today)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            stats.figures(db, today=today)
            best = min(best, time.perf_counter() - start)
        db.close()
    return best


def purge_seconds(count: int, rounds: int = 3) -> float:
    """Seconds to purge ``count`` closed tips past the retention time (median of ``rounds``)."""
    import statistics

    from tipdrop.server import retention

    today = datetime.date.today()
    runs = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="tipdrop-bench-purge-") as tmp:
            db = _database(Path(tmp) / "tipdrop.db", count, closed_days_ago=100, today=today)
            (Path(tmp) / "attachments").mkdir()
            start = time.perf_counter()
            result = retention.purge(db, Path(tmp) / "attachments",
                                     retention.plan(db, today=today, closed_days=90))
            runs.append(time.perf_counter() - start)
            db.close()
        if result.tips != count:
            raise RuntimeError(f"the purge deleted {result.tips} of {count} tips")
    return statistics.median(runs)


def purge_scrub_seconds(count: int, rounds: int = 3) -> dict:
    """A purge of ``count`` closed tips with and without overwriting the log before it is truncated.

    Median seconds of ``rounds`` each: "with" is ``retention.purge`` as it
    is, "without" the same with a bare ``wal_checkpoint(TRUNCATE)`` in place
    of ``walscrub.empty_log``, as before; "scrub" is empty_log's own time
    within "with", and "log_mib" the size of the log it overwrote. Both run
    with ``synchronous=FULL``, as the server's connections do.
    """
    import statistics

    from tipdrop.common import walscrub
    from tipdrop.server import retention

    today = datetime.date.today()
    empty_log = walscrub.empty_log
    runs: dict = {"with": [], "without": [], "scrub": [], "log_mib": []}

    def timed(db):
        runs["log_mib"].append(os.stat(sqlite.path_of(db) + "-wal").st_size / 2**20)
        start = time.perf_counter()
        try:
            return empty_log(db)
        finally:
            runs["scrub"].append(time.perf_counter() - start)

    def bare(db):
        return db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0

    try:
        for _ in range(rounds):
            for name, empty in (("with", timed), ("without", bare)):
                walscrub.empty_log = empty
                with tempfile.TemporaryDirectory(prefix="tipdrop-bench-scrub-") as tmp:
                    db = _database(Path(tmp) / "tipdrop.db", count, closed_days_ago=100,
                                   today=today)
                    db.execute("PRAGMA synchronous=FULL")
                    (Path(tmp) / "attachments").mkdir()
                    start = time.perf_counter()
                    result = retention.purge(db, Path(tmp) / "attachments",
                                             retention.plan(db, today=today, closed_days=90))
                    runs[name].append(time.perf_counter() - start)
                    db.close()
                if result.tips != count or not result.wal_truncated:
                    raise RuntimeError(f"the purge deleted {result.tips} of {count} tips")
    finally:
        walscrub.empty_log = empty_log
    return {name: statistics.median(values) for name, values in runs.items()}


def measure(quick: bool, uploads: dict) -> dict:
    """Seconds per step of each figure; ``uploads`` is bench/upload.py's result."""
    steps = {
        "import": (500, 2_000) if quick else (1_000, 10_000, 100_000),
        "purge": (1_000, 10_000) if quick else (1_000, 10_000, 100_000),
        "stats": (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000),
    }
    growth = {"upload": [[size, size * 1_048_576 / 1e6 / uploads[f"upload_mb_s_{size}mib"]]
                         for size in uploads["upload_sizes_mib"]]}
    if f"sealed_upload_mb_s_{uploads['upload_sizes_mib'][0]}mib" in uploads:
        growth["sealed upload"] = [
            [size, size * 1_048_576 / 1e6 / uploads[f"sealed_upload_mb_s_{size}mib"]]
            for size in uploads["upload_sizes_mib"]]
    growth["import"] = [[n, officer_import.measure(n)["officer_import_seconds"]]
                        for n in steps["import"]]
    growth["purge"] = [[n, purge_seconds(n)] for n in steps["purge"]]
    growth["stats"] = [[n, stats_seconds(n)] for n in steps["stats"]]
    return {"growth": growth}


#: What each figure's work is counted in, for the table and the plot.
UNITS = {"upload": "MiB", "sealed upload": "MiB", "import": "tips", "purge": "closed tips",
         "stats": "tips"}
_COLOURS = {"upload": "#1f77b4", "sealed upload": "#17becf", "import": "#d62728",
            "purge": "#2ca02c", "stats": "#9467bd"}


def table(growth: dict) -> list:
    """Markdown lines: each step's work, seconds, and cost per unit against the first step."""
    lines = ["| figure | work | seconds | per unit, vs the first step |", "|---|---|---|---|"]
    for name, steps in growth.items():
        first = steps[0][1] / steps[0][0]
        for work, seconds in steps:
            lines.append(f"| {name} | {work:,} {UNITS[name]} | {seconds:,.3f} | "
                         f"{seconds / work / first:.2f} |")
    return lines


def svg(growth: dict, width: int = 520, height: int = 360) -> str:
    """A log-log plot of time multiple against work multiple, one line per figure."""
    import math

    left, right, top, bottom = 60, 150, 20, 50
    multiples = {name: [(work / steps[0][0], seconds / steps[0][1]) for work, seconds in steps]
                 for name, steps in growth.items()}
    top_value = max(max(x for pts in multiples.values() for x, _ in pts),
                    max(y for pts in multiples.values() for _, y in pts), 10)
    low_value = min(min(y for pts in multiples.values() for _, y in pts), 1)
    decades_low = math.floor(math.log10(low_value))
    decades_high = math.ceil(math.log10(top_value))
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_of(v):
        return left + plot_w * (math.log10(v) - 0) / max(decades_high, 1)

    def y_of(v):
        span = decades_high - decades_low
        return top + plot_h * (1 - (math.log10(v) - decades_low) / span)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    for d in range(0, decades_high + 1):
        x = x_of(10 ** d)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" '
                   'stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                   f'{10 ** d:g}x</text>')
    for d in range(decades_low, decades_high + 1):
        y = y_of(10 ** d)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                   'stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{10 ** d:g}x</text>')
    out.append(f'<line x1="{x_of(1):.1f}" y1="{y_of(1):.1f}" x2="{x_of(10 ** decades_high):.1f}" '
               f'y2="{y_of(10 ** decades_high):.1f}" stroke="#888" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 12}" text-anchor="middle">'
               'work, times the first step</text>')
    out.append(f'<text x="14" y="{top + plot_h / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {top + plot_h / 2})">time, times the first step</text>')
    for i, (name, pts) in enumerate(multiples.items()):
        colour = _COLOURS.get(name, "#333")
        path = " ".join(f"{x_of(x):.1f},{y_of(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in pts:
            out.append(f'<circle cx="{x_of(x):.1f}" cy="{y_of(y):.1f}" r="3" fill="{colour}"/>')
        ly = top + 14 + 16 * i
        out.append(f'<line x1="{width - right + 12}" y1="{ly - 4}" x2="{width - right + 30}" '
                   f'y2="{ly - 4}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{width - right + 34}" y="{ly}">{name}</text>')
    ly = top + 14 + 16 * len(multiples)
    out.append(f'<line x1="{width - right + 12}" y1="{ly - 4}" x2="{width - right + 30}" '
               f'y2="{ly - 4}" stroke="#888" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{width - right + 34}" y="{ly}">linear</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    result = {"purge": [[n, purge_seconds(n)] for n in (1_000, 10_000)],
              "stats": [[n, stats_seconds(n)] for n in (10_000, 100_000)]}
    print(json.dumps(result, indent=2))
    print("\n".join(table(result)))
