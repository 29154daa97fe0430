"""Clients that send a request body at a chosen pace, for tests against a real server."""

import http.client
import socket
import threading
from contextlib import closing

from tests.readable import readable


class PacedUpload(threading.Thread):
    """A POST whose body is sent ``step`` bytes every ``pause`` seconds until told to stop.

    Steady from the first byte: a burst and then a trickle would be a sudden
    fall in speed, which the server ends (tipdrop/server/web/deadlines.py).
    If the server answers first, the first bytes of its answer are kept in
    :attr:`answer` and the upload stops; at :attr:`stop` the connection is
    cut mid-body.
    """

    def __init__(self, port, path, content_type, body, step, pause):
        super().__init__(daemon=True)
        self.port, self.path = port, path
        self.content_type, self.body = content_type, body
        self.step, self.pause = step, pause
        self.stop = threading.Event()
        #: The first bytes of an answer, if the server answered before the stop.
        self.answer = None
        #: Bytes of the body sent so far.
        self.sent = 0

    def run(self):
        head = (f"POST {self.path} HTTP/1.1\r\nHost: x\r\nContent-Type: {self.content_type}\r\n"
                f"Content-Length: {len(self.body)}\r\n\r\n").encode()
        with closing(socket.create_connection(("127.0.0.1", self.port), timeout=30)) as sock:
            sock.sendall(head + self.body[:self.step])
            self.sent = self.step
            while not self.stop.wait(self.pause):
                if readable([sock], 0):
                    self.answer = sock.recv(64) or b"closed"
                    return
                try:
                    sock.sendall(self.body[self.sent:self.sent + self.step])
                except OSError:  # the server shut its side; its answer may still be there
                    self.answer = sock.recv(64) or b"closed"
                    return
                self.sent += self.step

    @property
    def status(self):
        """The status of the server's early answer, or None."""
        if self.answer and self.answer.startswith(b"HTTP/1.1 "):
            return int(self.answer[9:12])
        return None


def post_awaiting_refusal(port, path, content_type, body, wait, timeout=60):
    """(status, answer, Retry-After) of a POST that looks for an early answer after its first KiB.

    As a browser would: the server shuts its receiving side when it refuses
    a body before reading it (tipdrop/server/web/deadlines.py), and a client
    still sending would meet a reset instead of the refusal. If nothing comes
    within ``wait`` seconds, the rest of the body is sent.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", content_type)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        conn.send(body[:1024])
        answered = readable([conn.sock], wait)
        if not answered:
            conn.send(body[1024:])
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Retry-After")
    finally:
        conn.close()
