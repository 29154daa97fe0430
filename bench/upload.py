"""Attachment streaming through the real server, against the transport bound.

One large non-photo file (random bytes labelled video/mp4) is POSTed as
multipart to ``POST /api/v1/tips`` of ``tipdrop serve``, the text fields
first, the body streamed from a repeated block with its Content-Length known
(the client never holds the upload in memory), at several sizes. The same
body goes to bench/upload_reader.py, a WSGI app that only reads the body and
drops it, served by gunicorn as ``tipdrop serve`` serves tipdrop (same worker
class, threads, worker count and allocator settings): the bound, what receiving
the body costs. Both servers run at once and take turns. Below it, the
loopback socket alone (upload_reader.loopback).

While an upload runs, the VmRSS of the master and every worker is sampled
every 20 ms; the figure that matters is the peak of the worker that handled
the upload (the others stay idle), set against its size before the upload.

The same file sealed on the device (bench/sealed_upload.py) goes to
``POST /api/v1/sealed-tips`` of the same server in the same rounds.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from bench import sealed_upload
from bench.common import ROOT, MiB, measured_upload, post_streamed, settle
from bench.http_load import Server, _port
from tipdrop.common import sqlite

BOUNDARY = "tipdropbench7d2f9c"
BLOCK = 4 * MiB
SMALL = 16 * MiB
TIMEOUT = 120


class ReaderServer:
    """bench/upload_reader.py under gunicorn, launched and configured like ``tipdrop serve``."""

    def __init__(self, workers):
        self.port = _port()
        env = os.environ | {"PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.upload_reader", str(self.port), str(workers)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if _upload(self.port, 1024)["status"] == 201:
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the reader server did not start")

    def stop(self):
        Server.stop(self)


def _parts(size):
    """(head, tail) of the multipart body around ``size`` file bytes."""
    head = "".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in (("region", "astana"), ("category", "drugs"),
                            ("description", "A video of the sale, filmed from the window.")))
    head += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
             f'filename="clip.mp4"\r\nContent-Type: video/mp4\r\n\r\n')
    return head.encode(), f"\r\n--{BOUNDARY}--\r\n".encode()


_BLOCK = b"\0" + os.urandom(BLOCK - 1)  # a leading zero: never sniffed as a photo


def _upload(port, size):
    """POST ``size`` file bytes as one streamed multipart submit; return status and seconds."""
    head, tail = _parts(size)

    def body():
        yield head
        view = memoryview(_BLOCK)
        left = size
        while left:
            n = min(left, BLOCK)
            yield view[:n]
            left -= n
        yield tail

    return post_streamed(port, "/api/v1/tips", f"multipart/form-data; boundary={BOUNDARY}",
                         body(), len(head) + size + len(tail), timeout=TIMEOUT)


def _measured_upload(server, size):
    """One upload with memory sampling: figures of the worker that handled it."""
    return measured_upload(server, lambda: _upload(server.port, size), size)


def decoder_in_memory(size=64 * MiB):
    """MB/s of the sink's decoder loop alone, on a body already in memory (no HTTP)."""
    import io

    from bench.upload_sink import app

    head, tail = _parts(size)
    body = head + _BLOCK * (size // BLOCK) + _BLOCK[:size % BLOCK] + tail
    environ = {"CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    start = time.perf_counter()
    app(environ, lambda *args: None)
    return size / 1e6 / (time.perf_counter() - start)


def blob_store(size, rounds=2):
    """MB/s of storing ``size`` bytes as tipdrop stores an attachment's ciphertext, nothing else.

    tipdrop.server.attachments.BlobWriter into a fresh database with tipdrop's
    pragmas (tipdrop/server/store/blobs.py: 1 MiB pieces, a short transaction
    each), given 64 KiB at a time as the stream cipher gives them; in this
    process, no HTTP, no encryption. Every upload pays it, so it bounds the
    upload too. Best MB/s of ``rounds``, and the least CPU seconds it took.
    """
    from tipdrop.server import store
    from tipdrop.server.attachments import BlobWriter

    piece = memoryview(_BLOCK)[:64 * 1024]
    best, cpu = 0.0, []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="tipdrop-bench-blobs-") as tmp:
            db = sqlite.connect(os.path.join(tmp, "tipdrop.db"))
            store.init(db)
            settle()
            start, cpu_start = time.perf_counter(), time.process_time()
            writer = BlobWriter(db, "2026-01-01")
            for _ in range(size // len(piece)):
                writer.write(piece)
            writer.close()
            best = max(best, size / 1e6 / (time.perf_counter() - start))
            cpu.append(time.process_time() - cpu_start)  # both threads: the storing is most
            db.close()
    return best, min(cpu)


def _median(values):
    import statistics

    return statistics.median(values)


def _fixed_costs(tipdrop, reader, times=5):
    """Seconds of a submit with a 1 KiB file, and of the reader's 1 KiB upload (medians).

    What a submit costs whatever its size (the receipt's Argon2 derivation,
    sealing the report, the fsync of its transaction): at 16 MiB it is a
    large part of the upload's time.
    """
    ours, bound = [], []
    for _ in range(times):
        ours.append(_upload(tipdrop.port, 1024)["seconds"])
        bound.append(_upload(reader.port, 1024)["seconds"])
    return {"upload_fixed_seconds": _median(ours), "wsgi_reader_fixed_seconds": _median(bound)}


def rounds_for(size, rounds):
    """Rounds for uploads of ``size``: more for small ones, whose ratios vary most.

    A 16 MiB upload takes a fraction of a second, so one busy moment of the
    shared machine moves a round's ratio by tens of percent (sealed/server
    read 0.94 at 16 MiB and 1.10 at 128 MiB in one quiet run of 3 rounds,
    while the worker's CPU over 15 rounds was lower for the sealed upload);
    they cost little, so a small size gets up to four times the rounds.
    """
    return max(rounds, min(4 * rounds, rounds * 64 * MiB // size))


def measure(sizes, workers, rounds=3, sealed=True):
    """Upload each of ``sizes`` to tipdrop and to the WSGI reader, ``rounds`` times each, in turns.

    With ``sealed``, each round also uploads the same file sealed on the
    "device" to ``POST /api/v1/sealed-tips`` of the same server
    (bench/sealed_upload.py), sealed just before its upload (not timed). A
    ratio is the median of the rounds' (the machine is shared and noisy: the
    uploads of a round are made one after the other); the memory figure is
    the worst round's. The largest size gives the headline figures;
    the ``*_vs_wsgi_reader_bound`` keys are the lowest ratio over the sizes.
    """
    size = max(sizes)
    tipdrop = Server(workers, extra_env={
        "TIPDROP_MAX_UPLOAD_MB": str(size // 1_000_000 + 100), "TIPDROP_UPLOAD_SLOTS": "4"})
    workdir = tempfile.TemporaryDirectory(prefix="tipdrop-bench-sealed-")
    per_size = {}
    try:
        reader = ReaderServer(workers)
        try:
            # Warm both (first request, imports) with a small upload each.
            _upload(tipdrop.port, MiB)
            _upload(reader.port, MiB)
            recipient = sealed and sealed_upload.recipient_of(tipdrop)
            if sealed:
                sealed_upload.measured(tipdrop, sealed_upload.seal(recipient, _BLOCK, MiB,
                                                                   workdir.name))
                settle()
            # A small upload first: if memory grew with size, the large ones would peak higher.
            small = _measured_upload(tipdrop, SMALL)
            small_sealed = sealed and sealed_upload.measured(
                tipdrop, sealed_upload.seal(recipient, _BLOCK, SMALL, workdir.name))
            fixed = _fixed_costs(tipdrop, reader)
            for n in sorted(sizes):
                ours, bound, device = [], [], []
                for _ in range(rounds_for(n, rounds)):
                    report = sealed and sealed_upload.seal(recipient, _BLOCK, n, workdir.name)
                    settle()
                    ours.append(_measured_upload(tipdrop, n))
                    bound.append(_measured_upload(reader, n))
                    if sealed:
                        device.append(sealed_upload.measured(tipdrop, report))
                per_size[n] = (ours, bound, device)
        finally:
            reader.stop()
    finally:
        tipdrop.stop()
        workdir.cleanup()
    from bench.upload_reader import loopback

    loop = max(loopback(size, _BLOCK) for _ in range(rounds))
    stored, stored_cpu = blob_store(size)
    result = {"upload_sizes_mib": [n // MiB for n in sorted(sizes)], "loopback_mb_s": loop,
              "blob_store_mb_s": stored, "blob_store_cpu_s": stored_cpu}
    result |= fixed | {"upload_rounds": rounds, "upload_load": os.getloadavg()[0],
                       "upload_rounds_smallest": rounds_for(min(sizes), rounds)}
    for n, (ours, bound, device) in sorted(per_size.items()):
        # Each round's ratio is of uploads made one after the other; the median counts.
        tag = f"{n // MiB}mib"
        best, best_bound = _median(r["mb_s"] for r in ours), _median(r["mb_s"] for r in bound)
        result |= {f"upload_worker_cpu_s_{tag}": _median(r["worker_cpu_seconds"] for r in ours),
                   f"wsgi_reader_worker_cpu_s_{tag}": _median(
                       r["worker_cpu_seconds"] for r in bound)}
        if sealed:
            result[f"sealed_upload_worker_cpu_s_{tag}"] = _median(
                r["worker_cpu_seconds"] for r in device)
        result |= {f"upload_mb_s_{tag}": best, f"wsgi_reader_mb_s_{tag}": best_bound,
                   f"upload_vs_wsgi_reader_bound_{tag}": _median(
                       o["mb_s"] / b["mb_s"] for o, b in zip(ours, bound, strict=True))}
        if sealed:
            best_sealed = _median(r["mb_s"] for r in device)
            result |= {f"sealed_upload_mb_s_{tag}": best_sealed,
                       f"sealed_upload_vs_wsgi_reader_bound_{tag}": _median(
                           d["mb_s"] / b["mb_s"] for d, b in zip(device, bound, strict=True)),
                       f"sealed_upload_vs_server_{tag}": _median(
                           d["mb_s"] / o["mb_s"] for d, o in zip(device, ours, strict=True))}
    ours, bound, device = per_size[size]
    best = _median(r["mb_s"] for r in ours)
    best_bound = _median(r["mb_s"] for r in bound)
    peak = max(ours, key=lambda r: r["worker_peak"])
    tags = [f"{n // MiB}mib" for n in sorted(sizes)]
    result |= {
        "upload_size_mib": size / MiB,
        "upload_mb_s": best,
        "wsgi_reader_bound_mb_s": best_bound,
        "upload_vs_wsgi_reader_bound": min(result[f"upload_vs_wsgi_reader_bound_{t}"] for t in tags),
        "wsgi_reader_vs_loopback": best_bound / loop,
        "upload_vs_blob_store_bound": best / stored,
        "upload_peak_rss_mib": peak["worker_peak"],
        "upload_worker_rss_before_mib": min(r["worker_before"] for r in ours),
        "upload_peak_rss_mib_16mib": small["worker_peak"],
        "upload_worker_hwm_mib": max(r["worker_hwm"] or 0 for r in ours),
        "upload_server_peak_rss_mib": max(r["server_peak"] for r in ours),
        "wsgi_reader_worker_peak_rss_mib": max(r["worker_peak"] for r in bound),
        "upload_decoder_in_memory_mb_s": decoder_in_memory(),
    }
    if sealed:
        result |= _sealed_figures(device, small_sealed, best, best_bound, size)
        result["sealed_upload_vs_wsgi_reader_bound"] = min(
            result[f"sealed_upload_vs_wsgi_reader_bound_{t}"] for t in tags)
        result["sealed_upload_vs_server_min"] = min(
            result[f"sealed_upload_vs_server_{t}"] for t in tags)
    return result


def _sealed_figures(device, small, server_mb_s, bound_mb_s, size):
    best = sorted(device, key=lambda r: r["mb_s"])[len(device) // 2]  # the median round
    server_seconds = size / 1e6 / server_mb_s
    return {
        "sealed_upload_stream_mib": best["mb_s"] * best["seconds"] * 1e6 / MiB,
        "sealed_upload_mb_s": best["mb_s"],
        "sealed_upload_vs_server": best["mb_s"] / server_mb_s,
        "sealed_upload_time_vs_server": best["seconds"] / server_seconds,
        "sealed_upload_peak_rss_mib": max(r["worker_peak"] for r in device),
        "sealed_upload_worker_rss_before_mib": min(r["worker_before"] for r in device),
        "sealed_upload_peak_rss_mib_16mib": small["worker_peak"],
        "sealed_upload_worker_hwm_mib": max(r["worker_hwm"] or 0 for r in device),
    }


def record(result, workers):
    """Put ``result`` into bench/results.json (when a run left one) and RESULTS.md's upload sections.

    For measuring the uploads again without the hour of ``make bench-quick``:
    the other sections of RESULTS.md stay as their run wrote them.
    """
    import datetime

    from bench.report import upload as report_upload

    here = ROOT / "bench"
    saved = here / "results.json"
    merged = json.loads(saved.read_text()) if saved.exists() else {"http_workers": workers}
    merged |= {"upload_recorded": datetime.datetime.now(datetime.UTC).strftime(
        "%Y-%m-%d %H:%M UTC")} | result
    if saved.exists():
        saved.write_text(json.dumps(merged, indent=2) + "\n")
    text = (here / "RESULTS.md").read_text()
    start = text.index("## Attachment upload through the real server")
    end = text.index("\n## ", text.index("## A report sealed on the device", start)) + 1
    section = "\n".join(report_upload.upload_section(merged) + report_upload.sealed_section(merged))
    (here / "RESULTS.md").write_text(text[:start] + section + "\n" + text[end:])


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[16, 128], help="MiB")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--record", action="store_true",
                        help="write the figures into bench/RESULTS.md (and results.json)")
    args = parser.parse_args()
    figures = measure([n * MiB for n in args.sizes], 2, args.rounds)
    if args.record:
        # The steadier comparison of the two paths, as make bench records it (bench/run.py).
        figures |= sealed_upload.in_process(min(max(args.sizes), 256) * MiB)
        figures["upload_command"] = " ".join(
            ["python -m bench.upload --record --rounds", str(args.rounds)]
            + [str(n) for n in args.sizes])
        record(figures, 2)
    print(json.dumps(figures, indent=2))
