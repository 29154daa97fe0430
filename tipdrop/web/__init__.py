"""The web app: ``create_app`` and the blueprints, cut by audience."""

from flask import Flask
from flask import Request as _FlaskRequest

from .. import attachments, store
from ..errors import ConfigError
from ..routing import Routing
from ..settings import Settings
from ..unitkeys import UnitKeys
from . import api, errors, health, i18n, officer_api, privacy, reporter, security, stats
from .context import close_db
from .limits import RateLimiter, Slots
from .pagelinks import PageLinks
from .tokens import Tokens, load_secret


class TipdropRequest(_FlaskRequest):
    """A request whose form parser can never spool an upload to disk.

    Submissions are streamed through encryption by upload.py; any other
    route that receives a file part refuses it instead of letting Werkzeug
    write it to a temporary file in plaintext (DESIGN 4.1).
    """

    def _get_file_stream(self, *args, **kwargs):
        from .upload import FormError

        raise FormError("files can only be sent with a report")


def create_app(config=None):
    """Build the app from a Settings object or a dict of setting overrides.

    Refuses to start (PrivateKeyInKeysDirError) if the keys folder holds any
    private key material: the server must hold only public keys. Refuses
    too (ConfigError) if a region is routed to a unit without a public key.
    """
    if isinstance(config, dict):
        config = Settings().replace(**config)
    settings = config or Settings()
    app = Flask(__name__)
    app.request_class = TipdropRequest
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
    unit_keys = UnitKeys.load(settings.keys_dir)
    routing = Routing.load(settings.routing_path, settings.categories_path)
    routing.check_units_have_keys(unit_keys)
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)  # even if something else created it first
    db = store.connect(settings.database_path)
    store.init(db)
    attachments.sweep_orphans(settings.attachments_dir, store.referenced_blobs(db))
    db.close()

    app.extensions["tipdrop"] = {
        "unit_keys": unit_keys,
        "routing": routing,
        "tokens": Tokens(load_secret(settings.data_dir)),
        "page_links": PageLinks(settings.data_dir),
        "argon2_slots": Slots(settings.argon2_slots),
        "upload_slots": Slots(settings.upload_slots, wait=0.5),
        "submit_limit": RateLimiter(settings.submits_per_hour, 3600),
        "check_limit": RateLimiter(settings.checks_per_hour, 3600),
        "followup_limit": RateLimiter(settings.followups_per_hour, 3600),
    }

    app.teardown_appcontext(close_db)

    from . import catalog  # only here: `python -m tipdrop.web.catalog` must not import itself

    catalog.ensure_compiled()
    security.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)
    app.register_blueprint(reporter.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(officer_api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(stats.bp)
    if settings.proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxies, x_proto=settings.proxies,
                                x_host=0)
    return app
