"""What a hostile export or file costs the workstation: import memory per record, download memory.

Import: a real one-tip export (the server's library), its tip relabelled as
sealed on the device and repeated, each with one-byte junk follow-ups (each
imported as damaged, or refused by tipdrop/officer/bundlecaps.py), opened by
a real ``tipdrop officer open``; peak RSS of that process (ru_maxrss via
wait4). Download: a workspace holding one file of SIZE MiB, its plaintext
handed out by tipdrop/officer/downloading.py (the officer app's download),
peak Python memory by tracemalloc; beside it, the old way (the whole file
into a BytesIO) for comparison.

``python -m bench.officer_bounds``: prints the figures (bench/RESULTS.md,
"Officer bounds", has them with this command).
"""

import io
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from tipdrop.common import sqlite

PASSPHRASE = "bench"
MiB = 1024 * 1024
TIPDROP = Path(sys.executable).with_name("tipdrop")


def _server(folder, unit, files=()):
    from tipdrop.crypto import kdf
    from tipdrop.protocol.report import Report
    from tipdrop.protocol.routing import Routing
    from tipdrop.server import exchange, store
    from tipdrop.server.tips import Tips
    from tipdrop.server.unitkeys import UnitKeys

    db = sqlite.connect(folder / "server" / "tipdrop.db")
    store.init(db)
    tips = Tips(db, UnitKeys([unit.public]), Routing({"astana": "demo"}),
                folder / "server" / "attachments", receipt_params=kdf.TEST_PARAMS)
    draft = tips.start(region="astana")
    for name, kind, size in files:
        out = draft.new_attachment(name, kind)
        for _ in range(size // MiB):
            out.write(bytes(MiB))
    tips.submit(draft, Report.build(region="astana", category="drugs",
                                    description="Во дворе продают краденые телефоны."))
    exchange.export_unit(db, folder / "server" / "attachments", unit="demo",
                         out=folder / "export.tdx")
    db.close()
    return folder / "export.tdx"


def _records(path):
    from tipdrop.protocol import bundles

    with open(path, "rb") as f:
        return [(r.kind, r.doc) for r in bundles.ExportReader(f) if r.kind != bundles.STREAM]


def _junk(records, out, tips, followups):
    from tipdrop.protocol import bundles

    header = {k: v for k, v in records[0][1].items()
              if k not in ("export_id", "previous_chain", "chain")}
    tip = records[1][1] | {"encrypted_on": "device"}
    with open(out, "wb") as f:
        writer = bundles.ExportWriter(f)
        writer.record(bundles.HEADER, header)
        for t in range(tips):
            tip_id = f"{t:032x}"
            writer.record(bundles.TIP, tip | {"id": tip_id})
            for seq in range(1, followups + 1):
                writer.record(bundles.FOLLOWUP, {
                    "tip_id": tip_id, "seq": seq, "received_day": tip["received_day"],
                    "encrypted_on": "device", "body": "AA=="})
        writer.finish()
    return out


def import_memory(folder, shapes=((10, 9_990), (100, 10_000))):
    """Peak RSS of `tipdrop officer open` for each (tips, follow-ups per tip) shape."""
    from tipdrop.crypto import kdf, keys

    unit = keys.generate("demo")
    (folder / "demo.key").write_bytes(keys.private_to_file(unit, PASSPHRASE,
                                                           params=kdf.TEST_PARAMS))
    records = _records(_server(folder, unit))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    found = []
    for tips, followups in shapes:
        bundle = _junk(records, folder / f"junk-{tips}.tdx", tips, followups)
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(TIPDROP), "officer", "open", str(bundle)], stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env | {"TIPDROP_PASSPHRASE": PASSPHRASE, "TIPDROP_KEY": str(folder / "demo.key"),
                       "TIPDROP_WORKDIR": str(folder / f"cases-{tips}")})
        _, status, usage = os.wait4(proc.pid, 0)
        found.append({"records": tips * (followups + 1), "bundle_mib": bundle.stat().st_size / MiB,
                      "exit": os.waitstatus_to_exitcode(status), "peak_rss_mib": usage.ru_maxrss / 1024,
                      "seconds": time.perf_counter() - started,
                      "stderr": proc.stderr.read().decode().strip()[:160]})
        bundle.unlink()
    return found


def _traced(action):
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1] / MiB
    finally:
        tracemalloc.stop()


def _download_once(place, size):
    """Peak Python memory of handing out one file of ``size`` MiB: streamed, and whole."""
    from tipdrop.crypto import keys
    from tipdrop.officer import downloading
    from tipdrop.officer.keyring import Keyring
    from tipdrop.officer.workspace import Workspace

    unit = keys.generate("demo")
    place.mkdir()
    bundle = _server(place, unit, files=[("clip.mp4", "video/mp4", size * MiB)])
    keyring = Keyring.of(unit)
    workspace = Workspace(place / "cases")
    try:
        workspace.open_bundle(bundle, keyring)
        (tip_id,) = [t["id"] for t in workspace.list()]

        def streamed():
            downloading.authenticated_head(workspace, tip_id, "a1", keyring)
            for _ in downloading.plaintext_pieces(workspace, tip_id, "a1", keyring):
                pass

        def whole():
            out = io.BytesIO()
            workspace.read_attachment(tip_id, "a1", keyring, out)
            out.getvalue()

        return {"mib": size, "streamed_peak_mib": _traced(streamed),
                "whole_peak_mib": _traced(whole)}
    finally:
        workspace.close()


def download_memory(folder, sizes=(16, 256)):
    """Peak Python memory of handing out a file of each size: streamed, and whole (the old way)."""
    return [_download_once(folder / f"dl-{size}", size) for size in sizes]


def measure():
    with tempfile.TemporaryDirectory(prefix="bench-bounds-") as tmp:
        folder = Path(tmp)
        return {"import": import_memory(folder), "download": download_memory(folder)}


if __name__ == "__main__":
    for name, rows in measure().items():
        for row in rows:
            print(name, row)
