"""A report sealed on the reporter's device, uploaded to ``POST /api/v1/sealed-tips``.

The same file as bench/upload.py's (its repeated random block, labelled
video/mp4) is sealed with tipdrop.protocol.device, as the reference client and the
browser do, into a temporary file *before* the clock starts: the report
envelope, the attachment-info envelope and the attachment stream, all bound
to a fresh tip id. Only the HTTP upload is timed, streamed from that file
(mapped, from the page cache) in the part order the browser
sends: fields, ``tip``, ``a1-info``, ``a1``. The server checks the framing
and the key ids without any key, writes and fsyncs the stream: no
encryption. upload.measure runs these uploads in turns with its own, on the
same server, and sets them against the same sink bound.

The stream is Padmé-padded, so a few percent more bytes go over the wire
than the file holds: MB/s here counts the bytes of the sealed stream, the
work the server does; the time to deliver the same file is given as well.
"""

import io
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

from bench.common import measured_upload, post_streamed

BOUNDARY = "tipdropbenchsealed5e1a"
READ_BLOCK = 4 * 1024 * 1024
TIMEOUT = 120


class _Repeated(io.RawIOBase):
    """``size`` bytes of ``block`` repeated, read without holding them all."""

    def __init__(self, block, size):
        self.block, self.left, self.at = memoryview(block), size, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self.left, len(self.block) - self.at)
        buffer[:n] = self.block[self.at:self.at + n]
        self.at = (self.at + n) % len(self.block)
        self.left -= n
        return n


@dataclass(frozen=True)
class SealedReport:
    """A device-sealed report on disk, ready to send: multipart head, stream file, tail."""

    tip_id: str
    plaintext_size: int
    head: bytes
    stream_path: Path
    stream_size: int
    tail: bytes

    @property
    def length(self):
        return len(self.head) + self.stream_size + len(self.tail)


def recipient_of(server):
    """The unit key of bench/http_load.Server's throwaway demo unit."""
    from tipdrop.crypto import keys

    return keys.parse_public((server.dir / "keys" / "demo.pub").read_bytes()).recipient


def seal(recipient, block, size, workdir):
    """Seal ``size`` bytes of ``block`` repeated as a one-attachment report, as a device would."""
    from tipdrop.protocol import device, documents

    tip_id = device.new_tip_id()
    path = Path(workdir) / f"{tip_id}.stream"
    with open(path, "wb") as out:
        device.encrypt_attachment(_Repeated(block, size), out, recipient, tip_id, "a1")
    report = documents.report_document(
        tip_id=tip_id, region="astana", category="drugs",
        description="A video of the sale, filmed from the window.", parts=["a1"])
    info = documents.attachment_info_document(name="clip.mp4", content_type="video/mp4", size=size)
    head = b"".join(
        [_field(name, value) for name, value in
         (("region", "astana"), ("category", "drugs"), ("tip_id", tip_id))]
        + [_file_head("tip", "tip") + device.seal_report(report, recipient, tip_id) + b"\r\n",
           _file_head("a1-info", "info")
           + device.seal_attachment_info(info, recipient, tip_id, "a1") + b"\r\n",
           _file_head("a1", "stream")])
    return SealedReport(tip_id=tip_id, plaintext_size=size, head=head, stream_path=path,
                        stream_size=path.stat().st_size, tail=f"\r\n--{BOUNDARY}--\r\n".encode())


def _field(name, value):
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n").encode()


def _file_head(name, filename):
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n').encode()


def upload(port, report):
    """POST ``report``, streamed from its file; return status and seconds.

    The file is mapped and its pages faulted in before the clock starts, and
    sent from the mapping in 4 MiB views: reading it piece by piece during
    the upload cost this client, on the same two cores as the server, more
    than bench/upload.py's client pays to send views of its one block, and
    made the sealed upload look slower than the server-encrypted one while
    the server's CPU for it was lower (bench/RESULTS.md, "A report sealed on the
    device").
    """
    with open(report.stream_path, "rb") as f, mmap.mmap(
            f.fileno(), 0, prot=mmap.PROT_READ,
            flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)) as mapped:

        def body():
            yield report.head
            with memoryview(mapped) as view:
                for start in range(0, len(view), READ_BLOCK):
                    yield view[start:start + READ_BLOCK]
            yield report.tail

        return post_streamed(port, "/api/v1/sealed-tips",
                             f"multipart/form-data; boundary={BOUNDARY}", body(), report.length,
                             timeout=TIMEOUT)


def measured(server, report):
    """One sealed upload with memory sampling; the report's stream file is removed after."""
    try:
        return measured_upload(server, lambda: upload(server.port, report), report.stream_size)
    finally:
        report.stream_path.unlink(missing_ok=True)


def in_process(size, rounds=5):
    """The server's own work for both paths, without HTTP: the Flask test client, one process.

    Over HTTP the client shares the two cores with gunicorn and the sealed
    client streams its file from disk, so those figures mix client and
    server. Here the same ``size`` bytes go through ``POST /api/v1/tips``
    (the server encrypts) and, sealed beforehand, ``POST /api/v1/sealed-tips``
    (the server only checks framing and writes), in turns. Each body is
    encoded before the clock starts, so only the app's work is timed: its
    wall-clock time and the CPU time of the whole process (the request's
    thread and the thread storing the ciphertext, attachments.BlobWriter).
    A ratio is the median over the ``rounds`` of that round's pair.
    """
    import json
    import statistics
    import tempfile
    import time

    from werkzeug.test import EnvironBuilder

    from tipdrop.crypto import kdf, keys
    from tipdrop.server.web import create_app
    from tipdrop.server.web.ratelimit import remove_shared

    with tempfile.TemporaryDirectory(prefix="tipdrop-bench-inproc-") as tmp:
        tmp = Path(tmp)
        unit = keys.generate("demo")
        (tmp / "keys").mkdir()
        (tmp / "keys" / "demo.pub").write_bytes(unit.public.to_json())
        (tmp / "keys" / "routing.json").write_text(
            json.dumps({"version": 1, "regions": {"astana": "demo"}}))
        app = create_app({"data_dir": tmp / "data", "keys_dir": tmp / "keys",
                          "receipt_params": kdf.TEST_PARAMS,
                          "max_upload_mb": size // (1024 * 1024) + 64})
        client = app.test_client()
        data = os.urandom(1 << 20) * (size >> 20)
        wall = {"server": [], "device": []}
        cpu = {"server": [], "device": []}
        for _ in range(rounds):
            forms = {
                "server": ("/api/v1/tips", {"region": "astana", "category": "drugs",
                                            "description": "x",
                                            "files": (io.BytesIO(data), "v.mp4", "video/mp4")}),
                "device": ("/api/v1/sealed-tips", _sealed_form(unit.public.recipient, data)),
            }
            # Each goes first in every other round: the one after another
            # pays the checkpoint of the other's WAL pages.
            for name, (url, form) in (forms.items() if len(wall["server"]) % 2 else
                                      reversed(forms.items())):
                built = EnvironBuilder(method="POST", data=form).get_environ()
                body = built["wsgi.input"].read()
                content_type = built["CONTENT_TYPE"]
                start, cpu_start = time.perf_counter(), time.process_time()
                answer = client.post(url, data=body, content_type=content_type)
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - cpu_start)
                if answer.status_code != 201:
                    raise RuntimeError(f"{url}: HTTP {answer.status_code}")
                del body
        remove_shared(app.config["TIPDROP"].runtime_dir, tmp / "data")  # the RAM counts
    return {
        "inproc_server_mb_s": size / statistics.median(wall["server"]) / 1e6,
        "inproc_sealed_mb_s": size / statistics.median(wall["device"]) / 1e6,
        "inproc_sealed_vs_server": statistics.median(
            s / d for s, d in zip(wall["server"], wall["device"], strict=True)),
        "inproc_sealed_vs_server_cpu": statistics.median(
            d / s for s, d in zip(cpu["server"], cpu["device"], strict=True)),
        "inproc_rounds": rounds,
    }


def _sealed_form(recipient, data):
    from tipdrop.protocol import device, documents

    tip_id = device.new_tip_id()
    out = io.BytesIO()
    device.encrypt_attachment(io.BytesIO(data), out, recipient, tip_id, "a1")
    report = documents.report_document(tip_id=tip_id, region="astana", category="drugs",
                                    description="x", parts=["a1"])
    info = documents.attachment_info_document(name="v.mp4", content_type="video/mp4",
                                           size=len(data))
    return {"region": "astana", "category": "drugs", "tip_id": tip_id,
            "tip": (io.BytesIO(device.seal_report(report, recipient, tip_id)), "tip"),
            "a1-info": (io.BytesIO(device.seal_attachment_info(info, recipient, tip_id, "a1")),
                        "info"),
            "a1": (io.BytesIO(out.getvalue()), "stream")}
