"""The JSON API (/api/v1) keeps the same rules as the pages."""

import io
import json
import re

import pytest

from tipdrop.common import sqlite
from tipdrop.crypto import envelope
from tipdrop.protocol import receipts


def _post(client, path, doc, **kwargs):
    return client.post(path, data=json.dumps(doc), content_type="application/json", **kwargs)


REPORT = {"region": "astana", "category": "fraud", "description": "Phone scam calls from +7 700."}


def test_json_submit_returns_a_receipt_that_checks(client):
    made = _post(client, "/api/v1/tips?lang=en", REPORT)
    assert made.status_code == 201
    receipt = made.get_json()["receipt"]
    receipts.parse(receipt)
    checked = _post(client, "/api/v1/check", {"receipt": receipt})
    assert checked.status_code == 200
    body = checked.get_json()
    assert body["status"] == "received" and body["replies"] == []
    assert body["followup_token"]


def test_multipart_submit_with_a_file(client, app, unit_key):
    data = dict(REPORT, files=[(io.BytesIO(b"clip" * 1000), "clip.mp4", "video/mp4")])
    made = client.post("/api/v1/tips", data=data, content_type="multipart/form-data")
    assert made.status_code == 201
    db = sqlite.connect(app.config["TIPDROP"].database_path)
    assert db["attachments"].count == 1


def test_followup_through_the_api(client, app, unit_key):
    receipt = _post(client, "/api/v1/tips", REPORT).get_json()["receipt"]
    token = _post(client, "/api/v1/check", {"receipt": receipt}).get_json()["followup_token"]
    added = _post(client, "/api/v1/followups", {"token": token, "text": "He drives a red car."})
    assert added.status_code == 201 and added.get_json()["seq"] == 1
    db = sqlite.connect(app.config["TIPDROP"].database_path)
    [row] = list(db["followups"].rows)
    [tip] = list(db["tips"].rows)
    text = json.loads(envelope.open_(row["body"], unit_key.opener, kind="followup",
                                     tip_id=tip["id"], part="f1"))["text"]
    assert text == "He drives a red car."


@pytest.mark.parametrize("doc,status", [
    (REPORT | {"description": " "}, 400),
    (REPORT | {"region": "mars"}, 400),
    (REPORT | {"category": 7}, 400),
    ({"region": "astana"}, 400),
])
def test_bad_json_submission_is_a_json_error_and_stores_nothing(client, app, doc, status):
    response = _post(client, "/api/v1/tips?lang=en", doc)
    assert response.status_code == status
    body = response.get_json()
    assert body["error"] and body["message"]
    assert sqlite.connect(app.config["TIPDROP"].database_path)["tips"].count == 0


def test_invalid_utf8_json_is_refused(client):
    response = client.post("/api/v1/check", data=b'{"receipt": "\xff"}', content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "TextEncodingError"


def test_unknown_receipt_is_404_json(client):
    response = _post(client, "/api/v1/check?lang=ru", {"receipt": receipts.generate().formatted})
    assert response.status_code == 404
    assert response.get_json()["error"] == "ReceiptNotRecognisedError"


def test_error_messages_follow_the_language(client):
    en = _post(client, "/api/v1/check?lang=en", {"receipt": "short"}).get_json()["message"]
    assert "wrong number of characters" in en


def test_browser_post_from_another_site_is_refused(client):
    response = _post(client, "/api/v1/tips", REPORT, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


def test_options_lists_regions_and_categories_in_the_language(client):
    body = client.get("/api/v1/options?lang=ru").get_json()
    names = {r["code"]: r["name"] for r in body["regions"]}
    assert names["astana"] == "Астана"
    assert any(c["code"] == "corruption" for c in body["categories"])


def test_openapi_document_describes_every_api_route(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    # Flask writes a path parameter <int:index>, OpenAPI {index}
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule) for r in app.url_map.iter_rules()
              if r.rule.startswith("/api/v1/")}
    routes.discard("/api/v1/openapi.json")
    assert routes == set(doc["paths"])
