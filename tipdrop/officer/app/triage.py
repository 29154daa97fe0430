"""Triage in the officer app: duplicates linked both ways (with an undo), and bulk status.

Thin views over tipdrop/officer/triage.py and Workspace.set_status; the
forms go through the same gate as every POST (gate.py: origin, form token).
"""

from flask import Blueprint, g, render_template, request
from flask_babel import gettext, ngettext

from tipdrop.officer import triage
from tipdrop.officer.app.views import back_to_tip, desk, status_label

bp = Blueprint("triage", __name__)


def _resolve(prefix):
    desk().require_unlocked()  # before the workspace is read at all
    return desk().workspace.resolve(prefix)


def tip_links(tip_id: str) -> dict:
    """For the tip page: the tip it duplicates and the tips that duplicate it."""
    return triage.links(desk().workspace, tip_id, desk().keyring)


@bp.post("/tip/<tip>/duplicate")
def duplicate(tip):
    """Mark this tip as a duplicate of the one whose id (or its start) was typed."""
    tip_id = _resolve(tip)
    of = desk().workspace.resolve(request.form.get("of", ""))
    triage.mark_duplicate(desk().workspace, tip_id, of, desk().keyring)
    return back_to_tip(tip_id, forget=("of",))


@bp.post("/tip/<tip>/duplicate/undo")
def undo_duplicate(tip):
    """Unlink the duplicate ``tip``; back to the page the button was on (either tip)."""
    tip_id = _resolve(tip)
    of = triage.undo_duplicate(desk().workspace, tip_id, desk().keyring)
    return back_to_tip(of if g.get("from_tip") == of else tip_id)


@bp.post("/bulk-status")
def bulk_status():
    """One status for the tips ticked in the inbox (obvious spam), all or none."""
    desk().require_unlocked()
    tip_ids = [desk().workspace.resolve(t) for t in request.form.getlist("tip")]
    status = request.form.get("status", "")
    changed = desk().workspace.set_status(tip_ids, status, desk().keyring)
    desk().index.refresh_many(desk().workspace, desk().keyring, changed)
    return render_template("message.html", title=gettext("Status changed"), message=ngettext(
        "%(num)d tip now has the status %(status)s; the change is in the outbox for its "
        "reporter.", "%(num)d tips now have the status %(status)s; the changes are in the "
        "outbox for their reporters.", len(changed), status=status_label(status)))

def init_app(app):
    app.register_blueprint(bp)
    app.jinja_env.globals["tip_links"] = tip_links
