"""Static files: fingerprinted, cached for good and compressed; pages stay no-store."""

import gzip
import hashlib
import re

import pytest

from tipdrop.server.web import assets


def _asset_urls(page):
    return re.findall(r'(?:src|href)="(/assets/[^"]+)"', page)


def test_pages_link_every_static_file_by_a_name_that_carries_its_digest(client):
    urls = _asset_urls(client.get("/submit?lang=kk").text)
    assert {re.sub(r"\.[0-9a-f]{16}\.", ".", u) for u in urls} >= {
        "/assets/style.css", "/assets/favicon.svg", "/assets/js/page.js", "/assets/js/submit.js"}
    for url in urls:
        plain = re.sub(r"\.([0-9a-f]{16})\.", ".", url[len("/assets/"):])
        digest = re.search(r"\.([0-9a-f]{16})\.", url).group(1)
        data = (assets.FOLDER / plain).read_bytes()
        assert hashlib.sha256(data).hexdigest()[:16] == digest


def test_a_fingerprinted_file_is_cached_for_good_and_gzipped_for_who_accepts_it(client):
    [css] = [u for u in _asset_urls(client.get("/").text) if "style" in u]
    plain = (assets.FOLDER / "style.css").read_bytes()
    packed = client.get(css, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert packed.status_code == 200
    assert packed.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.headers["Vary"] == "Accept-Encoding"
    assert packed.headers["Content-Type"].startswith("text/css")
    assert len(packed.data) < len(plain) and gzip.decompress(packed.data) == plain
    raw = client.get(css, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in raw.headers and raw.data == plain
    # The security headers stay on it
    assert raw.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/", "/submit", "/privacy", "/stats", "/check"])
def test_pages_are_still_never_stored(client, path):
    assert client.get(path).headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/assets/style.0000000000000000.css", "/assets/style.css",
                                  "/assets/../web/__init__.py", "/assets/js/"])
def test_a_stale_or_unknown_asset_name_is_a_404_not_cached(client, path):
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.headers["Cache-Control"] == "no-store"


def test_every_page_has_a_favicon_and_a_skip_link_to_the_main_content(client):
    page = client.get("/?lang=ru").text
    assert re.search(r'<link rel="icon" href="/assets/favicon\.[0-9a-f]{16}\.svg" type="image/svg\+xml">', page)
    assert '<a class="skip-link" href="#main">Перейти к основному содержанию</a>' in page
    assert '<main id="main" tabindex="-1">' in page
    # The quick exit stays the first link
    assert page.index('id="quick-exit"') < page.index("skip-link")
