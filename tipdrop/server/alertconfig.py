"""Who is alerted of new reports, and how: ``alerts.json`` in the keys folder.

One file beside routing.json, read at start and again on SIGHUP like the
rest of the keys folder (reload.py), and checked whole: a typo is a
one-line error at start, never a silent lack of alerts. It holds no secret:
the SMTP password and each unit's webhook secret are in files of their own,
outside the keys folder (which holds public files only), not readable by
other users, and named here by path. The web workers parse the file to know
which units to count reports for (:meth:`AlertConfig.targets_of`); only the
alert sender and the start-up checks read the secret files
(:func:`read_secrets`). The format is in docs/operations.md, "Duty alerts".
"""

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tipdrop.common.remote import is_loopback
from tipdrop.errors import ConfigError
from tipdrop.protocol.routing import URGENT_BY_DEFAULT, Routing

#: Ways an alert goes out; a unit has one or both.
TARGETS = ("email", "webhook")
DEFAULT_INTERVAL = 900
DEFAULT_JITTER = 120
MAX_SECONDS = 24 * 3600
MAX_RECIPIENTS = 20
#: A webhook secret of fewer characters is refused (openssl rand -hex 32 gives 64).
MIN_SECRET_CHARS = 32
_SECURITY_PORTS = {"starttls": 587, "tls": 465, "none": 25}
#: An address as it goes into a header and an SMTP envelope: no space, no
#: line break, nothing a header or the RCPT command could be split on.
_ADDRESS = re.compile(r"[^@\s<>,;:\"()\[\]\\]{1,64}@[A-Za-z0-9.-]{1,253}")
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\[?[0-9A-Fa-f:.]{2,45}\]?")
_SECRET = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    security: str
    sender: str
    username: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None


@dataclass(frozen=True)
class Webhook:
    url: str
    secret_file: Path
    ca_file: Path | None = None


@dataclass(frozen=True)
class UnitAlerts:
    unit: str
    interval: int
    jitter: int
    urgent: frozenset
    email: tuple = ()
    webhook: Webhook | None = None
    heartbeat: bool = False

    @property
    def targets(self) -> tuple:
        return tuple(t for t in TARGETS if (self.email if t == "email" else self.webhook))


@dataclass(frozen=True)
class AlertConfig:
    units: dict = field(default_factory=dict)
    smtp: Smtp | None = None

    def targets_of(self, unit):
        """The ways ``unit`` is alerted (none: its reports are not counted)."""
        found = self.units.get(unit)
        return found.targets if found else ()

    def is_urgent(self, unit, category):
        found = self.units.get(unit)
        return bool(found) and category in found.urgent

    def secret_files(self):
        """Every secret file named: (what, path)."""
        found = []
        if self.smtp is not None and self.smtp.password_file is not None:
            found.append(("smtp.password_file", self.smtp.password_file))
        for unit, config in sorted(self.units.items()):
            if config.webhook is not None:
                found.append((f"units.{unit}.webhook.secret_file", config.webhook.secret_file))
        return found


def load_alerts(path, keys_dir, routing: Routing, installed=()) -> AlertConfig:
    """Parse and check ``path`` (alerts.json in ``keys_dir``); no file means no alerts.

    A unit may be alerted when routing.json sends it a region or when its key
    is installed (``installed``, the units of the keys folder): a unit that
    only receives tips other units forward to it has new work to be told of
    too (docs/operations.md, "Forwards between units").
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return AlertConfig()
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(f"{path}: {e}") from None
    where = _Where(path, Path(keys_dir))
    obj = where.object(doc, "", {"version", "interval", "jitter", "smtp", "units", "_comment"})
    if obj.get("version") != 1:
        raise where.error("", 'expected "version": 1')
    interval = where.seconds(obj, "interval", DEFAULT_INTERVAL, low=1)
    jitter = where.seconds(obj, "jitter", DEFAULT_JITTER, low=0)
    smtp = _smtp(where, obj["smtp"]) if "smtp" in obj else None
    units = where.object(obj.get("units", {}), "units", None)
    found = {}
    for unit, unit_doc in units.items():
        if unit not in routing.units and unit not in installed:
            raise where.error(f"units.{unit}", "no key is installed for this unit and "
                              "routing.json sends no region to it")
        found[unit] = _unit(where, unit, unit_doc, routing, interval, jitter)
        if found[unit].email and smtp is None:
            raise where.error(f"units.{unit}.email", 'needs the "smtp" section')
    return AlertConfig(found, smtp)


def read_secrets(config: AlertConfig) -> dict:
    """The secret files' contents, checked: {path: bytes}. Raise ConfigError naming the file.

    Never part of a message: a ConfigError names the file and what is
    wrong with it, not what it holds.
    """
    secrets = {}
    for what, path in config.secret_files():
        secrets[path] = _read_secret(what, path, webhook=what.endswith("secret_file"))
    return secrets


def _read_secret(what, path, webhook):
    try:
        info = os.stat(path)
        with open(path, "rb") as f:
            data = f.read(4096)
    except OSError as e:
        raise ConfigError(f"{what} {path} cannot be read ({e.strerror or e})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{what} {path} is not a file")
    if info.st_mode & 0o007:
        raise ConfigError(f"{what} {path} is open to other users: chmod o-rwx {path}")
    lines = data.splitlines()
    value = lines[0].strip() if lines else b""
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    if not text or not _SECRET.fullmatch(text):
        raise ConfigError(f"{what} {path} must hold one line of printable ASCII, no spaces")
    if webhook and len(text) < MIN_SECRET_CHARS:
        raise ConfigError(f"{what} {path} is shorter than {MIN_SECRET_CHARS} characters "
                          "(make one with: openssl rand -hex 32)")
    return value


def _smtp(where, doc):
    obj = where.object(doc, "smtp", {"host", "port", "security", "username", "password_file",
                                     "from", "ca_file"})
    host = where.text(obj, "smtp", "host", _HOST, "a host name or address")
    security = obj.get("security", "starttls")
    if security not in _SECURITY_PORTS:
        raise where.error("smtp.security", 'must be "starttls", "tls" or "none"')
    if security == "none" and not is_loopback(host.strip("[]")):
        raise where.error("smtp.security", '"none" (no TLS) is only for a mail relay on this '
                          "computer: use starttls or tls")
    port = obj.get("port", _SECURITY_PORTS[security])
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise where.error("smtp.port", "must be a port number")
    username = obj.get("username")
    if username is not None and (not isinstance(username, str) or not _SECRET.fullmatch(username)):
        raise where.error("smtp.username", "must be text without spaces")
    if (username is None) != ("password_file" not in obj):
        raise where.error("smtp", '"username" and "password_file" go together')
    if username is not None and security == "none":
        raise where.error("smtp", "a password is never sent without TLS: use starttls or tls")
    return Smtp(host=host, port=port, security=security,
                sender=where.text(obj, "smtp", "from", _ADDRESS, "an e-mail address"),
                username=username,
                password_file=where.secret_path(obj, "smtp", "password_file"),
                ca_file=where.path(obj, "smtp", "ca_file"))


def _unit(where, unit, doc, routing, interval, jitter):
    prefix = f"units.{unit}"
    obj = where.object(doc, prefix, {"email", "webhook", "urgent", "interval", "jitter",
                                     "heartbeat"})
    email = obj.get("email", [])
    if isinstance(email, str):
        email = [email]
    if not isinstance(email, list) or len(email) > MAX_RECIPIENTS:
        raise where.error(f"{prefix}.email", f"must be a list of at most {MAX_RECIPIENTS} addresses")
    for address in email:
        if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
            raise where.error(f"{prefix}.email", f"{address!r} is not an e-mail address")
    webhook = _webhook(where, prefix, obj["webhook"]) if "webhook" in obj else None
    if not email and webhook is None:
        raise where.error(prefix, 'needs "email" or "webhook" (or both)')
    categories = {c.code for c in routing.categories}
    urgent = obj.get("urgent", [c for c in URGENT_BY_DEFAULT if c in categories])
    if not isinstance(urgent, list) or any(c not in categories for c in urgent):
        unknown = [c for c in urgent if c not in categories] if isinstance(urgent, list) else []
        raise where.error(f"{prefix}.urgent", "must list category codes"
                          + (f"; unknown: {', '.join(map(str, unknown))}" if unknown else ""))
    heartbeat = obj.get("heartbeat", False)
    if not isinstance(heartbeat, bool):
        raise where.error(f"{prefix}.heartbeat", "must be true or false")
    return UnitAlerts(unit=unit, interval=where.seconds(obj, "interval", interval, low=1, at=prefix),
                      jitter=where.seconds(obj, "jitter", jitter, low=0, at=prefix),
                      urgent=frozenset(urgent), email=tuple(email), webhook=webhook,
                      heartbeat=heartbeat)


def _webhook(where, prefix, doc):
    at = f"{prefix}.webhook"
    obj = where.object(doc, at, {"url", "secret_file", "ca_file"})
    url = obj.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or any(c in url for c in "\r\n "):
        raise where.error(f"{at}.url", "must be an https:// address")
    if parts.username or parts.password:
        raise where.error(f"{at}.url", "must not hold a user name or password")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise where.error(f"{at}.url", "must be https:// (http:// only to this computer)")
    secret = where.secret_path(obj, at, "secret_file")
    if secret is None:
        raise where.error(at, 'needs "secret_file"')
    return Webhook(url=url, secret_file=secret, ca_file=where.path(obj, at, "ca_file"))


class _Where:
    """Errors that name the file and the member: ``alerts.json: units.demo.email: ...``."""

    def __init__(self, path, keys_dir):
        self.file = path
        self.keys_dir = keys_dir

    def error(self, member, problem):
        return ConfigError(f"{self.file}: {member + ': ' if member else ''}{problem}")

    def object(self, doc, member, allowed):
        if not isinstance(doc, dict):
            raise self.error(member, "must be a JSON object")
        if allowed is not None:
            unknown = sorted(set(doc) - allowed)
            if unknown:
                raise self.error(member, f"unknown member {unknown[0]!r}")
        return doc

    def seconds(self, obj, name, default, low, at=""):
        value = obj.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) \
                or not low <= value <= MAX_SECONDS:
            raise self.error(f"{at}.{name}" if at else name,
                             f"must be whole seconds from {low} to {MAX_SECONDS}")
        return value

    def text(self, obj, at, name, pattern, what):
        value = obj.get(name)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise self.error(f"{at}.{name}", f"must be {what}")
        return value

    def path(self, obj, at, name):
        value = obj.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(f"{at}.{name}", "must be a file path")
        return (self.file.parent / value) if not os.path.isabs(value) else Path(value)

    def secret_path(self, obj, at, name):
        """A secret's file: never inside the keys folder, whose files are public."""
        path = self.path(obj, at, name)
        if path is None:
            return None
        resolved, keys = path.resolve(), self.keys_dir.resolve()
        if resolved == keys or keys in resolved.parents:
            raise self.error(f"{at}.{name}", "a secret must not be in the keys folder, "
                             "whose files are public: put it outside")
        return path
