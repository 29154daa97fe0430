"""WSGI entry point: ``gunicorn wsgi:app``."""

from tipdrop.server.settings import from_env
from tipdrop.server.web import create_app

app = create_app(from_env(), hold_wal=True)
