"""Answers padded to a fixed size, so their length does not tell what they say.

TLS hides what an answer says, not how long it is. The answer to a receipt
check is longer when the police replied, longer still for a longer reply,
and shorter when there is no such report: whoever watches a reporter's
traffic (the network's operator, a shared Wi-Fi) would learn from the size
alone whether, and how much, the police answered. So every answer of a view
marked :func:`padded` (the check, in the API and as a page), whatever it
says (a status, no such receipt, a refusal), gets trailing white space up to
the next multiple of :data:`BUCKET` bytes: all answers under 8 KiB are 8 KiB;
a longer one (a long reply, a long history) shows only how many times 8 KiB
it needs.

Only the body is padded: the status line still tells an unknown or used
code (404, 410) from a working one, though not whether anyone answered
(docs/threat-model.md, "A network observer"); giving every
outcome one status would change the API's answers.

White space after a JSON value, or after the end of an HTML document, means
nothing to either (RFC 8259 section 2; HTML parsers keep it as trailing
text), so no client needs to know about it.

This is not crypto/padding.py's Padmé: that pads plaintexts inside
ciphertexts at rest, to buckets that grow with the length; here a whole
HTTP answer is padded to one fixed bucket, in the web layer, because the
web layer is what knows where a view's answer ends.

Padding only holds if nothing compresses the answer afterwards (a run of
spaces compresses to a few bytes, and the rest by its content). tipdrop
compresses only its fixed static files (assets.py), and the nginx
configuration in deploy/ turns gzip off for everything it passes on
(docs/deploy.md).
"""

from flask import current_app, request

#: Every padded answer is a whole number of these bytes.
BUCKET = 8 * 1024


def padded_length(length: int, bucket: int = BUCKET) -> int:
    """The size an answer of ``length`` bytes is padded to: a multiple of ``bucket``, at least one."""
    return max(1, -(-length // bucket)) * bucket


def padded(view):
    """Mark ``view`` so each of its answers, errors included, is padded (:func:`init_app`).

    Put it under the route decorator, so the function the route holds is marked.
    """
    view.padded_answer = True
    return view


def init_app(app):
    app.after_request(_pad)


def _pad(response):
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if getattr(view, "padded_answer", False) and not response.is_streamed:
        body = response.get_data()
        response.set_data(body + b" " * (padded_length(len(body)) - len(body)))
    return response
