"""The officer API (/officer/v1): the online variant of export and import-replies.

Its audience is a unit's workstation, not reporters. Every request is
signed with the unit's key (officer_auth.py); the server checks it against
the public keys in keys/ and remembers each nonce for the time window, so
it holds no password and no token (docs/design.md, invariant 6). A request that fails any
check is answered 401 before anything is read from or written to the
database, except the nonce of a request that passed every other check.

Nothing about these requests is logged; responses are never cached (the
global Cache-Control: no-store). Errors are JSON, like /api/v1.
"""

import os
import secrets
import time
from functools import wraps

from flask import Blueprint, abort, current_app, request
from werkzeug.wsgi import wrap_file

from tipdrop.errors import InputError, TipdropError
from tipdrop.protocol import acks, bundles, officer_auth
from tipdrop.server import exchange, store
from tipdrop.server.web.context import extension, get_db

bp = Blueprint("officer_api", __name__, url_prefix="/officer/v1")


class RequestTooLargeError(TipdropError):
    """The request is too large for the officer API."""

    http_status = 413



def _read_body(limit):
    """The whole request body, refused with 413 beyond ``limit`` bytes.

    Read before the signature is checked because its hash is signed; the
    limit keeps that cheap. Officer bodies are signed ciphertext bundles,
    never plaintext, so holding one in memory is harmless.
    """
    if (request.content_length or 0) > limit:
        raise RequestTooLargeError(f"at most {limit} bytes")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise RequestTooLargeError(f"at most {limit} bytes")
    return body


def _target():
    """The signed request target: path (behind any mount point) and query string."""
    query = request.query_string.decode("latin-1")
    return request.root_path + request.path + (f"?{query}" if query else "")


def signed(max_body):
    """Run the view only for a request signed by an installed unit key.

    The view receives the unit's name and the request body.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(**kwargs):
            body = _read_body(max_body)
            now = int(time.time())
            public = officer_auth.verify_request(
                request.headers, extension("unit_keys"), method=request.method,
                target=_target(), body=body, now=now,
                remember_nonce=lambda nonce, expires: store.remember_nonce(
                    get_db(), nonce, expires, now),
            )
            return view(public.unit, body, **kwargs)

        return wrapper

    return decorator


@bp.get("/export")
@signed(max_body=0)
def export(unit, body):
    """Stream an export bundle of the unit's new ciphertext.

    The bundle is built completely in a private file first (so the cursor
    moves only after the whole bundle exists, as for ``tipdrop export``),
    then unlinked while open and streamed from the open file: nothing is
    left behind, even if the workstation goes away mid-download. The cursor
    has then moved anyway; ``?since_start=1`` exports everything again.
    """
    if request.method != "GET":
        abort(405)  # Flask adds HEAD: it would move the cursor and deliver nothing
    since_start = request.args.get("since_start", "0")
    if since_start not in ("0", "1"):
        raise InputError("since_start must be 0 or 1")
    settings = current_app.config["TIPDROP"]
    folder = settings.data_dir / "exports"
    folder.mkdir(mode=0o700, exist_ok=True)
    _sweep(folder)
    path = folder / f"{secrets.token_hex(16)}.tdx"
    counts = exchange.export_unit(get_db(), settings.attachments_dir, unit=unit, out=path,
                                  since_start=since_start == "1")
    f = open(path, "rb")
    try:
        os.unlink(path)
        size = os.fstat(f.fileno()).st_size
    except BaseException:
        f.close()
        raise
    response = current_app.response_class(wrap_file(request.environ, f),
                                          mimetype="application/octet-stream",
                                          direct_passthrough=True)
    response.content_length = size
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{unit}-export-{counts["export_seq"]}.tdx"')
    return response


def _sweep(folder, stale_after=3600):
    """Remove exports a crash left behind (kill -9 mid-export).

    Only ciphertext, but a purged tip must not live on in one (docs/design.md, invariant 9).
    A file still being written is touched constantly, so age tells them apart.
    """
    cutoff = time.time() - stale_after
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass  # another worker swept it first


@bp.post("/replies")
@signed(max_body=bundles.MAX_REPLY_BUNDLE)
def replies(unit, body):
    """Import a reply bundle of the signing unit: all of it or nothing.

    Replies the server already holds byte for byte count as already held,
    so a push whose answer was lost can simply be repeated.
    """
    counts = exchange.import_replies(get_db(), extension("unit_keys"), body, sender=unit,
                                     alerts=extension("alerts"))
    return counts, 201


@bp.post("/acks")
@signed(max_body=acks.MAX_ACK)
def export_ack(unit, body):
    """Record the signing unit's acknowledgement that it holds exported items.

    Verified and recorded like ``tipdrop import-ack``, all or nothing; a
    repeated acknowledgement changes nothing, so a lost answer is harmless.
    """
    return exchange.import_ack(get_db(), extension("unit_keys"), body, sender=unit), 201
