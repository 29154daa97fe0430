"""The officer app's pages: unlock, inbox, a tip, and the forms that act on it.

Each view reads its form, calls one method of the desk or the workspace
(the same ones `tipdrop officer ...` calls) and renders; errors are tipdrop
errors, rendered by the one handler at the end in the officer's language.
"""

import re
from datetime import date, timedelta
from functools import cache

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext

from tipdrop.common import days, terminal
from tipdrop.errors import TipdropError
from tipdrop.officer.app.desk import LockedError
from tipdrop.officer.app.suggestions import reply_templates
from tipdrop.officer.downloading import authenticated_head, plaintext_pieces
from tipdrop.officer.replytemplates import reply_template, typed_text
from tipdrop.officer.saving import download_name
from tipdrop.officer.search import SearchIndexBuildingError
from tipdrop.protocol import bundles, routing
from tipdrop.protocol.fields import REPLY_STATUSES, STATUSES

bp = Blueprint("officer", __name__)

LANGUAGES = ("kk", "ru", "en")
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


def N_(text):
    """Mark ``text`` for the catalogs; it is translated where it is shown."""
    return text


#: The reporter side's status labels (tipdrop/server/web/i18n.py): one wording for both.
STATUS_LABELS = {
    "received": N_("Received"), "in-review": N_("In review"),
    "need-info": N_("Information needed"), "confirmed": N_("Confirmed"),
    "unfounded": N_("Not confirmed"), "duplicate": N_("Already reported"),
    "referred": N_("Referred"), "closed": N_("Closed"), "transferred": N_("Transferred"),
}


def desk():
    return current_app.extensions["officer_desk"]


def current_language():
    chosen = current_app.extensions.get("officer_language")
    if chosen:
        return chosen
    if "accepted_language" not in g:  # once a request: an inbox page asks ~100 times
        g.accepted_language = request.accept_languages.best_match(LANGUAGES, default="ru")
    return g.accepted_language


@cache
def _names(filename):
    return routing._load_names(filename, questions=filename == "categories.json")


def name_of(kind, code):
    """A region's or category's name in the officer's language; the code if unknown."""
    names = _names(f"{kind}.json").get(code)
    return (names.get(current_language()) or names["en"]) if names else code


def status_label(status):
    return gettext(STATUS_LABELS[status]) if status in STATUS_LABELS else status


def timeline(data):
    """A tip's events in the order of their days: received, follow-ups, replies."""
    events = [("received", data["tip"]["received_day"], None)]
    events += [("followup", f["day"], f) for f in data["followups"]]
    events += [("reply", r["day"], r) for r in data["replies"]]
    return sorted(events, key=lambda event: event[1] or "")  # stable: same day, that order


def _tip_id():
    desk().require_unlocked()  # before the workspace is read at all
    return desk().workspace.resolve(request.view_args["tip"])


#: Not the officer's activity: the page's script asks for news by itself (exchange.news).
PASSIVE = (None, "static", "exchange.news")


@bp.before_app_request
def idle_lock():
    if request.endpoint in PASSIVE:
        return
    g.locked_for_idle = desk().check_idle()
    desk().touch()


@bp.get("/")
def index():
    if desk().unlocked:
        return redirect(url_for("officer.inbox"), code=303)
    if desk().unlocking is not None:
        return redirect(url_for("officer.unlocking"), code=303)
    # ?unsent=1: the page's script came here from a page with a typed, unsent text
    # (exchange.js). The text is gone with the page: the keys and every decrypted or
    # typed word are kept in memory only, and never past a lock.
    return render_template("unlock.html", idle=g.get("locked_for_idle") or desk().locked_for_idle,
                           unsent=request.args.get("unsent") == "1")


@bp.post("/unlock")
def unlock():
    desk().start_unlock(request.form.get("passphrase", ""))
    return redirect(url_for("officer.unlocking"), code=303)


@bp.get("/unlocking")
def unlocking():
    """The progress of an unlock; the page reloads itself (no script) until the inbox is ready."""
    error = desk().take_unlock_error()
    if error is not None:
        raise error
    if desk().unlocked:
        return redirect(url_for("officer.inbox"), code=303)
    job = desk().unlocking
    if job is None:
        return redirect(url_for("officer.index"), code=303)
    return render_template("unlocking.html", job=job)


@bp.post("/lock")
def lock():
    desk().lock()
    return redirect(url_for("officer.index"), code=303)


@bp.post("/language")
def language():
    lang = request.form.get("lang")
    if lang in LANGUAGES:
        current_app.extensions["officer_language"] = lang
    if g.get("from_tip"):
        return back_to_tip(g.from_tip)
    if g.get("from_inbox"):  # a button of the inbox's search form (inboxform.py)
        return redirect(g.from_inbox, code=303)
    return redirect(_local(request.form.get("back", "")), code=303)


def _local(path):
    """``path`` if it is a path of this app: "//host" and "/\\host" are other sites to a browser."""
    return path if re.match(r"/(?![/\\])", path) else "/"


@bp.post("/leave")
def leave():
    """A link of a tip's page, which is a button of its form: the typed text was kept
    (keep_typed); now on to the page the link names."""
    desk().require_unlocked()
    return redirect(_local(request.args.get("to", "")), code=303)


FILTERS = ("status", "category", "region", "since", "until", "order", "view")
#: The inbox's views (SearchIndex.inbox), besides every tip: waiting for a first answer,
#: with follow-ups not read yet.
VIEWS = ("waiting", "unread")


@bp.post("/search")
def search():
    """The inbox form: its words stay in memory (Desk.remember_search), its filters in
    the address."""
    desk().require_unlocked()  # locked: nothing to search
    words = (request.form.get("q") or "").strip()
    filters = {k: request.form.get(k) or None for k in FILTERS}
    handle = desk().remember_search(words) if words else None
    desk().keep_typed_search(None)  # searched for now: nothing typed is left unsearched
    return redirect(url_for("officer.inbox", search=handle, **filters), code=303)


@bp.get("/inbox")
def inbox():
    index = desk().index
    filters = {k: request.args.get(k) or None for k in FILTERS}
    if filters["view"] not in VIEWS:
        filters["view"] = None
    handle = request.args.get("search")
    query = desk().recall_search(handle)
    try:
        page, building = index.inbox(
            **{k: v for k, v in filters.items() if k != "order"}, query=query,
            oldest_first=filters["order"] == "oldest",
            page=request.args.get("page", 1, type=int)), None
    except SearchIndexBuildingError as e:  # says how far, reloads; never an empty answer
        page, building = None, e.percent
    typed = desk().typed_search()  # what the officer typed and did not search for (inboxform.py)
    form = typed or {"q": query, **{k: v or "" for k, v in filters.items()}}
    today = date.fromisoformat(days.today())
    overdue_before = (today - timedelta(days=desk().answer_days)).isoformat()
    return render_template("inbox.html", page=page, building=building, counts=index.counts(),
                           filters=filters, query=query, search=handle if query else None,
                           form=form, typed=typed is not None, page_form="search-form",
                           categories=index.choices("category"),
                           regions=index.choices("region"), urgent=set(desk().urgent),
                           attention=index.attention(overdue_before),
                           answer_days=desk().answer_days, overdue_before=overdue_before,
                           waited=lambda day: waited(day, today))


def waited(day, today):
    """Whole days from ``day`` (YYYY-MM-DD) to ``today``; None if it is not a day."""
    try:
        return max(0, (today - date.fromisoformat(day)).days)
    except (TypeError, ValueError):
        return None


#: The tip page's form fields that hold what the officer typed (tip.html, #reply-form).
TYPED_FIELDS = ("text", "message", "status", "of", "to", "unit_key", "fingerprint")
#: The hidden field of that form naming its tip: a request that carries it came from the tip page.
FROM_TIP = "from_tip"
#: The hidden fields of that form with the last reply and note numbers the page showed: a
#: reply or note sent twice from one page (a double click) is queued once.
REPLIES_SEEN, NOTES_SEEN = "replies_seen", "notes_seen"


@bp.before_app_request
def keep_typed():
    """A button of a tip's page was pressed: what its boxes hold is kept first, for that tip.

    Every control of the tip page that leaves it or shows it again (the
    header's too, but Lock) is a button of its one form (tip.html,
    tip_form.html), so whatever it does, even if it fails, the text the
    officer typed and has not sent is shown again when that tip is shown
    (Desk.keep_draft): without a script, nothing typed is lost but by Lock.
    A view that sends or saves a box forgets it (back_to_tip). A locked app
    keeps nothing.
    """
    if request.method != "POST" or not desk().unlocked:
        return
    tip_id = request.form.get(FROM_TIP, "")
    if not bundles.TIP_ID.match(tip_id):  # the full id the page was given, or none
        return
    g.from_tip = tip_id
    templates, _ = reply_templates()
    typed = {name: request.form.get(name, "").replace("\r\n", "\n") for name in TYPED_FIELDS}
    typed["message"] = typed_text(typed["message"], templates)  # a ready-made text is no work
    _keep(tip_id, {name: value for name, value in typed.items() if value.strip()})


def _keep(tip_id, typed):
    """Keep ``typed`` for the tip; a status alone is not typed text (a template suggested it)."""
    desk().keep_draft(tip_id, typed if set(typed) - {"status"} else {})


def back_to_tip(tip_id, forget=(), chosen=True, beside=False):
    """To the tip's page (303: a reload then sends nothing again), with what the officer typed.

    ``forget``: the boxes the view just sent or saved; the others stay kept
    (keep_typed), in memory, never in the address. ``chosen``: the ready-made
    text and the reply language chosen go in the address (codes, not text).
    """
    kept = desk().recall_draft(tip_id)
    if forget:
        _keep(tip_id, {name: value for name, value in kept.items() if name not in forget})
    query = {name: request.form.get(name) for name in ("template", "reply_lang")} if chosen \
        else {}
    if beside:
        query["beside"] = "1"
    query = {name: value for name, value in query.items() if value}
    return redirect(url_for("officer.tip", tip=tip_id, **query), code=303)


@bp.get("/tip/<tip>")
def tip(tip):
    tip_id = _tip_id()
    return _tip_page(tip_id, request.args.get("template"), request.args.get("reply_lang"),
                     beside=request.args.get("beside") == "1")


@bp.post("/tip/<tip>/compose")
def compose(tip):
    """"Use" a ready-made text: into the reply box, unless the box holds text the officer typed.

    The button sends the tip page's form, every box with it (kept by
    keep_typed). With the page's script, the officer was asked first and
    ``replace`` says they agreed; without it nobody was asked, so typed text
    (not empty, not a ready-made text left as it was) stays in the box and the
    chosen text is shown beside it, to copy from: nothing the officer wrote is
    lost without their saying so.
    """
    tip_id = _tip_id()
    replace = request.form.get("replace") == "1"
    typed = not replace and "message" in desk().recall_draft(tip_id)
    return back_to_tip(tip_id, forget=("message",) if replace else (), beside=typed)


@bp.post("/tip/<tip>/note")
def note(tip):
    tip_id = _tip_id()
    desk().workspace.add_note(tip_id, request.form.get("text", ""), desk().keyring,
                              after=request.form.get(NOTES_SEEN, type=int))
    desk().refresh(tip_id)
    return back_to_tip(tip_id, forget=("text",))


@bp.post("/tip/<tip>/reply")
def reply(tip):
    """Queue the reply; the same form sent twice (a double click) queues it once.

    The page says the last reply it showed (REPLIES_SEEN): one queued since
    with the same text and status is this one again (Outbox.reply), and the
    officer is shown the tip with it, as after the first.
    """
    tip_id = _tip_id()
    status = request.form.get("status") or None
    desk().workspace.reply(tip_id, desk().keyring, message=request.form.get("message", ""),
                           status=status, after=request.form.get(REPLIES_SEEN, type=int))
    desk().refresh(tip_id)
    return back_to_tip(tip_id, forget=("message", "status"), chosen=False)


def _tip_page(tip_id, template, reply_language, beside=False):
    """The tip's page, with what the officer typed on it and has not sent (keep_typed)."""
    kept = desk().recall_draft(tip_id)
    data = desk().workspace.show(tip_id, desk().keyring)
    desk().refresh(tip_id)  # its follow-ups are read now
    language = data["report"].get("language")
    if reply_language not in LANGUAGES:  # the reporter reads the answer in the report's language
        reply_language = language if language in LANGUAGES else "ru"
    templates, templates_error = reply_templates()  # the unit's file, read anew (suggestions.py)
    ready_made = reply_template(template, reply_language, templates)
    status = kept.get("status")
    return render_template("tip.html", data=data, tip_id=tip_id, report_language=language,
                           timeline=timeline(data), seen={
                               REPLIES_SEEN: max((r["seq"] for r in data["replies"]), default=0),
                               NOTES_SEEN: max((n["n"] for n in data["notes"]), default=0)},
                           reply_language=reply_language, template=template,
                           templates=templates, templates_error=templates_error, kept=kept,
                           draft=kept.get("message") or ready_made, typed="message" in kept,
                           beside=ready_made if beside and "message" in kept else None,
                           # A template named after a status ("need-info") suggests it:
                           # a reply asking for information sets "Information needed";
                           # a status the officer chose stays chosen.
                           suggested_status=status if status in REPLY_STATUSES else
                           template if template in REPLY_STATUSES else None)


@bp.get("/tip/<tip>/file/<part>")
def attachment(tip, part):
    """The decrypted file as a download: never shown in the page from the reporter's bytes.

    Saved under a neutral name (saving.download_name), never the reporter's:
    the browser keeps every download's name in its history on disk. The page
    shows the reporter's name; the file on disk is tip-REF-PART.EXT.
    Streamed (downloading.py): the whole stream authenticates first, then
    goes out in pieces, so memory does not grow with the file's size.
    """
    tip_id = _tip_id()
    head = authenticated_head(desk().workspace, tip_id, part, desk().keyring)
    desk().workspace.audit.record(desk().keyring, "save-attachment", tip_id, part=part)
    declared = next((f.get("type") for f in desk().workspace.show(
        tip_id, desk().keyring, mark_read=False)["attachments"] if f["part"] == part), "")
    name = download_name(tip_id, part, declared, head)
    response = current_app.response_class(
        plaintext_pieces(desk().workspace, tip_id, part, desk().keyring),
        mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def handle_error(error):
    """The one error handler: a tipdrop error as a page in the officer's language."""
    message = gettext((type(error).__doc__ or "").strip().splitlines()[0])
    if isinstance(error, LockedError) or request.endpoint in ("officer.unlock",
                                                               "officer.unlocking"):
        return render_template("unlock.html", error=message, idle=desk().locked_for_idle), \
            error.http_status
    return render_template("message.html", title=gettext("Not done"), message=message), \
        error.http_status


def handle_bug(_error):
    """A bug or an unknown address: a plain page; what went wrong stays out of it and the log."""
    return render_template("message.html", title=gettext("Not done"),
                           message=gettext("Something went wrong.")), 500


def init_app(app):
    app.register_blueprint(bp)
    app.register_error_handler(TipdropError, handle_error)
    app.register_error_handler(500, handle_bug)
    # A file name or type the reporter chose, shown as the CLI prints it: a right-to-left
    # override or an invisible character appears as \u202e, so "x\u202egpj.exe" cannot
    # pass for "xexe.jpg". Every reporter's text is also in a <bdi> or a dir="auto"
    # element, so no override in it can reorder the app's own words around it.
    app.jinja_env.filters["visible"] = lambda text: terminal.inline(text or "")
    app.jinja_env.globals.update(
        LANGUAGES=LANGUAGES, LANGUAGE_NAMES=LANGUAGE_NAMES, STATUSES=STATUSES,
        REPLY_STATUSES=REPLY_STATUSES,
        status_label=status_label, name_of=name_of, current_language=current_language,
        unlocked=lambda: desk().unlocked)
