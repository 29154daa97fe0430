"""The gunicorn worker tipdrop runs: gthread, handing a thread only requests read ahead.

gunicorn's gthread worker hands a connection to a thread as soon as it is
accepted (or, kept alive, has new bytes), and the thread then reads the
request head with a blocking ``recv`` and no deadline: a client that sends
``GET / HTTP/1.1`` and then nothing more holds that thread for good, and a
few dozen such clients stop a worker (measured: docs/deploy.md, "Workers,
threads and slow clients"). nginx reads heads itself, without a thread per
connection, but tipdrop must also stand on its own.

This worker reads each request head in its main loop, with gthread's own
poller and non-blocking reads, and then a small body too (at most 256 KiB,
announced by Content-Length), and hands the connection to a thread only once
both are complete; the bytes read ahead are given back to gunicorn's parser
first. What is read ahead, under which deadlines, what a client that breaks
them is answered, and how much memory it may take: tipdrop/server/readahead.py.
Larger and chunked bodies are read by the thread, under the upload slots and
the app's deadlines (tipdrop/server/web/deadlines.py). Everything else is gthread's.

Requests gunicorn refuses before the app (a bad request line or header,
headers too large, a transfer coding other than chunked ...) are answered by
:meth:`Worker.handle_error` with a short page in the reporter's language, or
JSON under /api/ and /officer/, and a 4xx status (tipdrop/server/refusals.py):
gunicorn's own answer is an English plain-text page, and a 501 for an unknown
transfer coding (docs/deploy.md, "Requests refused before the app").

It relies on gthread's internals as of gunicorn 27 (``enqueue_req``, the
poller, ``murder_pending``); setup.cfg pins that series and
tests/e2e/test_stalled_uploads.py runs it. A TLS listener or HTTP/2 with
prior knowledge, which tipdrop does not use (nginx terminates TLS), are left
to gthread as they are.
"""

import selectors
import socket
import threading
import time
from functools import partial

from gunicorn.http import errors as http_errors
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import ThreadWorker

from tipdrop.server import logs, readahead
from tipdrop.server.refusals import head_of, refusal
from tipdrop.server.web.deadlines import BODY_READ_AHEAD
from tipdrop.server.web.limits import BusyError

_HEAD_END = readahead.HEAD_END
MAX_HEAD = readahead.MAX_HEAD

#: What the client did wrong, for each request gunicorn refuses before the app, and
#: the status it gets; any other refusal is a 400. An unsupported transfer coding
#: (gunicorn's 501) is a 400 too: the client sent what HTTP/1.1 lets a server refuse,
#: and nothing on the server failed. ConfigurationProblem (a server set-up error) and
#: errors of the app itself stay gunicorn's 500.
_REFUSALS = {
    http_errors.LimitRequestHeaders: (431, "Request Header Fields Too Large"),
    http_errors.LimitRequestLine: (414, "URI Too Long"),
    http_errors.ExpectationFailed: (417, "Expectation Failed"),
    http_errors.ForbiddenProxyRequest: (403, "Forbidden"),
}
_CLIENT_ERRORS = (
    http_errors.InvalidRequestLine, http_errors.InvalidRequestMethod,
    http_errors.InvalidHTTPVersion, http_errors.InvalidHeader, http_errors.InvalidHeaderName,
    http_errors.LimitRequestLine, http_errors.LimitRequestHeaders,
    http_errors.InvalidProxyLine, http_errors.ForbiddenProxyRequest,
    http_errors.InvalidSchemeHeaders, http_errors.UnsupportedTransferCoding,
    http_errors.ObsoleteFolding, http_errors.ExpectationFailed,
    http_errors.InvalidChunkSize, http_errors.ChunkMissingTerminator,
    http_errors.InvalidChunkExtension,
)
class Worker(ThreadWorker):
    def init_process(self):
        #: Connections whose request is being read ahead (readahead.Pending on each).
        self._pending_reads = set()
        #: The body bytes read ahead, bounded (TIPDROP_READ_AHEAD_MB, set in load_wsgi).
        self._budget = readahead.Budget()
        #: The head of the request a thread is handling, for handle_error.
        self._current = threading.local()
        #: Kept-alive connections whose client has not taken its answers yet:
        #: {connection: when it is closed if it still has not} (readahead.py, "Answers").
        self._untaken = {}
        super().init_process()

    def load_wsgi(self):
        """gunicorn's; then, before the first request, no stray warning or stderr line (logs.py)."""
        super().load_wsgi()
        self._app, self.wsgi = self.wsgi, self._serve
        limit = getattr(self._app, "extensions", {}).get("tipdrop", {}).get("read_ahead_bytes")
        if limit is not None:  # tipdrop's app: the operator's TIPDROP_READ_AHEAD_MB
            self._budget = readahead.Budget(limit)
        logs.quiet_while_serving()

    def _serve(self, environ, start_response):
        """The app; the body of a request the loop refused fails to read (readahead.RefusedBody).

        A body read ahead whole is marked so (deadlines.BODY_READ_AHEAD): the
        app may leave it unread and keep the connection alive, as gunicorn
        drains it from memory; any other unread body closes the connection.
        """
        refused = getattr(self._current, "refused", None)
        if refused is not None:
            environ["wsgi.input"] = readahead.RefusedBody(refused)
        elif getattr(self._current, "body_ahead", False):
            environ[BODY_READ_AHEAD] = True
        return self._app(environ, start_response)

    def _deadlines(self):
        """The app's body deadlines, or None if the app is not tipdrop's (plain gthread)."""
        app = getattr(self, "_app", self.wsgi)
        return getattr(app, "extensions", {}).get("tipdrop", {}).get("deadlines")

    def enqueue_req(self, conn):
        """Give the connection to a thread once its request is read ahead (main loop).

        Bytes of the next request that gunicorn's parser already holds (a
        pipelined request after a kept-alive one) are taken back and read
        ahead with the rest.
        """
        deadlines = self._deadlines()
        if (getattr(conn, "ready", False) or deadlines is None or self.cfg.is_ssl
                or conn.is_http2 or negotiation.prior_knowledge_allowed(self.cfg, conn.client)):
            conn.ready = False
            return super().enqueue_req(conn)
        if conn.initialized and readahead.unsent(conn.sock):
            # Its next request waits, without a thread, for the client to take the answers.
            conn.sock.setblocking(False)
            self._untaken.setdefault(conn, time.monotonic() + deadlines.read_timeout)
            return None
        buffered = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        conn.pending = readahead.Pending(buffered, time.monotonic(), deadlines.read_timeout)
        conn.sock.setblocking(False)
        self._pending_reads.add(conn)
        if buffered and self._advance(conn):
            return None
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_bytes, conn))
        conn.pending.watched = True
        return None

    def _on_bytes(self, conn, _fileobj):
        pending = conn.pending
        try:
            data = conn.sock.recv(pending.read_size())
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            if pending.in_body:  # the app answers a body cut short (400)
                self._hand_off(conn)
            else:
                self._drop(conn)
            return
        pending.data += data
        pending.moved(time.monotonic())
        self._advance(conn)

    def _advance(self, conn):
        """Act on what was read: hand the request on, read its body, or refuse it.

        Returns whether the connection left the read-ahead.
        """
        pending = conn.pending
        if not pending.in_body:
            end = pending.data.find(_HEAD_END)
            if end < 0:
                if len(pending.data) <= MAX_HEAD:
                    return False
                self.log.warning("Invalid request refused with 431: head over %d bytes", MAX_HEAD)
                self._end(conn, refusal(431, "Request Header Fields Too Large", pending.head()))
                return True
            head_end = end + len(_HEAD_END)
            length = readahead.body_length(bytes(pending.data[:head_end]))
            if length is None:  # a thread reads it, under the upload slots
                self._hand_off(conn)
                return True
            pending.start_body(head_end, length, time.monotonic())
            # What the body still needs, reserved unless it is here already.
            needed = pending.body_end - len(pending.data)
            if not self._read_arrived(conn) or pending.complete:
                self._hand_off(conn)  # whole, or cut short (the app answers 400)
                return True
            if not self._budget.take(needed):
                self.log.warning("Request refused with 503: bodies read ahead hold %d bytes",
                                 self._budget.held)
                self._hand_off(conn, refused=BusyError())
                return True
            pending.reserved = needed
            if readahead.expects_continue(pending.head()):
                pending.continued = True
                if not self._send(conn, readahead.CONTINUE):
                    self._drop(conn)
                    return True
            return False
        if pending.complete:
            self._hand_off(conn)
            return True
        return False

    def _read_arrived(self, conn):
        """Read what has arrived of the body, without waiting; False if the client closed first.

        The head's read asks for HEAD_READ bytes only, so a body sent whole
        with its head (a JSON submit of a long description) is often only
        partly read with it. Read on now, it needs no reservation: when the
        budget was full, such a body was refused 503 though all of it was
        there (readahead.py, "Memory").
        """
        pending = conn.pending
        while not pending.complete:
            try:
                data = conn.sock.recv(pending.read_size())
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            if not data:
                return False
            pending.data += data
        return True

    def _send(self, conn, data):
        try:
            return conn.sock.send(data) == len(data)
        except OSError:
            return False

    def _hand_off(self, conn, refused=None):
        """Give the connection to a thread with what was read.

        With ``refused`` (an error), the app answers the request as if reading
        its body had raised that error; the socket's receiving side is shut
        first, so the thread never waits on the client.
        """
        pending = conn.pending
        self._unwatch(conn)
        if refused is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        conn.read_ahead, conn.continued = bytes(pending.data), pending.continued
        conn.refused = refused
        conn.body_ahead = refused is None and pending.complete
        conn.ready = conn.data_ready = True
        self.enqueue_req(conn)

    def _unwatch(self, conn):
        pending = conn.pending
        self._pending_reads.discard(conn)
        self._budget.give(pending.reserved)
        pending.reserved = 0
        if pending.watched:
            self.poller.unregister(conn.sock)
            pending.watched = False

    def _drop(self, conn):
        self._unwatch(conn)
        self.nr_conns -= 1
        conn.close()

    def _end(self, conn, answer):
        """Answer a request refused before a thread took it, and close its connection.

        What the client sent meanwhile is read and dropped first, so that
        closing does not reset the connection before the answer is read.
        """
        self._send(conn, answer)
        try:
            for _ in range(4):
                if not conn.sock.recv(readahead.READ_SIZE):
                    break
        except OSError:
            pass
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self._drop(conn)

    def murder_pending(self):
        """gthread's; and end every request read ahead that broke its deadlines.

        A head past its deadline ends its connection (there is no request to
        answer yet); a small body is answered by the app, 408 (readahead.py).
        A kept-alive connection whose client has taken its answers goes on to
        its next request; one that has not within TIPDROP_READ_TIMEOUT is closed.
        """
        super().murder_pending()
        deadlines = self._deadlines()
        if deadlines is None:
            return
        now = time.monotonic()
        for conn, deadline in list(self._untaken.items()):
            if not readahead.unsent(conn.sock):
                del self._untaken[conn]
                self.enqueue_req(conn)
            elif deadline <= now:
                del self._untaken[conn]
                self.nr_conns -= 1
                conn.close()
        for conn in list(self._pending_reads):
            pending = conn.pending
            if not pending.in_body:
                if pending.deadline <= now:
                    self._drop(conn)
            elif pending.too_slow(now, deadlines.min_rate, deadlines.window):
                self.log.warning("Request refused with 408: body not read in time")
                self._hand_off(conn, refused=TimeoutError("body not read in time"))

    def handle(self, conn):
        """gthread's, with what was read ahead given to the parser first (a thread)."""
        ahead = getattr(conn, "read_ahead", b"")
        self._current.head = ahead.partition(_HEAD_END)[0] + _HEAD_END if ahead else b""
        self._current.refused, conn.refused = getattr(conn, "refused", None), None
        self._current.body_ahead, conn.body_ahead = getattr(conn, "body_ahead", False), False
        if ahead:
            conn.read_ahead = b""
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(ahead)
        return super().handle(conn)

    def handle_request(self, req, conn):
        """gthread's, for a request whose body is plain or chunked only (a thread).

        gunicorn passes a body sent with ``gzip``, ``deflate`` or ``compress``
        before ``chunked`` to the app still coded, as if it were the body;
        tipdrop never asks for such codings, so they are refused here like the
        codings gunicorn does not know.
        """
        if getattr(conn, "continued", False):
            # The loop sent 100 Continue before it read the body (readahead.py).
            req._expected_100_continue = False
            conn.continued = False
        for name, value in req.headers:
            if name.upper() == "TRANSFER-ENCODING" and any(
                    coding.strip().lower() != "chunked" for coding in value.split(",")):
                raise http_errors.UnsupportedTransferCoding(value)
        return super().handle_request(req, conn)

    def handle_error(self, req, client, addr, exc):
        """A request refused before the app gets a clear 4xx in the reporter's language.

        gunicorn's own answer is English plain text, a 501 for a transfer coding
        it does not know, and its log line names the client's address. The line
        written here names only the status and the kind of error, never the
        address or anything the client sent. Other errors stay gunicorn's.
        """
        if not isinstance(exc, _CLIENT_ERRORS):
            return super().handle_error(req, client, addr, exc)
        status, reason = next((answer for kind, answer in _REFUSALS.items()
                               if isinstance(exc, kind)), (400, "Bad Request"))
        self.log.warning("Invalid request refused with %d: %s", status, type(exc).__name__)
        head = getattr(self._current, "head", b"")
        if not head and req is not None:  # a pipelined request, read by gunicorn itself
            head = head_of(req)
        try:
            client.sendall(refusal(status, reason, head))
        except OSError:
            self.log.debug("Failed to send error message.")

