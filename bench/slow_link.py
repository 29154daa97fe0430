"""The submit page with JavaScript, on a phone's 3G link: first render, receipts, drops.

``python -m bench.slow_link`` (the figures in bench/RESULTS.md; about 15
minutes: the link is slow on purpose); ``--size-mb`` sets the attachment.
Not run by ``bench.run``: it takes a browser and many minutes of wall clock.

A real ``tipdrop serve`` (bench/http_load.Server, 2 workers, default
settings: TIPDROP_READ_TIMEOUT 20 s) and Debian's headless Chromium driven
by Playwright, with the flags of tests/browser/conftest.py. The link is
Chromium's own network emulation (the DevTools protocol's
``Network.emulateNetworkConditions``, the profiles in PROFILES: latency
added to every request, the throughput of each direction), so it slows
what the page really loads and sends, upload progress included. Between
the browser and the server sits a TCP relay written here (Relay): it
counts the bytes that reach the server and can hold the link still
without closing it (a "stall": a radio fade, where nothing comes back,
no reset, no error), which the emulation cannot. A "drop" is the
emulation going offline: the requests on their way fail at once, as a
phone's do when it loses its network.

Measured:

- the submit page's first render: every request it makes, its bytes on
  the wire and its bytes once decoded, what gzip -6 would make of each
  (nginx's gzip is off for everything tipdrop answers, docs/deploy.md),
  the first contentful paint and the load event;
- the time from pressing "Send" to the receipt page, for a report of text
  only and for one with an attachment of random bytes (a video does not
  compress, and it is sealed anyway);
- the same upload with a drop or a stall part-way: whether the report is
  stored once and the receipt shown, the bytes that reached the server
  against the sealed size (what was sent again), what the page said
  meanwhile, and what its "time left" said against the time it took.
"""

import argparse
import gzip
import http.client
import json
import os
import re
import socket
import sqlite3
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path

from bench.http_load import Server

try:
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # pragma: no cover
    PlaywrightError = Exception

CHROMIUM = os.environ.get("TIPDROP_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: name: (latency ms, down bytes/s, up bytes/s), as Chromium DevTools' presets.
PROFILES = {
    "3G": (100, 750_000 // 8, 250_000 // 8),
    "2G": (300, 250_000 // 8, 50_000 // 8),
}
SLICE = 16 * 1024


class Relay:
    """A TCP relay to 127.0.0.1:``target`` that counts the bytes going up and can stall."""

    def __init__(self, target):
        self.target = target
        self.up_bytes = 0
        self._going = threading.Event()
        self._going.set()
        self._listener = socket.socket()
        # A phone's socket buffers, not loopback's: a stalled link fills them soon.
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self, seconds):
        """Hold every byte both ways for ``seconds``, closing nothing."""
        self._going.clear()
        threading.Timer(seconds, self._going.set).start()

    def close(self):
        self._closed = True
        self._going.set()
        self._listener.close()

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client):
        self._going.wait()
        try:
            server = socket.create_connection(("127.0.0.1", self.target))
            server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src, dst, up):
        try:
            while True:
                self._going.wait()
                data = src.recv(SLICE)
                if not data:
                    break
                self._going.wait()
                dst.sendall(data)
                if up:
                    self.up_bytes += len(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


def _emulate(context, page, profile, offline=False):
    latency, down, up = PROFILES[profile]
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    conditions = {"offline": offline, "latency": latency, "downloadThroughput": down,
                  "uploadThroughput": up}
    cdp.send("Network.emulateNetworkConditions", conditions)
    return cdp, conditions


def first_render(browser, base, profile):
    """Every request of a first load of /submit over ``profile``, and when it painted."""
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    cdp, _ = _emulate(context, page, profile)
    urls, wire = {}, {}
    cdp.on("Network.responseReceived", lambda e: urls.__setitem__(e["requestId"], e["response"]["url"]))
    cdp.on("Network.loadingFinished",
           lambda e: wire.__setitem__(e["requestId"], e["encodedDataLength"]))
    started = time.monotonic()
    page.goto(f"{base}/submit?lang=en", wait_until="load")
    loaded = time.monotonic() - started
    page.wait_for_timeout(500)
    timing = page.evaluate("""() => {
      const paint = performance.getEntriesByName('first-contentful-paint')[0];
      const nav = performance.getEntriesByType('navigation')[0];
      return { fcp: paint ? paint.startTime : null, dcl: nav.domContentLoadedEventEnd,
               load: nav.loadEventEnd };
    }""")
    requests = []
    for request_id, url in urls.items():
        body = _fetch(url)
        requests.append({"url": url.split("?")[0].replace(base, ""), "wire": wire.get(request_id, 0),
                         "body": len(body), "gzip": len(gzip.compress(body, 6))})
    context.close()
    return {"profile": profile, "requests": requests, "fcp_ms": timing["fcp"],
            "dcl_ms": timing["dcl"], "load_ms": timing["load"], "goto_s": loaded}


def _fetch(url):
    match = re.match(r"http://127\.0\.0\.1:([0-9]+)(/.*)", url)
    conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=30)
    try:
        conn.request("GET", match.group(2))
        return conn.getresponse().read()
    finally:
        conn.close()


def _tips(server):
    with closing(sqlite3.connect(server.dir / "data" / "tipdrop.db")) as db:
        return db.execute("SELECT COUNT(*) FROM tips").fetchone()[0]


def _state(page):
    return page.evaluate("""() => ({ url: location.pathname,
      bar: (document.getElementById('send-progress-bar') || {}).value,
      text: (document.getElementById('send-progress-text') || {}).textContent,
      status: (document.getElementById('form-status') || {}).textContent })""")


def send_report(browser, server, relay, profile, attachment=None, trouble=None, at=0.4,
                seconds=0.0):
    """Fill and send a report over ``profile``; ``trouble`` ("drop" or "stall") for
    ``seconds`` once the progress bar passes ``at``. What the page showed, and how it ended."""
    base = f"http://127.0.0.1:{relay.port}"
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(f"{base}/submit?lang=en")
    page.wait_for_function("() => document.getElementById('protection').dataset.encryptedOn"
                           " === 'device'")
    page.select_option("#region", "astana")
    page.select_option("#category", "corruption")
    page.fill("#description", "Sent over a bad link")
    if attachment:
        page.set_input_files("#files", [str(attachment)])
    tips_before = _tips(server)
    cdp, conditions = _emulate(context, page, profile)
    up_before = relay.up_bytes
    pressed = time.monotonic()
    page.click("#report-form button[type=submit]")
    samples = []
    troubled = restored = None
    while time.monotonic() - pressed < 1800:
        if "/receipt/" in page.url:
            break
        try:
            state = _state(page)
        except PlaywrightError:  # the receipt page is opening
            page.wait_for_timeout(100)
            continue
        now = time.monotonic() - pressed
        if state["url"].startswith("/receipt/"):
            break
        samples.append((now, state))
        sending = (state["text"] or "").startswith("Sending")
        if trouble and troubled is None and sending and state["bar"] / 1000 >= at:
            troubled = now
            if trouble == "drop":
                cdp.send("Network.emulateNetworkConditions", conditions | {"offline": True})
            else:
                relay.stall(seconds)
        if trouble == "drop" and troubled is not None and restored is None \
                and now - troubled >= seconds:
            cdp.send("Network.emulateNetworkConditions", conditions)
            restored = now
        if re.search(r"not sent|failed|was not", state["status"] or ""):
            break  # given up: the page says so and waits for the reporter
        page.wait_for_timeout(250)
    took = time.monotonic() - pressed
    receipt = "/receipt/" in page.url
    ended = page.evaluate("() => (document.getElementById('form-status') || {}).textContent || ''")
    context.close()
    return {"profile": profile, "trouble": trouble, "seconds": seconds, "took_s": took,
            "receipt": receipt, "final_status": ended,
            "stored": _tips(server) - tips_before, "up_bytes": relay.up_bytes - up_before,
            "troubled_at": troubled, "samples": samples}


def summarise_upload(result, sealed_guess):
    """The figures of one upload: what the page said, and how far its guesses were."""
    samples = result["samples"]
    said = sorted({s["status"] for _, s in samples if s["status"]})
    # "about N s left" / "about N min left" against the time really left
    guesses = []
    for when, state in samples:
        match = re.search(r"about ([0-9]+) (s|min) left", state["text"] or "")
        if match:
            left = int(match.group(1)) * (60 if match.group(2) == "min" else 1)
            guesses.append((round(when), left, round(result["took_s"] - when)))
    backwards = sum(1 for (_, a), (_, b) in zip(samples, samples[1:], strict=False)
                    if (b["text"] or "").startswith("Sending") and (a["text"] or "").startswith("Sending")
                    and b["bar"] < a["bar"])
    # The longest time the bar moved on while no byte reached the server is not
    # visible from here; what is: the longest time the bar stood still.
    still, longest, last_bar, since = 0.0, 0.0, None, 0.0
    for when, state in samples:
        if state["bar"] != last_bar:
            last_bar, since = state["bar"], when
        still = when - since
        longest = max(longest, still)
    return {"said": said, "guesses": guesses[:: max(1, len(guesses) // 6)],
            "bar_went_back": backwards, "bar_still_longest_s": round(longest, 1),
            "resent_share": max(0.0, result["up_bytes"] / sealed_guess - 1)}


def measure(size_mb=5, profiles=("3G", "2G"), troubles=(("drop", 15), ("stall", 10),
                                                       ("stall", 45)), slow=(("2G", 1),)):
    """Every figure of section(); ``slow``: (profile, MB) of more uploads without trouble."""
    server = Server(2)
    relay = Relay(server.port)
    results = {"renders": [], "uploads": []}
    folder = Path(tempfile.mkdtemp(prefix="tipdrop-bench-slow-"))
    video = folder / "clip.mp4"
    video.write_bytes(os.urandom(size_mb * 1_000_000))
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            base = f"http://127.0.0.1:{relay.port}"
            for profile in profiles:
                results["renders"].append(first_render(browser, base, profile))
                results["uploads"].append(send_report(browser, server, relay, profile))
            plain = send_report(browser, server, relay, "3G", video)
            results["uploads"].append(plain)
            sealed = plain["up_bytes"]
            for trouble, seconds in troubles:
                results["uploads"].append(send_report(browser, server, relay, "3G", video,
                                                      trouble, 0.4, seconds))
            for profile, megabytes in slow:
                small = folder / f"clip-{megabytes}.mp4"
                small.write_bytes(os.urandom(megabytes * 1_000_000))
                results["uploads"].append(send_report(browser, server, relay, profile, small)
                                          | {"alone": True})
                small.unlink()
            for upload in results["uploads"]:
                upload["summary"] = summarise_upload(upload, max(1, sealed))
                upload.pop("samples")
            browser.close()
    finally:
        relay.close()
        server.stop()
        video.unlink()
        folder.rmdir()
    results["size_mb"] = size_mb
    return results


def section(r):
    """bench/RESULTS.md's lines for these figures."""
    lines = ["## The submit page on a phone's 3G link (JavaScript on)", "",
             "`python -m bench.slow_link` (not part of `make bench`: a browser and about 15 "
             "minutes). Headless Chromium with its own network emulation (DevTools "
             "`Network.emulateNetworkConditions`): " + "; ".join(
                 f"{name} {lat} ms, {down * 8 // 1000} kbit/s down, {up * 8 // 1000} kbit/s up"
                 for name, (lat, down, up) in PROFILES.items())
             + ". A real `tipdrop serve` (2 workers, default settings) behind a relay that "
             "counts what reaches it.", "",
             "| first load of /submit | requests | bytes on the wire | decoded | gzip -6 of each "
             "| first contentful paint | load event |", "|---|---|---|---|---|---|---|"]
    for render in r["renders"]:
        reqs = render["requests"]
        lines.append(f"| {render['profile']} | {len(reqs)} | {sum(q['wire'] for q in reqs):,} | "
                     f"{sum(q['body'] for q in reqs):,} | {sum(q['gzip'] for q in reqs):,} | "
                     f"{render['fcp_ms'] / 1000:.1f} s | {render['load_ms'] / 1000:.1f} s |")
    render = r["renders"][0] if r["renders"] else {"profile": "-", "requests": []}
    lines += ["", "Per request (" + render["profile"] + "): " + ", ".join(
        f"`{q['url']}` {q['wire']:,} on the wire ({q['body']:,} decoded)"
        for q in render["requests"]) + ".", "",
        "| report (attachments of random bytes; bytes sealed) | time to the receipt "
        "page | reports stored | bytes up / the uninterrupted upload's | bar went back "
        "| what the page said |", "|---|---|---|---|---|---|"]
    for upload in r["uploads"]:
        mb = round(upload["up_bytes"] / 1e6) if upload.get("alone") else r["size_mb"]
        what = "text only" if upload["up_bytes"] < 100_000 else (
            f"{mb} MB attachment" if not upload["trouble"] else
            f"{mb} MB attachment, {upload['trouble']} of {upload['seconds']} s at 40 %")
        summary = upload["summary"]
        said = "; ".join(s.split(".")[0] for s in summary["said"])
        share = ("" if upload["up_bytes"] < 100_000 or upload.get("alone")
                 else f"{1 + summary['resent_share']:.2f}")
        lines.append(f"| {upload['profile']}, {what} | "
                     f"{upload['took_s']:.1f} s{'' if upload['receipt'] else ' (no receipt)'} | "
                     f"{upload['stored']} | {share} | {summary['bar_went_back']} | {said} |")
    lines.append("")
    for upload in r["uploads"]:
        if upload["summary"]["guesses"]:
            guesses = ", ".join(f"at {at} s: said {said} s, was {real} s"
                                for at, said, real in upload["summary"]["guesses"])
            lines.append(f"- time left, {upload['profile']}, {upload['trouble'] or 'no trouble'}"
                         f"{' ' + str(upload['seconds']) + ' s' if upload['trouble'] else ''}: "
                         f"{guesses}")
    return lines + [""]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    results = measure(args.size_mb)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print("\n".join(section(results)))


if __name__ == "__main__":
    main()
