"""Request bodies that stall or trickle end, and refused bodies are not waited for.

gunicorn's gthread worker reads a request body in the thread that serves the
request, with a blocking ``recv`` and no deadline of its own. A client that
sends the head of an upload and then nothing, or one byte every few seconds,
would hold that thread (and an upload slot) for as long as it liked: a few
dozen such clients stopped the service (issue 13). Two rules end them, both
set by the operator (README, "Settings"; docs/operations.md, "Slow clients"):

* **A deadline per read** (``read_timeout``): the socket's timeout is set
  before every read of the body, so a pause longer than that raises in
  ``recv`` itself.
* **A minimum rate** (``min_rate`` bytes per second over every ``window``
  seconds). Short pauses can still carry almost nothing, and gunicorn's
  body read returns only once it holds all the bytes asked for, so the
  reading thread never gets to look at the clock. One watchdog thread per
  process does: when a body falls behind, it shuts down the socket's
  receiving side; the blocked ``recv`` returns end-of-file at once.

Either way the reader raises SlowClientError, and the view's error path
runs as for any broken upload: the draft is discarded (its ``.part`` files
are removed, nothing is committed). Only the receiving side is shut, so the
408 page still reaches an honest reporter on a bad connection.

A request refused before its body was read (no upload slot, a rate limit, a
bad token) gets its receiving side shut too (:func:`init_app`), and so does
any request answered without reading a body that is not already in memory
(a page asked for with a chunked body): otherwise gunicorn would spend a
thread draining the unread body of a stalled client for up to 5 s before
reusing the connection, and refusals must stay cheap for capacity to be
kept for everyone else (docs/deploy.md, "Workers, threads and slow
clients"). Request heads are tipdrop/server/worker.py's business.

Progress is counted in the bytes the app has read, and a read returns only
once it has all it asked for. So each read asks for about one second of the
client's speed so far (the bytes read since the body began over the time
since, at least one second; at least 4 KiB, the first one 4 KiB): a slow
but honest client is seen making progress every second or so, and is cut
off only if its speed falls below the minimum, or suddenly by a factor of
about the window in seconds. The speed is not taken from how fast one read
returned: bytes already waiting in the socket return at once, and that
"speed" made the next read ask for a whole 1 MiB piece, which a 3G uplink
brings in more than the window (bench/slow_link.py). What waited in the
socket before reading began (while the request waited for an upload slot)
makes the first reads ask for about what arrived meanwhile, which takes
about that wait again to come: less than the window. Fast clients get the 1 MiB reads the views ask for
(tipdrop/server/web/upload.py, BODY_READ: smaller reads out of gunicorn's 1 MiB
read-ahead buffer copy it again each time).

Outside gunicorn (Flask's test client, another WSGI server) the environ
has no socket: bodies are then read without either rule.
"""

import fcntl
import os
import socket
import struct
import termios
import threading
import time
from collections import deque

from flask import current_app, has_request_context, request
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge

from tipdrop.errors import TipdropError

#: The least a read asks for, and what the first read of a body asks for.
SMALL_READ = 4096
#: A read asks for about this many seconds of the client's recent speed.
READ_SECONDS = 1.0
#: Set in a request's environ while it holds an upload slot (upload.py): only
#: such a body is ever ended to make room (:meth:`Deadlines.reclaim`).
HOLDS_UPLOAD_SLOT = "tipdrop.holds_upload_slot"
#: Seconds an upload holding a slot is left alone before its speed is judged
#: for a newcomer (:meth:`Deadlines.reclaim`; the window, if shorter). Short:
#: a client that ends its body, or lets it be ended, before it is judged and
#: then takes the slot again holds it for free for this long each time.
JUDGED_AFTER = 5.0
#: Set by tipdrop/server/worker.py when the whole body was read ahead into
#: memory before a thread took the request: leaving it unread costs no wait.
BODY_READ_AHEAD = "tipdrop.body_read_ahead"


class SlowClientError(TipdropError):
    """The connection was too slow to send the form. Please try again on a better connection."""

    http_status = 408


def _shut_receiving_side(sock):
    try:
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass  # already closed by the client


class _Body:
    """One request body being read under both rules."""

    def __init__(self, deadlines, environ, stream):
        self._deadlines = deadlines
        self.environ = environ
        self.sock = environ.get("gunicorn.socket")
        #: The request's thread, which holds its upload slot (limits.Slots, ``reclaim``).
        self.thread = threading.get_ident()
        self.stream = stream
        self.received = 0
        #: When reading began (the deadlines' clock).
        self.started = deadlines.clock()
        #: (monotonic time, bytes received then), one per watchdog tick.
        self.samples = deque()
        self.expired = False
        #: The body was read to its end.
        self.complete = False
        self._next_size = SMALL_READ
        #: When reading began, on the wall clock: the speed of the next read's size.
        self._began = time.monotonic()

    def read(self, size):
        """Up to ``size`` bytes of the body; b"" at its end."""
        return self._read(size, self.stream.read, len)

    def read_piece(self, size):
        """Up to ``size`` bytes of the body, as the server returned them (b"" at its end).

        What uploads read with (upload.py): no copy of tipdrop's own, where
        Werkzeug's ``read`` copies each piece twice more and ``readinto`` once.
        """
        return self._read(size, self.stream.read_piece, len)

    def _read(self, size, read, length):
        if self.sock is None:
            return read(size)
        ask = min(size, self._next_size)
        self.sock.settimeout(self._deadlines.read_timeout)
        try:
            data = read(ask)
        except (OSError, ClientDisconnected, HTTPException, TipdropError) as error:
            # request.stream is body.GuardedStream: a timed-out or shut read
            # reaches here as RequestTimeout or BodyReadError, the socket's
            # error kept as its context.
            if self.expired or _timed_out(error):
                self.expire()
                raise SlowClientError() from None
            raise
        if self.expired:
            raise SlowClientError()
        got = length(data)
        if not got:
            self.complete = True
        self.received += got
        # The client's speed is what arrived since the body began, not how
        # fast this read returned: bytes already waiting in the socket come
        # back at once, and a speed taken from them made the next read ask
        # for the rest of a 1 MiB piece, which a 3G uplink (31 kB/s) takes
        # longer than the window to bring: the watchdog saw nothing arrive
        # and ended every such piece with 408 (bench/slow_link.py).
        elapsed = max(time.monotonic() - self._began, READ_SECONDS)
        self._next_size = max(SMALL_READ, int(self.received / elapsed * READ_SECONDS))
        return data

    def read_up_to(self, limit):
        """The whole body, or ``limit`` bytes of it if it is longer."""
        pieces, total = [], 0
        while total < limit:
            piece = self.read(limit - total)
            if not piece:
                break
            pieces.append(piece)
            total += len(piece)
        return b"".join(pieces)

    def close(self):
        """Stop watching; tell the after-request check whether the body was read to its end."""
        self._deadlines.done(self)
        if self.complete:
            self.environ["tipdrop.body_complete"] = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def expire(self):
        """End the body: the blocked or next read sees end-of-file."""
        self.expired = True
        _shut_receiving_side(self.sock)


def _timed_out(error):
    """Whether ``error`` is, or was raised while handling, a socket timeout.

    Werkzeug's stream turns a failed read into ClientDisconnected, keeping
    the socket's TimeoutError as the context.
    """
    while error is not None:
        if isinstance(error, TimeoutError):
            return True
        error = error.__cause__ or error.__context__
    return False


class Deadlines:
    """The read deadline and minimum rate of one worker process (see module docstring)."""

    def __init__(self, read_timeout, min_rate, window, clock=time.monotonic, watchdog=True):
        self.read_timeout = read_timeout
        self.min_rate = min_rate
        self.window = window
        self.clock = clock
        #: False in unit tests, which call :meth:`check` themselves with a fake clock.
        self.watchdog = watchdog
        self._lock = threading.Lock()
        self._bodies = set()
        self._watchdog = None
        self._pid = None

    def body(self, environ, stream):
        """A reader for this request's body; close it when done."""
        body = _Body(self, environ, stream)
        if body.sock is not None:
            body.samples.append((body.started, 0))
            with self._lock:
                self._bodies.add(body)
                if self.watchdog:
                    self._start_watchdog()
        return body

    def done(self, body):
        with self._lock:
            self._bodies.discard(body)

    def _start_watchdog(self):
        # Started in the process that reads bodies (a gunicorn worker, after
        # the fork), and again if that process is a fork of one that had it.
        if self._watchdog is not None and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._watchdog = threading.Thread(target=self._watch, name="tipdrop-body-deadlines",
                                          daemon=True)
        self._watchdog.start()

    def _watch(self):
        tick = min(1.0, self.window / 4)
        while True:
            time.sleep(tick)
            self.check()

    def check(self):
        """Expire every body that received less than ``min_rate`` over the last window."""
        now = self.clock()
        with self._lock:
            bodies = list(self._bodies)
        for body in bodies:
            samples = body.samples
            samples.append((now, body.received))
            while len(samples) > 1 and samples[1][0] <= now - self.window:
                samples.popleft()
            since, received_then = samples[0]
            if now - since >= self.window and (
                    body.received - received_then < self.min_rate * self.window):
                self.done(body)
                body.expire()

    def reclaim(self, rate):
        """End the slowest upload holding a slot if it brought less than ``rate`` bytes/s.

        Returns the thread of the upload ended (the one that holds its slot,
        for limits.Slots to know its release when it comes), or None.

        Called when a large upload finds every upload slot of this process
        held (web/__init__.py): a slot then goes to whoever can use it, not
        to whoever came first. Without this, as many connections as there
        are slots, each sending a little above TIPDROP_MIN_BODY_RATE, held
        every slot for as long as their bodies lasted, and every report
        with a large attachment got 503 (docs/threat-model.md, "A flood of
        junk"). A body is judged over the last window, or since it began:
        one that began less than JUDGED_AFTER seconds ago (or a window, if
        shorter) has not yet shown its speed, and is left alone. Waiters
        ask again while they wait (limits.Slots), so a body that stalls
        young is ended for them once it is that old. The upload ended gets
        408 (SlowClientError) and keeps nothing, as one ended by the
        minimum rate does.
        """
        if rate <= 0:
            return None
        now = self.clock()
        with self._lock:
            holders = [body for body in self._bodies
                       if body.environ.get(HOLDS_UPLOAD_SLOT) and not body.expired]
        slowest, slowest_speed = None, rate
        youth = min(JUDGED_AFTER, self.window)
        for body in holders:
            if now - body.started < youth:
                continue
            since, received_then = body.samples[0]
            speed = (body.received - received_then) / max(now - since, 0.001)
            if speed < slowest_speed:
                slowest, slowest_speed = body, speed
        if slowest is None:
            return None
        self.done(slowest)
        slowest.expire()
        return slowest.thread


def unread_bytes():
    """A function telling how many bytes this request's client sent that are not read yet.

    What a request waiting for an upload slot has already sent keeps its
    place in line (limits.Slots, ``standing``): an honest upload sends its
    body at once, a client holding places with heads alone sends nothing.
    Counted in the kernel's receive buffer (FIONREAD); the few KiB the
    worker read with the head are not counted, for anyone. Outside gunicorn
    or a request, or once the socket is closed, 0.
    """
    sock = request.environ.get("gunicorn.socket") if has_request_context() else None

    def unread():
        if sock is None:
            return 0
        try:
            return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, bytes(4)))[0]
        except (OSError, ValueError):
            return 0

    return unread


def open_body():
    """This request's body, read under the deadlines; close it when done.

    Usable as a context manager: ``with open_body() as body: body.read(n)``.
    """
    deadlines = current_app.extensions["tipdrop"]["deadlines"]
    return deadlines.body(request.environ, request.stream)


def _unread_body_left(environ):
    """Whether the request announced a body that the app did not read to its end."""
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if not (chunked or length) or environ.get("tipdrop.body_complete"):
        return False
    # A body of known length: Werkzeug's stream knows how much was read.
    try:
        stream = request.stream
    except RequestEntityTooLarge:
        # Announced beyond the app's maximum: refused by its length, none of
        # it read. Werkzeug raises that refusal again each time the stream is
        # asked for, which here would turn the 413 into a 500.
        return True
    return not getattr(stream, "is_exhausted", False)


def init_app(app):
    """No answer keeps a thread waiting for a body the app did not read (module docstring).

    A refusal (4xx, 5xx) with its body unread has the socket's receiving
    side shut. So has any other answer whose unread body is not already in
    memory (BODY_READ_AHEAD): a page, a redirect or ``/healthz`` asked for
    with a chunked or large body. gunicorn would otherwise drain that body
    in the thread, waiting up to 5 s on the client to keep the connection
    alive, and clients sending the head of such a request and then nothing,
    one after another, kept every thread waiting (docs/deploy.md, "Workers,
    threads and slow clients"). A small body read ahead whole is drained
    from memory, so its connection stays alive for the next request.
    """

    @app.after_request
    def stop_reading_unread_bodies(response):
        environ = request.environ
        sock = environ.get("gunicorn.socket")
        if sock is None or not _unread_body_left(environ):
            return response
        if response.status_code >= 400 or not environ.get(BODY_READ_AHEAD):
            _shut_receiving_side(sock)
        return response
