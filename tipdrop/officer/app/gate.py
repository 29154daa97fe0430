"""Who may talk to the officer app: one browser, of this officer, on this computer.

The app listens on 127.0.0.1 only, but that alone keeps out neither a web
page the officer happens to open (it can make the browser send requests to
127.0.0.1) nor a DNS-rebinding site (a name that resolves to 127.0.0.1). So:

- the Host header must be ``127.0.0.1:PORT`` or ``localhost:PORT``: a
  rebinding site's requests carry its own name and are refused, and so is
  a request with no Host header at all;
- a one-time launch token becomes the session (an HttpOnly, SameSite=Strict
  cookie). It reaches the browser in a form POST from a file only the officer
  can read (launchfile.py), never in an address: an address opened in the
  browser is on the command line of xdg-open and the browser, which every
  local user can read in /proc, and stays in the history. (``/?token=`` is
  still taken, for the address ``--show-link`` prints when the officer asks
  for it.) The token never works twice, and nothing but that session is
  served;
- a POST must come from this origin (``Origin`` is exactly ours, and
  ``Sec-Fetch-Site`` if sent is ``same-origin``) and carry the session's form
  token. Cookies ignore ports, so another app on 127.0.0.1 counts as
  "same-site" to the browser: the origin, not SameSite, tells them apart;
- so does every other request of the session, GETs too: a browser that says
  where a request comes from (``Sec-Fetch-Site``) must say ``same-origin``
  or ``none`` (the officer typed the address, or a bookmark). A page of
  another port of 127.0.0.1 gets the SameSite=Strict cookie sent with its
  ``<img src>`` or link, and a GET is not without effect here: showing a tip
  marks its follow-ups read and writes "show" in the audit log in the
  officer's name, a file download writes "save-attachment", a photo takes
  the sandbox for seconds;
- every answer forbids caching, sniffing, framing and every script, and
  sends no Referer anywhere else; an unlocked page alone may load the app's
  own script file (exchange.py: ``script-src 'self'``, nothing inline).
"""

import hashlib
import hmac
import secrets

from flask import current_app, g, redirect, render_template, request

from tipdrop.errors import InputError

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; script-src 'none'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
#: The hosts a request may name; the port is added.
LOCAL_HOSTS = ("127.0.0.1", "localhost")
TOKEN_FIELD = "form_token"  # noqa: S105 (a field name)
#: Where the launch file's form sends the launch token, and the field that carries it.
LAUNCH_PATH = "/launch"
LAUNCH_FIELD = "token"


class WrongHostError(InputError):
    """This address is not the officer app's: open the launch page named in its terminal."""

    http_status = 421
    detail_is_message = False


class NoSessionError(InputError):
    """Open the officer app with the launch page named in the terminal that started it."""

    http_status = 403
    detail_is_message = False


class LaunchLinkUsedError(InputError):
    """This launch link was already used. Start the officer app again for a new one."""

    http_status = 403
    detail_is_message = False


class ForeignRequestError(InputError):
    """This request did not come from the officer app's own page and was refused."""

    http_status = 403
    detail_is_message = False


def _digest(text):
    return hashlib.sha256(text.encode()).digest()


class Gate:
    """The launch token, the one session it becomes, and that session's form token."""

    def __init__(self, port=0, launch_token=None):
        self.port = port
        self.launch_token = launch_token or secrets.token_urlsafe(32)
        self._launch_used = False
        #: Called once the launch token is used (serve.py removes the launch file).
        self.on_launch = lambda: None
        self._session = None  # sha256 of the cookie's value
        self.form_token = secrets.token_urlsafe(32)

    @property
    def cookie_name(self):
        # Cookies ignore ports: one name per port keeps two running apps apart.
        return f"tipdrop_officer_{self.port}"

    @property
    def origin(self):
        return f"http://127.0.0.1:{self.port}"

    def launch_url(self):
        """The address with the token, printed only when the officer asks (``--show-link``)."""
        return f"{self.origin}/?token={self.launch_token}"

    def check_host(self):
        # The header itself, not request.host: without a Host header Werkzeug falls back to
        # the address it listens on, which would let a request naming no host through.
        if request.headers.get("Host") not in {f"{host}:{self.port}" for host in LOCAL_HOSTS}:
            raise WrongHostError()

    def launch(self, offered, response):
        """Turn the launch token into the session cookie on ``response``, which leads to "/".

        No Origin check: the launch file's form comes from a ``file:`` page
        (Origin ``null``); the token itself, 256 random bits sent once, is
        the proof.
        """
        if self._launch_used:
            if self._has_session():  # the officer's own browser, reloading the first address
                return redirect("/", code=303)
            raise LaunchLinkUsedError()
        if not hmac.compare_digest(_digest(offered), _digest(self.launch_token)):
            raise NoSessionError()
        self._launch_used = True
        self.on_launch()
        session = secrets.token_urlsafe(32)
        self._session = _digest(session)
        response.set_cookie(self.cookie_name, session, httponly=True, samesite="Strict",
                            path="/")
        return response

    def _has_session(self):
        offered = request.cookies.get(self.cookie_name)
        return self._session is not None and offered is not None and \
            hmac.compare_digest(_digest(offered), self._session)

    def check_session(self):
        if not self._has_session():
            raise NoSessionError()

    def check_post(self):
        """A POST from our own page: our origin, and the session's form token."""
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if fetch_site is not None and fetch_site != "same-origin":
            raise ForeignRequestError()
        if request.headers.get("Origin") != f"http://{request.host}":
            raise ForeignRequestError()
        offered = request.form.get(TOKEN_FIELD, "")
        if not hmac.compare_digest(_digest(offered), _digest(self.form_token)):
            raise ForeignRequestError()

    def guard(self):
        """Before every request: the host, then the launch or the session, then POST rules."""
        self.check_host()
        if request.endpoint == "static":
            return None
        if request.path == "/" and "token" in request.args:
            return self.launch(request.args.get("token", ""), redirect("/", code=303))
        if request.path == LAUNCH_PATH and request.method == "POST":
            # Not a redirect: the browser would carry on the file page's (cross-site)
            # initiator and not send the new SameSite=Strict cookie to "/". A page of
            # this origin that moves on by itself (meta refresh; a link too) does.
            page = current_app.make_response(render_template("launched.html"))
            return self.launch(request.form.get(LAUNCH_FIELD, ""), page)
        self.check_session()
        g.in_session = True
        self.check_fetch_site()
        if request.method not in ("GET", "HEAD"):
            self.check_post()
        return None

    @staticmethod
    def check_fetch_site():
        """Any request of the session: not sent for a page of another site or port."""
        if request.headers.get("Sec-Fetch-Site") not in (None, "same-origin", "none"):
            raise ForeignRequestError()


def headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)  # a download sets its own
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"  # Origin stays ours on our own POSTs
    response.headers["Cache-Control"] = "no-store"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    return response


def init_app(app, gate):
    app.extensions["officer_gate"] = gate
    app.before_request(gate.guard)
    app.after_request(headers)
    app.jinja_env.globals["form_token"] = lambda: current_app.extensions["officer_gate"].form_token
    app.jinja_env.globals["TOKEN_FIELD"] = TOKEN_FIELD
