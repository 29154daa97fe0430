"""The cryptographic core of tipdrop.

This package is the only place that imports ``cryptography`` or ``argon2``.
It knows nothing about the web, the database or the CLI: bytes go in, bytes
come out, and every failure raises a :mod:`tipdrop.errors` exception.

The byte formats are specified in ``docs/protocol.md``.
"""
