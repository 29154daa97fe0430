"""Stream cipher throughput and memory, file to file.

Measures, in one run on the same file: tipdrop's stream encrypt and decrypt,
each writing a file and fsyncing it once at the end, against their bound, the
disk: a plain copy of the same file with the same discipline (read, write in
64 KiB pieces, fsync once at the end, no crypto). Also the raw AES-256-GCM
chunk loop in memory (what the CPU allows our framing), and Debian's ``age``
and ``gpg`` when installed (their decryption, and ours for that comparison,
writes /dev/null). Every figure comes from a separate process so its peak RSS
is its own.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import MiB, cpu_seconds, make_file, run_worker, settle, worker_result

#: Each tool runs this many times on the same file, in turns; the median
#: counts, so a burst of load from another tenant does not decide a ratio.
ROUNDS = 5


def _worker(op, *args):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from tipdrop.crypto import keys, stream

    if op == "raw":
        size = int(args[0])
        aead = AESGCM(AESGCM.generate_key(256))
        chunk = memoryview(os.urandom(stream.CHUNK_SIZE))
        out = bytearray(stream.SEALED_CHUNK)
        n = size // stream.CHUNK_SIZE
        start = time.perf_counter()
        for i in range(n):
            aead.encrypt_into(i.to_bytes(12, "big"), chunk, None, out)
        return worker_result(seconds=time.perf_counter() - start, bytes=n * stream.CHUNK_SIZE)
    src, dst = args[0], args[1]
    if op == "copy":
        return _copy(src, dst)
    unit = keys.generate("bench")
    with open(src, "rb") as f_in, open(dst, "wb") as f_out:
        start, cpu = time.perf_counter(), cpu_seconds()
        if op == "encrypt":
            stream.encrypt_stream(f_in, f_out, unit.public.recipient, kind="attachment", tip_id="bench")
        else:
            raise SystemExit("unknown op")
        f_out.flush()
        os.fsync(f_out.fileno())
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    settle()
    # Decrypt the file just written, with the same key, in this process too
    # but measured separately: into a file, fsynced (against the copy), and
    # into /dev/null (against age and gpg, which do not fsync).
    plain = f"{dst}.plain"
    with open(dst, "rb") as f_in, open(plain, "wb") as f_out:
        start, dec_cpu = time.perf_counter(), cpu_seconds()
        stream.decrypt_stream(f_in, f_out, unit.opener, kind="attachment", tip_id="bench")
        f_out.flush()
        os.fsync(f_out.fileno())
        dec_seconds, dec_cpu = time.perf_counter() - start, cpu_seconds() - dec_cpu
    os.unlink(plain)
    settle()
    with open(dst, "rb") as f_in, open(os.devnull, "wb") as f_out:
        start = time.perf_counter()
        stream.decrypt_stream(f_in, f_out, unit.opener, kind="attachment", tip_id="bench")
        null_seconds = time.perf_counter() - start
    return worker_result(seconds=seconds, decrypt_seconds=dec_seconds, cpu=cpu, decrypt_cpu=dec_cpu,
                         decrypt_devnull_seconds=null_seconds, bytes=os.path.getsize(src))


def _copy(src, dst):
    """The disk bound: read and write in the cipher's 64 KiB pieces, fsync once at the end."""
    from tipdrop.crypto import stream

    buffer = bytearray(stream.CHUNK_SIZE)
    view = memoryview(buffer)
    with open(src, "rb", buffering=0) as f_in, open(dst, "wb") as f_out:
        start, cpu = time.perf_counter(), cpu_seconds()
        while n := f_in.readinto(buffer):
            f_out.write(view[:n])
        f_out.flush()
        os.fsync(f_out.fileno())
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    os.unlink(dst)
    return worker_result(seconds=seconds, cpu=cpu, bytes=os.path.getsize(src))


def _time_command(argv, stdin=None, stdout=None):
    settle()
    start = time.perf_counter()
    subprocess.run(argv, stdin=stdin, stdout=stdout, check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _age(src, workdir):
    if not shutil.which("age") or not shutil.which("age-keygen"):
        return None
    identity = workdir / "age.key"
    if not identity.exists():
        subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    recipient = next(
        line.split(":", 1)[1].strip()
        for line in identity.read_text().splitlines()
        if line.startswith("# public key:")
    )
    enc = workdir / "f.age"
    t_enc = _time_command(["age", "-r", recipient, "-o", str(enc), str(src)])
    t_dec = _time_command(["age", "-d", "-i", str(identity), "-o", os.devnull, str(enc)])
    return t_enc, t_dec


def _gpg(src, workdir, extra):
    if not shutil.which("gpg"):
        return None
    home = workdir / "gnupg"
    home.mkdir(mode=0o700, exist_ok=True)
    base = ["gpg", "--homedir", str(home), "--batch", "--yes", "--quiet", "--pinentry-mode", "loopback",
            "--passphrase", ""]
    if not (home / "made").exists():
        subprocess.run(base + ["--quick-gen-key", "bench@example.invalid", "default", "default", "never"],
                       check=True, capture_output=True)
        (home / "made").write_text("")
    enc = workdir / "f.gpg"
    t_enc = _time_command(base + extra + ["-r", "bench@example.invalid", "-o", str(enc), "-e", str(src)])
    t_dec = _time_command(base + ["-o", os.devnull, "-d", str(enc)])
    return t_enc, t_dec


def _best_ours(src, workdir):
    """tipdrop's stream and the copy in turns, ROUNDS times; the median round's figures.

    Each round's ratios are of a copy and a stream run one after the other,
    so a burst of load from another tenant weighs on both; the figure is the
    median of the rounds' ratios (and of their times).
    """
    import statistics

    runs, copies = [], []
    for _ in range(ROUNDS):
        settle()
        copies.append(run_worker("stream_cipher", "copy", src, workdir / "f.copy"))
        settle()
        runs.append(run_worker("stream_cipher", "encrypt", src, workdir / "f.tdr"))
        os.unlink(workdir / "f.tdr")
    median = statistics.median
    return {"seconds": median(r["seconds"] for r in runs),
            "decrypt_seconds": median(r["decrypt_seconds"] for r in runs),
            "decrypt_devnull_seconds": median(r["decrypt_devnull_seconds"] for r in runs),
            "copy_seconds": median(r["seconds"] for r in copies),
            "encrypt_ratio": median(c["seconds"] / r["seconds"] for c, r in zip(copies, runs, strict=True)),
            "decrypt_ratio": median(c["seconds"] / r["decrypt_seconds"]
                                    for c, r in zip(copies, runs, strict=True)),
            "encrypt_cpu_ratio": median(c["cpu"] / r["cpu"] for c, r in zip(copies, runs, strict=True)),
            "decrypt_cpu_ratio": median(c["cpu"] / r["decrypt_cpu"]
                                        for c, r in zip(copies, runs, strict=True)),
            "rounds": [[round(c["seconds"] / r["seconds"], 3),
                        round(c["seconds"] / r["decrypt_seconds"], 3)]
                       for c, r in zip(copies, runs, strict=True)],
            "load": os.getloadavg()[0],
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs)}


def _best(run):
    """Best of two runs of age or gpg (they are comparisons, not bounds)."""
    results = [run() for _ in range(2)]
    if results[0] is None:
        return None
    return min(r[0] for r in results), min(r[1] for r in results)


def measure(size):
    """Return a dict of figures for a ``size``-byte file."""
    with tempfile.TemporaryDirectory(prefix="tipdrop-bench-") as tmp:
        workdir = Path(tmp)
        src = workdir / "plain.bin"
        make_file(src, size)
        ours = _best_ours(src, workdir)
        raw = run_worker("stream_cipher", "raw", size)
        mb = size / 1e6
        result = {
            "stream_size_mib": size / MiB,
            "stream_encrypt_mb_s": mb / ours["seconds"],
            "stream_decrypt_mb_s": mb / ours["decrypt_seconds"],
            "stream_decrypt_devnull_mb_s": mb / ours["decrypt_devnull_seconds"],
            "stream_copy_bound_mb_s": mb / ours["copy_seconds"],
            "stream_encrypt_vs_copy_bound": ours["encrypt_ratio"],
            "stream_decrypt_vs_copy_bound": ours["decrypt_ratio"],
            "stream_rounds": ours["rounds"],
            "stream_encrypt_cpu_vs_copy": ours["encrypt_cpu_ratio"],
            "stream_decrypt_cpu_vs_copy": ours["decrypt_cpu_ratio"],
            "stream_load": ours["load"],
            "stream_peak_rss_mib": ours["peak_rss_mib"],
            "raw_aead_mb_s": raw["bytes"] / 1e6 / raw["seconds"],
        }
        result["encrypt_vs_raw_aead"] = result["stream_encrypt_mb_s"] / result["raw_aead_mb_s"]
        age = _best(lambda: _age(src, workdir))
        if age:
            result["age_encrypt_mb_s"] = mb / age[0]
            result["age_decrypt_mb_s"] = mb / age[1]
            result["encrypt_vs_age"] = result["stream_encrypt_mb_s"] / result["age_encrypt_mb_s"]
            result["decrypt_vs_age"] = (result["stream_decrypt_devnull_mb_s"]
                                        / result["age_decrypt_mb_s"])
        for name, extra in (("gpg", []), ("gpg_z0", ["-z", "0"])):
            gpg = _best(lambda extra=extra: _gpg(src, workdir, extra))
            if gpg:
                result[f"{name}_encrypt_mb_s"] = mb / gpg[0]
                result[f"{name}_decrypt_mb_s"] = mb / gpg[1]
        if "gpg_encrypt_mb_s" in result:
            result["encrypt_vs_gpg"] = result["stream_encrypt_mb_s"] / result["gpg_encrypt_mb_s"]
        return result


def memory_growth(small, large):
    """Peak RSS of stream encrypt+decrypt for two sizes: it must not grow with size."""
    with tempfile.TemporaryDirectory(prefix="tipdrop-bench-") as tmp:
        peaks = {}
        for size in (small, large):
            src = Path(tmp) / "plain.bin"
            make_file(src, size)
            peaks[size] = run_worker("stream_cipher", "encrypt", src, Path(tmp) / "f.tdr")["peak_rss_mib"]
        return peaks


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        _worker(*sys.argv[2:])
