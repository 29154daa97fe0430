"""A device-sealed report sent in resumable pieces over an emulated 3G link, with drops.

``python -m bench.resume_3g --size-mb 200`` (the figure in bench/RESULTS.md);
``make bench-quick`` runs it at 4 MB, ``make bench`` at 200 MB.

A real ``tipdrop serve`` (bench/http_load.Server) sits behind a throttling
TCP proxy written here: one shared uplink of UP_BPS bits per second and a
downlink of DOWN_BPS, each request's first bytes held back half a round
trip (RTT) each way. Two uploads of the same size run side by side, each
through its own link (the link is emulated, so they do not slow each other;
the server's CPU is shared and barely used at these rates): one
uninterrupted, and one whose link drops every connection (RST) half-way
through the pieces at 25 %, 50 % and 75 % of the upload (each cut costs
half a piece, what a drop costs on average), then refuses connections for
OUTAGE seconds. Both use the reference client (tipdrop/reporter/resumable.py),
which waits, asks where to resume and goes on. What is read: the time with
drops against the time without, and the bytes the drops cost (pieces cut
off and sent again).

The report is sealed into a temporary file with tipdrop.protocol.device
before the clock starts.
"""

import argparse
import json
import os
import socket
import struct
import tempfile
import threading
import time
from pathlib import Path

from bench import sealed_upload
from bench.common import MiB
from bench.http_load import Server
from tipdrop.protocol import uploads

UP_BPS = 1_500_000
DOWN_BPS = 3_000_000
RTT = 0.3
OUTAGE = 3.0
SLICE = 16 * 1024


class Link:
    """A throttling TCP proxy to 127.0.0.1:``target`` that can drop every connection."""

    def __init__(self, target, drops=()):
        self.target = target
        #: Piece numbers to cut off half-way through, once each.
        self.drops = set(drops)
        self._armed = None
        self.up_bytes = 0
        self.drop_count = 0
        self._lock = threading.Lock()
        self._free = {"up": 0.0, "down": 0.0}
        self._outage_until = 0.0
        self._open = set()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self._closed = True
        self._listener.close()
        self._drop_all()

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._outage_until:
                _reset(client)
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._open.update((client, server))
            threading.Thread(target=self._pump, args=(client, server, "up"), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, "down"), daemon=True).start()

    def _wait_for_link(self, direction, n):
        """Serialise the direction's bytes at its rate (one shared link, as a radio's)."""
        rate = (UP_BPS if direction == "up" else DOWN_BPS) / 8
        with self._lock:
            start = max(time.monotonic(), self._free[direction])
            self._free[direction] = start + n / rate
            done = self._free[direction]
        time.sleep(max(0.0, done - time.monotonic()))

    def _pump(self, src, dst, direction):
        idle_since = 0.0
        try:
            while True:
                data = src.recv(SLICE)
                if not data:
                    break
                if time.monotonic() - idle_since > RTT:
                    time.sleep(RTT / 2)  # the first bytes after a pause: half a round trip
                self._wait_for_link(direction, len(data))
                dst.sendall(data)
                idle_since = time.monotonic()
                if direction == "up":
                    self._count_up(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                _close(sock)

    def _count_up(self, data):
        """Count bytes gone up; cut every connection half-way through a chosen piece."""
        with self._lock:
            self.up_bytes += len(data)
            at = data.find(b"PUT /api/v1/uploads/pieces/")
            if at >= 0:
                index = int(data[at + 27:].split(b"?")[0].split(b" ")[0])
                if index in self.drops:
                    self.drops.discard(index)
                    self._armed = self.up_bytes - len(data) + at + uploads.PIECE_BYTES // 2
            due = self._armed is not None and self.up_bytes >= self._armed
            if due:
                self._armed = None
                self.drop_count += 1
                self._outage_until = time.monotonic() + OUTAGE
        if due:
            self._drop_all()

    def _drop_all(self):
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _reset(sock)


def _reset(sock):
    """Close with RST, as a lost radio link looks to the other end."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    _close(sock)


def _close(sock):
    try:
        sock.close()
    except OSError:
        pass


def _sealed_body(recipient, size, workdir):
    """A sealed one-file report as one body file: (begin request, path)."""
    report = sealed_upload.seal(recipient, os.urandom(4 * MiB), size, workdir)
    from tipdrop.protocol import device, documents

    doc = documents.report_document(tip_id=report.tip_id, region="astana", category="drugs",
                                 description="A video of the sale, filmed from the window.",
                                 parts=["a1"])
    info = documents.attachment_info_document(name="clip.mp4", content_type="video/mp4", size=size)
    tip = device.seal_report(doc, recipient, report.tip_id)
    info_env = device.seal_attachment_info(info, recipient, report.tip_id, "a1")
    path = Path(workdir) / f"{report.tip_id}.body"
    with open(path, "wb") as out, open(report.stream_path, "rb") as stream:
        out.write(tip + info_env)
        while block := stream.read(4 * MiB):
            out.write(block)
    report.stream_path.unlink()
    request = {"region": "astana", "category": "drugs", "tip_id": report.tip_id,
               "parts": [["tip", len(tip)], ["a1-info", len(info_env)], ["a1", report.stream_size]]}
    return request, path


def _run(server, request, path, drops):
    from tipdrop.reporter.resumable import ResumableUpload

    link = Link(server.port, drops)
    upload = ResumableUpload("127.0.0.1", link.port, request, timeout=60, pause=1.0)
    start = time.monotonic()
    with open(path, "rb") as body:
        answer = upload.send(body)
    seconds = time.monotonic() - start
    link.close()
    assert answer.get("encrypted_on") == "device", answer
    return {"seconds": seconds, "up_bytes": link.up_bytes, "drops": link.drop_count,
            "interruptions": upload.interruptions}


def measure(size):
    """Uninterrupted and thrice-dropped uploads of ``size`` bytes, side by side."""
    server = Server(2, {"TIPDROP_MAX_UPLOAD_MB": str(size // MiB + 16)})
    try:
        recipient = sealed_upload.recipient_of(server)
        with tempfile.TemporaryDirectory(prefix="tipdrop-bench-3g-") as workdir:
            plain = _sealed_body(recipient, size, workdir)
            dropped = _sealed_body(recipient, size, workdir)
            total = Path(dropped[1]).stat().st_size
            # Half-way through the pieces under way at 25, 50 and 75 %: each drop then
            # costs half a piece (one just after a piece ends would cost nothing).
            count = uploads.piece_count(total)
            drops = [count * q // 4 for q in (1, 2, 3)]
            results = {}
            threads = [threading.Thread(target=lambda k, a, d: results.__setitem__(k, _run(server, *a, d)),
                                        args=(name, args, d))
                       for name, args, d in (("plain", plain, ()), ("dropped", dropped, drops))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        server.stop()
    plain, dropped = results["plain"], results["dropped"]
    return {
        "resume_3g_size_mb": size / 1e6,
        "resume_3g_body_bytes": total,
        "resume_3g_link": f"{UP_BPS / 1e6:g} Mbit/s up, {DOWN_BPS / 1e6:g} Mbit/s down, "
                          f"{RTT * 1000:g} ms RTT, {OUTAGE:g} s outage per drop",
        "resume_3g_plain_s": plain["seconds"],
        "resume_3g_dropped_s": dropped["seconds"],
        "resume_3g_drops": dropped["drops"],
        "resume_3g_time_ratio": dropped["seconds"] / plain["seconds"],
        "resume_3g_resent_mb": (dropped["up_bytes"] - plain["up_bytes"]) / 1e6,
        "resume_3g_interruptions": dropped["interruptions"],
    }


def section(r):
    """The RESULTS.md section (bench/run.py)."""
    if "resume_3g_plain_s" not in r:
        return []
    return [
        f"## Resumable upload over emulated 3G with 3 drops ({r['resume_3g_size_mb']:,.0f} MB)",
        "",
        f"Link: {r['resume_3g_link']} (bench/resume_3g.py: a throttling TCP proxy in front "
        "of the real server). The same sealed report size twice, side by side: once "
        "uninterrupted, once with every connection reset half-way through the piece at 25, 50 and 75 % of the upload; "
        "the reference client (tipdrop/reporter/resumable.py) resumes each time from the last "
        "piece the server holds.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| uninterrupted | {r['resume_3g_plain_s']:,.0f} s |",
        f"| with {r['resume_3g_drops']} drops | {r['resume_3g_dropped_s']:,.0f} s |",
        f"| time with drops / without | {r['resume_3g_time_ratio']:.3f} |",
        f"| bytes sent again (cut-off pieces) | {r['resume_3g_resent_mb']:,.1f} MB |",
        f"| times the client waited and resumed | {r['resume_3g_interruptions']} |",
        "",
        "Each drop costs the outage, a round trip or two to ask where to resume, and at most "
        "one piece (1 MiB) sent again; without resuming, each drop would cost everything sent "
        "so far.",
        "",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=200)
    args = parser.parse_args()
    result = measure(args.size_mb * 1_000_000)
    print(json.dumps(result, indent=2))
    print("\n".join(section(result)))


if __name__ == "__main__":
    main()
