"""Forwarding a tip to another unit from its page in the officer app.

A thin view over tipdrop/officer/forwarding.py, as `tipdrop officer forward`
uses it. The other unit's public key is pasted as its ``.pub`` file's text
(only the import form takes a file, incoming.py), and its fingerprint, read
out by that unit over another channel, is required: the page cannot ask
"is this the fingerprint?" the way the command does, so nothing is sealed
to a key the officer did not check. The form goes through the same gate as
every POST (gate.py: origin, form token). Its boxes are the tip page's
form's, so a forward refused for a missing fingerprint keeps what was typed
(views.keep_typed).
"""

from flask import Blueprint, request

from tipdrop.errors import InputError
from tipdrop.officer import forwarding
from tipdrop.officer.app.views import back_to_tip, desk

bp = Blueprint("forwards", __name__)


class FingerprintMissingError(InputError):
    """Type the fingerprint the other unit gave you: nothing was forwarded."""

    detail_is_message = False


@bp.post("/tip/<tip>/forward")
def forward(tip):
    desk().require_unlocked()  # before the workspace is read at all
    tip_id = desk().workspace.resolve(tip)
    fingerprint = request.form.get("fingerprint", "").strip()
    if not fingerprint:
        raise FingerprintMissingError()
    target = forwarding.parse_target_key(
        request.form.get("unit_key", "").encode("utf-8"),
        to_unit=request.form.get("to", "").strip(), fingerprint=fingerprint)
    forwarding.forward(desk().workspace, desk().keyring, tip_id, target)
    desk().refresh(tip_id)
    return back_to_tip(tip_id, forget=("to", "unit_key", "fingerprint"))


def init_app(app):
    app.register_blueprint(bp)
