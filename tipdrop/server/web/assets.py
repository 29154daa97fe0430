"""Static files under fingerprinted names: cached for good, and sent compressed.

Every page is ``no-store`` (security.py): nothing a reporter saw may stay
in the browser's cache. The style sheet, scripts and icon hold nothing
about anyone, and a reporter on a slow mobile link should not fetch them
again on every page. So each is also served as
``/assets/<path>.<first 16 hex digits of its SHA-256>.<ext>``, with
``Cache-Control: public, max-age=31536000, immutable``: a changed file gets
a new name, so a cached copy can never be stale. Text files are gzipped
once, at start, and sent compressed to a browser that accepts gzip.
The plain ``/static/...`` addresses still work, uncached.
"""

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, request, url_for

bp = Blueprint("assets", __name__)

FOLDER = Path(__file__).resolve().parent / "static"
#: What a fingerprinted file's answer says about caching.
IMMUTABLE = "public, max-age=31536000, immutable"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class Asset:
    content_type: str
    data: bytes
    gzipped: bytes | None


class Assets:
    """The static folder, read once: fingerprinted name -> Asset, plain -> fingerprinted name."""

    def __init__(self, folder: Path = FOLDER):
        self.files: dict[str, Asset] = {}
        self.names: dict[str, str] = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            plain = path.relative_to(folder).as_posix()
            data = path.read_bytes()
            stem, _, ext = plain.rpartition(".")
            name = f"{stem}.{hashlib.sha256(data).hexdigest()[:16]}.{ext}"
            kind = (_TYPES.get(path.suffix) or mimetypes.guess_type(plain)[0]
                    or "application/octet-stream")
            packed = gzip.compress(data, 9, mtime=0)
            self.files[name] = Asset(kind, data, packed if len(packed) < len(data) else None)
            self.names[plain] = name

    def url(self, filename: str) -> str:
        """The fingerprinted address of static file ``filename`` (as url_for('static') takes it)."""
        return url_for("assets.asset", name=self.names[filename])


def init_app(app):
    app.extensions["tipdrop_assets"] = Assets()
    app.jinja_env.globals["asset"] = app.extensions["tipdrop_assets"].url
    app.register_blueprint(bp)


@bp.get("/assets/<path:name>")
def asset(name):
    found = current_app.extensions["tipdrop_assets"].files.get(name)
    if found is None:
        abort(404)
    gzipped = found.gzipped is not None and request.accept_encodings["gzip"] > 0
    response = Response(found.gzipped if gzipped else found.data, content_type=found.content_type)
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    if found.gzipped is not None:
        response.headers["Vary"] = "Accept-Encoding"
    response.headers["Cache-Control"] = IMMUTABLE
    return response
