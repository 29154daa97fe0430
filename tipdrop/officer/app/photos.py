"""Photos on a tip's page: shown as fresh images redrawn in a limited process, never the file.

The tip page asks :func:`photo_view` for each file (a template function, so
views.tip stays as it is): a photo is decrypted into memory and redrawn by
tipdrop/officer/sandbox.py (the desk keeps the result until Lock), and the
page shows either an ``<img>`` of this app's address or the message saying
why it was not shown. The address serves only that redrawn JPEG, with a fixed
``image/jpeg`` type, ``nosniff`` and a sandboxing CSP; each time it is served
is an ``view-attachment`` entry in the audit log. Other files are only
offered for saving (views.attachment).
"""

import re

from flask import Blueprint, current_app

from tipdrop.officer.app.views import desk
from tipdrop.officer.viewing import View, is_photo
from tipdrop.officer.workspace import UnknownAttachmentError

bp = Blueprint("photos", __name__)
_PART = re.compile(r"a[1-9][0-9]{0,2}")


def photo_view(tip_id: str, entry: dict) -> View | None:
    """The photo shown for one file of Workspace.show, or None if the file is not a photo."""
    if not is_photo(entry):
        return None
    return desk().photos.view(desk().workspace, desk().keyring, tip_id, entry["part"])


@bp.get("/tip/<tip>/photo/<part>")
def image(tip, part):
    """The redrawn photo: a JPEG made by the sandbox, never the reporter's bytes."""
    desk().require_unlocked()
    tip_id = desk().workspace.resolve(tip)
    if not _PART.fullmatch(part):
        raise UnknownAttachmentError(f"{tip_id[:8]} {part[:8]}")
    jpeg = desk().photos.shown(desk().workspace, desk().keyring, tip_id, part)
    if jpeg is None:
        raise desk().photos.view(desk().workspace, desk().keyring, tip_id, part).error
    response = current_app.response_class(jpeg, mimetype="image/jpeg")
    response.headers["Content-Disposition"] = f'inline; filename="{tip_id[:8]}-{part}.jpg"'
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def init_app(app):
    app.register_blueprint(bp)
    app.jinja_env.globals["photo_view"] = photo_view
