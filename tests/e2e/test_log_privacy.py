"""The server's log names no client and stays short, whatever a client sends.

A real ``tipdrop serve`` (gunicorn) receives malformed requests of every kind
gunicorn refuses (bad request line, bad and huge headers, too many headers,
invalid chunked encoding, an unknown HTTP version ...) and a few the app
answers, from a loopback address no other test uses, each carrying a canary
user agent and a receipt-looking code; the whole log is then searched for
the address, the canary and the code. Refused requests must still be
logged (the positive control: the test fails if logging were simply off).

Then photos whose Exif makes Pillow warn (a tag past the block's end,
thousands of 4 GiB entries) are submitted: the log gains no line at all, as
a line's time stamp would date the report.
"""

import re
import socket
import struct
import time

import pytest

from tests.samples import photo_with_metadata
from tests.serving import multipart
from tipdrop.protocol import receipts

pytestmark = pytest.mark.e2e

SOURCE = "127.0.0.77"
CANARY = "CanaryAgent/9.1 (log-test; KZ)"
RECEIPT = receipts.generate().formatted


def _raw(server, payload):
    """Send ``payload`` as is from SOURCE; return what came back (or b"" if cut)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=20,
                                  source_address=(SOURCE, 0)) as sock:
        sock.sendall(payload)
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
    return b"".join(chunks)


def _malformed():
    ua, code = CANARY, RECEIPT
    head = f"Host: x\r\nUser-Agent: {ua}\r\nX-Receipt: {code}\r\n"
    return {
        "garbage request line": f"{code} {ua}\r\n{head}\r\n",
        "bad method": f"G@T /check?receipt={code} HTTP/1.1\r\n{head}\r\n",
        "bad HTTP version": f"GET /check?receipt={code} HTTP/9.9\r\n{head}\r\n",
        "header without colon": f"GET /?r={code} HTTP/1.1\r\n{head}{ua} {code}\r\n\r\n",
        "bad header name": f"GET / HTTP/1.1\r\n{head}Bad\x01Name{code}: {ua}\r\n\r\n",
        "huge header": f"GET / HTTP/1.1\r\n{head}X-Big: {code} {ua} {'A' * 20000}\r\n\r\n",
        "too many headers": f"GET / HTTP/1.1\r\n{head}" + "".join(
            f"X-{n}: {code} {ua}\r\n" for n in range(200)) + "\r\n",
        "huge request line": f"GET /check?receipt={code}{'B' * 9000} HTTP/1.1\r\n{head}\r\n",
        "invalid chunk size": (f"POST /api/v1/tips HTTP/1.1\r\n{head}Content-Type: "
                               f"application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                               f"{code}\r\n{ua}\r\n0\r\n\r\n"),
        "chunk without terminator": (f"POST /submit HTTP/1.1\r\n{head}Transfer-Encoding: "
                                     f"chunked\r\n\r\n5\r\n{code[:5]}XX{ua}\r\n0\r\n\r\n"),
        "two content lengths": (f"POST /api/v1/check HTTP/1.1\r\n{head}Content-Length: 3\r\n"
                                f"Content-Length: 4\r\n\r\nabcd"),
        "negative content length": (f"POST /api/v1/check HTTP/1.1\r\n{head}"
                                    f"Content-Length: -1\r\n\r\n{code}"),
        "NUL in the path": f"GET /check\x00{code} HTTP/1.1\r\n{head}\r\n",
        "non-ASCII header": (f"GET / HTTP/1.1\r\n{head}X-Name: {code} \xff\xfe{ua}\r\n\r\n"),
        "missing static file": f"GET /static/{code}.js HTTP/1.1\r\n{head}\r\n",
        "missing static file, canary name": f"GET /static/{ua[:11]}.js HTTP/1.1\r\n{head}\r\n",
        "receipt in a page's address": f"GET /check?receipt={code} HTTP/1.1\r\n{head}\r\n",
        "lone surrogate in JSON": (f"POST /api/v1/check HTTP/1.1\r\n{head}Content-Type: "
                                   f"application/json\r\nContent-Length: 40\r\n\r\n"
                                   + '{"receipt": "\\ud800' + code[:20] + '"}'),
    }


def test_no_address_user_agent_or_receipt_reaches_the_log_whatever_the_request(server):
    # Given a server that has logged nothing yet about any client
    # When malformed and odd requests arrive from one address, with a canary agent and a code
    answers = {name: _raw(server, payload.encode("latin-1"))
               for name, payload in _malformed().items()}
    assert any(a.startswith(b"HTTP/1.1 400") for a in answers.values()), answers
    time.sleep(1.0)  # let the workers' log lines reach the file
    server.stop()
    log = server.log_path.read_bytes()

    # Then the refusals are in the log (logging works) ...
    assert len(re.findall(rb"(?i)invalid request", log)) >= 5, log[-2000:]
    # ... and nothing names the client or carries what it sent
    for needle in (SOURCE, CANARY, "CanaryAgent", RECEIPT, RECEIPT.replace("-", ""),
                   RECEIPT[:9]):
        assert needle.encode() not in log, f"{needle!r} is in the log:\n{log.decode(errors='replace')[-3000:]}"
    assert b"Traceback" not in log
    # ... while each refusal names its kind in the server's own words, not masked as a receipt
    refusals = [line for line in log.splitlines() if b"Invalid request refused" in line]
    assert any(line.endswith(b"refused with 400: InvalidRequestMethod") for line in refusals)
    assert not [line for line in refusals if b"[masked]" in line], refusals


def _exif_bomb(entries=5000):
    """A big-endian TIFF block whose IFD0 lists ``entries`` tags of 4 GiB of BYTEs each."""
    ifd = struct.pack(">H", entries) + b"".join(
        struct.pack(">HHII", 0x1000 + n, 1, 0xFFFFFFFF, 8) for n in range(entries))
    return b"MM\x00*" + struct.pack(">I", 8) + ifd + struct.pack(">I", 0)


def _photo_with_exif(tiff):
    """A valid JPEG whose APP1 Exif segment is ``tiff``."""
    jpeg = photo_with_metadata()
    start = jpeg.index(b"\xff\xe1")
    length = struct.unpack(">H", jpeg[start + 2:start + 4])[0]
    segment = b"Exif\x00\x00" + tiff
    assert len(segment) + 2 <= 0xFFFF
    return (jpeg[:start] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment
            + jpeg[start + 2 + length:])


def _tag_past_the_end():
    """A little-endian TIFF block whose one tag (270, ImageDescription) points past its end."""
    return (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
            + struct.pack("<HHII", 0x010E, 2, 100, 0x1000) + struct.pack("<I", 0))


def _log_lines(server):
    return server.log_path.read_bytes().splitlines()


def _wait_for_line(server, fragment, before, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(fragment in line for line in _log_lines(server)[before:]):
            return
        time.sleep(0.1)
    raise AssertionError(f"{fragment!r} never logged: {_log_lines(server)[before:]}")


@pytest.mark.parametrize("tiff", [_tag_past_the_end(), _exif_bomb()],
                         ids=["tag past the end", "thousands of huge tags"])
def test_a_photo_that_makes_pillow_warn_writes_no_log_line_at_all(server, tiff):
    # A log line is stamped with the second it is written: one set off by a
    # report dates the report (docs/threat-model.md, "Times").
    photo = _photo_with_exif(tiff)
    before = len(_log_lines(server))
    # When the photo comes through the no-JS form (the server cleans it) ...
    token = server.form_token("/submit?lang=kk")
    content_type, body = multipart(
        {"token": token, "region": "astana", "category": "drugs", "description": "a photo"},
        [("files", "IMG_0001.jpg", "image/jpeg", photo)])
    status, _, page = server.request("POST", "/submit?lang=kk", body,
                                     {"Content-Type": content_type})
    assert status == 203 and b'id="receipt"' in page, page[:300]
    # ... and through the API, on every worker (a warning is shown once per process)
    for _ in range(2 * server.workers):
        content_type, body = multipart(
            {"region": "astana", "category": "drugs", "description": "a photo"},
            [("files", "IMG_0002.jpg", "image/jpeg", photo)])
        status, _, answer = server.request("POST", "/api/v1/tips", body,
                                           {"Content-Type": content_type})
        assert status == 201, answer[:300]
    # Then a request the workers do log (the control: their lines reach the file) ...
    assert _raw(server, b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 400")
    _wait_for_line(server, b"Invalid request refused", before)
    # ... is the only line the log gained
    gained = _log_lines(server)[before:]
    assert len(gained) == 1, gained


def test_a_library_writing_to_stderr_in_a_serving_process_writes_nothing(tmp_path):
    import subprocess
    import sys

    script = (
        "import logging, os, sys, warnings\n"
        "from tipdrop.server import logs\n"
        "logs.guard_process_logging([logging.StreamHandler()])\n"
        "warnings.warn('at start-up: shown')\n"
        "logs.quiet_while_serving()\n"
        "warnings.warn('while serving: hidden')\n"
        "print('python print: hidden', file=sys.stderr, flush=True)\n"
        "os.write(2, b'C-level write: hidden\\n')\n"
        "logging.getLogger('tipdrop').warning('a guarded record: shown')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "shown" in result.stderr and "hidden" not in result.stderr, result.stderr
    assert result.stderr.count("shown") == 2, result.stderr


def test_the_photo_above_really_makes_pillow_warn_thousands_of_times():
    import warnings

    from tipdrop.common import photos

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        photos.clean(_photo_with_exif(_exif_bomb()), "image/jpeg", False)
    assert len(caught) >= 1000
