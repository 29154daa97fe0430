"""Sending a device-sealed report in pieces that resume after a dropped connection.

The reference implementation of docs/protocol.md section 19, the same steps
as the submit page's JavaScript (static/js/resume.js): a random upload key,
begin (which also says where to resume), the pieces in order each with its
SHA-256, and finish with the chain over every piece. Any network failure or
busy answer is met by waiting a little, asking the server how far it got and
going on from there, so a report of any size arrives once, whatever the
connection does, and a finish whose answer was lost is simply asked again.

Past the submit limit, the request that begins an upload is answered 429
with an anti-flood puzzle (docs/protocol.md section 21): it is solved here
and the begin sent again with the solution. Only that request is limited;
the pieces and the finish of an admitted upload, and a resumed begin (its
upload exists), never are.

An upload the server no longer holds (given up as idle, past its lifetime,
its pieces swept or damaged: :data:`GONE`), or one it made anew when asked
how far it got (a resumed begin answered 201), is sent again from its first
byte under a new upload key: the same sealed bytes, whose tip id keeps the
report from being stored twice (docs/protocol.md section 19, "Starting
over"). At most ``max_restarts`` times, then :class:`UploadStartedOverError`,
so a server that keeps deleting the upload is not sent to for ever.

Every begin names the report digest of the sealed bytes (docs/protocol.md
section 19, "Lost answers"): if the server stored them lately under another
upload (the answer to that finish was lost, and its upload too), it answers
409 ``ReportStoredError`` and this client raises :class:`ReportStoredError`:
the report is stored once, and the caller says so, truthfully, instead of
a failure that would have the reporter send it again. A success answer that
cannot be read (the connection was cut while it came) is asked for again,
as a lost one is.

Standard library only; the body is read from a seekable file (the sealed
parts one after another), one piece in memory at a time.
"""

import http.client
import json
import secrets
import time
from dataclasses import dataclass, field

from tipdrop.protocol import puzzle, uploads

#: Statuses worth trying again after a pause (busy, overloaded, slow)...
_AGAIN = {408, 429, 502, 503, 504}
#: ...and the 409s that say "not yet": a piece that lost a race, a report being
#: stored by a request whose answer was lost. Another 409 (a stale unit key) is final.
_AGAIN_409 = {"UploadBusyError", "PieceOutOfOrderError", "UploadIncompleteError"}


#: The answers that say the server no longer holds the upload, and only those:
#: a refusal of the report itself (400, 413, a stale unit key) is final.
GONE = {404: "UploadNotFoundError", 409: "UploadSweptError", 422: "ChainMismatchError"}
#: New uploads of one report after the server lost the one before (resume.js: the same).
MAX_RESTARTS = 2


def _again(status, answer):
    return status in _AGAIN or (status == 409 and isinstance(answer, dict)
                                and answer.get("error") in _AGAIN_409)


def _gone(status, answer):
    return status in GONE and isinstance(answer, dict) and answer.get("error") == GONE[status]


class UploadRefusedError(Exception):
    """The server refused the upload for good (the status and its message say why)."""

    def __init__(self, status, answer):
        self.status, self.answer = status, answer
        super().__init__(f"{status}: {answer.get('message', '') if isinstance(answer, dict) else ''}")


class UploadStartedOverError(UploadRefusedError):
    """The server lost the upload again after ``max_restarts`` new ones (the last answer says how)."""


class ReportStoredError(Exception):
    """The report is stored on the server, but the answer with its receipt was lost on the way.

    ``answer`` is the server's refusal (its ``message`` says so in the
    request's language); no second report was made.
    """

    def __init__(self, answer):
        self.answer = answer
        super().__init__(answer.get("message", "") if isinstance(answer, dict) else "")


def _stored(status, answer):
    return status == 409 and isinstance(answer, dict) and answer.get("error") == "ReportStoredError"


class _Gone(UploadRefusedError):
    """The server no longer holds this upload: :meth:`ResumableUpload.send` begins a new one."""


@dataclass
class ResumableUpload:
    """One report's upload to ``host:port`` (plain HTTP: tests and benches on loopback)."""

    host: str
    port: int
    request: dict
    key: str = field(default_factory=lambda: secrets.token_hex(16))
    timeout: float = 30.0
    pause: float = 0.5
    max_attempts: int = 1000
    #: How many times the connection failed or the server asked to wait.
    interruptions: int = 0
    #: How many anti-flood puzzles were solved to begin.
    puzzles_solved: int = 0
    #: New uploads begun at most after the server lost one, and how many were.
    max_restarts: int = MAX_RESTARTS
    restarts: int = 0

    def _call(self, method, path, body=b"", headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body,
                         headers={"Idempotency-Key": self.key, **(headers or {})})
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        try:
            answer = json.loads(data)
        except ValueError:
            answer = {}
        if response.status < 300 and not (isinstance(answer, dict) and answer):
            # Cut off while it came: asked for again, as a lost answer is.
            raise http.client.HTTPException("the answer could not be read")
        return response.status, answer

    def _json(self, path, doc, solution=None):
        headers = {"Content-Type": "application/json"}
        if solution:
            headers[puzzle.SOLUTION_HEADER] = solution
        return self._call("POST", path, json.dumps(doc).encode("utf-8"), headers)

    def _retrying(self, step):
        """Run ``step(solution)`` until it neither fails on the network nor asks to wait.

        A 429 with a puzzle is solved and the step run again with the
        solution (at most puzzle.MAX_SOLVES in a row). The solution is kept
        for the retries of a network failure: if the server admitted it and
        the answer was lost, the upload exists and it is not looked at again.
        """
        solution, solves = None, 0
        for _ in range(self.max_attempts):
            try:
                status, answer = step(solution)
            except (OSError, http.client.HTTPException):
                status, answer = None, None
            offer = puzzle.puzzle_of(answer) if status == 429 else None
            if offer is not None:
                if solves >= puzzle.MAX_SOLVES:
                    raise UploadRefusedError(status, answer)
                solution, solves = puzzle.solve_offered(offer), solves + 1
                self.puzzles_solved += 1
                continue
            if status is not None and _stored(status, answer):
                raise ReportStoredError(answer)
            if status is not None and _gone(status, answer):
                raise _Gone(status, answer)
            if status is not None and not _again(status, answer):
                if status >= 400:
                    raise UploadRefusedError(status, answer)
                return status, answer
            self.interruptions += 1
            time.sleep(self.pause)
        raise UploadRefusedError(0, {"message": "gave up after too many attempts"})

    def send(self, body, *, receipt_page=False):
        """Upload ``body`` (a seekable binary file) and store the report; return the answer.

        ``key`` is the first upload's key; each new upload after the server
        lost one has a new key (``key`` then names the last). Raises
        :class:`ReportStoredError` if the server holds these sealed bytes as
        a report already (stored by an upload whose answer was lost).
        """
        self.request = {**self.request, "report_digest": report_digest(body, self.request)}
        while True:
            try:
                return self._upload(body, receipt_page)
            except _Gone as gone:
                self._start_over(gone.status, gone.answer)
                self.key = secrets.token_hex(16)  # the same bytes, as a new upload

    def _start_over(self, status, answer):
        """The server lost the upload: count it, or give up past ``max_restarts``."""
        if self.restarts >= self.max_restarts:
            raise UploadStartedOverError(status, answer)
        self.restarts += 1

    def _upload(self, body, receipt_page):
        """One upload of ``body`` under ``key``, to its finish answer; _Gone if the server lost it."""
        digests, admitted = [], False
        while True:
            begun, status = self._retrying(
                lambda solution: self._json("/api/v1/uploads", self.request, solution))
            if admitted and begun == 201:
                # Asked how far it got, the server made it anew (it had lost it): from byte 0.
                self._start_over(begun, status)
            admitted = True
            received, count = status["received"], status["pieces"]
            _digests_up_to(body, digests, received)
            if status["state"] != "open" or received == count:
                break  # all there, or being stored (finish answers when it is)
            if self._pieces(body, received, count, digests):
                break
        _digests_up_to(body, digests, count)
        chain = uploads.chain(uploads.upload_id(self.key), digests)
        query = "?receipt_page=yes" if receipt_page else ""
        _, answer = self._retrying(
            lambda _: self._json(f"/api/v1/uploads/finish{query}", {"chain": chain.hex()}))
        return answer

    def _pieces(self, body, start, count, digests):
        """Send pieces ``start`` to the end; True when all went, False to resume after a failure."""
        body.seek(start * uploads.PIECE_BYTES)
        for index in range(start, count):
            data = body.read(uploads.PIECE_BYTES)
            digest = uploads.piece_digest(data)
            try:
                status, answer = self._call(
                    "PUT", f"/api/v1/uploads/pieces/{index}", data,
                    {"Content-Type": "application/octet-stream", "Piece-Digest": digest.hex()})
            except (OSError, http.client.HTTPException):
                self.interruptions += 1
                time.sleep(self.pause)
                return False
            if status != 200:
                if _gone(status, answer):
                    raise _Gone(status, answer)
                # A damaged piece (422) is sent again; a busy answer is waited out.
                if not _again(status, answer) and status != 422:
                    raise UploadRefusedError(status, answer)
                self.interruptions += 1
                time.sleep(self.pause)
                return False
            digests.append(digest)
        return True


def report_digest(body, request):
    """The report digest (hex) of ``body`` sealed under the request's tip id (protocol.md 19)."""
    digests: list = []
    body.seek(0, 2)
    _digests_up_to(body, digests, uploads.piece_count(body.tell()))
    return uploads.report_digest(request["tip_id"], digests).hex()


def _digests_up_to(body, digests, count):
    """Make ``digests`` the digests of the first ``count`` pieces of ``body``."""
    del digests[count:]
    while len(digests) < count:
        body.seek(len(digests) * uploads.PIECE_BYTES)
        digests.append(uploads.piece_digest(body.read(uploads.PIECE_BYTES)))


def write_body(parts, out):
    """Write the file parts of a sealed upload (common.multipart.Part, as client.seal_upload
    makes them) one after another to ``out``; return the begin request's fields.

    The text fields (region, category, tip_id) become the request's members;
    every file part is listed with its size, in the order written.
    """
    request = {"parts": []}
    for part in parts:
        if part.filename is None:
            request[part.name] = part.data.decode("utf-8")
            continue
        if part.path is None:
            out.write(part.data)
        else:
            with open(part.path, "rb") as src:
                while block := src.read(uploads.PIECE_BYTES):
                    out.write(block)
        request["parts"].append([part.name, part.size()])
    return request
