"""The web app: ``create_app`` and the blueprints, cut by audience."""

import os
from functools import partial

from flask import Flask
from flask import Request as _FlaskRequest
from flask.logging import default_handler
from werkzeug.utils import cached_property

from tipdrop.common import coredumps
from tipdrop.common.days import today
from tipdrop.errors import ConfigError
from tipdrop.server import attachments, logs, reload, store
from tipdrop.server.locators import Locators
from tipdrop.server.settings import Settings
from tipdrop.server.upload_moves import UploadMoves
from tipdrop.server.web import (
    api,
    assets,
    deadlines,
    errors,
    health,
    i18n,
    officer_api,
    padded,
    privacy,
    reporter,
    security,
    stats,
    uploads_api,
)
from tipdrop.server.web.body import GuardedStream, input_stream
from tipdrop.server.web.context import close_db
from tipdrop.server.web.deadlines import Deadlines
from tipdrop.server.web.limits import UPLOAD_LINE, Slots
from tipdrop.server.web.pagelinks import PageLinks
from tipdrop.server.web.puzzles import Puzzles
from tipdrop.server.web.ratelimit import RateLimiter, SharedCounts
from tipdrop.server.web.tokens import Tokens, load_secret


class TipdropRequest(_FlaskRequest):
    """A request whose form parser can never spool an upload to disk,
    and whose body reads fail only with clear 4xx errors.

    Submissions are streamed through encryption by upload.py; any other
    route that receives a file part refuses it instead of letting Werkzeug
    write it to a temporary file in plaintext (docs/design.md, invariant 1). Every read of
    the body goes through body.GuardedStream.
    """

    @cached_property
    def stream(self):
        if self.shallow:
            raise RuntimeError("this request may not read its body")
        return GuardedStream(input_stream(self.environ, self.max_content_length))

    def _get_file_stream(self, *args, **kwargs):
        from tipdrop.server.web.upload import FormError

        raise FormError("files can only be sent with a report")


def prepare_storage(settings, hold_wal=False):
    """Make or upgrade the data folder and database; move files an older tipdrop left.

    Run by every server process at start (create_app) and, in production,
    once by gunicorn's master before any worker (deploy/gunicorn.conf.py),
    where moving many attachment files into the database meets no worker
    timeout. Unfinished uploads two days old are deleted.
    """
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)  # even if something else created it first
    db = store.open_database(settings.database_path)
    try:
        if hold_wal:
            store.hold_wal(settings.database_path)
        attachments.migrate_files(db, settings.attachments_dir, today())
        attachments.sweep_orphans(db, settings.attachments_dir, today())
    finally:
        if hold_wal:
            db.close()
        else:  # gunicorn's master, before any worker: perhaps the last connection
            store.close_database(db)


class TipdropApp(Flask):
    """Flask, except that an error escaping every handler is logged by class name only."""

    request_class = TipdropRequest

    def log_exception(self, exc_info):
        errors.log_internal_error(self.logger, exc_info[1])


def create_app(config=None, hold_wal=False):
    """Build the app from a Settings object or a dict of setting overrides.

    ``hold_wal``: for a server process (a gunicorn worker), keep one idle
    database connection open for as long as the process runs, so that the
    database's -wal and -shm files are made once, not at the first request
    after every quiet spell (store.hold_wal); such a process also records
    which keys and routing it loaded, for ``tipdrop doctor`` (reload.py).

    Refuses to start (PrivateKeyInKeysDirError) if the keys folder holds any
    private key material: the server must hold only public keys. Refuses
    too (ConfigError) if a region is routed to a unit without a public key,
    if alerts.json is wrong (alertconfig.py), or if the translations were
    not compiled (`make translations`).
    """
    if hold_wal:
        # A worker however started (gunicorn.conf.py, not only `tipdrop serve`):
        # its memory holds reports sealed on arrival, in plaintext.
        coredumps.forbid()
    if isinstance(config, dict):
        config = Settings().replace(**config)
    settings = config or Settings()
    app = TipdropApp(__name__)
    app.config.update(
        TIPDROP=settings,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + 1024 * 1024,
        # Nothing may parse a form into temporary files or big memory
        # buffers behind our back (the submit views stream; see upload.py).
        MAX_FORM_MEMORY_SIZE=128 * 1024,
        MAX_FORM_PARTS=64,
        SESSION_COOKIE_NAME="-",
    )
    if not settings.quick_exit_url.startswith(("https://", "http://")):
        raise ConfigError("setting quick_exit_url must be an http(s) address")
    app.config["QUICK_EXIT_URL"] = settings.quick_exit_url
    # A worker of `tipdrop serve` serves what the master checked (reload.py).
    unit_keys, routing, alerts, loaded = reload.config_for_worker(settings)
    prepare_storage(settings, hold_wal=hold_wal)
    counts = SharedCounts.for_server(settings.runtime_dir, settings.data_dir)
    if hold_wal:  # a gunicorn worker: its parent is the master
        reload.publish_loaded(counts.folder, loaded, os.getppid())

    secret = load_secret(settings.data_dir)
    body_deadlines = Deadlines(settings.read_timeout, settings.min_body_rate, settings.rate_window)
    app.extensions["tipdrop"] = {
        "unit_keys": unit_keys,
        "routing": routing,
        # Which units are alerted of new reports; the secrets stay with the sender.
        "alerts": alerts,
        "tokens": Tokens(secret),
        # Past a limit, a puzzle instead of a flat refusal (puzzles.py).
        "puzzles": Puzzles(counts, secret, settings.puzzle_bits),
        "page_links": PageLinks(counts.folder),
        # Beside the counts, in RAM and shared by the workers (tipdrop/server/locators.py).
        "locators": Locators(counts),
        # When each unfinished upload last moved: in RAM only (tipdrop/server/upload_moves.py).
        "upload_moves": UploadMoves(counts.transaction),
        "argon2_slots": Slots(settings.argon2_slots),
        # When all are held, the slowest upload below TIPDROP_CONTENDED_BODY_RATE
        # gives its slot up, and a freed slot goes to the longest waiting. Few
        # wait: a thread waiting for an upload slot is a thread kept from
        # checks and pages (docs/deploy.md, "Workers").
        "upload_slots": Slots(settings.upload_slots, wait=settings.upload_wait, reclaim=partial(
            body_deadlines.reclaim, settings.contended_body_rate), line=UPLOAD_LINE,
            standing=deadlines.unread_bytes),
        # Resumable uploads not yet finished, for the whole server (tipdrop/server/uploads.py).
        "open_uploads": settings.open_uploads,
        "upload_idle_seconds": settings.upload_idle_seconds,
        "upload_lifetime_seconds": settings.upload_lifetime_seconds,
        "deadlines": body_deadlines,
        # What the worker's loop may hold of small bodies (tipdrop/server/readahead.py).
        "read_ahead_bytes": settings.read_ahead_bytes,
        "submit_limit": RateLimiter(counts, "submit", settings.submits_per_hour, 3600),
        "check_limit": RateLimiter(counts, "check", settings.checks_per_hour, 3600),
        "followup_limit": RateLimiter(counts, "followup", settings.followups_per_hour, 3600),
        # Asking for a locator is the first step of a submit: limited alike.
        "locator_limit": RateLimiter(counts, "locator", settings.submits_per_hour, 3600),
    }

    app.teardown_appcontext(close_db)
    # Every record goes to the root logger's handlers, which the server guards
    # (tipdrop/server/logs.py); a request's budget of log records starts here.
    app.logger.removeHandler(default_handler)
    app.before_request(logs.start_request)
    app.teardown_request(logs.end_request)

    from tipdrop.server.web import (
        catalog,  # only here: `python -m tipdrop.server.web.catalog` must not import itself
    )

    catalog.require_compiled()
    security.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)
    deadlines.init_app(app)
    assets.init_app(app)
    padded.init_app(app)
    app.register_blueprint(reporter.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(uploads_api.bp)
    app.register_blueprint(officer_api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(stats.bp)
    if settings.proxies:
        app.wsgi_app = security.LocalProxyFix(app.wsgi_app, settings.proxies)
    return app
