"""Security headers, no cookies, and a same-origin rule for every POST.

Reporters have no session, so CSRF protection cannot be a session-bound
token: every form carries a signed, expiring token (tokens.py), and a POST
that the browser says came from another site (Sec-Fetch-Site) or whose
Origin names another host is refused outright. Under our no-referrer policy
browsers send ``Origin: null`` even for our own forms, so "null" proves
nothing either way and is left to the token.
"""

import ipaddress
from urllib.parse import urlsplit

from flask import request
from werkzeug.middleware.proxy_fix import ProxyFix

from tipdrop.errors import InputError

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class CrossSiteError(InputError):
    """This form was sent from another website and was refused."""

    http_status = 403
    detail_is_message = False


def check_same_origin():
    """Refuse state-changing requests a browser sent on behalf of another site."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
        raise CrossSiteError()
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return  # not a browser, an old one, or no-referrer: the token decides
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:  # "http://[::1": not an origin any browser sends
        raise CrossSiteError() from None
    if netloc != request.host:
        raise CrossSiteError()


class LocalProxyFix:
    """Believe X-Forwarded-For/-Proto only from a proxy on this machine.

    With TIPDROP_PROXIES set, the client address the rate limits count comes
    from X-Forwarded-For. Whoever reaches gunicorn past the proxy could write
    that header himself and escape every limit, so a request whose peer is
    not loopback (or a Unix socket) is taken as it is: its real address
    counts. gunicorn must be reachable only through the proxy all the same
    (docs/reverse-proxy.md; ``tipdrop doctor`` checks it).
    """

    def __init__(self, app, proxies):
        self.app = app
        self.fixed = ProxyFix(app, x_for=proxies, x_proto=proxies, x_host=0)

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR") or ""
        if not peer or _is_loopback(peer):
            return self.fixed(environ, start_response)
        for name in ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO"):
            environ.pop(name, None)
        return self.app(environ, start_response)


def _is_loopback(address):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


def init_app(app):
    app.before_request(check_same_origin)

    @app.after_request
    def headers(response):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        # Pages never stay in the cache; fingerprinted static files may (assets.py).
        if not (request.endpoint == "assets.asset" and response.status_code == 200):
            response.headers["Cache-Control"] = "no-store"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = "max-age=63072000"
        response.headers.pop("Set-Cookie", None)
        return response
