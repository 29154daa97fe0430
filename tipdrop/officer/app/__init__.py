"""``tipdrop officer app``: the workstation's local web app, another face of the workspace.

Like the CLI, it is a thin shell over tipdrop/officer/ (Workspace, Keyring,
search.py): the views parse a form, call one method and render. gate.py
decides who may talk to it, desk.py holds the unlocked keys and index,
views.py the pages, exchange.py and transfers.py the exchange of bundles
(files, or online), serve.py runs it on 127.0.0.1 (docs/officer-guide.md).
"""

import sys
from pathlib import Path

from flask import Flask
from flask_babel import Babel

from tipdrop.officer.app import (
    exchange,
    forwards,
    gate,
    inboxform,
    photos,
    suggestions,
    triage,
    views,
)
from tipdrop.officer.app.desk import Desk
from tipdrop.officer.app.gate import Gate
from tipdrop.officer.app.incoming import BundleRequest, remove_incoming, remove_leftovers
from tipdrop.officer.app.transfers import Courier

HERE = Path(__file__).resolve().parent
#: The reporter pages' catalogs: one set of kk/ru translations for all of tipdrop.
TRANSLATIONS = HERE.parents[1] / "translations"


def create_app(desk: Desk, port: int, launch_token: str | None = None,
               outbox_dir: Path | None = None, server_url=None) -> Flask:
    """The officer app for ``desk`` served on 127.0.0.1:``port``.

    ``outbox_dir``: where "Write the outbox" puts reply bundles (signed
    ciphertext only); by default the workspace's ``outbox`` folder.
    ``server_url``: the server of the online exchange (a ServerURL), if any.
    """
    app = Flask(__name__, template_folder="templates", static_folder="static")
    app.request_class = BundleRequest
    app.config["OUTBOX_DIR"] = Path(outbox_dir or desk.workspace.dir / "outbox")
    app.config["INCOMING_DIR"] = desk.workspace.dir / "incoming"
    app.teardown_request(remove_incoming)
    remove_leftovers(app.config["INCOMING_DIR"])
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20  # forms only: notes and replies are short
    app.extensions["officer_desk"] = desk
    app.extensions["officer_courier"] = Courier(desk, server_url)
    gate.init_app(app, Gate(port, launch_token))
    Babel(app, locale_selector=views.current_language,
          default_translation_directories=str(TRANSLATIONS))
    views.init_app(app)
    inboxform.init_app(app)  # after views: the idle lock is checked before a form is kept
    photos.init_app(app)
    triage.init_app(app)
    exchange.init_app(app)
    suggestions.init_app(app)
    forwards.init_app(app)
    app.log_exception = _log_exception  # type: ignore[method-assign]  # no traceback, ever
    return app


def _log_exception(exc_info):
    """A bug: one line naming its type; a traceback could quote decrypted text."""
    print(f"officer app: internal error ({exc_info[0].__name__})", file=sys.stderr)
