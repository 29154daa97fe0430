"""Receipts made on the device, on locators the server hands out (tipdrop/server/locators.py).

A device asks for a locator, makes the secret itself, and submits with the
reservation's token. A submit can no longer tell whether another report
uses a locator: without a valid reservation it gets one answer, by one
code path, whatever the locator.
"""

import io
import json
import sys
from pathlib import Path

import pytest

from tipdrop.common import sqlite
from tipdrop.crypto import kdf
from tipdrop.protocol import device, documents
from tipdrop.reporter.client import make_receipt
from tipdrop.server import locators

TRACED = {str(Path(locators.__file__).resolve()),
          str(Path(locators.__file__).resolve().parent / "sealed.py")}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def reservations(app):
    """The app's reservations, on a clock the test moves."""
    shared = app.extensions["tipdrop"]["locators"]
    shared.clock = Clock()
    return shared


@pytest.fixture
def db(app):
    connection = sqlite.connect(app.config["TIPDROP"].database_path)
    yield connection
    connection.close()


def reserve(client):
    answer = client.post("/api/v1/locators")
    assert answer.status_code == 201, answer.text
    return answer.json


def device_form(unit_key, locator, token, tip_id=None):
    """A report sealed on the device with a receipt made there on ``locator``."""
    made = make_receipt(kdf.TEST_PARAMS, locator, token)
    tip_id = tip_id or device.new_tip_id()
    doc = documents.report_document(tip_id=tip_id, region="astana", category="other",
                                 description="sealed on the device", parts=[],
                                 followup_public=made.followup_public)
    data = {"region": "astana", "category": "other", "tip_id": tip_id, "receipt": made.field(),
            "tip": (io.BytesIO(device.seal_report(doc, unit_key.public.recipient, tip_id)),
                    "tip")}
    return made, data


def post(client, data):
    return client.post("/api/v1/sealed-tips", data=data, content_type="multipart/form-data")


def server_made_locator(client):
    """Store a report whose receipt the server makes; return its locator."""
    answer = client.post("/api/v1/tips", json={"region": "astana", "category": "theft",
                                               "description": "A bicycle was stolen."})
    assert answer.status_code == 201, answer.text
    return answer.json["receipt"].replace("-", "")[:5]


def traced(call):
    """Run ``call``; return its result and the lines of locators.py and sealed.py it ran."""
    lines = []

    def tracer(frame, event, arg):
        if frame.f_code.co_filename not in TRACED:
            return None
        if event == "line":
            lines.append((Path(frame.f_code.co_filename).name, frame.f_lineno))
        return tracer

    sys.settrace(tracer)
    try:
        result = call()
    finally:
        sys.settrace(None)
    return result, lines


def test_keys_offer_the_receipt_costs_by_default(client):
    assert client.get("/api/v1/keys").json["receipt_kdf"] == kdf.TEST_PARAMS.as_dict()


def test_a_device_gets_a_locator_makes_its_receipt_and_the_submit_spends_the_reservation(
        client, app, db, unit_key):
    # Given a locator the server handed out
    answer = reserve(client)
    assert set(answer) == {"locator", "reservation", "expires_in"}
    assert answer["expires_in"] == 3600 and len(answer["locator"]) == 5
    # When the device makes the receipt on it and submits with the token
    made, data = device_form(unit_key, answer["locator"], answer["reservation"])
    stored = post(client, data)
    # Then the report is stored under that locator, the server never saw the code,
    # and the code works; the reservation is gone
    assert stored.status_code == 201, stored.text
    assert stored.json["receipt"] is None
    assert made.receipt.locator == answer["locator"]
    assert db.execute("SELECT locator FROM tips WHERE id = ?",
                      [data["tip_id"]]).fetchall() == [(answer["locator"],)]
    check = client.post("/api/v1/check", json={"receipt": made.receipt.formatted})
    assert check.status_code == 200 and check.json["status"] == "received"
    assert app.extensions["tipdrop"]["locators"].shared.rows()["reservations"] == []


def test_reservations_keep_a_digest_of_the_token_in_ram_and_nothing_in_the_database(
        client, app, db):
    answer = reserve(client)
    [row] = app.extensions["tipdrop"]["locators"].shared.rows()["reservations"]
    assert row[0] == answer["locator"] and answer["reservation"].encode() not in row[1]
    assert len(row[1]) == 32
    dump = "\n".join(db.conn.iterdump())
    assert answer["reservation"] not in dump and answer["locator"] not in dump


def test_a_submit_without_a_valid_reservation_gets_one_answer_whatever_the_locator(
        client, db, unit_key, reservations):
    # Given a locator in use, one reserved by someone else, a free one, one whose
    # reservation expired and one whose reservation was already spent
    in_use = server_made_locator(client)
    reservations.seconds = 10  # a test seam: this one lives 10 seconds, not an hour
    expired = reserve(client)
    reservations.seconds = 3600
    someone_elses = reserve(client)
    spent = reserve(client)
    assert post(client, device_form(unit_key, spent["locator"], spent["reservation"])[1]
                ).status_code == 201
    free = next(loc for loc in ("ZZZZZ", "YYYYY", "XXXXX")
                if loc not in (in_use, someone_elses["locator"], spent["locator"]))
    mine = reserve(client)["reservation"]  # a valid token, but for another locator
    reservations.clock.now += 11
    assert expired["locator"] in [row[0] for row in reservations.shared.rows()["reservations"]]
    cases = {
        "in use, no token": (in_use, None),
        "in use, another locator's token": (in_use, mine),
        "reserved by someone else": (someone_elses["locator"], mine),
        "free, no token": (free, None),
        "free, made-up token": (free, "A" * 43),
        "expired": (expired["locator"], expired["reservation"]),
        "spent already": (spent["locator"], spent["reservation"]),
    }
    tips_before = db["tips"].count
    answers, paths = {}, {}
    for name, (locator, token) in cases.items():
        _, data = device_form(unit_key, locator, token)
        if token is None:
            doc = json.loads(data["receipt"])
            del doc["reservation"]
            data["receipt"] = json.dumps(doc)
        response, paths[name] = traced(lambda data=data: post(client, data))
        answers[name] = (response.status_code, response.get_data())
    # Then every submit gets the very same answer, through the same lines of code
    first = answers["in use, no token"]
    assert first[0] == 409
    assert json.loads(first[1])["error"] == "LocatorNotReservedError"
    assert all(answer == first for answer in answers.values()), answers
    assert all(path == paths["in use, no token"] for path in paths.values())
    assert any(name == "locators.py" for name, _ in paths["in use, no token"])
    # And nothing was stored; someone else's reservation still works for them
    assert db["tips"].count == tips_before
    assert post(client, device_form(unit_key, someone_elses["locator"],
                                    someone_elses["reservation"])[1]).status_code == 201


def test_a_reserved_or_used_locator_is_never_handed_out(client, app, reservations):
    # Given a locator space of three (a test seam)
    reservations.draw = iter(["AAAAA", "BBBBB", "CCCCC"] * 200).__next__
    used = server_made_locator(client)
    # When devices ask for locators, they get the two others, and then none is free
    first, second = reserve(client)["locator"], reserve(client)["locator"]
    assert sorted([used, first, second]) == ["AAAAA", "BBBBB", "CCCCC"]
    none_left = client.post("/api/v1/locators")
    assert none_left.status_code == 503 and none_left.headers["Retry-After"]
    assert none_left.json["error"] == "LocatorsBusyError"
    # And a receipt the server makes does not take a reserved one either
    busy = client.post("/api/v1/tips", json={"region": "astana", "category": "theft",
                                             "description": "Another bicycle."})
    assert busy.status_code == 503
    # Once a reservation expires, its locator (and only it) is handed out again
    reservations.clock.now += 3601
    again = {reserve(client)["locator"], reserve(client)["locator"]}
    assert again == {first, second}


def test_a_flood_of_reservations_is_bounded(app_config, unit_key):
    from tipdrop.server.web import create_app

    app = create_app(app_config | {"submits_per_hour": 1000})
    client = app.test_client()
    reservations = app.extensions["tipdrop"]["locators"]
    reservations.max_live = 20  # a test seam: MAX_LIVE is 10,000
    reservations.clock = Clock()
    # Given as many live reservations as the server keeps
    for _ in range(20):
        reserve(client)
    # When more are asked for, each gets 503 at once and nothing more is kept
    for _ in range(5):
        answer = client.post("/api/v1/locators")
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
    assert len(reservations.shared.rows()["reservations"]) == 20
    # Until they expire; and a report the server makes is never held up by them
    assert client.post("/api/v1/tips", json={"region": "astana", "category": "theft",
                                             "description": "Still works."}).status_code == 201
    reservations.clock.now += 3601
    reserve(client)
    assert len(reservations.shared.rows()["reservations"]) == 1


def test_locators_are_rate_limited_like_submits(app_config):
    from tipdrop.server.web import create_app

    client = create_app(app_config | {"submits_per_hour": 2}).test_client()
    assert [client.post("/api/v1/locators").status_code for _ in range(3)] == [201, 201, 429]
    # Counted on their own: a device's reservation does not use up its submits
    assert client.post("/api/v1/tips", json={"region": "astana", "category": "theft",
                                             "description": "x"}).status_code == 201


def test_two_submits_with_one_reservation_store_one_report(client, db, unit_key):
    answer = reserve(client)
    _, first = device_form(unit_key, answer["locator"], answer["reservation"])
    _, second = device_form(unit_key, answer["locator"], answer["reservation"])
    assert post(client, first).status_code == 201
    refused = post(client, second)
    assert refused.status_code == 409 and refused.json["error"] == "LocatorNotReservedError"
    assert db["tips"].count == 1


def test_a_report_whose_receipt_the_device_made_keeps_no_receipt_page_key(client, app, unit_key):
    # The device shows its own code: a receipt page asked for is never made,
    # so the key reserved for it must not wait in the RAM folder for 30 minutes
    folder = app.extensions["tipdrop"]["page_links"].folder
    before = set(folder.iterdir())
    answer = reserve(client)
    _, data = device_form(unit_key, answer["locator"], answer["reservation"])
    stored = client.post("/api/v1/sealed-tips?receipt_page=yes", data=data,
                         content_type="multipart/form-data")
    assert stored.status_code == 201, stored.text
    assert stored.json["receipt"] is None and "receipt_page" not in stored.json
    assert set(folder.iterdir()) == before
