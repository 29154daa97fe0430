"""A receipt check's answer is the same size whatever it says (tipdrop/server/web/padded.py).

TLS hides what an answer says, not its length: were the answer longer when
the police replied, whoever watches the reporter's traffic would learn it.
Every outcome of a check, in the API (with or without sealed replies) and
as a page, is padded to the same 8 KiB bucket; only an answer longer than
that (a long reply) takes more buckets, a whole number of them.
"""

import pytest

from tests.server.web.conftest import form_token
from tipdrop.common import sqlite
from tipdrop.crypto import envelope, keys
from tipdrop.protocol import bundles, receipts
from tipdrop.server import exchange
from tipdrop.server.web.padded import BUCKET

#: What the police did with each report: (day, status, message) as the unit signs them.
OUTCOMES = {
    "no reply yet": [],
    "status changed without a message": [("2026-11-02", "in-review", "")],
    "short reply": [("2026-11-02", "need-info", "Which day was it?")],
    "longer reply": [("2026-11-02", "need-info", "Қай күні болды? " * 40)],
    "closed": [("2026-11-02", "in-review", ""),
               ("2026-11-09", "confirmed", "Задержан подозреваемый. Рахмет!")],
}


@pytest.fixture
def app(app_config):
    from tipdrop.server.web import create_app

    return create_app(app_config | {"submits_per_hour": 10**6, "checks_per_hour": 10**6})


def _answer(app, unit_key, client, history):
    """Submit a report, import the unit's signed replies to it; return its receipt."""
    answer = client.post("/api/v1/tips", json={"region": "astana", "category": "theft",
                                               "description": "A bicycle was stolen."})
    assert answer.status_code == 201, answer.text
    db = sqlite.connect(app.config["TIPDROP"].database_path)
    try:
        [tip] = db.query("SELECT * FROM tips ORDER BY rowid DESC LIMIT 1")
        replies = []
        for seq, (day, status, message) in enumerate(history, 1):
            body = b""
            if message:
                body = envelope.seal(message.encode(), keys.reply_recipient(tip["reply_public"]),
                                     kind="reply", tip_id=tip["id"], part=f"r{seq}")
            replies.append(bundles.sign_reply(unit_key.ed25519, unit_key.unit, unit_key.key_id,
                                              tip_id=tip["id"], seq=seq, day=day,
                                              status=status, body=body))
        if replies:
            bundle = bundles.make_reply_bundle(unit_key.ed25519, unit_key.unit, unit_key.key_id,
                                               history[-1][0], replies)
            exchange.import_replies(db, app.extensions["tipdrop"]["unit_keys"], bundle)
    finally:
        db.close()
    return answer.json["receipt"]


@pytest.fixture
def receipts_by_outcome(app, unit_key, client):
    found = {name: _answer(app, unit_key, client, history) for name, history in OUTCOMES.items()}
    return found | {"no such receipt": receipts.generate().formatted}


@pytest.mark.parametrize("sealed", [False, True])
def test_every_check_answer_of_the_api_has_the_same_length(client, receipts_by_outcome, sealed):
    sizes, statuses = {}, {}
    for name, receipt in receipts_by_outcome.items():
        response = client.post("/api/v1/check", json={"receipt": receipt, "sealed_replies": sealed})
        statuses[name] = response.status_code
        assert response.json is not None  # the padding leaves it valid JSON
        sizes[name] = len(response.get_data())
    assert statuses["no such receipt"] == 404 and statuses["closed"] == 200
    assert set(sizes.values()) == {BUCKET}, sizes


def _status_page(client, receipt):
    """Type ``receipt`` into the check form; return the one-time link's path and its page."""
    token = form_token(client, "/check?lang=ru")
    sent = client.post("/check?lang=ru", data={"token": token, "receipt": receipt})
    assert sent.status_code == 303
    path = sent.headers["Location"]
    return path, client.get(path)


def test_every_check_page_has_the_same_length(client, receipts_by_outcome):
    sizes, statuses = {}, {}
    for name, receipt in receipts_by_outcome.items():
        path, page = _status_page(client, receipt)
        sizes[name], statuses[name] = len(page.get_data()), page.status_code
        if name == "closed":
            again = client.get(path)  # the link was used up: the form, with 410
            sizes["used link"], statuses["used link"] = len(again.get_data()), again.status_code
    assert statuses["no such receipt"] == 404 and statuses["used link"] == 410
    assert statuses["closed"] == 203  # a status page is kept from the back/forward cache
    assert len(set(sizes.values())) == 1, sizes
    assert sizes["closed"] % BUCKET == 0


def test_a_check_answer_longer_than_the_bucket_takes_whole_buckets(app, unit_key, client):
    receipt = _answer(app, unit_key, client, [("2026-11-02", "need-info", "Ы" * 5000)])
    response = client.post("/api/v1/check", json={"receipt": receipt})
    assert response.json["replies"][0]["message"] == "Ы" * 5000
    size = len(response.get_data())
    assert size > BUCKET and size % BUCKET == 0
