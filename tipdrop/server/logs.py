"""The server's log: nothing that identifies a reporter, and a bounded amount per request.

Access logging is off (docs/threat-model.md), but other lines carry what a
client sent: gunicorn writes ``Invalid request from ip=...: <the bad line or
header>`` for a malformed request, tracebacks quote values, and a library
warning can repeat ten thousand times for one crafted photo. So every log
record of a server process passes :class:`LogGuard`, installed on the
handlers of gunicorn's error log (:class:`GunicornLogger`, its
``logger_class``) and of the root logger (Flask's and Python's warnings go
there):

* gunicorn's messages about a request are replaced by fixed text: what a
  malformed request contained is never written, only that one was refused;
* no traceback is written, only the exception's class name;
* anything left that looks like an address (IPv4, IPv6) or a receipt code
  is masked, control characters are escaped (one record, one line), and a
  message is cut to :data:`MAX_MESSAGE` characters. Only the server's own
  words are not masked: the exact name of an exception class of the
  running code (``InvalidRequestMethod``, in the line a refused request
  writes), which is fixed by the code, not sent by a client, and is never
  taken for a receipt if it reads as a valid one (:func:`_own_word`);
* one request writes at most :data:`PER_REQUEST` records, each distinct
  message once; a last line says that more were dropped;
* an uncaught exception in any thread is logged the same way, not printed
  with its traceback to stderr.

And once a worker serves (:func:`quiet_while_serving`, called by
tipdrop/server/worker.py when the app is loaded), nothing a request sets off
by accident writes a line at all: every line of the log is stamped with the
second it was written (gunicorn's format, and journald's own), so a library
warning set off by a report, even one with nothing of the report in it, would
tell when that report arrived (docs/design.md, invariant 2; docs/threat-model.md,
"Times"). So in a serving worker

* Python warnings (``warnings``, of Pillow or any library) are dropped, not
  logged: they come through the ``py.warnings`` logger (``captureWarnings``),
  process-wide and for every thread alike, without ``catch_warnings``, which
  is not thread-safe;
* whatever a library writes to stderr itself (``print(file=sys.stderr)``, or
  C code writing to file descriptor 2) goes to /dev/null: the log's own
  handlers write to a copy of the original stderr, so tipdrop's guarded
  records still reach it.

Warnings of the start-up (the master, a worker loading the app) are still
written: no reporter is involved yet.
"""

import logging
import os
import re
import sys
import threading

from gunicorn.glogging import Logger

from tipdrop.errors import ReceiptError
from tipdrop.protocol import receipts

#: Records one request may write; then one "dropped" line, then nothing.
PER_REQUEST = 20
MAX_MESSAGE = 300

#: gunicorn's messages about a request, by their start, and what is written instead.
_REQUEST_MESSAGES = (
    ("Invalid request from", "refused an invalid request"),
    ("Error handling request", "error handling a request"),
    ("Socket error processing request", "socket error processing a request"),
    # Flask's own, for an exception no error handler took: "Exception on <path> [<method>]".
    ("Exception on ", "unhandled exception in a request"),
)
_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
#: Two colons or more among hex digits: an IPv6 address (or a time of day, masked too).
_IPV6 = re.compile(r"(?<![\w:])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:)[0-9A-Fa-f:]{2,39}(?![\w:])")
#: A receipt (receipts.py), as typed: 24 symbols, grouped by separators or not.
#: Anything as long and as dense (an id, a long path segment) is masked too.
_RECEIPT = re.compile("(?:[0-9A-Za-z][-\u2010\u2013\u2014._/]?){20,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")

#: The "path:line: " a formatted Python warning begins with.
_WARNING_PLACE = re.compile(r"^.*?:\d+: (?=\w+: )")

_request = threading.local()
#: Set once this process serves requests (quiet_while_serving): warnings are dropped.
_serving = threading.Event()


def _exception_names():
    """The names of every exception class defined in this process (a fraction of a millisecond)."""
    names, stack = set(), [BaseException]
    while stack:
        for kind in type.__subclasses__(stack.pop()):
            if kind.__name__ not in names:
                names.add(kind.__name__)
                stack.append(kind)
    return names


def _own_word(word, names):
    """Whether ``word``, receipt-shaped, is exactly the server's own: an exception's class name.

    Such a name is written by the code, not sent; a receipt is 24 random
    symbols, so one typed as a class name by chance is out of reach
    (2^-113 for a hundred names). A name that reads as a valid receipt is
    masked all the same.
    """
    if word not in names:
        return False
    try:
        receipts.parse(word)
    except ReceiptError:
        return True
    return False


def _mask_receipts(text):
    names = None

    def mask(match):
        nonlocal names
        if names is None:
            names = _exception_names()
        return match.group() if _own_word(match.group(), names) else "[masked]"

    return _RECEIPT.sub(mask, text)


def start_request():
    """A request begins on this thread: its log budget starts afresh."""
    _request.written = 0
    _request.seen = set()


def end_request(exc=None):
    """The request on this thread is over: what is logged next is not its."""
    _request.written = None
    _request.seen = set()


def safe_message(record):
    """The record's message with nothing that identifies a client (see the module docstring)."""
    try:
        text = record.getMessage()
    except Exception:  # noqa: BLE001 - a badly formatted record is still logged, safely
        text = str(record.msg)
    if record.name == "py.warnings":
        # "path:line: Category: message\n  source line": the category and message only.
        text = text.split("\n", 1)[0]
        text = _WARNING_PLACE.sub("", text, count=1)
    for start, replacement in _REQUEST_MESSAGES:
        if text.startswith(start):
            text = replacement
            break
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    text = _IPV4.sub("[address]", text)
    text = _IPV6.sub("[address]", text)
    text = _mask_receipts(text)
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE] + "..."
    if record.exc_info and record.exc_info[0] is not None:
        text += f" ({record.exc_info[0].__name__})"
    return text


class LogGuard(logging.Filter):
    """Rewrite each record safely, and hold each request to its budget of records."""

    def filter(self, record):
        # One decision per record, whichever of the guarded handlers asks first.
        keep = getattr(record, "_tipdrop_keep", None)
        if keep is None:
            keep = record._tipdrop_keep = self._decide(record)
        return keep

    def _decide(self, record):
        if record.name == "py.warnings" and _serving.is_set():
            return False  # its time alone could date a report (the module docstring)
        written = getattr(_request, "written", None)
        if written is not None and written > PER_REQUEST:
            return False  # over budget: not even looked at (nor remembered)
        message = safe_message(record)
        record.msg, record.args = message, None
        record.exc_info = record.exc_text = record.stack_info = None
        if written is None:
            return True  # not inside a request: start-up, shutdown, the master
        if message in _request.seen:
            return False
        _request.seen.add(message)
        _request.written = written + 1
        if written == PER_REQUEST:
            record.msg = f"further log messages of this request dropped (more than {PER_REQUEST})"
        return True


def _log_uncaught(exc_type, exc_value, exc_traceback, thread=None):
    """Uncaught exceptions go through the guarded log too (class name only), not raw to stderr."""
    where = f" in thread {thread.name}" if thread is not None else ""
    logging.getLogger("tipdrop").error("uncaught exception%s", where,
                                       exc_info=(exc_type, exc_value, exc_traceback))


_GUARD = LogGuard()


def guard_handlers(logger):
    for handler in logger.handlers:
        if _GUARD not in handler.filters:
            handler.addFilter(_GUARD)


def guard_process_logging(handlers=None):
    """Send Python warnings and every logger through ``handlers`` (default: stderr), guarded."""
    logging.captureWarnings(True)
    root = logging.getLogger()
    if handlers is not None:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
    elif not root.handlers:
        root.addHandler(logging.StreamHandler())
    if root.level == logging.NOTSET or root.level < logging.WARNING:
        root.setLevel(logging.WARNING)
    guard_handlers(root)
    sys.excepthook = _log_uncaught
    threading.excepthook = lambda args: _log_uncaught(
        args.exc_type, args.exc_value, args.exc_traceback, args.thread)


def _handlers():
    """Every handler of every logger of this process, once each."""
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)]
    seen = []
    for logger in loggers:
        for handler in logger.handlers:
            if handler not in seen:
                seen.append(handler)
    return seen


def _writes_to_stderr(handler):
    stream = getattr(handler, "stream", None)
    if isinstance(handler, logging.FileHandler) or stream is None:
        return False
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


def quiet_while_serving():
    """From now on, this process writes only its guarded log records (the module docstring).

    Python warnings are dropped; file descriptor 2 becomes /dev/null, after
    the handlers that wrote to it were given a copy of it. Call it once the
    app is loaded, before the first request (a worker's threads start after).
    """
    _serving.set()
    sys.stderr.flush()
    original = os.dup(2)
    os.set_inheritable(original, False)
    copy = os.fdopen(original, "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    for handler in _handlers():
        if _writes_to_stderr(handler):
            handler.acquire()
            try:
                handler.flush()
                handler.stream = copy
            finally:
                handler.release()
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)


class GunicornLogger(Logger):
    """gunicorn's logger, guarded (LogGuard), and with no access log whatever is configured."""

    def setup(self, cfg):
        super().setup(cfg)
        guard_handlers(self.error_log)
        guard_process_logging(list(self.error_log.handlers))

    def access(self, resp, req, environ, request_time):
        """Never: an access log names the client (docs/threat-model.md)."""
