"""What the worker's main loop reads of a request before a thread takes it: the head, and a small body.

gthread serves each request in a thread that reads the head and body itself,
blocking, so a client that sends slowly holds a thread while it does; a few
dozen such clients hold every thread of a worker (docs/deploy.md, "Workers,
threads and slow clients"). tipdrop/server/worker.py therefore reads, in its
main loop, with gthread's poller and non-blocking reads:

* every request **head**, up to MAX_HEAD bytes, within TIPDROP_READ_TIMEOUT
  seconds of its first byte; a head not complete by then ends its
  connection without an answer (there is no request yet to answer);
* then a **small body**: one whose Content-Length is at most SMALL_BODY
  (256 KiB, tipdrop/server/web/upload.py) and that has no Transfer-Encoding.
  It is read under the same rules as the app reads a body
  (tipdrop/server/web/deadlines.py): no pause longer than
  TIPDROP_READ_TIMEOUT, and at least TIPDROP_MIN_BODY_RATE bytes per second
  over every TIPDROP_RATE_WINDOW. A body that breaks either rule is answered
  by the app, as if the socket had timed out (:class:`RefusedBody`): its
  408 "The connection was too slow to send the form", in the reporter's
  language (a redirect to that page for the POSTs of
  tipdrop/server/web/refusals.py), and the connection is then closed.
  The app sees none of the body, so nothing is stored, and nothing is
  logged but the status. A body the client cuts short (its sending side
  closed) is given to the app as it is, which answers 400 at once.

A thread gets the connection only once the body is complete (or refused),
with everything read given back
to gunicorn's parser first: the thread parses and serves the request
without waiting on the network (a refused body's socket has its receiving
side shut first, so even its answer costs a thread no wait). A body announced larger than SMALL_BODY, or
chunked, goes to a thread once its head is complete, as before: there the
upload slots and the app's deadlines govern it.

**Expect: 100-continue.** A client that asks for it may wait for the
``100 Continue`` before it sends its body. The loop answers it (as gunicorn
would, for HTTP/1.1 only) when it begins to read such a body, and the
thread does not send it a second time (worker.py, ``handle_request``).

**Pipelining and keep-alive.** A body is read to its announced length and no
further; bytes after it that came in the same read belong to the next
request and are given to the parser with it. When a thread is done with a
request and gunicorn's parser still holds bytes of the next one, the loop
takes them back and reads that request ahead like any other.

**Answers.** A thread writes its answer with a blocking send, and the
kernel takes it only as fast as the client does: a client that pipelines
many requests on one connection and reads none of the answers (a tiny
receive window) once held every thread of a worker in ``send`` for good,
each answer queued behind the last until the socket's send buffer was full
(24 such connections, each asking for the submit page 300 times: no
answer to anyone, ``/healthz`` neither). So the next request of a
kept-alive connection is read only once the client has taken everything
sent to it (:func:`unsent`): until then the connection waits in the loop,
without a thread and not read from, and if its client has not taken it
within TIPDROP_READ_TIMEOUT the connection is closed. A thread then always
begins its answer with the send buffer free, and no answer of tipdrop's
pages is larger than that buffer. An honest client reads each answer
before it sends the next request, or pipelines a few and reads them: it
does not wait here, or waits at most a tick of the loop (a second).

**Memory.** A head is at most MAX_HEAD bytes (as before). Body bytes are
bounded per worker by its budget, TIPDROP_READ_AHEAD_MB (BUDGET, 32 MiB, by
default; README, "Settings"; ``tipdrop doctor`` warns when the workers
together could hold more than a quarter of the machine's memory): when a head is complete, what its body still
needs is reserved, and released when a thread takes the connection or it
ends. When its head is complete, what has arrived of the body is read at
once, without waiting: a body then whole needs no reservation, and goes to
a thread at once (a body sent with its head is often longer than the
head's read). A body still incomplete that does not fit in what is left of
the budget is refused then, without waiting for the rest: the app answers
it as if reading it had found no upload slot (503 with Retry-After,
BusyError, or its redirect). Bytes read so of a body still incomplete are
covered by its reservation, or refused with it. So the
loop holds at most its budget of bodies, whatever clients do, plus on each
connection its head (at most MAX_HEAD) and what the head's last read brought
beyond it (at most HEAD_READ). A body, once read, goes to a thread: gunicorn
holds at most one per thread, as before (tests/e2e/test_flood.py).
"""

import fcntl
import re
import struct
from collections import deque

from tipdrop.server.web.upload import SMALL_BODY

#: The longest request head read ahead. tipdrop's heads are far shorter (and
#: deploy/gunicorn.conf.py limits their lines and fields); a longer one is refused.
MAX_HEAD = 64 * 1024
HEAD_END = b"\r\n\r\n"
#: The most body bytes one worker's loop holds at once, unless TIPDROP_READ_AHEAD_MB
#: says otherwise (its default): 128 small bodies.
BUDGET = 32 * 1024 * 1024
#: The most one read asks for.
READ_SIZE = 64 * 1024
HEAD_READ = 8192
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:(.*)$", re.I | re.M)
_TRANSFER_ENCODING = re.compile(rb"^transfer-encoding[ \t]*:", re.I | re.M)
_EXPECT = re.compile(rb"^expect[ \t]*:(.*)$", re.I | re.M)


#: Linux's ioctl for the bytes a TCP socket holds that were not sent yet (SIOCOUTQNSD).
_SIOCOUTQNSD = 0x894B


def unsent(sock):
    """How many bytes written to ``sock`` the kernel has not sent yet: the client has not taken them.

    0 where the system cannot say (not Linux, not TCP): the next request is
    then served as gthread would.
    """
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), _SIOCOUTQNSD, bytes(4)))[0]
    except (OSError, ValueError):
        return 0


def body_length(head):
    """How many body bytes to read ahead after ``head``, or None if a thread reads the body.

    None for a body announced larger than SMALL_BODY, chunked (any
    Transfer-Encoding), with a Content-Length that is repeated or not a
    plain number, or with an Expect other than 100-continue: gunicorn refuses
    the odd ones when it parses the head, and the thread reads the others
    under the upload slots and the app's deadlines. A request with neither
    header has no body (0).
    """
    fields = head.split(b"\r\n", 1)[1] if b"\r\n" in head else b""
    if _TRANSFER_ENCODING.search(fields):
        return None
    expect = _EXPECT.findall(fields)
    if expect and [value.strip().lower() for value in expect] != [b"100-continue"]:
        return None
    lengths = _CONTENT_LENGTH.findall(fields)
    if not lengths:
        return 0
    value = lengths[0].strip(b" \t\r")
    if len(lengths) > 1 or not value.isdigit() or len(value) > 10:
        return None
    length = int(value)
    return length if length <= SMALL_BODY else None


def expects_continue(head):
    """Whether gunicorn would send ``100 Continue`` for ``head`` (HTTP/1.1 and Expect: 100-continue)."""
    line, _, fields = head.partition(b"\r\n")
    return line.rstrip().endswith(b"HTTP/1.1") and any(
        value.strip().lower() == b"100-continue" for value in _EXPECT.findall(fields))


class Budget:
    """The body bytes one worker's loop may hold (TIPDROP_READ_AHEAD_MB), reserved a body at a time."""

    def __init__(self, limit=BUDGET):
        self.limit = limit
        self.held = 0

    def take(self, size):
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def give(self, size):
        self.held -= size


class Pending:
    """A request being read ahead: its bytes so far, and the rules it must keep."""

    def __init__(self, data, now, timeout):
        self.data = bytearray(data)
        self.timeout = timeout
        #: The head has this long; then a small body has each pause this long.
        self.deadline = now + timeout
        #: Where the head ends and the small body ends, once the head is complete.
        self.head_end = None
        self.body_end = None
        #: Bytes of the budget reserved for the body.
        self.reserved = 0
        self.continued = False
        #: Registered with the worker's poller.
        self.watched = False
        #: (monotonic time, body bytes received then), about one a second.
        self.samples = deque()

    @property
    def in_body(self):
        return self.body_end is not None

    @property
    def complete(self):
        return self.in_body and len(self.data) >= self.body_end

    def read_size(self):
        """What the next read asks for: in a body, never beyond its end."""
        if not self.in_body:
            return HEAD_READ
        return min(READ_SIZE, self.body_end - len(self.data))

    def head(self):
        return bytes(self.data[:self.head_end or MAX_HEAD])

    def start_body(self, head_end, length, now):
        self.head_end, self.body_end = head_end, head_end + length
        self.deadline = now + self.timeout
        self.samples.append((now, self.received()))

    def received(self):
        return len(self.data) - self.head_end

    def moved(self, now):
        """Bytes arrived: in a body, the next pause may again last the whole read timeout."""
        if self.in_body:
            self.deadline = now + self.timeout

    def too_slow(self, now, min_rate, window):
        """Whether the body broke the pause or the rate rule (as tipdrop/server/web/deadlines.py)."""
        if now >= self.deadline:
            return True
        samples = self.samples
        if now - samples[-1][0] >= 1.0:
            samples.append((now, self.received()))
        while len(samples) > 1 and samples[1][0] <= now - window:
            samples.popleft()
        since, received_then = samples[0]
        return now - since >= window and self.received() - received_then < min_rate * window


class RefusedBody:
    """The ``wsgi.input`` of a request whose body the loop refused: every read raises ``error``.

    A TimeoutError (a body that broke the deadlines) reaches the app as a
    socket timeout does, and the app answers its 408; a BusyError (no room in
    the budget) as the app's own 503. So the reporter gets exactly the app's
    answer, in their language, through its one error path, and a reporter
    POST its redirect (tipdrop/server/web/refusals.py).
    """

    def __init__(self, error):
        self.error = error

    def _refuse(self, *_args):
        raise self.error

    read = readline = readlines = readinto = _refuse

    def __iter__(self):
        return self

    __next__ = _refuse

    def close(self):
        pass
