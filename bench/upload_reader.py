"""The bounds of an upload: the transport, with and without gunicorn.

``app`` is a minimal WSGI app that reads ``wsgi.input`` in 1 MiB pieces and
throws them away: no Flask, no multipart parsing, no encryption, no disk.
``serve`` runs it under gunicorn exactly as ``tipdrop serve`` runs tipdrop
(the same worker class, tipdrop/server/worker.py, the same threads, logger and
timeouts, the same glibc allocator settings), so an upload to it costs what
receiving the body costs: the most tipdrop could reach on this machine.

``loopback`` is the floor below that: one socket receiving into a reused
buffer, what the kernel's loopback carries with nothing above it.
Benchmarks only; never part of tipdrop.
"""

import json
import multiprocessing
import socket
import time

#: What the reader asks of wsgi.input at a time.
READ = 1024 * 1024
#: What the loopback sender writes at a time (as bench/common.py's uploads do).
SEND = 4 * 1024 * 1024


class ReaderApp:
    """A WSGI app that reads the whole request body and discards it."""

    def __init__(self, deadlines):
        # tipdrop/server/worker.py reads request heads, and small bodies, in its
        # main loop under the deadlines an app says it has, as tipdrop's app
        # does (tipdrop/server/web/__init__.py): say the same ones, so both are
        # served alike. (With a stand-in that had only the head deadline, the
        # worker died on the first small body it read ahead.)
        self.extensions = {"tipdrop": {"deadlines": deadlines}}

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"]
        received = 0
        while chunk := body.read(READ):
            received += len(chunk)
        answer = json.dumps({"received": received}).encode()
        start_response("201 Created", [("Content-Type", "application/json"),
                                       ("Content-Length", str(len(answer)))])
        return [answer]


def serve(port: int, workers: int) -> None:
    """Serve ReaderApp with ``tipdrop serve``'s gunicorn options (tipdrop/server/serve.py)."""
    from tipdrop.server.serve import RESERVED_THREADS, _Gunicorn, with_allocator_settings
    from tipdrop.server.settings import from_env
    from tipdrop.server.web.deadlines import Deadlines

    with_allocator_settings()
    settings = from_env()
    options = {"bind": f"127.0.0.1:{port}", "workers": workers,
               "worker_class": "tipdrop.server.worker.Worker",
               "threads": settings.upload_slots + RESERVED_THREADS,
               "accesslog": None, "errorlog": "-", "logger_class": "tipdrop.server.logs.GunicornLogger",
               "loglevel": "warning", "timeout": 120, "graceful_timeout": 10}
    app = ReaderApp(Deadlines(settings.read_timeout, settings.min_body_rate, settings.rate_window))
    _Gunicorn(lambda: app, options).run()


def _receive(listener, size):
    conn, _ = listener.accept()
    buffer = bytearray(READ)
    left = size
    while left:
        n = conn.recv_into(buffer)
        if not n:
            break
        left -= n
    conn.sendall(b"k")
    conn.close()


def loopback(size: int, block: bytes) -> float:
    """MB/s of ``size`` bytes sent over a loopback TCP socket to a process that drops them."""
    listener = socket.create_server(("127.0.0.1", 0))
    receiver = multiprocessing.get_context("fork").Process(target=_receive, args=(listener, size))
    receiver.start()
    try:
        with socket.create_connection(listener.getsockname()) as conn:
            view = memoryview(block)
            start = time.perf_counter()
            left = size
            while left:
                n = min(left, len(view), SEND)
                conn.sendall(view[:n])
                left -= n
            conn.recv(1)
            seconds = time.perf_counter() - start
    finally:
        receiver.join(timeout=60)
        listener.close()
    return size / 1e6 / seconds


if __name__ == "__main__":
    import sys

    serve(int(sys.argv[1]), int(sys.argv[2]))
