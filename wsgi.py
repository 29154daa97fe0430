"""WSGI entry point: ``gunicorn wsgi:app``."""

from tipdrop.settings import from_env
from tipdrop.web import create_app

app = create_app(from_env(), hold_wal=True)
