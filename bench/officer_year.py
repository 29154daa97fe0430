"""A unit's year in the officer app: the real app process, driven by a real Chromium.

bench/officer_app.py measures the index and the inbox inside one Python
process; this drives what the officer actually runs (``tipdrop officer
app``, its own process, the pages in Debian's headless Chromium through
Playwright) over a workspace the size of a busy unit's year:

- COUNT tips (about 2 KB of Russian or Kazakh text each, received over the
  last 365 days), a third of them with one to three follow-ups, one tip with
  :data:`LONG_THREAD` follow-ups, a few with a file, notes and replies on a
  few hundred (written through the workspace, as the app writes them);
- then, for the import measured while the inbox is used, a second bundle:
  :data:`NEW_TIPS` new tips and a follow-up to :data:`NEW_FOLLOWUPS` held ones.

Measured, in one run: the unlock (passphrase typed until the inbox shows)
and the app process's peak RSS (VmHWM); the inbox page (time until the page
has loaded, the HTML's size, tip rows rendered); a search typed in the box;
the tip with the long thread; the bulk status change of a page of tips; the
import of the second bundle, with the inbox asked for again and again in
a second tab meanwhile (how long the inbox waits while the import works).

Run alone: ``python -m bench.officer_year 5000 20000`` prints the figures;
``--record`` also writes its section of bench/RESULTS.md; ``--keep=DIR``
builds each workspace once in DIR and drives a copy of it (to compare two
versions of the app over the same tips). Not part of
``make bench`` (a build of 20,000 tips takes minutes).
"""

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench.common import ROOT, machine, proc_status
from bench.officer_app import (
    CATEGORIES,
    KK_WORDS,
    PASSPHRASE,
    REGIONS,
    RU_WORDS,
    _text,
    _vocabulary,
)
from tipdrop.common import sqlite

CHROMIUM = os.environ.get("TIPDROP_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Follow-ups of the one long thread.
LONG_THREAD = 80
#: Tips with notes (two each) and with a reply, written through the workspace.
NOTED, REPLIED = 300, 300
#: The second bundle: new tips, and follow-ups to tips held already.
NEW_TIPS, NEW_FOLLOWUPS = 500, 500
#: Inbox pages and searches timed.
TURNS = 15


def _server(workdir, unit, clock):
    from tipdrop.crypto import kdf
    from tipdrop.protocol.routing import Routing
    from tipdrop.server import store
    from tipdrop.server.tips import Tips
    from tipdrop.server.unitkeys import UnitKeys

    db = sqlite.connect(workdir / "server" / "tipdrop.db")
    store.init(db)
    db.execute("PRAGMA synchronous=OFF")  # building speed is not measured
    return db, Tips(db, UnitKeys([unit.public]), Routing(dict.fromkeys(REGIONS, "demo")),
                    workdir / "server" / "attachments", receipt_params=kdf.TEST_PARAMS,
                    clock=clock, followups_per_day=LONG_THREAD + 10)


def _submit(tips, rng, vocabulary, i, with_file=False):
    from tipdrop.protocol.report import Report

    language = "kk" if i % 3 == 0 else "ru"
    region, category = REGIONS[i % len(REGIONS)], CATEGORIES[i % len(CATEGORIES)]
    draft = tips.start(region=region)
    if with_file:
        draft.new_attachment("фото.jpg", "image/jpeg").write(b"\xff\xd8" + os.urandom(20_000))
    tips.submit(draft, Report.build(region=region, category=category, language=language,
                                    description=_text(rng, vocabulary[language])))
    return draft.tip_id


def build(workdir, count):
    """The workspace of ``count`` tips (opened, notes and replies written) and the second
    bundle (``next.tdx``); returns the id of the tip with the long thread."""
    from tipdrop.crypto import kdf, keys
    from tipdrop.officer.keyring import Keyring
    from tipdrop.officer.workspace import Workspace
    from tipdrop.server import exchange

    workdir = Path(workdir)
    rng = random.Random(365)
    vocabulary = {language: _vocabulary(rng, language) for language in ("ru", "kk")}
    unit = keys.generate("demo")
    (workdir / "demo.key").write_bytes(keys.private_to_file(unit, PASSPHRASE,
                                                            params=kdf.TEST_PARAMS))
    first = date.today() - timedelta(days=365)
    day = {"value": first}
    db, tips = _server(workdir, unit, lambda: day["value"].isoformat())
    ids = []
    for i in range(count):
        day["value"] = first + timedelta(days=i * 365 // count)
        ids.append(_submit(tips, rng, vocabulary, i, with_file=i % 500 == 7))
        if i % 3 == 1:
            for _ in range(rng.randint(1, 3)):
                tips.add_followup(tip_id=ids[-1], text=_text(rng, vocabulary["ru"])[:400])
    long_thread = ids[len(ids) // 2]
    for _ in range(LONG_THREAD):
        tips.add_followup(tip_id=long_thread, text=_text(rng, vocabulary["ru"])[:600])
    exchange.export_unit(db, workdir / "server" / "attachments", unit="demo",
                         out=workdir / "year.tdx")
    day["value"] = date.today()
    for i in range(NEW_TIPS):
        _submit(tips, rng, vocabulary, count + i)
    for tip_id in rng.sample(ids, min(NEW_FOLLOWUPS, len(ids))):
        tips.add_followup(tip_id=tip_id, text=_text(rng, vocabulary["ru"])[:400])
    exchange.export_unit(db, workdir / "server" / "attachments", unit="demo",
                         out=workdir / "next.tdx")
    db.close()
    keyring = Keyring.of(unit)
    workspace = Workspace(workdir / "workspace")
    workspace.open_bundle(workdir / "year.tdx", keyring)
    for tip_id in rng.sample(ids, min(NOTED, len(ids))):
        workspace.add_note(tip_id, "Позвонить участковому, проверить адрес.", keyring)
        workspace.add_note(tip_id, "Проверено: адрес верный.", keyring)
    for tip_id in rng.sample(ids, min(REPLIED, len(ids))):
        workspace.reply(tip_id, keyring, message="Спасибо, мы проверяем.", status="in-review")
    workspace.close()
    return long_thread


def _start_app(workdir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    env |= {"TIPDROP_WORKDIR": str(workdir / "workspace"), "TIPDROP_KEY": str(workdir / "demo.key")}
    tipdrop = Path(sys.executable).with_name("tipdrop")
    process = subprocess.Popen([str(tipdrop), "officer", "app", "--no-browser"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    process.stdout.readline()  # the address
    launch = re.search(r"file://\S+", process.stdout.readline()).group(0)
    return process, launch


def _p(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _load(page, url):
    """Seconds until ``url`` has loaded, and the size of its HTML."""
    start = time.perf_counter()
    response = page.goto(url)
    seconds = time.perf_counter() - start
    return seconds, len(response.body())


def _drive(workdir, long_thread):
    """Everything timed against the app process, through Chromium."""
    from playwright.sync_api import sync_playwright

    process, launch = _start_app(workdir)
    out = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=ARGS)
            page = browser.new_page()
            page.goto(launch)
            base = "/".join(page.url.split("/")[:3])
            out["rss_locked_mib"] = proc_status(process.pid)[0]
            page.fill("#passphrase", PASSPHRASE)
            start = time.perf_counter()
            page.click("#unlock")
            page.wait_for_selector("#counts", timeout=600_000)
            out["unlock_seconds"] = time.perf_counter() - start
            out["rss_unlocked_mib"] = proc_status(process.pid)[0]
            page.fill("#q", "полиция")  # the page reloads itself until the index is whole
            page.click("#search")
            page.wait_for_selector("#tips, #no-tips", timeout=600_000)
            out["search_ready_seconds"] = time.perf_counter() - start

            pages = [base + "/inbox", base + "/inbox?page=40", base + "/inbox?status=in-review",
                     base + "/inbox?order=oldest", base + "/inbox?region=astana"]
            times, sizes = [], []
            for i in range(TURNS):
                seconds, size = _load(page, pages[i % len(pages)])
                times.append(seconds)
                sizes.append(size)
            out["inbox_p50_ms"], out["inbox_max_ms"] = _p(times, 0.5), _p(times, 1.0)
            out["inbox_html_kib"] = max(sizes) / 1024
            out["inbox_rows"] = page.locator("#tips tbody tr").count()

            words = [w for w in RU_WORDS + KK_WORDS if len(w) > 3]
            rng = random.Random(1)
            times = []
            for _ in range(TURNS):
                page.goto(base + "/inbox")
                page.fill("#q", rng.choice(words))
                start = time.perf_counter()
                page.click("#search")
                page.wait_for_load_state("load")
                times.append(time.perf_counter() - start)
            out["search_p50_ms"], out["search_max_ms"] = _p(times, 0.5), _p(times, 1.0)

            times, sizes = [], []
            for _ in range(5):
                seconds, size = _load(page, f"{base}/tip/{long_thread}")
                times.append(seconds)
                sizes.append(size)
            out["thread_p50_ms"], out["thread_html_kib"] = _p(times, 0.5), max(sizes) / 1024

            page.goto(base + "/inbox?order=oldest")
            boxes = page.locator("#tips input[type=checkbox]")
            out["bulk_tips"] = boxes.count()
            for i in range(out["bulk_tips"]):
                boxes.nth(i).check()
            page.select_option("#bulk-status", "unfounded")
            start = time.perf_counter()
            page.click("#bulk-apply")
            page.wait_for_load_state("load")
            out["bulk_seconds"] = time.perf_counter() - start

            # The import, while a second tab asks for the inbox again and again.
            other = browser.new_page()
            other.goto(base + "/inbox")
            page.goto(base + "/inbox")
            page.set_input_files("#bundle", str(workdir / "next.tdx"))
            start = time.perf_counter()
            page.click("#import")
            # While the import holds the workspace, the inbox sends the officer to the
            # import's progress page: how long it stays away is the figure.
            waits, shown, away, away_since = [], 0, 0.0, None
            while "/exchange/done" not in page.url:  # the progress page goes there at the end
                asked = time.perf_counter()
                seconds, _ = _load(other, base + "/inbox")
                waits.append(seconds)
                if other.query_selector("#counts"):
                    shown += 1
                    if away_since is not None:
                        away, away_since = max(away, time.perf_counter() - away_since), None
                elif away_since is None:
                    away_since = asked
            out["import_seconds"] = time.perf_counter() - start
            if away_since is not None:
                away = max(away, time.perf_counter() - away_since)
            page.wait_for_selector("#imported, #transfer-error")
            out["import_result"] = page.inner_text("#imported, #transfer-error")
            out["inbox_during_import_p50_ms"] = _p(waits, 0.5) if waits else 0.0
            out["inbox_during_import_max_ms"] = _p(waits, 1.0) if waits else 0.0
            out["inbox_loads_during_import"] = len(waits)
            out["inbox_shown_during_import"] = shown
            out["inbox_away_seconds"] = away
            out["rss_end_mib"], out["peak_rss_mib"] = proc_status(process.pid)
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    return out


def measure(count, keep=None):
    """Build the workspace of ``count`` tips and drive the app over it. ``keep``: a folder
    where the workspace is built once and copied from for each run (the app changes it),
    so the code before and after a change can be driven over the same tips."""
    with tempfile.TemporaryDirectory(prefix="tipdrop-bench-year-") as tmp:
        start = time.perf_counter()
        if keep is None:
            long_thread = build(Path(tmp), count)
        else:
            folder = Path(keep) / str(count)
            if not (folder / "long_thread").exists():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                (folder / "long_thread").write_text(build(folder, count))
            long_thread = (folder / "long_thread").read_text()
            shutil.copytree(folder, Path(tmp) / "copy")
            tmp = str(Path(tmp) / "copy")
        built = time.perf_counter() - start
        figures = _drive(Path(tmp), long_thread)
    return {"tips": count, "build_seconds": built, **figures,
            "load_average": os.getloadavg()[0]}


ROWS = (
    ("unlock: passphrase typed until the inbox shows", "{unlock_seconds:.1f} s"),
    ("... until search is ready", "{search_ready_seconds:.1f} s"),
    ("app process RSS locked / unlocked / at the end (peak)",
     "{rss_locked_mib:.0f} / {rss_unlocked_mib:.0f} / {rss_end_mib:.0f} MiB ({peak_rss_mib:.0f})"),
    ("inbox page load p50 / max", "{inbox_p50_ms:.0f} / {inbox_max_ms:.0f} ms"),
    ("inbox HTML (largest) / tip rows rendered", "{inbox_html_kib:.0f} KiB / {inbox_rows}"),
    ("search typed in the box, p50 / max", "{search_p50_ms:.0f} / {search_max_ms:.0f} ms"),
    (f"tip page with {LONG_THREAD} follow-ups, p50 / HTML", "{thread_p50_ms:.0f} ms / "
     "{thread_html_kib:.0f} KiB"),
    ("bulk status of a page of tips", "{bulk_tips} tips in {bulk_seconds:.2f} s"),
    (f"import of {NEW_TIPS} new tips and {NEW_FOLLOWUPS} follow-ups", "{import_seconds:.1f} s"),
    ("inbox asked for in a second tab meanwhile: shown / asked",
     "{inbox_shown_during_import} / {inbox_loads_during_import}"),
    ("... longest time it showed the import's progress instead of the inbox",
     "{inbox_away_seconds:.1f} s"),
)


def section(results, command):
    head = "| figure | " + " | ".join(f"{r['tips']:,} tips" for r in results) + " |"
    lines = ["## The officer app over a unit's year (real app process, Chromium)", "",
             f"Measured by `{command}` on {date.today().isoformat()}, load average "
             + ", ".join(f"{r['load_average']:.1f}" for r in results) + " (2 cores).",
             "Each tip about 2 KB of text, received over 365 days; a third with one to three "
             f"follow-ups, one with {LONG_THREAD}, one in 500 with a 20 KB file; "
             f"{NOTED} with two notes and {REPLIED} with a reply (bench/officer_year.py). "
             "Times are the browser's, from the click or the address to the page loaded.", "",
             head, "|---|" + "---|" * len(results)]
    for label, fmt in ROWS:
        lines.append(f"| {label} | " + " | ".join(fmt.format(**r) for r in results) + " |")
    return "\n".join(lines) + "\n"


def record(results, command, note=""):
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text()
    title = "## The officer app over a unit's year"
    new = section(results, command) + (f"\n{note}\n" if note else "")
    if title in text:
        start = text.index(title)
        end = text.find("\n## ", start)
        text = text[:start] + new + (text[end + 1:] if end >= 0 else "")
    else:
        at = text.index("## Attachment stream cipher")
        text = text[:at] + new + "\n" + text[at:]
    path.write_text(text)


if __name__ == "__main__":
    counts = [int(a) for a in sys.argv[1:] if a.isdigit()] or [5000]
    keep = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--keep=")), None)
    results = []
    for n in counts:
        results.append(measure(n, keep))
        print(json.dumps(results[-1], indent=2), flush=True)
    print(json.dumps({"machine": machine()}))
    if "--record" in sys.argv:
        record(results, "python -m bench.officer_year " + " ".join(sys.argv[1:]))
