"""A TCP proxy that loses the answer to chosen requests after the server has sent it whole.

Put between a client (the reference client, Chromium) and a real gunicorn: each
request is passed on over a connection of its own, its answer read to the end (so the
server has done its work and committed), and then either passed back or lost. A lost
answer closes the client's connection having sent it nothing (``keep=0``) or only its
first ``keep`` bytes (headers and a part of the body: a connection cut while the
answer came). ``on_cut()`` runs before the client's connection is closed, while the
client still waits: what happens to the server while the phone is offline.
"""

import socket
import threading


def _read_head(sock, buffer):
    """Read up to the end of an HTTP head; return (head, the bytes after it) or (None, b"")."""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            return None, b""
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def _length(head):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _read_body(sock, rest, length):
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            break
        rest += data
    return rest[:length], rest[length:]


class CuttingProxy:
    """Loses the answers of the first ``cuts`` requests whose request line has ``match``."""

    def __init__(self, upstream_port, match, cuts=1, keep=0, on_cut=None):
        self.upstream_port = upstream_port
        self.match, self.cuts, self.keep, self.on_cut = match.encode(), cuts, keep, on_cut
        self.lost = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _cut_now(self, request_line):
        with self._lock:
            if self.match in request_line and len(self.lost) < self.cuts:
                self.lost.append(request_line.decode("latin-1"))
                return True
            return False

    def _serve(self, client):
        """Each request of the client's connection over a fresh upstream connection."""
        rest = b""
        try:
            while True:
                head, rest = _read_head(client, rest)
                if head is None:
                    return
                body, rest = _read_body(client, rest, _length(head))
                answer = self._forward(head, body)
                if self._cut_now(head.split(b"\r\n", 1)[0]):
                    client.sendall(answer[:self.keep])
                    if self.on_cut is not None:
                        self.on_cut()
                    return
                client.sendall(answer)
                if b"connection: close" in answer.split(b"\r\n\r\n", 1)[0].lower():
                    return
        except OSError:
            return
        finally:
            client.close()

    def _forward(self, head, body):
        with socket.create_connection(("127.0.0.1", self.upstream_port)) as upstream:
            upstream.sendall(head + body)
            answer_head, rest = _read_head(upstream, b"")
            if answer_head is None:
                return b""
            answer_body, _ = _read_body(upstream, rest, _length(answer_head))
            return answer_head + answer_body

    def close(self):
        self._listener.close()
