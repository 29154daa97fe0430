"""The gunicorn worker tipdrop runs: gthread, handing a thread only complete request heads.

gunicorn's gthread worker hands a connection to a thread as soon as it is
accepted (or, kept alive, has new bytes), and the thread then reads the
request head with a blocking ``recv`` and no deadline: a client that sends
``GET / HTTP/1.1`` and then nothing more holds that thread for good, and a
few dozen such clients stop a worker (measured: docs/deploy.md, "Workers,
threads and slow clients"). nginx reads heads itself, without a thread per
connection, but tipdrop must also stand on its own.

This worker reads each request head in its main loop, with gthread's own
poller and non-blocking reads, and hands the connection to a thread only
once the head is complete; the bytes read ahead are given back to gunicorn's
parser first. A head not complete within TIPDROP_READ_TIMEOUT seconds, or
larger than MAX_HEAD, ends its connection. Request bodies are the app's
business (tipdrop/web/deadlines.py). Everything else is gthread's.

It relies on gthread's internals as of gunicorn 27 (``enqueue_req``, the
poller, ``murder_pending``); setup.cfg pins that series and
tests/e2e/test_stalled_uploads.py runs it. A TLS listener or HTTP/2 with
prior knowledge, which tipdrop does not use (nginx terminates TLS), are left
to gthread as they are.
"""

import selectors
import time
from functools import partial

from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import ThreadWorker

#: The longest request head read ahead. tipdrop's heads are far shorter (and
#: deploy/gunicorn.conf.py limits their lines and fields); a longer one is refused.
MAX_HEAD = 64 * 1024
_HEAD_END = b"\r\n\r\n"
_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
              b"Connection: close\r\nContent-Length: 0\r\n\r\n")


class Worker(ThreadWorker):
    def init_process(self):
        #: Connections whose head is being read ahead, and their deadlines.
        self._heads = {}
        super().init_process()

    def _head_timeout(self):
        """TIPDROP_READ_TIMEOUT, or None if the app is not tipdrop's (plain gthread)."""
        deadlines = getattr(self.wsgi, "extensions", {}).get("tipdrop", {}).get("deadlines")
        return None if deadlines is None else deadlines.read_timeout

    def enqueue_req(self, conn):
        """Give the connection to a thread once its request head is complete (main loop)."""
        timeout = self._head_timeout()
        if (getattr(conn, "head_ready", False) or timeout is None or self.cfg.is_ssl
                or negotiation.prior_knowledge_allowed(self.cfg, conn.client)
                or (conn.parser is not None and conn.parser.unreader.buf.getvalue())):
            conn.head_ready = False
            return super().enqueue_req(conn)
        conn.read_ahead = b""
        conn.sock.setblocking(False)
        self._heads[conn] = time.monotonic() + timeout
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_head_bytes, conn))
        return None

    def _on_head_bytes(self, conn, _fileobj):
        try:
            data = conn.sock.recv(8192)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        conn.read_ahead += data
        if _HEAD_END in conn.read_ahead:
            self._unwatch(conn)
            conn.head_ready = conn.data_ready = True
            self.enqueue_req(conn)
        elif len(conn.read_ahead) > MAX_HEAD:
            try:
                conn.sock.send(_TOO_LARGE)
            except OSError:
                pass
            self._drop(conn)

    def _unwatch(self, conn):
        del self._heads[conn]
        self.poller.unregister(conn.sock)

    def _drop(self, conn):
        self._unwatch(conn)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self):
        """gthread's, and end every connection whose head is past its deadline."""
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c, deadline in self._heads.items() if deadline <= now]:
            self._drop(conn)

    def handle(self, conn):
        """gthread's, with the head read ahead given to the parser first (a thread)."""
        ahead = getattr(conn, "read_ahead", b"")
        if ahead:
            conn.read_ahead = b""
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(ahead)
        return super().handle(conn)
