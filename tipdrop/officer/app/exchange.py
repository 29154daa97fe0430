"""The officer app's Exchange page: bundles in, the outbox out, and the server online.

Each button starts one transfer (transfers.py) and the browser follows it on
the progress page, which reloads itself without a script and asks for the
figures with one (static/exchange.js); then the outcome. The views only
parse a form and call the courier or the workspace, as the CLI's commands do.

The app's one script is served to the pages of an unlocked session only,
and those pages alone allow it in their CSP (``script-src 'self'``, never
inline): the passphrase page runs no script at all.
"""

import datetime
import re
import secrets

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from markupsafe import Markup

from tipdrop.errors import InputError
from tipdrop.officer.app import gate
from tipdrop.officer.app.incoming import IMPORT_PATH, claim_upload
from tipdrop.officer.app.transfers import AUTO_PULL_MINUTES
from tipdrop.officer.app.views import N_
from tipdrop.officer.outbox import NothingToSendError

bp = Blueprint("exchange", __name__)

#: What may be served while a transfer is busy with the workspace: none of these touch it.
WHILE_BUSY = {"static", "exchange.progress", "exchange.progress_json", "exchange.stop",
              "exchange.news", "officer.lock", "officer.language"}
#: The pages that carry the app's script may load it, and fetch from the app; nothing else.
SCRIPTED_CSP = gate.CSP.replace("script-src 'none'", "script-src 'self'; connect-src 'self'")
#: The names "Write the outbox" gives its files: the only ones offered for download.
OUTBOX_NAME = re.compile(r"replies-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}\.json")
#: Outbox files listed on the Exchange page, newest first.
OUTBOX_LISTED = 10
#: How often the script asks for news (new urgent reports, or the app locked), in seconds.
NEWS_SECONDS = 30


class NoSuchOutboxFileError(InputError):
    """There is no such file in the outbox folder."""

    http_status = 404
    detail_is_message = False


def desk():
    return current_app.extensions["officer_desk"]


def courier():
    return current_app.extensions["officer_courier"]


@bp.before_app_request
def wait_for_transfer():
    """While a transfer is busy with the workspace, a page waits for it (its own: the progress)."""
    transfer = courier().current
    if transfer is None or not transfer.busy or request.endpoint in WHILE_BUSY:
        return None
    if request.method == "GET" and not transfer.background:
        return redirect(url_for("exchange.progress"), code=303)
    courier().wait_while_busy()
    return None


@bp.after_app_request
def allow_the_script(response):
    if g.get("page_script"):
        response.headers["Content-Security-Policy"] = SCRIPTED_CSP
    return response


def page_script():
    """The script tag of an unlocked page; its answer's CSP then allows that one file."""
    g.page_script = True
    auto = "1" if courier().auto_minutes else "0"
    return Markup('<script src="{}" defer data-news="{}" data-auto-pull="{}" '
                  'data-every="{}" data-discard="{}"></script>').format(
        url_for("static", filename="exchange.js"), url_for("exchange.news"), auto,
        current_app.config.get("NEWS_SECONDS", NEWS_SECONDS),
        gettext("The text you typed has not been sent and will be lost. Continue?"))


def _outbox_files():
    folder = current_app.config["OUTBOX_DIR"]
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if OUTBOX_NAME.fullmatch(p.name) and p.is_file()]
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [(p.name, p.stat().st_size) for p in found[:OUTBOX_LISTED]]


@bp.get("/exchange")
def page():
    desk().require_unlocked()
    return render_template("exchange.html", server=courier().server_url,
                           queued=desk().workspace.has("outbox", "sent_day IS NULL"),
                           outbox_files=_outbox_files(), choices=AUTO_PULL_MINUTES,
                           auto_minutes=courier().auto_minutes, last_auto=courier().last_auto)


@bp.post(IMPORT_PATH)
def import_bundle():
    """Open the export bundle the officer picked (streamed to WORKDIR/incoming: incoming.py)."""
    desk().require_unlocked()  # refused before anything is opened
    courier().start_import(claim_upload(request.files.get("bundle")))
    return redirect(url_for("exchange.progress"), code=303)


@bp.post("/exchange/pull")
def pull():
    courier().start_pull(since_start=request.form.get("since_start") == "1")
    return redirect(url_for("exchange.progress"), code=303)


@bp.post("/exchange/push")
def push():
    courier().start_push()
    return redirect(url_for("exchange.progress"), code=303)


@bp.post("/exchange/ack")
def ack():
    courier().start_ack()
    return redirect(url_for("exchange.progress"), code=303)


@bp.post("/exchange/stop")
def stop():
    courier().stop()
    return redirect(url_for("exchange.progress"), code=303)


def _running():
    """The transfer the officer started and waits for (not the automatic pull)."""
    transfer = courier().current
    return transfer if transfer is not None and not transfer.background else None


@bp.get("/exchange/progress")
def progress():
    """The running transfer's progress; the page reloads itself until the outcome is ready."""
    transfer = _running()
    if transfer is None:
        return redirect(url_for("exchange.result"), code=303)
    return render_template("transfer.html", transfer=transfer, text=step_text(transfer))


@bp.get("/exchange/progress.json")
def progress_json():
    transfer = _running()
    if transfer is None:
        return jsonify(finished=True, next=url_for("exchange.result"))
    fraction = transfer.fraction
    return jsonify(finished=False, text=step_text(transfer),
                   percent=None if fraction is None else round(fraction * 100))


def step_text(transfer):
    done, total = transfer.done, transfer.total
    if transfer.step == "download":
        if total:
            return gettext("Downloading from the server: %(done).1f of %(total).1f MB.",
                           done=done / 1e6, total=total / 1e6)
        return gettext("Downloading from the server: %(done).1f MB.", done=done / 1e6)
    if transfer.step == "open":
        return gettext("Checking and opening the bundle: %(percent)d%%.",
                       percent=round(100 * (transfer.fraction or 0)))
    if transfer.step == "index":
        return gettext("Adding the reports to the inbox and the search: %(done)d of %(total)d.",
                       done=done, total=total or 0)
    if transfer.step == "send":
        return gettext("Waiting for the server's answer.")
    return gettext("Starting.")


@bp.get("/exchange/done")
def result():
    """The outcome of the last transfer the officer started."""
    desk().require_unlocked()
    transfer = courier().last
    if transfer is None:
        return redirect(url_for("exchange.page"), code=303)
    status = transfer.error.http_status if transfer.error is not None else 200
    return render_template("transfer_done.html", transfer=transfer,
                           error=error_text(transfer.error)), status


#: Details the workstation's code raises as fixed sentences (tipdrop/protocol/bundles.py,
#: officer/opening.py), translated like the error's own sentence. A detail that quotes a
#: name, a number or a server's answer stays as it is, labelled as technical and English.
KNOWN_DETAILS = (
    N_("not a tipdrop export bundle"),
    N_("the bundle has no header"),
    N_("the file ends too early: it is incomplete"),
)


def error_text(error):
    """A failed exchange: the sentence in the officer's language, and its technical detail.

    ``english``: the detail has no translation (it quotes names or numbers), so
    the page says it is the technical detail, in English, for whoever supports
    the workstation.
    """
    if error is None:
        return None
    summary = (type(error).__doc__ or "").strip().splitlines()[0]
    detail = error.detail or None
    translated = gettext(detail) if detail in KNOWN_DETAILS else detail
    return {"message": gettext(summary), "detail": translated,
            "english": detail is not None and detail not in KNOWN_DETAILS}


@bp.post("/outbox")
def write_outbox():
    """Write the queued replies to a new file in the outbox folder, offered for download."""
    folder = current_app.config["OUTBOX_DIR"]
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    day = datetime.datetime.now(datetime.UTC).date().isoformat()  # a day, not a time
    path = folder / f"replies-{day}-{secrets.token_hex(4)}.json"
    try:
        count = desk().workspace.outbox(desk().keyring, path)
    except NothingToSendError:
        # A second press of the button (a double click: the browser shows the second
        # answer only) finds the outbox empty because the first wrote it. "The outbox is
        # empty" then read as if nothing had been written: show the file written last.
        last = desk().last_outbox
        if last is None or not last[0].is_file():
            raise
        return render_template("outbox_written.html", count=last[1], path=str(last[0]),
                               name=last[0].name, again=True)
    desk().last_outbox = (path, count)
    return render_template("outbox_written.html", count=count, path=str(path), name=path.name)


@bp.get("/outbox/<name>")
def outbox_file(name):
    """One reply bundle of the outbox folder, as a download (signed; replies sealed)."""
    desk().require_unlocked()
    path = current_app.config["OUTBOX_DIR"] / name
    if not OUTBOX_NAME.fullmatch(name) or not path.is_file():
        raise NoSuchOutboxFileError()
    response = current_app.response_class(path.read_bytes(), mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.post("/exchange/auto-pull")
def auto_pull():
    desk().require_unlocked()
    minutes = request.form.get("minutes", "")
    courier().set_auto_pull(int(minutes) if minutes.isdigit() else None)
    return redirect(url_for("exchange.page"), code=303)


@bp.get("/exchange/news.json")
def news():
    """For the page's script: new urgent reports to announce, or that the app is locked.

    Not the officer's activity (views.idle_lock): asked every
    NEWS_SECONDS, it must not keep an unattended app unlocked. Counts only,
    never a word of a report: a notification is seen outside the app.
    """
    if not desk().unlocked:
        return jsonify(locked=True)
    count = courier().take_news() if request.args.get("notify") == "1" else 0
    return jsonify(locked=False, urgent=count, title=gettext("tipdrop officer"),
                   text=ngettext("%(num)d new urgent report", "%(num)d new urgent reports",
                                 count) if count else "")


def init_app(app):
    app.register_blueprint(bp)
    app.jinja_env.globals.update(page_script=page_script, error_text=error_text)
