"""Encryption on the reporter's device: tipdrop-crypto.js and photo-clean.js in Chromium.

A real ``tipdrop serve`` serves the page and the two scripts; headless
Chromium (Debian's, driven by Playwright as in tests/browser/) runs them on
a file of random bytes put in a file input, as the reporter picks a video:
Playwright hands Chromium the path, so nothing large crosses from Python,
and the page reads a disk-backed File as submit.js does. (A Blob built in
the page instead lives in Chromium's Blob memory: at 256 MiB, that Blob and
its sealed copy exceeded it and reads failed with NotReadableError.)
Measured in one page, on the same File, best of ROUNDS taken in turns, with
a forced garbage collection before each run:

- ``encryptStream`` with its pieces folded into a Blob in batches, as
  submit.js ``sealFile`` does (what the page really does);
- ``encryptStream`` with its pieces dropped, to tell the folding's cost;
- the bound: a bare WebCrypto AES-256-GCM loop over the same number of
  64 KiB chunks (the file and its Padmé padding), read with
  ``blob.slice().arrayBuffer()`` in 1 MiB slices as the stream reads them;
- the bound's two halves apart: the slice reads alone (and with 1 MiB
  slices), and AES-GCM alone on a chunk already in memory.

Memory: the JS heap (``performance.memory`` with precise values) sampled at
every batch and every 10 ms while a 16 MiB and the full-size file are
sealed, after a forced garbage collection, and what the heap retains after
another one with the sealed Blob still held; the VmRSS of Chromium's
renderer and browser processes, read from /proc every 20 ms.

Photos: ``TipdropPhotos.clean`` on a 12-megapixel JPEG with Exif, XMP, ICC
and a comment (made with Pillow, sent once as base64), against
``tipdrop.common.photos.clean`` on the same bytes in this process; both outputs must
be the same bytes.
"""

import base64
import hashlib
import io
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import MiB, make_file, proc_status
from bench.http_load import Server

CHROMIUM = os.environ.get("TIPDROP_CHROMIUM", "/usr/bin/chromium")
# tests/browser/conftest.py's flags, and exact (not bucketed) performance.memory figures.
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-precise-memory-info",
]
SMALL = 16 * MiB
ROUNDS = 3
#: What is timed on the same File, in turns: see TipdropBench.timed.
SPEED_RUNS = ("stream", "dropped", "bound", "read", "read_1mib", "encrypt")
PHOTO_ROUNDS = 5

# The bench's side of the page. sealFile is submit.js's, with a hook to sample
# the heap at each batch (only the memory pass passes one).
PAGE_CODE = """
window.TipdropBench = (() => {
  const C = window.TipdropCrypto;
  const BATCH = 32;  // submit.js BATCH

  async function sealFile(blob, recipient, tipId, part, onBatch) {
    let sealed = new Blob([]);
    let batch = [];
    for await (const piece of C.encryptStream(blob, recipient, { tipId, part })) {
      batch.push(piece);
      if (batch.length >= BATCH) {
        if (onBatch) onBatch();
        sealed = new Blob([sealed, ...batch]);
        batch = [];
      }
    }
    return new Blob([sealed, ...batch]);
  }

  async function streamDropped(blob, recipient, tipId) {
    let n = 0;
    for await (const piece of C.encryptStream(blob, recipient, { tipId, part: "a1" })) n += piece.length;
    return n;
  }

  // As many 64 KiB chunks as the stream seals, read in 1 MiB slices as the
  // stream reads them; the ones past the data are zeros, as the stream's
  // padding chunks are. No framing, nothing kept.
  async function bound(blob) {
    const CHUNK = 64 * 1024, READ = 16 * CHUNK;
    const key = await crypto.subtle.importKey(
      "raw", crypto.getRandomValues(new Uint8Array(32)), "AES-GCM", false, ["encrypt"]);
    const chunks = Math.ceil(C.paddedLength(blob.size) / CHUNK);
    let n = 0, buffer = null, at = 0;
    for (let i = 0; i < chunks; i++) {
      const start = i * CHUNK;
      let chunk = new Uint8Array(CHUNK);
      if (start < blob.size) {
        if (buffer === null || start >= at + buffer.length) {
          buffer = new Uint8Array(await blob.slice(start, start + READ).arrayBuffer());
          at = start;
        }
        chunk = buffer.subarray(start - at, start - at + CHUNK);
      }
      const iv = new Uint8Array(12);
      new DataView(iv.buffer).setUint32(8, i);
      n += (await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, chunk)).byteLength;
    }
    return n;
  }

  // The two halves of the bound apart: reading the Blob in slices of ``piece``
  // bytes, and AES-GCM on one 64 KiB chunk already in memory, as many times.
  async function readOnly(blob, piece) {
    let n = 0;
    for (let at = 0; at < blob.size; at += piece) {
      n += (await blob.slice(at, at + piece).arrayBuffer()).byteLength;
    }
    return n;
  }

  async function encryptOnly(blob) {
    const CHUNK = 64 * 1024;
    const key = await crypto.subtle.importKey(
      "raw", crypto.getRandomValues(new Uint8Array(32)), "AES-GCM", false, ["encrypt"]);
    const chunk = crypto.getRandomValues(new Uint8Array(CHUNK));
    const chunks = Math.ceil(C.paddedLength(blob.size) / CHUNK);
    let n = 0;
    for (let i = 0; i < chunks; i++) {
      const iv = new Uint8Array(12);
      new DataView(iv.buffer).setUint32(8, i);
      n += (await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, chunk)).byteLength;
    }
    return n;
  }

  const heap = () => performance.memory.usedJSHeapSize;

  return {
    recipient: null, blob: null, sealed: null, photo: null,
    async setUp(keyIdHex, x25519Hex) {
      this.recipient = { keyId: C.hexToBytes(keyIdHex), x25519: C.hexToBytes(x25519Hex) };
    },
    // The file the reporter picked: a File from an <input>, read from disk as needed.
    pick() {
      let input = document.getElementById("bench-file");
      if (!input) {
        input = Object.assign(document.createElement("input"), { type: "file", id: "bench-file" });
        document.body.append(input);
      }
      return input;
    },
    useFile() { this.blob = this.pick().files[0]; return this.blob.size; },
    dropBlob() { this.blob = null; this.sealed = null; },
    heap,
    async timed(what) {
      const tipId = C.bytesToHex(crypto.getRandomValues(new Uint8Array(16)));
      const start = performance.now();
      let out;
      if (what === "stream") out = (await sealFile(this.blob, this.recipient, tipId, "a1")).size;
      else if (what === "dropped") out = await streamDropped(this.blob, this.recipient, tipId);
      else if (what === "bound") out = await bound(this.blob);
      else if (what === "read") out = await readOnly(this.blob, 64 * 1024);
      else if (what === "read_1mib") out = await readOnly(this.blob, 1024 * 1024);
      else out = await encryptOnly(this.blob);
      return { ms: performance.now() - start, bytes: out, expected: C.streamLength(this.blob.size) };
    },
    async memory() {
      const tipId = C.bytesToHex(crypto.getRandomValues(new Uint8Array(16)));
      const base = heap();
      let peak = base;
      const sample = () => { peak = Math.max(peak, heap()); };
      const timer = setInterval(sample, 10);
      let sealed;
      try {
        sealed = await sealFile(this.blob, this.recipient, tipId, "a1", sample);
      } finally {
        clearInterval(timer);
      }
      sample();
      this.sealed = sealed;  // held, as the form holds it until it is sent
      return { base, peak, bytes: sealed.size };
    },
    setPhoto(encoded) { this.photo = C.base64ToBytes(encoded); return this.photo.length; },
    async cleanPhoto(rounds) {
      let best = Infinity, result;
      for (let i = 0; i < rounds; i++) {
        const start = performance.now();
        result = TipdropPhotos.clean(this.photo, false);
        best = Math.min(best, performance.now() - start);
      }
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", result.data));
      return { ms: best, sha256: C.bytesToHex(digest), removed: result.removed };
    },
  };
})();
"""


class ChromiumRss(threading.Thread):
    """Peak VmRSS of the largest renderer (the page's) and of the browser process, every 20 ms.

    Chromium runs under Playwright's driver, so its processes are found among
    this process's descendants by their command line.
    """

    def __init__(self):
        super().__init__(daemon=True)
        self.peaks = {"renderer": 0.0, "browser": 0.0}
        self._done = threading.Event()

    @staticmethod
    def current():
        found = {"renderer": 0.0, "browser": 0.0}
        for pid, argv in _descendants(os.getpid()):
            # Processes forked from Chromium's zygote rewrite their command line
            # into one space-separated string.
            argv = " ".join(argv).split(" ")
            if "chrom" not in Path(argv[0]).name:
                continue
            kind = next((a.split("=", 1)[1] for a in argv if a.startswith("--type=")), "browser")
            status = proc_status(pid)
            if kind in found and status:
                found[kind] = max(found[kind], status[0])
        return found

    def run(self):
        while not self._done.is_set():
            for kind, rss in self.current().items():
                self.peaks[kind] = max(self.peaks[kind], rss)
            self._done.wait(0.02)

    def stop(self):
        self._done.set()
        self.join(timeout=10)
        return self.peaks


def _descendants(root):
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
            except OSError:
                continue
    todo, found = [root], []
    while todo:
        for child in parents.get(todo.pop(), []):
            todo.append(child)
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            found.append((child, [a.decode(errors="replace") for a in argv if a]))
    return found


def photo_12mp():
    """A 4000 x 3000 JPEG as a phone writes it: noisy pixels, Exif with GPS and serial, XMP, ICC."""
    from PIL import Image

    size = (4000, 3000)
    # Smooth light with sensor noise compresses like a real photo (a few MB at quality 90).
    light = Image.linear_gradient("L").resize(size)
    noise = Image.effect_noise(size, 12)
    image = Image.merge("RGB", (Image.blend(light, noise, 0.3), noise,
                                Image.blend(noise, light.transpose(Image.Transpose.ROTATE_180), 0.5)))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "BenchPhone", "BP-12", 1
    exif[0x0131], exif[0x0132] = "BenchOS 17.2", "2026:11:28 18:00:00"
    exif_ifd = exif.get_ifd(0x8769)
    exif_ifd[0x9003], exif_ifd[0xA431] = "2026:11:28 18:00:00", "SN-4815162342"
    exif_ifd[0xA434] = "BenchPhone back camera 4.2mm f/1.8"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (43.0, 15.0, 7.2), "E", (76.0, 54.0, 3.1)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif, comment=b"BenchPhone camera",
               icc_profile=b"\0" * 3000, xmp=b"<x:xmpmeta><dc:creator>Bench</dc:creator></x:xmpmeta>")
    return out.getvalue()


def _photo(page):
    from tipdrop.common import photos

    data = photo_12mp()
    page.evaluate("(b64) => TipdropBench.setPhoto(b64)", base64.b64encode(data).decode())
    browser = page.evaluate("(n) => TipdropBench.cleanPhoto(n)", PHOTO_ROUNDS)
    best = float("inf")
    for _ in range(PHOTO_ROUNDS):
        start = time.perf_counter()
        result = photos.clean(data, "image/jpeg", False)
        best = min(best, time.perf_counter() - start)
    if hashlib.sha256(result.data).hexdigest() != browser["sha256"]:
        raise RuntimeError("photo-clean.js and tipdrop.common.photos cleaned the photo differently")
    return {
        "browser_photo_mib": len(data) / MiB,
        "browser_photo_removed": len(result.removed),
        "browser_photo_clean_ms": browser["ms"],
        "python_photo_clean_ms": best * 1000,
        "browser_photo_clean_vs_python": browser["ms"] / (best * 1000),
    }


def _use_file(page, path):
    """Put ``path`` in the page's file input (Playwright passes the path, not the bytes)."""
    page.evaluate("() => { TipdropBench.pick(); }")
    page.set_input_files("#bench-file", str(path))
    page.evaluate("() => TipdropBench.useFile()")


def _memory(page, cdp, path):
    """Heap and RSS while the file at ``path`` is sealed into a Blob."""
    _use_file(page, path)
    cdp.send("HeapProfiler.collectGarbage")
    before = ChromiumRss.current()
    sampler = ChromiumRss()
    sampler.start()
    try:
        heap = page.evaluate("() => TipdropBench.memory()")
    finally:
        peaks = sampler.stop()
    # What stays once the garbage is gone, with the sealed Blob still held.
    cdp.send("HeapProfiler.collectGarbage")
    retained = page.evaluate("() => TipdropBench.heap()")
    page.evaluate("() => TipdropBench.dropBlob()")
    cdp.send("HeapProfiler.collectGarbage")
    return {"heap_base": heap["base"] / MiB, "heap_peak": heap["peak"] / MiB,
            "heap_retained": retained / MiB,
            "renderer_before": before["renderer"], "renderer_peak": peaks["renderer"],
            "browser_before": before["browser"], "browser_peak": peaks["browser"]}


def _speed(page, cdp, path, size):
    _use_file(page, path)
    best = {}
    for _ in range(ROUNDS):
        for what in SPEED_RUNS:
            # Free the last run's sealed Blob first: Blob memory is limited.
            cdp.send("HeapProfiler.collectGarbage")
            run = page.evaluate("(w) => TipdropBench.timed(w)", what)
            if what in ("stream", "dropped") and run["bytes"] != run["expected"]:
                raise RuntimeError(f"{what}: {run['bytes']} bytes sealed, {run['expected']} expected")
            best[what] = min(best.get(what, float("inf")), run["ms"])
    page.evaluate("() => TipdropBench.dropBlob()")
    return {what: size / 1e6 / (ms / 1000) for what, ms in best.items()}


def measure(size):
    """Figures for sealing ``size`` random bytes in Chromium, and for cleaning a photo there."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"browser_skipped": "playwright is not installed (pip install -e '.[test]')"}
    if not Path(CHROMIUM).exists():
        return {"browser_skipped": f"{CHROMIUM} is missing (Debian's chromium package)"}
    from tipdrop.crypto import keys

    server = Server(1)
    workdir = tempfile.TemporaryDirectory(prefix="tipdrop-bench-browser-")
    try:
        files = {}
        for n in (SMALL, size):
            files[n] = Path(workdir.name) / f"{n}.bin"
            make_file(files[n], n)
        unit = keys.parse_public((server.dir / "keys" / "demo.pub").read_bytes())
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                page = browser.new_context().new_page()
                page.goto(f"http://127.0.0.1:{server.port}/")
                page.add_script_tag(url="/static/js/tipdrop-crypto.js")
                page.add_script_tag(url="/static/js/photo-clean.js")
                page.evaluate(PAGE_CODE)
                page.evaluate("([k, x]) => TipdropBench.setUp(k, x)",
                              [unit.key_id.hex(), unit.x25519.public_bytes_raw().hex()])
                cdp = page.context.new_cdp_session(page)
                small = _memory(page, cdp, files[SMALL])
                large = _memory(page, cdp, files[size])
                speed = _speed(page, cdp, files[size], size)
                photo = _photo(page)
                version = browser.version
            except PlaywrightError as e:
                # A limit of the browser is a finding, not a reason to lose the other figures.
                return {"browser_size_mib": size / MiB,
                        "browser_failed": str(e.message).splitlines()[0][:300]}
            finally:
                browser.close()
    finally:
        server.stop()
        workdir.cleanup()
    result = {
        "browser_chromium": version,
        "browser_size_mib": size / MiB,
        "browser_stream_mb_s": speed["stream"],
        "browser_stream_dropped_mb_s": speed["dropped"],
        "browser_aesgcm_bound_mb_s": speed["bound"],
        "browser_stream_vs_bound": speed["stream"] / speed["bound"],
        "browser_blob_read_64kib_mb_s": speed["read"],
        "browser_blob_read_1mib_mb_s": speed["read_1mib"],
        "browser_aesgcm_in_memory_mb_s": speed["encrypt"],
    }
    for name, m in (("16mib", small), ("large", large)):
        result |= {
            f"browser_heap_base_mib_{name}": m["heap_base"],
            f"browser_heap_peak_mib_{name}": m["heap_peak"],
            f"browser_heap_retained_mib_{name}": m["heap_retained"],
            f"browser_renderer_rss_before_mib_{name}": m["renderer_before"],
            f"browser_renderer_peak_rss_mib_{name}": m["renderer_peak"],
            f"browser_process_rss_before_mib_{name}": m["browser_before"],
            f"browser_process_peak_rss_mib_{name}": m["browser_peak"],
        }
    return result | photo


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) * MiB if len(sys.argv) > 1 else 64 * MiB), indent=2))
