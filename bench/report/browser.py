"""The reporter's-device encryption section of RESULTS.md (bench/browser_crypto.py's figures)."""

from bench.common import MiB
from bench.report import fmt, met


def section(r):
    if "browser_skipped" in r:
        return ["## Encryption on the reporter's device", "",
                f"Not measured: {r['browser_skipped']}.", ""]
    if "browser_failed" in r:
        return ["## Encryption on the reporter's device", "",
                f"Failed with a {fmt(r['browser_size_mib'])} MiB file: {r['browser_failed']}", ""]
    if "browser_stream_mb_s" not in r:
        return []
    size = r["browser_size_mib"]
    kept_small, kept_large = r["browser_heap_retained_mib_16mib"], r["browser_heap_retained_mib_large"]
    heap_flat = kept_large <= kept_small + 8
    read_bound = r["browser_blob_read_1mib_mb_s"] < r["browser_aesgcm_in_memory_mb_s"]
    seconds = size * MiB / 1e6 / r["browser_stream_mb_s"]
    lines = [
        f"## Encryption on the reporter's device (Chromium {r['browser_chromium']}, headless)",
        "",
        "bench/browser_crypto.py: a real `tipdrop serve` serves a page and the scripts of "
        "`/submit`; the page seals a file of random bytes put in a file input (a disk-backed "
        "File, as a picked video is), best of 3 in turns, a forced garbage collection before "
        "each run. This 2-core server stands in for a phone; phones differ, so read the ratios "
        "and the memory rather than the MB/s.",
        "",
        "| figure | value | measured against |",
        "|---|---|---|",
        f"| `TipdropCrypto.encryptStream`, pieces folded into a Blob as submit.js `sealFile` "
        f"does, {fmt(size)} MiB | {fmt(r['browser_stream_mb_s'])} MB/s | |",
        f"| the same, pieces dropped | {fmt(r['browser_stream_dropped_mb_s'])} MB/s | |",
        f"| bound: bare WebCrypto AES-256-GCM, the same 64 KiB chunks read with "
        f"`blob.slice().arrayBuffer()` in 1 MiB slices, as encryptStream reads them | "
        f"{fmt(r['browser_aesgcm_bound_mb_s'])} MB/s | "
        f"encryptStream at {fmt(r['browser_stream_vs_bound'], 2)} of it |",
        f"| part of the bound: reading the File in 1 MiB slices, nothing else | "
        f"{fmt(r['browser_blob_read_1mib_mb_s'])} MB/s | |",
        f"| part of the bound: AES-256-GCM on a 64 KiB chunk in memory, as many times | "
        f"{fmt(r['browser_aesgcm_in_memory_mb_s'])} MB/s | |",
        f"| reading the File in 64 KiB slices instead (what encryptStream did first) | "
        f"{fmt(r['browser_blob_read_64kib_mb_s'])} MB/s | |",
        f"| JS heap retained after sealing 16 MiB / {fmt(size)} MiB, sealed Blob still held, "
        f"after a forced GC (before: {fmt(r['browser_heap_base_mib_16mib'], 1)} / "
        f"{fmt(r['browser_heap_base_mib_large'], 1)} MiB) | {fmt(kept_small, 1)} / "
        f"{fmt(kept_large, 1)} MiB | no growth with size (within 8 MiB): {met(heap_flat)} |",
        f"| JS heap peak sampled while sealing 16 MiB / {fmt(size)} MiB (garbage not yet "
        f"collected included) | {fmt(r['browser_heap_peak_mib_16mib'], 1)} / "
        f"{fmt(r['browser_heap_peak_mib_large'], 1)} MiB | |",
        f"| renderer process RSS, before -> peak, 16 MiB / {fmt(size)} MiB | "
        f"{fmt(r['browser_renderer_rss_before_mib_16mib'])} -> "
        f"{fmt(r['browser_renderer_peak_rss_mib_16mib'])} / "
        f"{fmt(r['browser_renderer_rss_before_mib_large'])} -> "
        f"{fmt(r['browser_renderer_peak_rss_mib_large'])} MiB | |",
        f"| browser process RSS (holds Blob data), before -> peak, 16 MiB / {fmt(size)} MiB | "
        f"{fmt(r['browser_process_rss_before_mib_16mib'])} -> "
        f"{fmt(r['browser_process_peak_rss_mib_16mib'])} / "
        f"{fmt(r['browser_process_rss_before_mib_large'])} -> "
        f"{fmt(r['browser_process_peak_rss_mib_large'])} MiB | |",
        f"| `TipdropPhotos.clean`, 12-megapixel JPEG with Exif, XMP, ICC "
        f"({fmt(r['browser_photo_mib'], 1)} MiB) | {fmt(r['browser_photo_clean_ms'], 1)} ms | "
        f"`tipdrop.common.photos.clean` on the same bytes: {fmt(r['python_photo_clean_ms'], 1)} ms "
        f"(JS takes {fmt(r['browser_photo_clean_vs_python'], 2)}x; same output bytes) |",
        "",
        f"What it means: sealing a {fmt(size)} MiB video in the page takes about "
        f"{fmt(seconds, 1)} s here; the server-side stream cipher above runs at "
        f"{fmt(r.get('stream_encrypt_mb_s'))} MB/s. ",
    ]
    if read_bound:
        lines[-1] += (
            "Reading the file, not encrypting it, sets the bound: each "
            "`blob.slice().arrayBuffer()` is a round trip to the browser process, so "
            "encryptStream reads 1 MiB slices (64 KiB slices read "
            f"{fmt(r['browser_blob_read_1mib_mb_s'] / r['browser_blob_read_64kib_mb_s'], 1)}"
            "x slower per byte; that was its first version), and AES-GCM alone is "
            f"{fmt(r['browser_aesgcm_in_memory_mb_s'] / r['browser_blob_read_1mib_mb_s'], 1)}"
            "x faster than 1 MiB reads. "
        )
    lines[-1] += (
        "Folding the sealed pieces into a Blob costs the difference between the first two "
        "rows. "
        + ("What the JS heap keeps does not grow with the size: the sealed bytes leave it for "
           "Blob storage, which the browser process holds (its RSS grew by "
           f"{fmt(r['browser_process_peak_rss_mib_large'] - r['browser_process_rss_before_mib_large'])}"
           f" MiB while the {fmt(size)} MiB file was sealed: the sealed report waits there "
           "until it is sent). The sampled peak is "
           "higher and moves with the size because V8 collects the 1 MiB read buffers and "
           "64 KiB chunks lazily, not because they are kept." if heap_flat else
           "What the JS heap keeps grew with the size: something in the page holds sealed "
           "pieces.")
        + " Renderer and browser RSS are read from /proc every 20 ms; they move with garbage "
        "collection and Blob storage by tens of MiB, so read them as orders of magnitude."
    )
    return lines + [""]
