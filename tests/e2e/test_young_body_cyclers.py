"""Clients that hold upload slots with bodies that never grow old do not keep reports out.

The open weakness an outside review found (docs/threat-model.md, "A flood of
junk"): a body younger than TIPDROP_RATE_WINDOW was never ended for a
newcomer, and a newcomer that found every slot held by young bodies got 503
at once. So a client that sends the head of a large upload and a few bytes,
then nothing, and opens the next one as soon as it is answered 408 (or ends
its own body while it is young and opens the next), held its slot at almost
no cost, and took it back before any newcomer could. Against a real
``tipdrop serve`` (one worker, two upload slots, read timeout 5 s, window
30 s) two such connections refused every large upload.

Here, with two such cyclers holding both slots, each honest large upload in
turn waits in line (TIPDROP_UPLOAD_WAIT), gets the first slot that frees,
ahead of the cycler that reopens, and is stored; and so it is when two
more cyclers hold the places in line too, since an upload that has sent
its body takes the place of one that sent only a head.
"""

import socket
import threading
import time
from contextlib import closing

import pytest

from tests.readable import readable
from tests.serving import multipart, start_server
from tipdrop.server.web.limits import UPLOAD_LINE
from tipdrop.server.web.upload import SMALL_BODY

pytestmark = pytest.mark.e2e

UPLOAD_SLOTS = 2
#: Bytes of body a cycler sends after the head, each time.
HEAD_BYTES = 10
#: How long an "ended young" cycler keeps its body before it closes it: far
#: less than the read timeout and the age at which a body is judged.
ENDED_AFTER = 1.5
HONEST_UPLOADS = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("cyclers"), workers=1, extra_env={
        "TIPDROP_UPLOAD_SLOTS": str(UPLOAD_SLOTS),
        "TIPDROP_READ_TIMEOUT": "5",
        "TIPDROP_RATE_WINDOW": "30",
        "TIPDROP_SUBMITS_PER_HOUR": "100000",
        "TIPDROP_CHECKS_PER_HOUR": "100000",
    })
    yield running
    running.stop()


def _upload(description, size):
    return multipart(
        {"region": "astana", "category": "theft", "description": description},
        [("files", "clip.mp4", "video/mp4", b"\x00" * size)])


class Cycler(threading.Thread):
    """Opens a large upload, sends its head and HEAD_BYTES, then nothing; reopens as soon as it ends.

    ``ends_young``: it closes its own connection after ENDED_AFTER seconds,
    else it waits for the server's answer (408 once the read timeout passes).
    """

    def __init__(self, port, ends_young):
        super().__init__(daemon=True)
        self.port, self.ends_young = port, ends_young
        self.stop = threading.Event()
        self.opened = 0
        self.answers = []
        self.content_type, self.body = _upload("cycler", 4 * SMALL_BODY)

    def run(self):
        head = (f"POST /api/v1/tips HTTP/1.1\r\nHost: x\r\nContent-Type: {self.content_type}\r\n"
                f"Content-Length: {len(self.body)}\r\n\r\n").encode()
        while not self.stop.is_set():
            try:
                with closing(socket.create_connection(("127.0.0.1", self.port), timeout=30)) as sock:
                    sock.sendall(head + self.body[:HEAD_BYTES])
                    self.opened += 1
                    until = time.monotonic() + (ENDED_AFTER if self.ends_young else 30)
                    while not self.stop.is_set() and time.monotonic() < until:
                        if readable([sock], 0.05):
                            self.answers.append(sock.recv(12))
                            break
            except OSError as error:
                self.answers.append(repr(error).encode())


def _honest_upload(port, description):
    """(status, answer) of a large upload sent whole at once, as a browser sends it (or the error met).

    Head and body go in one write: the place of a request in a full line is
    judged by what its client has sent when it is read (limits.Slots), and
    a loaded machine could otherwise pause this client between the two.
    """
    content_type, body = _upload(description, 2 * SMALL_BODY)
    head = (f"POST /api/v1/tips HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    try:
        with closing(socket.create_connection(("127.0.0.1", port), timeout=60)) as sock:
            sock.sendall(head + body)
            answer = b""
            while piece := sock.recv(65536):
                answer += piece
    except OSError as error:
        return repr(error), b""
    status = int(answer[9:12]) if answer.startswith(b"HTTP/1.1 ") else answer[:40]
    return status, answer.partition(b"\r\n\r\n")[2][:200]


@pytest.mark.parametrize("case, cyclers", [
    ("stalled-until-408", UPLOAD_SLOTS),
    ("ended-young-then-again", UPLOAD_SLOTS),
    # As many more as may wait in line: the line is theirs too, until an upload
    # that sends its body comes (limits.Slots, standing)
    ("stalled-until-408, the line held too", UPLOAD_SLOTS + UPLOAD_LINE),
    ("ended-young-then-again, the line held too", UPLOAD_SLOTS + UPLOAD_LINE),
])
def test_cyclers_holding_every_slot_with_young_bodies_let_honest_uploads_through(
        server, case, cyclers):
    # Given cyclers holding both upload slots with young bodies, reopening at once
    cyclers = [Cycler(server.port, ends_young=case.startswith("ended-young"))
               for _ in range(cyclers)]
    for cycler in cyclers:
        cycler.start()
    try:
        deadline = time.monotonic() + 10
        while any(c.opened == 0 for c in cyclers) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # both heads taken by the worker's threads
        # When honest reporters send large uploads at full speed, one after another
        statuses = [_honest_upload(server.port, f"honest {number}")
                    for number in range(HONEST_UPLOADS)]
        # Then each one is stored, none refused busy
        assert [status for status, _ in statuses] == [201] * HONEST_UPLOADS, statuses
        # And the cyclers were cycling all along
        assert all(c.opened >= 2 for c in cyclers), [c.opened for c in cyclers]
    finally:
        for cycler in cyclers:
            cycler.stop.set()
        for cycler in cyclers:
            cycler.join(timeout=30)
