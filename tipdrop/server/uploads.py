"""Device-sealed reports uploaded in pieces that survive a dropped connection.

The protocol is docs/protocol.md section 17; the digests are
tipdrop/protocol/uploads.py. In short: the device names the upload by a
random key (which the server never stores, only its :func:`upload_id`),
says once what it will send (region, category, tip id, and the name and
size of each sealed part, in order), sends the concatenated parts in pieces
of PIECE_BYTES, each with its SHA-256, strictly in order, and finally asks
the server to store the report, giving the chain over all pieces.

Asking to begin again with the same key and the same request answers how
many pieces arrived: that is how a device resumes. The end is all or
nothing: the parts are read back from the pieces into the same checks as a
one-request sealed upload (tipdrop.server.sealed), and the report is stored
in one transaction, or the upload is deleted and the device starts again.
Asking to finish again answers what the first time answered (sealed under a
key derived from the upload key, which only the device holds): a retried
request never makes a second report, and the tip id, bound into every
ciphertext, could not be stored twice anyway.

At most ``max_open`` uploads are unfinished at once, but only those making
progress hold their place: one that received no piece for ``idle_seconds``
(TIPDROP_UPLOAD_IDLE_SECONDS) is deleted, the longest idle first, when a new
upload needs the room (docs/protocol.md section 19, "Idle uploads"). So
begins that send nothing cannot keep reporters out for the uploads' whole
time to live; an upload sending pieces keeps its place until it is done.
Its device, if it comes back, is told the upload is gone and begins again.

Every upload also has a lifetime from its begin, ``lifetime_seconds``
(TIPDROP_UPLOAD_LIFETIME_SECONDS), however often pieces arrive: a request
for an upload past it (begin, piece or finish) deletes the upload and is
refused as a swept one (409 UploadSweptError), so one piece per idle time
cannot hold a place for as many idle times as the upload has pieces
(docs/protocol.md section 19, "Lifetime"). An upload that has all its
pieces is past that check: it is stored, refused or idle.

A begin that names the report digest of a report stored lately (its
device lost the answer, then the upload) is answered 409 ReportStoredError
instead (tipdrop/server/lost_answers.py).

Unfinished uploads (and the answers of finished ones) are deleted by
``tipdrop purge`` once older than TTL_DAYS (and their pieces by the staged
blob sweep, store/blobs.py, two days after they began, whatever happens).
"""

import datetime
import hashlib
import json
import secrets
import sqlite3
from contextlib import nullcontext

from tipdrop.crypto import kdf, pagelink
from tipdrop.errors import CryptoError, InputError
from tipdrop.protocol import uploads as protocol
from tipdrop.protocol.report import MAX_ATTACHMENTS
from tipdrop.server import lost_answers, sealed
from tipdrop.server.settings import Settings
from tipdrop.server.store import blobs
from tipdrop.server.store import uploads as store
from tipdrop.server.upload_moves import UploadMoves

#: Unfinished uploads begun more than this many whole days ago are deleted by
#: ``tipdrop purge``: one begun today lives through tomorrow.
TTL_DAYS = 1
#: The default lifetime of an upload, from its begin (TIPDROP_UPLOAD_LIFETIME_SECONDS).
LIFETIME_SECONDS = Settings.upload_lifetime_seconds
ANSWER_LABEL = "tipdrop/v1/upload-answer"
#: Where the moments of uploads made in this process go when the caller keeps
#: none (tests, tools); a server passes its workers' shared one.
_LOCAL_MOVES = UploadMoves()
_PART_NAMES = ({"tip"} | {f"a{n}" for n in range(1, MAX_ATTACHMENTS + 1)}
               | {f"a{n}-info" for n in range(1, MAX_ATTACHMENTS + 1)})


class UploadKeyError(InputError):
    """The upload could not be continued: its key is not valid. Please send the report again."""

    detail_is_message = False


class UploadRequestError(InputError):
    """The upload could not be started: its description is not valid. Please send the report again."""

    detail_is_message = False


class UploadTooLargeError(InputError):
    """The files are too large. Please send fewer or smaller files at once."""

    http_status = 413
    detail_is_message = False


class UploadKeyReusedError(InputError):
    """This upload key was already used for a different upload. Please send the report again."""

    http_status = 422
    detail_is_message = False


class UploadNotFoundError(InputError):
    """This upload is not known here (it may have expired). Please send the report again."""

    http_status = 404
    detail_is_message = False


class TooManyUploadsError(InputError):
    """Too many reports are being uploaded right now. Please try again in a few minutes."""

    http_status = 503
    detail_is_message = False
    #: Nothing was done: the request's count is taken back (web/context.py).
    refused_before_work = True


class PieceOutOfOrderError(InputError):
    """A piece of the upload arrived out of order. The page will continue where the server stopped."""

    http_status = 409
    detail_is_message = False


class PieceDigestError(InputError):
    """A piece of the upload arrived damaged. The page will send it again."""

    http_status = 422
    detail_is_message = False


class UploadIncompleteError(InputError):
    """Not every piece of the upload has arrived yet. The page will send the rest."""

    http_status = 409
    detail_is_message = False


class UploadBusyError(InputError):
    """This report is being stored right now. Please wait a moment."""

    http_status = 409
    detail_is_message = False


class ChainMismatchError(InputError):
    """The upload arrived damaged and was deleted. Please send the report again."""

    http_status = 422
    detail_is_message = False


def _id(key):
    if not isinstance(key, str) or not protocol.UPLOAD_KEY.fullmatch(key):
        raise UploadKeyError("the upload key must be 32 lower-case hex digits")
    return protocol.upload_id(key)


def _request(doc, max_bytes):
    """The normalised creation request, or UploadRequestError."""
    fields = {name: doc.get(name) for name in ("region", "category", "tip_id")}
    if not all(isinstance(value, str) for value in fields.values()):
        raise UploadRequestError("region, category and tip_id must be strings")
    parts = doc.get("parts")
    if not isinstance(parts, list) or not 1 <= len(parts) <= 2 * MAX_ATTACHMENTS + 1:
        raise UploadRequestError("parts must be a list of [name, size]")
    seen, total = set(), 0
    for part in parts:
        if not (isinstance(part, list) and len(part) == 2 and part[0] in _PART_NAMES
                and type(part[1]) is int and part[1] >= 1):
            raise UploadRequestError("each part is [name, size]: tip, aN-info or aN, size >= 1")
        if part[0] in seen:
            raise UploadRequestError(f"the part {part[0]!r} appears twice")
        seen.add(part[0])
        total += part[1]
    if "tip" not in seen:
        raise UploadRequestError("the part 'tip' is missing")
    if total > max_bytes:
        raise UploadTooLargeError(f"{total} bytes, at most {max_bytes}")
    digest = doc.get("report_digest")
    if digest is not None and not (isinstance(digest, str)
                                   and protocol.REPORT_DIGEST.fullmatch(digest)):
        raise UploadRequestError("report_digest must be 64 lower-case hex digits")
    extra = {} if digest is None else {"report_digest": digest}
    return fields | {"parts": [list(part) for part in parts], "total": total} | extra


def _digest(request):
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode("ascii")).digest()


def _status(row, total):
    return {"received": row["pieces"], "pieces": protocol.piece_count(total),
            "piece_bytes": protocol.PIECE_BYTES, "state": row["state"]}


def _alive(tips, upload, row, lifetime_seconds, moves):
    """``row``, unless its upload is past its lifetime: then it is deleted (UploadSweptError).

    The lifetime bounds the time to receive the pieces: an upload that has
    them all is only ever stored (its finish, however long storing takes,
    and a retried finish), refused and deleted, or given up once idle, so
    it is never deleted here, under a finish that is storing it. A finished
    upload keeps its answer for a retry until the purge. When it began is
    known in RAM only (upload_moves.py): after a restart an upload's
    lifetime counts from the first request this server sees of it.
    """
    if (row["state"] != "done" and moves.past(upload, lifetime_seconds)
            and row["pieces"] < protocol.piece_count(json.loads(row["fields"])["total"])):
        store.drop(tips.db, upload)
        raise blobs.UploadSweptError(f"not received within {lifetime_seconds} seconds")
    return row


def begin(tips, *, key, doc, max_bytes, max_open, idle_seconds,
          lifetime_seconds=LIFETIME_SECONDS, on_new=lambda: None, moves=_LOCAL_MOVES):
    """Start an upload, or say how far it got; returns (status, created).

    ``on_new()`` runs before a new upload is made (the view counts it
    against the submission rate limit there, or spends its puzzle solution:
    once per report, not per retry). Asking how far an upload got is not
    progress: only a piece is. A begin the server has no room for is
    refused (503) *before* ``on_new``: the device tries again later, and
    its tries cost neither the reporter's hourly submissions nor a fresh
    puzzle (docs/protocol.md section 19, "Idle uploads"). When two begins
    race for the last place, the loser's TooManyUploadsError gives its count
    back (web/context.py, uncount_request).
    """
    upload = _id(key)
    request = _request(doc, max_bytes)
    row = store.get(tips.db, upload)
    if row is None:
        # A device that lost the answer to an upload it began under another
        # key: that report is stored, and a second one is not made. Before
        # the room and the count: it costs the reporter nothing.
        lost_answers.refuse_if_stored(tips, request)
        if not store.has_room(tips.db, max_open=max_open, moves=moves,
                              idle_seconds=idle_seconds):
            raise TooManyUploadsError()
        on_new()
        # The same checks a one-request upload meets before its first byte.
        sealed.start(tips, fields=request, max_stream=max_bytes)
        tips.routing.check_category(request["category"])
        try:
            created = store.create(tips.db, {
                "id": upload, "request": _digest(request), "fields": json.dumps(request),
                "blob": secrets.token_hex(16), "day": tips.clock(),
                "chain": protocol.chain_start(upload)},
                max_open=max_open, moves=moves, idle_seconds=idle_seconds)
        except sqlite3.IntegrityError:  # the same key, at the same moment, in another worker
            pass
        else:
            if not created:
                raise TooManyUploadsError()
            return _status(store.get(tips.db, upload), request["total"]), True
        row = store.get(tips.db, upload)
    if not secrets.compare_digest(row["request"], _digest(request)):
        raise UploadKeyReusedError()
    return _status(_alive(tips, upload, row, lifetime_seconds, moves), request["total"]), False


def _open_row(tips, upload, lifetime_seconds, moves):
    row = store.get(tips.db, upload)
    if row is None:
        raise UploadNotFoundError()
    return _alive(tips, upload, row, lifetime_seconds, moves)


def put_piece(tips, *, key, index, digest, data, lifetime_seconds=LIFETIME_SECONDS,
              moves=_LOCAL_MOVES):
    """Store piece ``index`` of an upload if it is the next and its SHA-256 is ``digest`` (hex)."""
    upload = _id(key)
    row = _open_row(tips, upload, lifetime_seconds, moves)
    if row["state"] != "open":
        raise UploadBusyError()
    total = json.loads(row["fields"])["total"]
    count = protocol.piece_count(total)
    if index != row["pieces"] or index >= count:
        raise PieceOutOfOrderError(f"expected piece {row['pieces']}")
    expected = protocol.PIECE_BYTES if index < count - 1 else total - index * protocol.PIECE_BYTES
    actual = protocol.piece_digest(data)
    if len(data) != expected or not secrets.compare_digest(actual.hex(), str(digest)):
        raise PieceDigestError(f"piece {index} does not match its digest or size")
    if not store.add_piece(tips.db, upload, index, data,
                           protocol.chain_next(row["chain"], index, actual), moves):
        # Deleted meanwhile (idle, past its lifetime, or purged): the device begins again.
        _open_row(tips, upload, lifetime_seconds, moves)
        raise PieceOutOfOrderError("another request stored this piece first")
    return index + 1


def _answer_key(key):
    return kdf.expand(bytes.fromhex(key), ANSWER_LABEL)


def finish(tips, *, key, chain, max_bytes, answer_for, admit=lambda total: nullcontext(),
           lifetime_seconds=LIFETIME_SECONDS, moves=_LOCAL_MOVES):
    """Store the report the pieces make; returns (answer, first time?).

    ``admit(total)`` (the upload's size in bytes) is held while the pieces
    are read back and stored, and may refuse (the web view's upload slot for
    a large upload).

    ``answer_for(receipt)`` makes the answer (the view adds the receipt page
    link); it is kept sealed under the upload key, in the report's own
    transaction, so a retry gets it again, even after a crash. Two finishes
    of one upload at once both read the pieces; the one whose report is
    stored second finds the upload done and answers as the first did. A
    finish with the right chain claims the upload (``storing``) before
    reading its pieces, so one naming a wrong chain meanwhile cannot delete
    them under it (:func:`_refuse_chain`).
    """
    upload = _id(key)
    row = _open_row(tips, upload, lifetime_seconds, moves)
    if row["state"] == "done":
        return _stored_answer(row, key, upload), False
    # "storing": claimed by a finish with the right chain, still storing it or
    # cut off by a crash; a retry with the right chain goes on as for "open".
    request = json.loads(row["fields"])
    try:
        lost_answers.refuse_if_stored(tips, request)
    except lost_answers.ReportStoredError:
        # Stored meanwhile under another key of the same device (it started over).
        store.drop(tips.db, upload)
        raise
    if row["pieces"] != protocol.piece_count(request["total"]):
        raise UploadIncompleteError(f"{row['pieces']} pieces received")
    if not (isinstance(chain, str) and secrets.compare_digest(row["chain"].hex(), chain)):
        _refuse_chain(tips, key, upload)
    if not store.claim(tips.db, upload, moves):  # being stored: not idle
        return _done_or_gone(tips, key, upload), False
    answers = []

    def keep_answer(db, receipt, digests):
        # In the report's own transaction: a crash stores both or neither, so a
        # retry finds the report done with its answer, or starts it again.
        # The report digest is the server's own, over the pieces it stored.
        lost_answers.remember(tips, db, request["tip_id"], digests)
        answer = answer_for(receipt)
        if not store.finish(db, upload, pagelink.seal(
                json.dumps(answer).encode("utf-8"), _answer_key(key), purpose="upload-answer",
                link_id=upload), moves):
            raise UploadNotFoundError("purged while it was being stored")
        answers.append(answer)

    # Refused here (busy), the upload is kept whole: the device asks again.
    with admit(request["total"]):
        try:
            _assemble(tips, row, request, max_bytes, keep_answer)
        except BaseException as error:
            row = store.get(tips.db, upload)
            if row is not None and row["state"] == "done":
                # Another request for this upload (the same finish, sent again while
                # this one ran) stored the report first: answer as it did.
                return _stored_answer(row, key, upload), False
            if not _try_again(error):
                store.drop(tips.db, upload)
            raise
    return answers[0], True


def _try_again(error):
    """Whether a finish failed only because the server was busy (503): its upload is kept.

    Storing the report needs an Argon2 slot for its receipt, waited for a
    moment only; refused busy, the pieces were deleted and the device had
    to send the whole upload again, so a flood of checks keeping the slots
    busy made every large device report start over. Kept claimed
    (``storing``), as a finish cut off by a crash leaves it, the upload is
    stored by the device's retry of the finish (docs/protocol.md section 19).
    """
    return getattr(error, "http_status", None) == 503


def _refuse_chain(tips, key, upload):
    """Refuse a finish naming a chain that is not the server's.

    Alone, it deletes the upload (ChainMismatchError: the device starts
    again). While a finish with the right chain stores the report (claimed,
    ``storing``), it deletes nothing and is told so (UploadBusyError): the
    pieces are the ones that chain names, and a retry gets the report's
    answer. Decided in one transaction with the claim (store.claim,
    store.drop_unclaimed), so the two never both win.
    """
    if store.drop_unclaimed(tips.db, upload):
        raise ChainMismatchError()
    row = store.get(tips.db, upload)
    if row is None:
        raise UploadNotFoundError()
    if row["state"] == "done":
        raise UploadBusyError("stored by another request meanwhile: ask again for its answer")
    raise UploadBusyError("another request with the right chain is storing it")


def _done_or_gone(tips, key, upload):
    """The stored answer of an upload finished meanwhile, or UploadNotFoundError."""
    row = store.get(tips.db, upload)
    if row is None:
        raise UploadNotFoundError("deleted meanwhile")
    return _stored_answer(row, key, upload)


def _stored_answer(row, key, upload):
    """The answer the first finish gave, opened with the upload key."""
    try:
        plain = pagelink.open_(row["answer"], _answer_key(key), purpose="upload-answer",
                               link_id=upload)
    except CryptoError:
        raise UploadKeyError("the stored answer does not open with this key") from None
    return json.loads(plain)


def _assemble(tips, row, request, max_bytes, also):
    """Read the parts back from the pieces into the one-request checks; store; return the receipt."""
    draft = sealed.start(tips, fields=request, max_stream=max_bytes)
    reader = blobs.Reader(tips.db, row["blob"])
    pieces = protocol.PieceDigests()
    try:
        for name, size in request["parts"]:
            writer = draft.new_file(name, name, "")
            left = size
            while left:
                data = reader.read(min(left, protocol.PIECE_BYTES))
                if not data:
                    raise sealed.SealedFormatError("the pieces are shorter than the parts")
                writer.write(data)
                pieces.update(data)
                left -= len(data)
    except BaseException:
        draft.discard()
        raise
    digests = pieces.finish()
    return sealed.submit(tips, draft, region=request["region"], category=request["category"],
                         also=lambda db, receipt: also(db, receipt, digests))


def purge_expired(db, today, dry_run=False):
    """Delete uploads begun more than TTL_DAYS whole days before ``today``; return how many."""
    day = today if isinstance(today, datetime.date) else datetime.date.fromisoformat(today)
    return store.delete_older(db, (day - datetime.timedelta(days=TTL_DAYS)).isoformat(), dry_run)
