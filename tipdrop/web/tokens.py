"""Signed hidden form fields instead of cookies (DESIGN 4.10).

A token proves that a form came from this server recently (CSRF protection)
or grants a short-lived permission (adding a follow-up to one tip after the
receipt was checked). itsdangerous tokens are signed, not encrypted: anyone
holding one can read it, so a token carries a purpose, a tip id at most, and
never a receipt or a key.
"""

import secrets
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..errors import InputError
from ..files import atomic_write

SECRET_FILE = "token-secret"
FORM_MAX_AGE = 4 * 3600
FOLLOWUP_MAX_AGE = 30 * 60


class FormExpiredError(InputError):
    """This form has expired or did not come from this site. Please open it again."""

    http_status = 403
    detail_is_message = False


def load_secret(data_dir):
    """The signing secret in the data folder, created (0600) on first use."""
    path = Path(data_dir) / SECRET_FILE
    if not path.exists():
        try:
            atomic_write(path, secrets.token_bytes(32), mode=0o600)
        except FileExistsError:
            pass  # another worker made it first
    secret = path.read_bytes()
    if len(secret) < 32:
        raise InputError(f"{path} is too short to be a token secret")
    return secret


class Tokens:
    def __init__(self, secret):
        self._serializer = URLSafeTimedSerializer(secret, salt="tipdrop/v1/form")

    def form(self, purpose):
        """A token for a form with this purpose ("submit", "check", ...)."""
        return self._serializer.dumps({"p": purpose, "n": secrets.token_hex(8)})

    def check_form(self, token, purpose, max_age=FORM_MAX_AGE):
        data = self._load(token, max_age)
        if data.get("p") != purpose:
            raise FormExpiredError()
        return data

    def followup(self, tip_id):
        """Permission to add a follow-up to ``tip_id`` for a short while."""
        return self._serializer.dumps({"p": "followup", "t": tip_id})

    def check_followup(self, token):
        data = self.check_form(token, "followup", FOLLOWUP_MAX_AGE)
        tip_id = data.get("t")
        if not isinstance(tip_id, str):
            raise FormExpiredError()
        return tip_id

    def _load(self, token, max_age):
        if not isinstance(token, str) or not token or len(token) > 512:
            raise FormExpiredError()
        try:
            data = self._serializer.loads(token, max_age=max_age)
        except BadSignature:
            raise FormExpiredError() from None
        if not isinstance(data, dict):
            raise FormExpiredError()
        return data
