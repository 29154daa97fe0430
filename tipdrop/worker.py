"""The gunicorn worker tipdrop runs: gthread, with a deadline on every request head.

gunicorn's gthread worker hands a connection to a thread once its first
bytes arrive, and the thread then reads the rest of the request head with
a blocking ``recv`` and no deadline: a client that sends ``GET / HTTP/1.1``
and then nothing more holds that thread for good, and a few dozen such
clients stop a worker. Behind nginx this cannot happen (nginx reads the
whole head itself before it connects to us, within its
client_header_timeout), but tipdrop must also stand on its own.

This worker gives each head TIPDROP_READ_TIMEOUT seconds, watched by the same
per-process watchdog that ends stalled bodies (tipdrop/web/deadlines.py):
past it, the socket's receiving side is shut, gunicorn's parser sees the
connection end and closes it. Everything else is gthread's. Why gthread and
how many threads: docs/deploy.md, "Workers, threads and slow clients".
"""

from gunicorn.workers.gthread import ThreadWorker


class Worker(ThreadWorker):
    def _deadlines(self):
        extensions = getattr(self.wsgi, "extensions", {})
        return extensions.get("tipdrop", {}).get("deadlines")

    def handle(self, conn):
        deadlines = self._deadlines()
        if deadlines is None:  # not tipdrop's app: plain gthread
            return super().handle(conn)
        conn.tipdrop_head = deadlines.head(conn.sock)
        try:
            return super().handle(conn)
        finally:
            deadlines.head_done(conn.tipdrop_head)

    def handle_request(self, req, conn):
        # The head is in: from here on the app's body deadlines apply.
        deadlines = self._deadlines()
        if deadlines is not None:
            deadlines.head_done(conn.tipdrop_head)
        return super().handle_request(req, conn)
