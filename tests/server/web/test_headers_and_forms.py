"""Every reporter page sends the security headers and loads nothing from elsewhere;
every state-changing POST without a valid form token is refused."""

import re

import pytest

from tests.server.web.conftest import form_token, refused

PAGES = ["/", "/submit", "/check", "/privacy", "/stats", "/no-such-page"]


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_every_reporter_page_sends_the_security_headers(client, path, lang):
    response = client.get(f"{path}?lang={lang}")
    headers = response.headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in headers


@pytest.mark.parametrize("path", PAGES)
def test_no_page_references_another_origin(client, path):
    text = client.get(path).text
    urls = re.findall(r'(?:src|href|action)="([^"]+)"', text)
    assert urls
    # The one way out: the quick-exit link to a neutral site (a plain link, no request of ours).
    assert re.search(r'<a id="quick-exit"[^>]* href="https://www.google.com/"', text)
    urls.remove("https://www.google.com/")
    urls.remove("#main")  # the skip link, within the page
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    # Scripts only as our own files (CSP script-src 'self'), never inline code.
    assert all(body.strip() == "" for body in re.findall(r"<script[^>]*>(.*?)</script>", text, re.S))
    assert " style=" not in text


@pytest.mark.parametrize("path,data", [
    ("/check", {"receipt": "0000-0000-0000-0000-0000-0000"}),
    ("/followup", {"text": "hello"}),
    ("/submit/done", {"confirm": "0000", "saved": "yes"}),
])
@pytest.mark.parametrize("token", [None, "", "forged.token.value"])
def test_every_post_without_a_valid_token_is_refused(client, path, data, token):
    if token is not None:
        data = data | {"token": token}
    response = refused(client, client.post(f"{path}?lang=en", data=data))
    assert response.status_code == 403


def test_a_token_for_one_form_does_not_work_on_another(client):
    check_token = form_token(client, "/check")
    response = refused(client, client.post("/followup?lang=en",
                                           data={"token": check_token, "text": "x"}))
    assert response.status_code == 403


def test_submit_without_a_token_is_refused(client):
    data = {"region": "astana", "category": "theft", "description": "d"}
    response = client.post("/submit?lang=en", data=data, content_type="multipart/form-data")
    assert response.status_code == 403
