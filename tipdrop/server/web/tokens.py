"""Signed hidden form fields instead of cookies (docs/design.md, invariant 10), each good for one use.

A token proves that a form came from this server recently (CSRF protection)
or grants a short-lived permission (adding a follow-up to one tip after the
receipt was checked). itsdangerous tokens are signed, not encrypted: anyone
holding one can read it, so a token carries a purpose, a random nonce, a tip
id at most, and never a receipt or a key.

**One use.** A token that did something is spent: the submit, check and
follow-up forms, and the API's ``followup_token``, are refused when sent
again (HTTP 409 and a page or JSON error saying it was already sent), so a
browser's Reload of the receipt page, a double click or a scripted replay
never stores a second report or follow-up. What is remembered, in the
server's database (table ``spent_forms``, shared by every worker), is
SHA-256 of the nonce under a label and the day the token stops being valid
anyway; rows are deleted once that day has passed. No address, no time of
day, no link to the tip: the table has no rowid order and is keyed by the
digest (see store.spend_form). A submit or follow-up spends its token in
the same transaction that stores it, so a submission that fails (a missing
description, a stale key, a follow-up number taken) leaves the token
usable, and of two copies sent at once exactly one is stored. A check
spends its token before any Argon2 work, whatever the outcome: one check
per page, and a replay costs the server nothing (guessing is bounded by the
rate limit, not by tokens, which anyone can fetch). The ``done`` form after
the receipt changes nothing and is exempt.
"""

import datetime
import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

from tipdrop.common.files import atomic_write
from tipdrop.errors import (
    CheckFormUsedError,
    FollowupAlreadySentError,
    InputError,
    ReportAlreadySentError,
)

SECRET_FILE = "token-secret"  # noqa: S105 (a file name, not a secret)
FORM_MAX_AGE = 4 * 3600
FOLLOWUP_MAX_AGE = 30 * 60
#: Domain separation for the digest of a spent token's nonce.
SPENT_LABEL = b"tipdrop/v1/spent-form\x00"
#: The error a replay of each single-use purpose raises.
REPLAY_ERRORS = {
    "submit": ReportAlreadySentError,
    "check": CheckFormUsedError,
    "followup": FollowupAlreadySentError,
}


class FormExpiredError(InputError):
    """This form has expired or did not come from this site. Please open it again."""

    http_status = 403
    detail_is_message = False


@dataclass(frozen=True)
class FormUse:
    """What spending one token records, and the error its replay raises.

    Passed to the use cases (tips.Tips) and on to the store, which records
    it in the transaction that acts on the form.
    """

    digest: bytes
    expires_day: str
    replay_error: type

    def __repr__(self):
        return f"FormUse(<digest>, {self.expires_day})"


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
        return self._serializer.dumps({"p": purpose, "n": secrets.token_urlsafe(16)})

    def check_form(self, token, purpose, max_age=FORM_MAX_AGE):
        """Verify a form token; return the FormUse that spends it (None for "done")."""
        data, issued = self._load(token, max_age)
        if data.get("p") != purpose:
            raise FormExpiredError()
        return self._use(data, issued, max_age)

    def followup(self, tip_id):
        """Permission to add one follow-up to ``tip_id`` within a short while."""
        return self._serializer.dumps({"p": "followup", "t": tip_id,
                                       "n": secrets.token_urlsafe(16)})

    def check_followup(self, token):
        """(tip id, FormUse) of a valid follow-up token."""
        data, issued = self._load(token if isinstance(token, str) else "", FOLLOWUP_MAX_AGE)
        tip_id = data.get("t")
        if data.get("p") != "followup" or not isinstance(tip_id, str):
            raise FormExpiredError()
        return tip_id, self._use(data, issued, FOLLOWUP_MAX_AGE)

    def signed_here(self, token, purpose):
        """Whether ``token`` is a ``purpose`` token this server signed, however old.

        Tells a form left open too long (its signature verifies, only its age
        is past) from one made elsewhere or garbled: only the first may show
        a refused form again with what was typed (submit_again.py). The
        signature is compared in constant time (itsdangerous, hmac.compare_digest),
        and the age is checked only after it verified, so an expired token
        says nothing a forged one does not.
        """
        if not isinstance(token, str) or not token or len(token) > 512:
            return False
        try:
            data = self._serializer.loads(token)
        except BadSignature:
            return False
        return isinstance(data, dict) and data.get("p") == purpose

    @staticmethod
    def _use(data, issued, max_age):
        error = REPLAY_ERRORS.get(data["p"])
        if error is None:
            return None
        nonce = data.get("n")
        if not isinstance(nonce, str) or len(nonce) < 16:
            raise FormExpiredError()  # a token from before tokens were single-use
        expires = issued + datetime.timedelta(seconds=max_age)
        return FormUse(hashlib.sha256(SPENT_LABEL + nonce.encode()).digest(),
                       expires.astimezone(datetime.UTC).date().isoformat(), error)

    def _load(self, token, max_age):
        if not isinstance(token, str) or not token or len(token) > 512:
            raise FormExpiredError()
        try:
            data, issued = self._serializer.loads(token, max_age=max_age, return_timestamp=True)
        except BadSignature:
            raise FormExpiredError() from None
        if not isinstance(data, dict):
            raise FormExpiredError()
        return data, issued
