"""Per-app and per-request objects the views share."""

from flask import current_app, g

from .. import store
from ..crypto import kdf
from ..tips import Tips


def extension(name):
    """An app-wide object built by create_app (keys, routing, tokens, limits)."""
    return current_app.extensions["tipdrop"][name]


def get_db():
    """This request's database connection (closed at the end of the request)."""
    if "db" not in g:
        g.db = store.connect(current_app.config["TIPDROP"].database_path)
    return g.db


def get_tips():
    """The Tips use cases over this request's database connection."""
    settings = current_app.config["TIPDROP"]
    if "db" not in g:
        g.db = store.connect(settings.database_path)
    return Tips(
        g.db,
        extension("unit_keys"),
        extension("routing"),
        settings.attachments_dir,
        receipt_params=settings.receipt_params or kdf.RECEIPT_PARAMS,
        argon2_slot=extension("argon2_slots"),
    )


def close_db(exc=None):
    db = g.pop("db", None)
    if db is not None:
        db.close()
