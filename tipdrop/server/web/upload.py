"""Read a multipart form as it streams in, encrypting files on the way.

Werkzeug's own form parser spools large uploads to temporary files in
plaintext; tipdrop must never write plaintext to disk (docs/design.md, invariant 1). So the
submit views do not touch ``request.form`` or ``request.files``: they run
tipdrop's streaming multipart reader (multipart.py) here, keep text fields in memory
under a hard limit, and hand each file's bytes straight to an encrypting
writer (see attachments.AttachmentWriter) as they arrive, without copying them first.

A body of at most SMALL_BODY bytes (a report without a large attachment)
is read whole into memory first and then parsed alike; only a larger one
streams, under an upload slot (:func:`upload_slot`).

Files are encrypted to the unit of the chosen region, so the ``region``
field must come before the first file: the HTML form is laid out that way,
and API clients are told so in the OpenAPI document.
"""

import io
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from flask import g, request
from werkzeug.exceptions import RequestEntityTooLarge

from tipdrop.errors import InputError, TextEncodingError
from tipdrop.server.web.body import check_length, is_chunked, read_small
from tipdrop.server.web.context import extension
from tipdrop.server.web.deadlines import HOLDS_UPLOAD_SLOT, open_body
from tipdrop.server.web.multipart import MalformedForm, MultipartReader

#: What one read of the body asks for (tipdrop/server/web/deadlines.py asks less of a
#: slow client). gunicorn reads a body ahead up to 1 MiB and copies everything
#: it holds on every read, so 64 KiB reads cost about 2 MiB of copying each:
#: a third of an upload's time (bench/RESULTS.md, "Attachment upload").
BODY_READ = 1024 * 1024
MAX_FIELD_BYTES = 128 * 1024
MAX_FIELDS_TOTAL = 512 * 1024
MAX_PARTS = 64


class FormError(InputError):
    """The form could not be read. Please try again."""

    detail_is_message = False


class RegionFirstError(InputError):
    """Please choose a region before attaching files."""

    detail_is_message = False


def _decode(name, raw):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TextEncodingError(f"the field {name!r}") from None


@dataclass
class Typed:
    """What a submission's form brought, as far as it was read: its text fields and
    the names of its files (never their bytes).

    Only in memory, for the one answer that shows a refused form again
    (submit_again.py); never stored, logged or put in an address.
    """

    fields: dict = field(default_factory=dict)
    files: list = field(default_factory=list)
    #: Whether any part of the form was read: a refusal before that (a rate
    #: limit, no upload slot free, a body declared too large or that never
    #: arrived) knows nothing typed.
    read: bool = False


class _Parser:
    """What the multipart reader finds, turned into fields (in memory) and files (encrypted)."""

    def __init__(self, start_draft, typed=None):
        self.start_draft = start_draft
        self.typed = typed if typed is not None else Typed()
        self.fields = self.typed.fields
        self.draft = None
        self.part = None
        self.buffer = None
        self.writer = None
        self.field_bytes = 0

    def start_part(self, name, filename, headers):
        self.typed.read = True
        if not name:
            raise FormError("a part of the form has no name")
        if filename is None:
            if name in self.fields:
                raise FormError(f"the field {name!r} appears twice")
            self.part, self.buffer, self.writer = name, bytearray(), None
        else:
            self._start_file(name, filename, headers.get("content-type", ""))

    def _start_file(self, name, filename, content_type):
        self.part, self.buffer = name, None
        if not filename:
            # An empty <input type=file>: browsers send a nameless, empty part.
            self.writer = None
            return
        self.typed.files.append(str(filename)[:255])
        if self.draft is None:
            if not self.fields.get("region"):
                raise RegionFirstError()
            self.draft = self.start_draft(self.fields)
        self.writer = self.draft.new_file(name, filename, content_type)

    def data(self, view):
        if self.buffer is not None:
            self.field_bytes += len(view)
            if len(self.buffer) + len(view) > MAX_FIELD_BYTES or (
                self.field_bytes > MAX_FIELDS_TOTAL
            ):
                raise RequestEntityTooLarge()
            self.buffer += view
        elif self.writer is not None:
            self.writer.write(view)

    def end_part(self):
        if self.buffer is not None:
            self.fields[self.part] = _decode(self.part, bytes(self.buffer))
        self.buffer = self.writer = None


MAX_SMALL_FORM = 256 * 1024

#: A body that declares at most this many bytes is read whole into memory
#: before any work, under the body deadlines as a JSON document is, and
#: takes no upload slot (:func:`upload_slot`): a report without a large
#: attachment (a text-only form without JavaScript, a small device-sealed
#: report, the last piece of a resumable one). The upload slots bound the
#: threads busy *streaming* a body from the network; clients trickling large
#: bodies just above TIPDROP_MIN_BODY_RATE can hold them all, and reports
#: must not wait on that (docs/threat-model.md, "A flood of junk"). The same
#: bound as a JSON document or a small form: such a body adds no kind of
#: thread use or memory the server did not already have (at most one per
#: thread: tests/e2e/test_flood.py, memory_bound_mib).
SMALL_BODY = MAX_SMALL_FORM


def is_small_body(request):
    """Whether the request declares a body of at most SMALL_BODY bytes (a chunked one never does)."""
    length = request.content_length
    return length is not None and length <= SMALL_BODY and not is_chunked(request)


def upload_slot(request):
    """What reading this request's body holds: an upload slot, or nothing for a small body.

    Taken with no wait (503 BusyError when all are held), before the body is
    read; a small body is read without one (SMALL_BODY).
    """
    if is_small_body(request):
        return nullcontext()
    return _streaming_slot()


@contextmanager
def _streaming_slot():
    with extension("upload_slots")():
        # From here the server receives and stores a large body: a refusal
        # after this point (say, no Argon2 slot for the receipt) keeps the
        # request's count, or it could send large bodies for free
        # (context.uncount_request).
        g.pop("uncount", None)
        # A body too slow for its slot may be ended to make room (Deadlines.reclaim).
        request.environ[HOLDS_UPLOAD_SLOT] = True
        try:
            yield
        finally:
            request.environ.pop(HOLDS_UPLOAD_SLOT, None)


def read_small_form(request):
    """Parse a small url-encoded form strictly: invalid UTF-8 is an error, not mojibake.

    Used by every POST except submit; it never reads more than
    MAX_SMALL_FORM bytes and never touches the disk.
    """
    if request.mimetype != "application/x-www-form-urlencoded":
        raise FormError("expected a url-encoded form")
    body = read_small(request, MAX_SMALL_FORM)
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True,
                          strict_parsing=False, encoding="utf-8", errors="strict",
                          max_num_fields=MAX_PARTS)
    except UnicodeDecodeError:
        raise TextEncodingError() from None
    except ValueError:
        raise FormError("too many fields") from None
    fields = {}
    for name, value in pairs:
        if name in fields:
            raise FormError(f"the field {name!r} appears twice")
        fields[name] = value
    return fields


class _InMemory(io.BytesIO):
    """A small body already read, handed to the multipart reader as a stream is."""

    def read_piece(self, size):
        return self.read(size)


class _FieldsOnly(_Parser):
    """Only the text fields and the files' names: a file's bytes are dropped unread."""

    def _start_file(self, name, filename, content_type):
        self.part, self.buffer, self.writer = name, None, None
        if filename:
            self.typed.files.append(str(filename)[:255])


def read_typed(request, typed):
    """Read into ``typed`` the fields of a submission refused before its body was read.

    Only a small body (SMALL_BODY), which a submission reads whole before
    any work anyway: a large one is left unread (its sender may be the
    flood the refusal holds back), and ``typed`` stays empty. Any failure
    to read it leaves ``typed`` with what was read.
    """
    if typed.read or not is_small_body(request) or request.mimetype != "multipart/form-data":
        return
    boundary = request.mimetype_params.get("boundary", "").encode("ascii", "replace")
    try:
        stream = _InMemory(read_small(request, SMALL_BODY))
        MultipartReader(stream.read_piece, boundary, _FieldsOnly(None, typed),
                        read_size=BODY_READ, max_parts=MAX_PARTS,
                        max_preamble=MAX_FIELD_BYTES).run()
    except Exception:  # what could be read is kept; the refusal stands either way
        return


def read_submission(request, start_draft, max_body, typed=None):
    """Parse a multipart submission; return (fields, draft or None).

    ``start_draft(fields)`` is called at the first file, with the fields
    read so far, and returns a tips.Draft. On any error every file written
    so far is discarded before the error propagates; ``typed`` (a Typed)
    then holds what was read, for the form shown again.
    """
    if request.mimetype != "multipart/form-data":
        raise FormError("expected multipart/form-data")
    boundary = request.mimetype_params.get("boundary", "").encode("ascii", "replace")
    if not boundary:
        raise FormError("missing multipart boundary")
    check_length(request, max_body)
    parser = _Parser(start_draft, typed)
    if is_small_body(request):
        # Whole, before any work (SMALL_BODY); a body that stalls ends here
        # in SlowClientError, before anything was started.
        stream = _InMemory(read_small(request, SMALL_BODY))
    else:
        # Under the read deadline and minimum rate: a stalled upload ends in
        # SlowClientError and is discarded below like any other broken one.
        stream = open_body()
    received = 0

    def read(size):
        nonlocal received
        # Each piece as the server returns it: the reader hands views of it on.
        piece = stream.read_piece(size)
        received += len(piece)
        if received > max_body:
            raise RequestEntityTooLarge()
        return piece

    try:
        MultipartReader(read, boundary, parser, read_size=BODY_READ, max_parts=MAX_PARTS,
                        max_preamble=MAX_FIELD_BYTES).run()
    except MalformedForm:
        if parser.draft is not None:
            parser.draft.discard()
        raise FormError("the upload was malformed or cut short") from None
    except BaseException:
        if parser.draft is not None:
            parser.draft.discard()
        raise
    finally:
        stream.close()
    return parser.fields, parser.draft
