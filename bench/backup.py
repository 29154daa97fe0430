"""Backup and restore: throughput against a plain copy, memory, and the pause submits see.

In one run, on one data folder of ``size`` bytes (reports with attachment
ciphertext in the database, as the server stores them):

- ``tipdrop backup`` (a read transaction streamed into a STREAM sealed to the
  backup key, fsynced) and ``tipdrop restore`` (decrypt, load a new database,
  fsync, rename) against a plain copy of the same database file with fsync,
  the least any durable backup must do. Goal: both at least 0.5 of the copy.
- Peak RSS of the backup and restore processes for a small and the large
  folder: flat means constant memory.
- Submit-like write transactions (one report row with a 4 KiB sealed body,
  committed with synchronous=FULL, as store.insert_tip does) from another
  process while a backup runs and while none does: their worst and 99th
  percentile latency.

Every figure comes from a separate process so its peak RSS is its own.
"""

import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

from bench.common import ROOT, MiB, cpu_seconds, run_worker, settle, worker_result
from tipdrop.common import sqlite

PIECE = 1024 * 1024
ROUNDS = 5


def make_folder(folder, size):
    """A data folder whose database holds about ``size`` bytes of attachment ciphertext."""
    from tipdrop.server import store
    from tipdrop.server.store import blobs

    db = sqlite.connect(Path(folder) / "tipdrop.db")
    store.init(db)
    piece = os.urandom(PIECE)
    n = 0
    while n * PIECE < size:
        blob = blobs.new(db, "2026-01-01")
        for seq in range(8):
            blobs.append(db, blob, seq, piece)
            n += 1
        store.insert_tip(db, _tip(f"T-{n:08d}"), [{
            "tip_id": f"T-{n:08d}", "part": "a1", "info": os.urandom(512), "blob": blob,
            "size": 8 * PIECE, "export_seq": 0, "held_seq": 0}])
    store.checkpoint_truncate(db)
    db.conn.close()
    (Path(folder) / "token-secret").write_bytes(secrets.token_bytes(32))


def _tip(tip_id):
    return {"id": tip_id, "unit": "demo", "key_id": "00" * 16, "region": "astana",
            "category": "corruption", "received_day": "2026-01-01", "status": "received",
            "status_day": "2026-01-01", "locator": secrets.token_hex(8),
            "receipt_salt": os.urandom(16), "receipt_params": "{}", "verifier": os.urandom(32),
            "reply_public": os.urandom(32), "body": os.urandom(4096), "encrypted_on": "server",
            "export_seq": 0, "held_seq": 0}


def _key(workdir):
    from tipdrop.crypto import backupkey

    path = Path(workdir) / "backup.key.raw"
    if not path.exists():
        key = backupkey.generate()
        path.write_bytes(key.x25519.private_bytes_raw())
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    return backupkey.BackupPrivateKey(
        X25519PrivateKey.from_private_bytes(path.read_bytes()), "2026-01-01T00:00:00Z")


def _worker(op, *args):
    from tipdrop.server import backup, restore

    if op == "backup":
        folder, out, workdir = args
        key = _key(workdir)
        start, cpu = time.perf_counter(), cpu_seconds()
        backup.write_backup(Path(folder), key.public, Path(out))
        return worker_result(seconds=time.perf_counter() - start, cpu=cpu_seconds() - cpu)
    if op == "restore":
        src, target, workdir = args
        key = _key(workdir)
        start, cpu = time.perf_counter(), cpu_seconds()
        restore.restore(Path(src), key, Path(target))
        return worker_result(seconds=time.perf_counter() - start, cpu=cpu_seconds() - cpu)
    if op == "copy":
        src, dst = args
        start, cpu = time.perf_counter(), cpu_seconds()
        shutil.copyfile(src, dst)
        fd = os.open(dst, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        return worker_result(seconds=time.perf_counter() - start, cpu=cpu_seconds() - cpu)
    if op == "sqlite_backup":
        src, dst = args
        start = time.perf_counter()
        with closing(sqlite3.connect(src)) as source, closing(sqlite3.connect(dst)) as target:
            source.backup(target)
        fd = os.open(dst, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        return worker_result(seconds=time.perf_counter() - start)
    if op == "submits":
        folder, seconds = args[0], float(args[1])
        return _submits(folder, seconds)
    raise SystemExit("unknown op")


def _submits(folder, seconds):
    """Write report rows for ``seconds``; the latency of each transaction, in ms."""
    from tipdrop.server import store

    db = sqlite.connect(Path(folder) / "tipdrop.db")
    latencies = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        store.insert_tip(db, _tip("S-" + secrets.token_hex(8)))
        latencies.append((time.perf_counter() - start) * 1000)
        time.sleep(0.01)
    latencies.sort()
    print(json.dumps({"count": len(latencies), "max_ms": latencies[-1],
                      "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
                      "median_ms": latencies[len(latencies) // 2]}))


def _submits_while(folder, workdir, seconds, during_backup):
    """Run submits for ``seconds``; if asked, start a backup half a second in."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.backup", "worker", "submits",
                             str(folder), str(seconds)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    backup_seconds = None
    if during_backup:
        time.sleep(0.5)
        out = Path(workdir) / f"during-{time.monotonic_ns()}.tdbackup"
        backup_seconds = run_worker("backup", "backup", folder, out, workdir)["seconds"]
        out.unlink()
    result = json.loads(proc.communicate()[0])
    return result, backup_seconds


def _median_run(rounds, name):
    """The run of ``name`` with the median time over the rounds."""
    runs = sorted((run[name] for run in rounds), key=lambda run: run["seconds"])
    return runs[len(runs) // 2]


def measure(size):
    workdir = Path(tempfile.mkdtemp(prefix="tipdrop-bench-backup-"))
    try:
        results = {"backup_size_mib": size / MiB}
        peaks = {}
        for label, bytes_ in (("small", 16 * MiB), ("large", size)):
            folder = workdir / f"data-{label}"
            make_folder(folder, bytes_)
            db_bytes = (folder / "tipdrop.db").stat().st_size
            out = workdir / f"{label}.tdbackup"
            rounds = []
            for _round in range(ROUNDS):
                # Copy, backup and restore take turns; each round's ratios are of runs
                # made one after the other, and the median round counts: a burst of
                # load from another tenant must not decide a ratio.
                if out.exists():
                    out.unlink()
                    shutil.rmtree(workdir / f"restored-{label}")
                run = {}
                if label == "large":
                    settle()
                    run["copy"] = run_worker("backup", "copy", folder / "tipdrop.db",
                                             workdir / "copy.db")
                    (workdir / "copy.db").unlink()
                    settle()
                    run["online"] = run_worker("backup", "sqlite_backup", folder / "tipdrop.db",
                                               workdir / "copy.db")
                    (workdir / "copy.db").unlink()
                settle()
                run["backup"] = run_worker("backup", "backup", folder, out, workdir)
                settle()
                run["restore"] = run_worker("backup", "restore", out,
                                            workdir / f"restored-{label}", workdir)
                rounds.append(run)
            made = _median_run(rounds, "backup")
            back = _median_run(rounds, "restore")
            peaks[label] = (made["peak_rss_mib"], back["peak_rss_mib"])
            if label == "large":
                import statistics

                ratios = [{name: run["copy"]["seconds"] / run[name]["seconds"]
                           for name in ("backup", "restore", "online")} for run in rounds]
                copy = _median_run(rounds, "copy")
                online = _median_run(rounds, "online")
                results |= {
                    "backup_db_mib": db_bytes / MiB,
                    "backup_file_mib": out.stat().st_size / MiB,
                    "backup_mb_s": db_bytes / MiB / made["seconds"],
                    "restore_mb_s": db_bytes / MiB / back["seconds"],
                    "backup_copy_mb_s": db_bytes / MiB / copy["seconds"],
                    "backup_sqlite_api_mb_s": db_bytes / MiB / online["seconds"],
                    "backup_vs_copy": statistics.median(r["backup"] for r in ratios),
                    "restore_vs_copy": statistics.median(r["restore"] for r in ratios),
                    "backup_sqlite_api_vs_copy": statistics.median(r["online"] for r in ratios),
                    "backup_cpu_vs_copy": statistics.median(
                        run["copy"]["cpu"] / run["backup"]["cpu"] for run in rounds),
                    "restore_cpu_vs_copy": statistics.median(
                        run["copy"]["cpu"] / run["restore"]["cpu"] for run in rounds),
                    "backup_rounds": [[round(r["backup"], 3), round(r["restore"], 3)]
                                      for r in ratios],
                    "backup_load": os.getloadavg()[0],
                }
                idle, _ = _submits_while(folder, workdir, 6, during_backup=False)
                busy, took = _submits_while(folder, workdir, max(6, 2 + 2 * made["seconds"]),
                                            during_backup=True)
                results |= {"submit_idle_p99_ms": idle["p99_ms"], "submit_idle_max_ms": idle["max_ms"],
                            "submit_backup_p99_ms": busy["p99_ms"],
                            "submit_backup_max_ms": busy["max_ms"],
                            "submit_backup_count": busy["count"], "backup_during_s": took}
            shutil.rmtree(workdir / f"restored-{label}")
            out.unlink()
        results |= {"backup_rss_small_mib": peaks["small"][0], "backup_rss_large_mib": peaks["large"][0],
                    "restore_rss_small_mib": peaks["small"][1],
                    "restore_rss_large_mib": peaks["large"][1]}
        return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        _worker(*sys.argv[2:])
    else:
        size = int(sys.argv[1]) * MiB if len(sys.argv) > 1 else 128 * MiB
        print(json.dumps(measure(size), indent=2))
