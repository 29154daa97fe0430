"""Officer import: opening an export bundle of N tips, against the HPKE unseal bound.

The bundle is built without the web server, through the library (tipdrop.server.tips
with cheap test Argon2 parameters for the receipts, which play no part in
importing; then tipdrop.server.exchange.export_unit). One child process then times,
in the same run, ``Workspace.open_bundle`` on it and the bound: opening the
same tip envelopes (``envelope.open_``, i.e. HPKE X25519 unseal) in memory and
doing nothing else. The ratio says what parsing, checks and SQLite cost on top.
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


def _worker(workdir):
    """Time the unseal bound and open_bundle in this one process."""
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
        start = time.perf_counter()
        for tip_id, body in bodies:
            envelope.open_(body, opener, kind="tip", tip_id=tip_id)
        return len(bodies) / (time.perf_counter() - start)

    bound = unseal_all()
    workspace = Workspace(workdir / "workspace")
    start = time.perf_counter()
    counts = workspace.open_bundle(workdir / "export.tdx", Keyring.of(private))
    seconds = time.perf_counter() - start
    workspace.close()
    # The bound again after the import: the better of the two counts, so a
    # burst of load from another tenant does not flatter the ratio.
    bound = max(bound, unseal_all())
    worker_result(import_seconds=seconds, tips=counts["tips"],
                  attachments=counts["attachments"], unseal_per_s=bound)


def measure(count):
    with tempfile.TemporaryDirectory(prefix="tipdrop-bench-import-") as tmp:
        start = time.perf_counter()
        built = _build(tmp, count)
        build_seconds = time.perf_counter() - start
        result = run_worker("officer_import", tmp)
    per_s = result["tips"] / result["import_seconds"]
    return {
        "officer_import_tips": result["tips"],
        "officer_import_attachments": result["attachments"],
        "officer_import_bundle_mib": built["bundle_mib"],
        "officer_import_seconds": result["import_seconds"],
        "officer_import_tips_per_s": per_s,
        "officer_import_peak_rss_mib": result["peak_rss_mib"],
        "officer_unseal_bound_per_s": result["unseal_per_s"],
        "officer_import_vs_unseal_bound": per_s / result["unseal_per_s"],
        "officer_bundle_build_seconds": build_seconds,
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        _worker(*sys.argv[2:])
    else:
        print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 2000), indent=2))
