"""The server's log names no client and stays short, whatever a client sends.

A real ``tipdrop serve`` (gunicorn) receives malformed requests of every kind
gunicorn refuses (bad request line, bad and huge headers, too many headers,
invalid chunked encoding, an unknown HTTP version ...) and a few the app
answers, from a loopback address no other test uses, each carrying a canary
user agent and a receipt-looking code; the whole log is then searched for
the address, the canary and the code. Refused requests must still be
logged (the positive control: the test fails if logging were simply off).

Then one photo whose Exif claims thousands of 4 GiB entries (Pillow warns
once per entry) is submitted, and the lines the log gained are counted.
"""

import re
import socket
import struct
import time

import pytest

from tests.samples import photo_with_metadata
from tests.serving import multipart
from tipdrop.protocol import receipts
from tipdrop.server import logs

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


def test_one_photo_with_a_flood_of_exif_warnings_writes_a_few_lines_at_most(server):
    photo = _photo_with_exif(_exif_bomb())
    before = server.log_path.read_bytes().count(b"\n")
    content_type, body = multipart(
        {"region": "astana", "category": "drugs", "description": "a photo"},
        [("files", "IMG_0001.jpg", "image/jpeg", photo)])
    status, _, answer = server.request("POST", "/api/v1/tips", body,
                                       {"Content-Type": content_type})
    assert status in (201, 400), answer[:300]
    time.sleep(1.0)
    server.stop()
    log = server.log_path.read_bytes()
    written = log.count(b"\n") - before
    # Then the photo did make the server log (the control), but only a bounded number of lines
    assert written >= 1, "nothing logged: the test proves nothing"
    assert written <= logs.PER_REQUEST + 1, f"{written} lines for one request"


def test_the_photo_above_really_makes_pillow_warn_thousands_of_times():
    import warnings

    from tipdrop.common import photos

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        photos.clean(_photo_with_exif(_exif_bomb()), "image/jpeg", False)
    assert len(caught) >= 1000
