"""A TCP proxy that records every byte a browser sends to the server.

Playwright cannot always show a request body (bodies made of Blobs or files
are not exposed), so the browser tests that must prove "the plaintext was in
no request" put this between the browser and gunicorn and search what passed.
"""

import socket
import threading


class RecordingProxy:
    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
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
            while data := src.recv(65536):
                if record:
                    with self._lock:
                        self._sent.append(data)
                dst.sendall(data)
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
