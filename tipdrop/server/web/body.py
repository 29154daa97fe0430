"""Reading a request body: every way it can fail is one clear 4xx.

A body comes from the network and can fail in ways no view should need to
know about: gunicorn finds a malformed chunk (InvalidChunkSize,
ChunkMissingTerminator, ...), the client goes away mid-body (NoMoreData,
ClientDisconnected), a read times out. ``request.stream`` is a
:class:`GuardedStream` (see TipdropRequest in this package), which turns any
such failure into :class:`BodyReadError` (400) or a 408 for a read that timed
out: the view's own clean-up runs as for any refusal (upload.py discards the
draft), errors.py answers with a page or JSON, and nothing about the request
reaches the log. Gunicorn closes the connection after a failed body read,
so the rest of a broken body is never parsed as a next request.
"""

import io
import json
from contextlib import nullcontext

from werkzeug.exceptions import (
    ClientDisconnected,
    HTTPException,
    LengthRequired,
    RequestEntityTooLarge,
    RequestTimeout,
)
from werkzeug.wsgi import LimitedStream, get_content_length

from tipdrop.errors import InputError, TextEncodingError, TipdropError
from tipdrop.protocol import fields


class BodyReadError(InputError):
    """The request could not be read completely. Please try again."""

    detail_is_message = False


class BodyStream(LimitedStream):
    """Werkzeug's limited request body, which can also hand on the server's own pieces.

    ``LimitedStream.readinto`` copies each piece the server returns into the
    caller's buffer, and ``read`` copies it twice; an upload's multipart
    reader only looks at the bytes and hands views of them on, so
    :meth:`read_piece` gives it the server's bytes object itself, under the
    same limit and with the same end-of-body and disconnect rules.
    """

    def read_piece(self, size):
        remaining = self.limit - self._pos
        if remaining <= 0:
            self.on_exhausted()
            return b""
        try:
            data = self._stream.read(min(size, remaining))
        except (OSError, ValueError) as error:
            self.on_disconnect(error=error)
            return b""
        if not data:
            self.on_disconnect()
            return b""
        self._pos += len(data)
        return data


def input_stream(environ, max_content_length):
    """``wsgi.input`` limited as werkzeug.wsgi.get_input_stream limits it, as a BodyStream."""
    stream = environ["wsgi.input"]
    content_length = get_content_length(environ)
    if content_length is not None and max_content_length is not None:
        if content_length > max_content_length:
            raise RequestEntityTooLarge()
    if "wsgi.input_terminated" in environ:
        if max_content_length is None:
            return stream
        return BodyStream(stream, max_content_length, is_max=True)
    if content_length is None:
        return io.BytesIO()
    return BodyStream(stream, content_length)


class GuardedStream:
    """A request body whose read failures are TipdropErrors or HTTPExceptions, never others."""

    def __init__(self, stream):
        self._stream = stream

    def _guarded(self, method, *args):
        try:
            return getattr(self._stream, method)(*args)
        except ClientDisconnected:  # Werkzeug's name for a body that ended early
            raise BodyReadError("the body ended early") from None
        except (HTTPException, TipdropError):
            raise  # already a clear 4xx (too large, a slow-client refusal)
        except TimeoutError:
            raise RequestTimeout() from None
        except Exception as error:  # anything the server's body reader raises
            raise BodyReadError(type(error).__name__) from None

    def read(self, size=-1):
        return self._guarded("read", size)

    def readinto(self, buffer):
        return self._guarded("readinto", buffer)

    def read_piece(self, size):
        """Up to ``size`` bytes as the server returned them, uncopied (BodyStream.read_piece)."""
        if hasattr(self._stream, "read_piece"):
            return self._guarded("read_piece", size)
        return self._guarded("read", size)

    def readline(self, size=-1):
        return self._guarded("readline", size)

    def readlines(self, hint=-1):
        return self._guarded("readlines", hint)

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self):
        self._guarded("close")


def is_chunked(request):
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def check_length(request, limit):
    """Refuse a body that says nothing of its length (411) or declares more than ``limit`` (413).

    A POST with neither Content-Length nor chunked framing has no body at
    all: that is a client that forgot the length, not a form too large.
    """
    length = request.content_length
    if length is None and not is_chunked(request):
        raise LengthRequired()
    if length is not None and length > limit:
        raise RequestEntityTooLarge()


def read_small(request, limit):
    """The whole body of a small request (a form, a JSON document), at most ``limit`` bytes.

    Chunked bodies are read up to the same limit, so an app or proxy that
    does not send Content-Length is served too; but such a body is read by
    the request's thread as it arrives, not ahead of it in memory
    (tipdrop/server/readahead.py), so it is read under an upload slot, as a
    large upload is (:func:`_thread_read_slot`).
    """
    from tipdrop.server.web.deadlines import (
        open_body,  # deadlines reads through this module's GuardedStream
    )

    check_length(request, limit)
    # Under the read deadline and minimum rate, like uploads (deadlines.py).
    with _thread_read_slot(request), open_body() as body:
        data = body.read_up_to(limit + 1)
    if len(data) > limit:
        raise RequestEntityTooLarge()
    return data


def read_json_object(request, limit):
    """The body as a JSON object, strictly read; anything else is a clear 400.

    Not strict UTF-8 (a lone surrogate such as ``"\\ud800"`` included: it
    would fail later in whatever encodes the field) is a TextEncodingError.
    Not JSON, not an object, or an object at any depth naming a member
    twice is an InputError: Python keeps the last of two values, a proxy,
    a WAF or another client may read the first (docs/protocol.md,
    conventions), and NaN or Infinity are not JSON.
    """
    if request.mimetype != "application/json":
        raise InputError("expected application/json")
    raw = read_small(request, limit)
    try:
        raw.decode("utf-8")
    except UnicodeError:
        raise TextEncodingError() from None
    doc = fields.loads(raw, InputError, "the request")
    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeError:
        raise TextEncodingError() from None
    if not isinstance(doc, dict):
        raise InputError("expected a JSON object")
    return doc


def _thread_read_slot(request):
    """An upload slot while a chunked body is read, unless the request holds one already.

    Only a body with a Content-Length of at most 256 KiB is read in the
    worker's loop before a thread takes it; a chunked one is read by the
    thread, and a client may trickle it just above TIPDROP_MIN_BODY_RATE for
    as long as its 256 KiB last. Without a slot, a few dozen such requests
    (a check, a follow-up, a JSON submit) held every thread of a worker and
    no one was answered, not even ``/healthz``. Under a slot they hold at
    most the upload slots' threads, get 503 beyond them, and are ended when
    a newcomer needs the slot (Deadlines.reclaim); the other threads stay
    free (docs/deploy.md, "Workers, threads and slow clients").
    """
    from tipdrop.server.web.deadlines import HOLDS_UPLOAD_SLOT
    from tipdrop.server.web.upload import upload_slot

    if not is_chunked(request) or request.environ.get(HOLDS_UPLOAD_SLOT):
        return nullcontext()
    return upload_slot(request)
