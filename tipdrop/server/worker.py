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
business (tipdrop/server/web/deadlines.py). Everything else is gthread's.

Requests gunicorn refuses before the app (a bad request line or header,
headers too large, a transfer coding other than chunked ...) are answered by
:meth:`Worker.handle_error` with a short page in the reporter's language, or
JSON under /api/ and /officer/, and a 4xx status: gunicorn's own answer is an
English plain-text page, and a 501 for an unknown transfer coding
(docs/deploy.md, "Requests refused before the app").

It relies on gthread's internals as of gunicorn 27 (``enqueue_req``, the
poller, ``murder_pending``); setup.cfg pins that series and
tests/e2e/test_stalled_uploads.py runs it. A TLS listener or HTTP/2 with
prior knowledge, which tipdrop does not use (nginx terminates TLS), are left
to gthread as they are.
"""

import json
import os
import re
import selectors
import threading
import time
from functools import cache, partial
from html import escape
from urllib.parse import parse_qsl

from babel.support import Translations
from gunicorn.http import errors as http_errors
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import ThreadWorker
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from tipdrop.server import logs
from tipdrop.server.web import i18n
from tipdrop.server.web.errors import HTTP_MESSAGES

#: The longest request head read ahead. tipdrop's heads are far shorter (and
#: deploy/gunicorn.conf.py limits their lines and fields); a longer one is refused.
MAX_HEAD = 64 * 1024
_HEAD_END = b"\r\n\r\n"

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
_TRANSLATIONS = i18n.TRANSLATIONS
_ACCEPT_LANGUAGE = re.compile(rb"^accept-language[ \t]*:(.*)$", re.I | re.M)
_PAGE = ('<!doctype html><html lang="{lang}"><meta charset="utf-8"><title>{status}</title>'
         '<p id="error" role="alert">{message}</p><p><a href="{root}/?lang={lang}">tipdrop</a></p>')


@cache
def _catalog(lang):
    return Translations.load(str(_TRANSLATIONS), [lang], domain="messages")


def _query_language(line, whole):
    """The ``lang`` the request line's query asks for, if it is one of tipdrop's, else None.

    As the pages read it (``request.args.get("lang")``: the first one). A line
    that was cut (``whole`` false: too long to be read to its end) may have
    cut its last parameter too, so that one is not believed.
    """
    parts = line.split(b" ")
    if len(parts) < 2:
        return None
    target = parts[1].decode("latin-1")
    if "?" not in target:
        return None
    query = target.split("?", 1)[1].split("#", 1)[0]
    pairs = query.split("&")
    if not whole:
        pairs = pairs[:-1]
    for name, value in parse_qsl("&".join(pairs), keep_blank_values=True, errors="replace"):
        if name == "lang":
            return value if value in i18n.LANGUAGES else None
    return None


def language_of(head):
    """The language tipdrop's pages would use for the request ``head`` (tipdrop/server/web/i18n.py).

    ``?lang=`` in the request line first, when the line can be read (for a
    414 its beginning is still there), then Accept-Language, then Russian.
    """
    line, crlf, _rest = head.partition(b"\r\n")
    lang = _query_language(line[:MAX_HEAD], whole=bool(crlf))
    if lang is not None:
        return lang
    accepted = _ACCEPT_LANGUAGE.search(head)
    return i18n.language_for(parse_accept_header(
        accepted.group(1).decode("latin-1").strip(), LanguageAccept) if accepted else [])


def refusal(status, reason, head):
    """The whole answer to a request refused before the app, from its raw ``head``.

    Only the request line's path and ``lang`` parameter and Accept-Language
    are read from the head, however broken it is; nothing of it is echoed.
    The language is the one tipdrop's pages would use (:func:`language_of`).
    """
    lang = language_of(head)
    message = _catalog(lang).gettext(HTTP_MESSAGES.get(status, HTTP_MESSAGES[400]))
    target = head.split(b"\r\n", 1)[0].split(b" ")
    path = target[1] if len(target) > 1 else b""
    if path.startswith((b"/api/", b"/officer/")):
        content_type = "application/json"
        body = json.dumps({"error": f"http-{status}", "message": message}).encode()
    else:
        content_type = "text/html; charset=utf-8"
        body = _PAGE.format(lang=lang, status=status, message=escape(message),
                            root=escape(os.environ.get("SCRIPT_NAME", "").rstrip("/"))).encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nContent-Language: {lang}\r\n"
            f"Cache-Control: no-store\r\nConnection: close\r\n\r\n").encode() + body


class Worker(ThreadWorker):
    def init_process(self):
        #: Connections whose head is being read ahead, and their deadlines.
        self._heads = {}
        #: The head of the request a thread is handling, for handle_error.
        self._current = threading.local()
        super().init_process()

    def load_wsgi(self):
        """gunicorn's; then, before the first request, no stray warning or stderr line (logs.py)."""
        super().load_wsgi()
        logs.quiet_while_serving()

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
            self.log.warning("Invalid request refused with 431: head over %d bytes", MAX_HEAD)
            try:
                conn.sock.send(refusal(431, "Request Header Fields Too Large", conn.read_ahead))
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
        self._current.head = ahead
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
            head = _head_of(req)
        try:
            client.sendall(refusal(status, reason, head))
        except OSError:
            self.log.debug("Failed to send error message.")


def _head_of(req):
    """Enough of a head gunicorn parsed to choose the language and the kind of answer."""
    target = f"{req.path}?{req.query}" if req.query else req.path
    lines = [f"{req.method} {target} HTTP/1.1"] + [
        f"{name}: {value}" for name, value in req.headers if name.upper() == "ACCEPT-LANGUAGE"]
    return "\r\n".join(lines).encode("latin-1", "replace") + _HEAD_END
