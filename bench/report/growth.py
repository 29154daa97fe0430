"""The growth section of RESULTS.md: how each cost grows with its work (bench/growth.py)."""

from bench import growth


def section(r):
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
