"""Talking to a tipdrop server over HTTP: which addresses are allowed, and network errors.

Shared by the officer's client (officer/client.py) and the reporter's
reference client (reporter/client.py); standard library only. Plain http://
is refused unless the server is this very computer: over a network, reports,
replies and receipts travel only over TLS checked against the system's
trusted certificates.
"""

import http.client
import ipaddress
import json
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from tipdrop.errors import TipdropError, UsageError


class InsecureServerError(UsageError):
    """Refusing plain http:// to another computer: use the server's https:// address."""

    detail_is_message = False


class ServerUnreachableError(TipdropError):
    """Cannot reach the server."""


class ServerRefusedError(TipdropError):
    """The server refused the request."""

    #: The HTTP status of the refusal (set by :func:`refusal`).
    status = None


class ServerAnswerError(TipdropError):
    """The server's answer was cut short or is not an officer API answer."""


@dataclass(frozen=True)
class ServerURL:
    scheme: str
    host: str
    port: int
    base: str

    def __str__(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.base}"


def is_loopback(host):
    """True for localhost and the loopback addresses 127.0.0.0/8 and ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_server_url(url):
    """Parse ``--server``: https://, or http:// to loopback only; raise UsageError."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError("the server address must look like https://tips.example.kz")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageError("the server address must not contain a user name, '?' or '#'")
    try:
        port = parts.port
    except ValueError:
        raise UsageError("the server address has an invalid port") from None
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InsecureServerError()
    return ServerURL(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80),
                     parts.path.rstrip("/"))


def network_step(server, call, *args, answer_error=ServerAnswerError, **kwargs):
    """Run one network step; connection trouble becomes one clear error.

    A client passes its own ``answer_error`` for an answer cut short.
    """
    try:
        return call(*args, **kwargs)
    except http.client.IncompleteRead as e:
        raise answer_error(f"the connection closed with {e.expected} bytes still to come") \
            from None
    except ssl.SSLCertVerificationError as e:
        raise ServerUnreachableError(
            f"{server}: its certificate is not trusted ({e.verify_message})") from None
    except (OSError, http.client.HTTPException) as e:
        reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
        raise ServerUnreachableError(f"{server}: {reason}") from None


def connect(server, timeout):
    """One HTTP connection to ``server`` (a ServerURL); https checks the certificate.

    The reporter's client and the workstation's both open theirs here, so
    they follow the same rules (check_server_url decided which addresses).
    """
    if server.scheme == "https":
        return http.client.HTTPSConnection(server.host, server.port, timeout=timeout,
                                           context=ssl.create_default_context())
    return http.client.HTTPConnection(server.host, server.port, timeout=timeout)


def refusal(status, raw, headers=None):
    """A ServerRefusedError carrying the server's own message, when it sent one.

    With ``headers``, a 429 or 503 also says when to try again (Retry-After).
    """
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        doc = None
    message = f"HTTP {status}"
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        text = doc["message"].rstrip(".")
        if isinstance(doc.get("detail"), str):
            text = f"{text}: {doc['detail']}"
        message = f"{text} ({message})"
    retry = (headers or {}).get("retry-after", "")
    if status in (429, 503) and retry.isdigit():
        message += f"; try again in {retry} seconds"
    error = ServerRefusedError(message)
    error.status = status
    return error
