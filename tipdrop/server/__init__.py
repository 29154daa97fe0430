"""The server zone: holds unit public keys only, never a private key.

Use cases (tips, sealed, exchange, retention), the store, the web app and
the operations code (doctor, gunicorn, nginx checks) (docs/design.md).
"""
