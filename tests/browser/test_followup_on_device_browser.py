"""A follow-up typed on the status page is sealed in the browser when JavaScript runs.

Every byte the browser sends goes through a recording proxy. With
JavaScript on, the follow-up's text is in none of them and the server stores
it as sealed on the device; the page never held the receipt, so the
officer's tool labels it "sealed on a device, not signed". With JavaScript
off the server seals it (and the proxy sees the text, which shows the
recording works). Issue 14 item 4; docs/protocol.md sections 13 and 14.
"""

import json
import re
import sqlite3
from urllib.parse import quote_plus

import pytest

pytestmark = pytest.mark.e2e

CANARY = "КАНАРЕЙКА-follow-9c2d: номер машины 017"
PASS = {"TIPDROP_PASSPHRASE": "officer pass"}


def _receipt_via_api(server):
    status, _, body = server.request(
        "POST", "/api/v1/tips",
        json.dumps({"region": "almaty", "category": "corruption",
                    "description": "A report to follow up."}).encode(),
        {"Content-Type": "application/json"})
    assert status == 201
    return json.loads(body)["receipt"]


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_a_follow_up_typed_on_the_status_page_leaves_only_encrypted_with_javascript(
        browser, server, proxy, run_cli, tmp_path, javascript):
    receipt = _receipt_via_api(server)
    base = f"http://127.0.0.1:{proxy.port}"
    context = browser.new_context(locale="kk-KZ", java_script_enabled=javascript)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # When the reporter checks the report and types a follow-up on the status page
    page.goto(f"{base}/check?lang=kk")
    page.fill("#receipt", receipt)
    page.click("form button[type=submit]")
    assert page.get_attribute("#status", "data-status") == "received"
    where = "device" if javascript else "server"
    # Then the page says, before sending, where the message will be encrypted
    if javascript:
        page.wait_for_selector("#followup-protection[data-encrypted-on=device]")
    assert page.get_attribute("#followup-protection", "data-encrypted-on") == where
    # And nothing of the receipt is left in the page
    assert receipt not in page.content() and receipt.replace("-", "") not in page.content()
    page.fill("#text", CANARY)
    page.click("#followup-form button[type=submit]")
    # With JavaScript the page posts by fetch and only then goes on: wait for that page,
    # not for a load state the status page already had (closing the context while
    # the page went on hung a whole test run once).
    page.wait_for_url(re.compile(r"/followup/done"))
    assert page.get_attribute("[data-encrypted-on]", "data-encrypted-on") == where
    assert errors == [] and context.cookies() == []
    context.close()

    # And with JavaScript the text was in no request; without it the proxy saw it
    sent = proxy.sent
    seen = CANARY.encode() in sent or quote_plus(CANARY).encode() in sent
    assert seen is (not javascript)
    with sqlite3.connect(server.data_dir / "tipdrop.db") as db:
        assert db.execute("SELECT seq, encrypted_on FROM followups").fetchall() == [(1, where)]

    # And the officer reads it, labelled by what can be proven about who wrote it
    officer = {**PASS, "TIPDROP_WORKDIR": str(tmp_path / "cases"),
               "TIPDROP_KEY": str(server.key_file)}
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e.tdx", env=server.env(), check=True)
    run_cli("officer", "open", tmp_path / "e.tdx", env=officer, check=True)
    [tip] = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    shown = json.loads(run_cli("officer", "show", tip["id"], "--json", env=officer,
                               check=True).stdout)
    [followup] = shown["followups"]
    assert followup["text"] == CANARY
    assert followup["sealed_by"] == where  # inside the sealed follow-up (protocol.md section 14)
    assert followup["origin"] == ("device" if javascript else "server")
