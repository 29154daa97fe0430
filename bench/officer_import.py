"""Officer import: opening an export bundle of N tips, against the HPKE unseal bound.

The bundle is built without the web server, through the library (tipdrop.server.tips
with cheap test Argon2 parameters for the receipts, which play no part in
importing; then tipdrop.server.exchange.export_unit). One child process then times,
in the same run, ``Workspace.open_bundle`` on it and the bound: opening the
same tip envelopes (``envelope.open_``, i.e. HPKE X25519 unseal) in memory and
doing nothing else. The ratio says what parsing, checks and SQLite cost on top.

``python -m bench.officer_import [N] [--record]``: ``--record`` writes the
figures into bench/RESULTS.md, the README's row and bench/results.json.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

from bench.common import run_worker, worker_result
from tipdrop.common import sqlite

#: Each report text is about 2 KB, as the issue asks.
TEXT = ("Каждый вечер у остановки продают наркотики, номер машины известен. " * 40)[:1000]
#: A few tips carry an attachment (a non-photo file, streamed).
ATTACHMENT_EVERY = 1000
ATTACHMENT_BYTES = 256 * 1024
PASSPHRASE = "bench"


def _build(workdir, count):
    """Make ``count`` tips in a server database and export them; write the key file."""
    import os

    from tipdrop.crypto import kdf, keys
    from tipdrop.protocol.report import Report
    from tipdrop.protocol.routing import Routing
    from tipdrop.server import exchange, store
    from tipdrop.server.tips import Tips
    from tipdrop.server.unitkeys import UnitKeys

    workdir = Path(workdir)
    unit = keys.generate("demo")
    (workdir / "demo.key").write_bytes(keys.private_to_file(unit, PASSPHRASE, params=kdf.TEST_PARAMS))
    db = sqlite.connect(workdir / "server" / "tipdrop.db")
    store.init(db)
    # Building speed is not measured: no fsync per tip.
    db.execute("PRAGMA synchronous=OFF")
    tips = Tips(db, UnitKeys([unit.public]), Routing({"astana": "demo"}),
                workdir / "server" / "attachments", receipt_params=kdf.TEST_PARAMS)
    blob = b"\0" + os.urandom(ATTACHMENT_BYTES - 1)
    attachments = 0
    for i in range(count):
        draft = tips.start(region="astana")
        if i % ATTACHMENT_EVERY == ATTACHMENT_EVERY - 1:
            draft.new_attachment("clip.mp4", "video/mp4").write(blob)
            attachments += 1
        tips.submit(draft, Report.build(region="astana", category="drugs",
                                        description=f"{i} {TEXT}"))
    bundle = workdir / "export.tdx"
    counts = exchange.export_unit(db, workdir / "server" / "attachments", unit="demo", out=bundle)
    db.close()
    return {"bundle": str(bundle), "bundle_mib": bundle.stat().st_size / 2**20,
            "attachments": attachments, "tips": counts["tips"]}


def _worker(workdir, rounds="5"):
    """Time the unseal bound and open_bundle in this one process, in turns.

    Each round: the bound, an import into a fresh workspace, the bound
    again; the round's ratio is against the better of its two bounds, so a
    burst of load from another tenant does not flatter it. The median over
    the rounds is the figure; beside the wall-clock ratio, the same ratio
    in CPU time of this thread, which the machine's other tenants disturb
    less (the import's few fsyncs are not in it).
    """
    import os
    import shutil
    import statistics

    from tipdrop.crypto import envelope, keys
    from tipdrop.officer.keyring import Keyring
    from tipdrop.officer.workspace import Workspace

    workdir = Path(workdir)
    private = keys.parse_private((workdir / "demo.key").read_bytes(), PASSPHRASE)
    db = sqlite.connect(workdir / "server" / "tipdrop.db")
    bodies = [(row[0], bytes(row[1])) for row in db.execute("SELECT id, body FROM tips")]
    db.close()
    opener = private.opener

    def unseal_all():
        wall, cpu = time.perf_counter(), time.thread_time()
        for tip_id, body in bodies:
            envelope.open_(body, opener, kind="tip", tip_id=tip_id)
        return time.perf_counter() - wall, time.thread_time() - cpu

    runs = []
    for n in range(int(rounds)):
        before = unseal_all()
        folder = workdir / f"workspace-{n}"
        workspace = Workspace(folder)
        wall, cpu = time.perf_counter(), time.thread_time()
        counts = workspace.open_bundle(workdir / "export.tdx", Keyring.of(private))
        seconds, cpu_seconds = time.perf_counter() - wall, time.thread_time() - cpu
        workspace.close()
        shutil.rmtree(folder)
        after = unseal_all()
        bound, bound_cpu = min(before[0], after[0]), min(before[1], after[1])
        runs.append({"seconds": seconds, "ratio": bound / seconds,
                     "cpu_ratio": bound_cpu / cpu_seconds, "bound_seconds": bound})
    median = sorted(runs, key=lambda run: run["ratio"])[len(runs) // 2]
    worker_result(import_seconds=median["seconds"], tips=counts["tips"],
                  attachments=counts["attachments"],
                  unseal_per_s=len(bodies) / median["bound_seconds"],
                  ratio=median["ratio"], ratios=[run["ratio"] for run in runs],
                  cpu_ratio=statistics.median(run["cpu_ratio"] for run in runs),
                  load=os.getloadavg()[0])


def measure(count):
    with tempfile.TemporaryDirectory(prefix="tipdrop-bench-import-") as tmp:
        start = time.perf_counter()
        built = _build(tmp, count)
        build_seconds = time.perf_counter() - start
        result = run_worker("officer_import", tmp)
    per_s = result["tips"] / result["import_seconds"]
    return {
        "officer_import_rounds": result["ratios"],
        "officer_import_vs_unseal_bound_cpu": result["cpu_ratio"],
        "officer_import_load": result["load"],
        "officer_import_tips": result["tips"],
        "officer_import_attachments": result["attachments"],
        "officer_import_bundle_mib": built["bundle_mib"],
        "officer_import_seconds": result["import_seconds"],
        "officer_import_tips_per_s": per_s,
        "officer_import_peak_rss_mib": result["peak_rss_mib"],
        "officer_unseal_bound_per_s": result["unseal_per_s"],
        "officer_import_vs_unseal_bound": result["ratio"],
        "officer_bundle_build_seconds": build_seconds,
    }


def record(results, command):
    """Put ``results`` into bench/RESULTS.md (this section), the README's row and
    bench/results.json (a local file a full or quick run rewrites whole), as
    bench/officer_app.py does for its own figures."""
    import datetime

    from bench.common import ROOT
    from bench.report import officer as report_officer

    day = datetime.date.today().isoformat()
    lines = report_officer.import_section(results)
    lines[1:1] = ["", f"Measured alone by `{command}` on {day}; `make bench` measures it too "
                  "(10,000 tips), `make bench-quick` on 2,000."]
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text()
    start = text.index("## Officer import")
    end = text.find("\n## ", start)
    path.write_text(text[:start] + "\n".join(lines) + (text[end:] if end >= 0 else ""))
    row = next(line for line in (ROOT / "bench" / "readme_table.md").read_text().splitlines()
               if "IMPORT_TIPS" in line)
    values = {"IMPORT_TIPS": f"{results['officer_import_tips']:,}",
              "IMPORT_PER_S": f"{results['officer_import_tips_per_s']:,.0f}",
              "IMPORT_RATIO": f"{results['officer_import_vs_unseal_bound']:.2f}",
              "UNSEAL_PER_S": f"{results['officer_unseal_bound_per_s']:,.0f}"}
    for key, value in values.items():
        row = row.replace(key, value)
    readme = ROOT / "README.md"
    lines = readme.read_text().split("\n")
    lines[next(i for i, line in enumerate(lines) if line.startswith("| officer import:"))] = row
    readme.write_text("\n".join(lines))
    stored = ROOT / "bench" / "results.json"
    if stored.exists():
        stored.write_text(json.dumps(json.loads(stored.read_text()) | results, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        _worker(*sys.argv[2:])
    else:
        args = [a for a in sys.argv[1:] if a != "--record"]
        figures = measure(int(args[0]) if args else 2000)
        print(json.dumps(figures, indent=2))
        if "--record" in sys.argv:
            record(figures, "python -m bench.officer_import " + " ".join(sys.argv[1:]))
