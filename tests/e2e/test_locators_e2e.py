"""Locators handed out by a real gunicorn server to devices that make their receipts.

Reservations live in the workers' shared file in RAM (tipdrop/server/locators.py):
one worker's reservation is spent on another, once, and a restart ends
them all with the same answer as any other invalid reservation.
"""

import json
import sqlite3
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.serving import start_server
from tipdrop.protocol.report import Report
from tipdrop.reporter import client as reporter_client

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path, workers=3)
    yield running
    running.stop()


def url(server):
    return f"http://127.0.0.1:{server.port}"


def reserve(server):
    status, _, raw = server.request("POST", "/api/v1/locators", b"",
                                    {"Content-Length": "0"})
    assert status == 201, raw
    doc = json.loads(raw)
    return doc["locator"], doc["reservation"]


def send(server, locator, token):
    """A report sealed by the reference client's code, its receipt made on ``locator``."""
    offered = reporter_client.fetch_keys(url(server))
    made = reporter_client.make_receipt(offered.receipt_params, locator, token)
    report = Report.build(region="almaty", category="theft", description="A stolen bicycle.")
    with tempfile.TemporaryDirectory() as workdir:
        _, body, _ = reporter_client.seal_upload(report, [], offered.key_for("almaty").recipient,
                                                 workdir, made=made)
        status, _, raw = server.request("POST", "/api/v1/sealed-tips", b"".join(body.chunks()),
                                        {"Content-Type": body.content_type,
                                         "Accept-Language": "en"})
    return made, status, raw


def stored_locators(server):
    with sqlite3.connect(server.data_dir / "tipdrop.db") as db:
        return sorted(row[0] for row in db.execute("SELECT locator FROM tips"))


def test_reservations_are_shared_by_the_workers_spent_once_and_end_with_a_restart(server):
    # Given eight locators asked for at once (through three workers)
    with ThreadPoolExecutor(8) as pool:
        handed = list(pool.map(lambda _: reserve(server), range(8)))
    assert len({locator for locator, _ in handed}) == 8
    # When four are spent by reports, each on a connection of its own
    for locator, token in handed[:4]:
        made, status, raw = send(server, locator, token)
        assert status == 201, raw
        assert json.loads(raw)["receipt"] is None and made.receipt.locator == locator
    # Then a spent one is refused, whichever worker gets it
    _, status, spent = send(server, *handed[0])
    assert status == 409 and json.loads(spent)["error"] == "LocatorNotReservedError"
    # And after a restart the others are refused with the very same answer
    server.stop()
    server.start()
    for locator, token in handed[4:]:
        assert send(server, locator, token)[1:] == (409, spent)
    assert stored_locators(server) == sorted(locator for locator, _ in handed[:4])
    # While the reference client, asking afresh, sends its report with its own receipt
    sent = reporter_client.submit(url(server), region="almaty", category="theft",
                                  description="After the restart.")
    assert sent.receipt.locator in stored_locators(server)
    check = reporter_client.check(url(server), sent.receipt.formatted)
    assert check.status == "received"
