"""A JSON body that names a member twice is refused, at any depth (docs/protocol.md, conventions).

Python's json keeps the last of two values for one name; other parsers (a
proxy, a WAF, the reference client's) may keep the first. A body read two
ways is a parser differential: what was checked is not what is stored. So
every JSON body of the reporter API, and the JSON receipt field of a
device-sealed report, is refused with the error for a malformed body.
"""

import json

import pytest

from tests.server.web.test_locators import device_form, post, reserve
from tipdrop.protocol import receipts


@pytest.fixture
def app(app_config):
    from tipdrop.server.web import create_app

    return create_app(app_config | {"submits_per_hour": 10**6, "checks_per_hour": 10**6})


def _post_raw(client, path, body, headers=None):
    return client.post(path, data=body.encode(), content_type="application/json",
                       headers=headers or {})


def assert_refused_as_malformed(response):
    assert response.status_code == 400, response.get_data()[:300]
    assert response.json["error"] == "InputError"
    assert "twice" in response.json.get("detail", "") + response.json["message"]


CODE = receipts.generate().formatted

#: (path, body): a name twice at the top, and twice inside a nested object or a list.
CASES = [
    ("/api/v1/check", f'{{"receipt": "0000", "receipt": "{CODE}"}}'),
    ("/api/v1/check", f'{{"receipt": "{CODE}", "sealed_replies": false, "sealed_replies": true}}'),
    ("/api/v1/check", f'{{"receipt": "{CODE}", "x": [{{"a": "1", "a": "2"}}]}}'),
    ("/api/v1/tips", '{"region": "astana", "category": "theft", "description": "a",'
                     ' "description": "b"}'),
    ("/api/v1/tips", '{"region": "astana", "category": "theft", "description": "a",'
                     ' "answers": {"what": "x", "what": "y"}}'),
    ("/api/v1/followups", '{"token": "t", "text": "a", "text": "b"}'),
    ("/api/v1/sealed-followups", '{"token": "t", "part": "f1", "body": "", "part": "f2"}'),
    ("/api/v1/uploads", '{"region": "astana", "category": "theft", "tip_id": "00",'
                        ' "parts": [["tip", 10]], "region": "almaty"}'),
    ("/api/v1/uploads", '{"region": "astana", "category": "theft", "tip_id": "00",'
                        ' "parts": [["tip", 10]], "x": {"y": {"z": 1, "z": 2}}}'),
    ("/api/v1/uploads/finish", '{"chain": "00", "chain": "11"}'),
]


@pytest.mark.parametrize("path, body", CASES)
def test_a_json_body_naming_a_member_twice_is_refused_as_malformed(client, path, body):
    response = _post_raw(client, path, body, {"Idempotency-Key": "a" * 64})
    assert_refused_as_malformed(response)


def test_the_same_body_without_the_repeat_is_read(client):
    # The refusal is for the repeat, not for the rest of the body
    response = _post_raw(client, "/api/v1/check", f'{{"receipt": "{CODE}"}}')
    assert response.status_code == 404


def test_a_device_receipt_field_naming_a_member_twice_is_refused(client, unit_key):
    # Given a device-made receipt field that names its locator twice: first a
    # locator nobody reserved, then the one its reservation holds
    reservation = reserve(client)
    _, data = device_form(unit_key, reservation["locator"], reservation["reservation"])
    assert data["receipt"].startswith("{")
    data["receipt"] = '{"locator": "ZZZZZ", ' + data["receipt"][1:]
    assert json.loads(data["receipt"])["locator"] == reservation["locator"]
    # Then the submit is refused as malformed, and nothing is stored
    response = post(client, data)
    assert response.status_code == 400, response.get_data()[:300]
    assert response.json["error"] == "SealedFormatError"
    assert "twice" in response.json.get("detail", "")
