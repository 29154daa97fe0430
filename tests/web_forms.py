"""A reporter using a real server's web forms without a browser: submit, then check."""

import re
import urllib.parse

from tests.serving import multipart


def submit_on_web(server, fields, files=(), lang="ru"):
    """Send the submit form with ``fields`` (and ``files``: multipart's (field, name, type,
    data)) as the page does, with its signed token; return the receipt code it shows."""
    token = server.form_token(f"/submit?lang={lang}")
    content_type, body = multipart({"token": token, **fields}, files)
    status, _, page = server.request("POST", f"/submit?lang={lang}", body,
                                     {"Content-Type": content_type})
    assert status == 203, page[:300]  # the receipt page (reporter.NOT_FOR_BACK)
    return re.search(rb'id="receipt">([^<]+)<', page).group(1).decode()


def check_on_web(server, receipt, lang="ru"):
    """Send the check form with ``receipt``; return the status page's HTML."""
    token = server.form_token(f"/check?lang={lang}")
    form = urllib.parse.urlencode({"token": token, "receipt": receipt})
    status, _, page = server.request("POST", f"/check?lang={lang}", form,
                                     {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 203  # the status page (reporter.NOT_FOR_BACK)
    return page.decode()
