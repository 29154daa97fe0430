"""Fixtures for the web app: a keys folder with one unit, a data folder, a client."""

import json
import re

import pytest

from tipdrop.crypto import kdf, keys
from tipdrop.server.web import create_app

REGIONS = {"astana": "demo", "almaty": "demo", "shymkent": "demo"}


@pytest.fixture
def unit_key():
    return keys.generate("demo")


@pytest.fixture
def keys_dir(tmp_path, unit_key):
    path = tmp_path / "keys"
    path.mkdir()
    (path / "demo.pub").write_bytes(unit_key.public.to_json())
    (path / "routing.json").write_text(json.dumps({"version": 1, "regions": REGIONS}))
    return path


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "instance"


@pytest.fixture
def app_config(data_dir, keys_dir):
    return {"data_dir": data_dir, "keys_dir": keys_dir, "receipt_params": kdf.TEST_PARAMS}


@pytest.fixture
def app(app_config):
    return create_app(app_config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def cheap_private_file(unit_key):
    return keys.private_to_file(unit_key, "pw", kdf.TEST_PARAMS)


def form_token(client, path):
    """GET a page and return the hidden form token it carries."""
    page = client.get(path)
    assert page.status_code == 203  # a form page (reporter.NOT_FOR_BACK)
    return re.search(r'name="token" value="([^"]+)"', page.text).group(1)


def refused(client, response, *posted):
    """A refused reporter POST: a 303 to a GET address that carries none of ``posted``
    and no token (docs/threat-model.md: no POST leaves a body behind); that GET's page."""
    assert response.status_code == 303, response.status_code
    location = response.location
    assert "token" not in location, location
    for value in posted:
        assert value not in location, (value, location)
    return client.get(location)


def find(pattern, text):
    match = re.search(pattern, text, re.S)
    assert match, f"{pattern!r} not found"
    return match.group(1)


@pytest.fixture
def submit(client):
    """Submit a report through the page; returns the response."""

    def do(lang="en", files=(), **fields):
        token = form_token(client, f"/submit?lang={lang}")
        data = {"token": token, "region": "astana", "category": "theft",
                "description": "A bicycle was stolen.", "website": ""} | fields
        data = {k: v for k, v in data.items() if v is not None}
        if files:
            data["files"] = list(files)
        # The POST answers 303 to the one-time receipt page (reporter.py).
        return client.post(f"/submit?lang={lang}", data=data, content_type="multipart/form-data",
                           follow_redirects=True)

    return do


@pytest.fixture
def check(client):
    """Check a receipt through the page; returns the response."""

    def do(receipt, lang="en"):
        token = form_token(client, f"/check?lang={lang}")
        # The POST answers 303 to the one-time status page (or back to the form).
        return client.post(f"/check?lang={lang}", data={"token": token, "receipt": receipt},
                           follow_redirects=True)

    return do
