"""A TCP proxy that records every byte a browser sends to the server.

Playwright cannot always show a request body (bodies made of Blobs or files
are not exposed), so the browser tests that must prove "the plaintext was in
no request" put this between the browser and gunicorn and search what passed.
"""

import socket
import threading
import time

#: Seconds between two bursts of a slowed uplink.
TICK = 0.5


class RecordingProxy:
    """``uplink``: bytes per second each connection may send to the server, in a
    burst every TICK, as a radio link delivers them (None: as fast as it can)."""

    def __init__(self, upstream_port, uplink=None):
        self.upstream_port = upstream_port
        self.uplink = uplink
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sent = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def sent(self):
        """Everything the browser sent so far, all connections concatenated."""
        with self._lock:
            return b"".join(self._sent)

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src, dst, record):
        try:
            burst = int(self.uplink * TICK) if record and self.uplink else 65536
            while data := src.recv(burst):
                if record:
                    with self._lock:
                        self._sent.append(data)
                dst.sendall(data)
                if burst != 65536:
                    time.sleep(TICK)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self._closed = True
        self._listener.close()
