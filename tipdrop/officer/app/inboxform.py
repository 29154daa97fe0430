"""The inbox's search form keeps what the officer typed in it, as a tip's page keeps its boxes.

Words typed in the search box (and filters chosen) but not yet searched for
with Show used to be lost when the officer pressed another control of the
inbox: the language, Inbox, Exchange, Write the outbox, a status count, the
next page. Those controls are now buttons of the search form (inbox.html,
tip_form.html), the way a tip's page's controls are buttons of its form
(views.keep_typed), so the form goes with whatever they do and the app
keeps it here first; the inbox shows it again, with a notice that it is not
searched yet, until Show searches for it or Lock forgets it. A tip's link
stays a link (it opens in a new tab too): with a script, a plain click on it
sends the form the same way (static/exchange.js); without one it does not.

Only a form that differs from the search the page shows is kept: pressing
a status count on a page whose box holds the applied words keeps nothing.
The words stay in memory (Desk.keep_typed_search), never in an address:
in the browser's history on disk they would be plaintext's shadows.
"""

from urllib.parse import parse_qs, urlsplit

from flask import g, request

from tipdrop.officer.app.views import FILTERS, _local, desk

#: The search form's hidden field: the address of the inbox page the form is on.
FROM_INBOX = "from_inbox"


def search_form(words, source) -> dict:
    """The inbox form's fields: the words, then each filter ("" for none), from ``source``."""
    return {"q": (words or "").strip(), **{name: source.get(name) or "" for name in FILTERS}}


def keep_typed_search():
    """A control of the inbox was pressed: keep its form if it holds what was not searched."""
    if request.method != "POST" or not desk().unlocked or FROM_INBOX not in request.form:
        return
    shown = _local(request.form[FROM_INBOX])
    g.from_inbox = shown  # where the language switch goes back to (views.language)
    args = {name: values[0] for name, values in parse_qs(urlsplit(shown).query).items()}
    applied = search_form(desk().recall_search(args.get("search")), args)
    typed = search_form(request.form.get("q"), request.form)
    desk().keep_typed_search(typed if typed != applied else None)


def init_app(app):
    app.before_request(keep_typed_search)
