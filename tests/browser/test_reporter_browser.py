"""A reporter on a phone, in Russian, with JavaScript off (Tor Browser's safest mode)."""

import io
import json

import pytest

from tests.browser.conftest import choose_category
from tests.stored import blob_bytes
from tipdrop.common import sqlite
from tipdrop.crypto import envelope, stream

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "locale": "ru-RU", "java_script_enabled": False}


def test_russian_reporter_submits_reads_the_receipt_and_checks_it(browser, server, tmp_path, screenshots):
    base = f"http://127.0.0.1:{server.port}"
    context = browser.new_context(**PHONE)
    page = context.new_page()
    evidence = tmp_path / "clip.mp4"
    evidence.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"frame" * 20_000)

    # Given the start page in Russian (from the phone's language)
    page.goto(f"{base}/")
    assert page.locator("html").get_attribute("lang") == "ru"
    page.click("a[href^='/submit']")

    # When the reporter fills in the form and sends it
    choose_category(page, "public-disorder")
    page.select_option("#region", "almaty")
    page.fill("#what", "Драка у входа в торговый центр")
    page.fill("#where", "пр. Абая, 44")
    page.fill("#when", "сегодня около 22:00")
    page.fill("#description", "Двое мужчин избивают третьего, вокруг толпа.")
    page.set_input_files("#files", str(evidence))
    page.click("form button[type=submit]")

    # Then the receipt is shown, and the page asks to confirm it was saved
    receipt = page.inner_text("#receipt").strip()
    assert len(receipt) == 29
    page.screenshot(path=str(screenshots / "receipt-ru.png"), full_page=True)
    page.fill("#confirm", receipt[-4:].lower())
    page.check("input[name=saved]")
    page.click("form button[type=submit]")
    assert page.locator("h1").count() == 1

    # And checking the receipt (typed in lower case with spaces) shows the status
    page.goto(f"{base}/check")
    page.fill("#receipt", receipt.lower().replace("-", " "))
    page.click("form button[type=submit]")
    assert page.get_attribute("#status", "data-status") == "received"
    assert page.inner_text("#status") == "Получено"
    page.screenshot(path=str(screenshots / "status-ru.png"), full_page=True)
    assert context.cookies() == []
    context.close()

    # And the unit's key opens the report and the attachment byte for byte
    db = sqlite.connect(server.data_dir / "tipdrop.db")
    [tip] = list(db["tips"].rows)
    report = json.loads(envelope.open_(tip["body"], server.unit_key.opener, kind="tip",
                                       tip_id=tip["id"]))
    assert report["where"] == "пр. Абая, 44" and report["language"] == "ru"
    [row] = list(db["attachments"].rows)
    out = io.BytesIO()
    stream.decrypt_stream(io.BytesIO(blob_bytes(server.data_dir, row["blob"])), out,
                          server.unit_key.opener, kind="attachment", tip_id=tip["id"], part="a1")
    assert out.getvalue() == evidence.read_bytes()


def test_confirmation_refuses_a_wrong_last_group_without_javascript(browser, server):
    base = f"http://127.0.0.1:{server.port}"
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(f"{base}/submit?lang=kk")
    choose_category(page, "theft")
    page.select_option("#region", "astana")
    page.fill("#description", "Велосипед ұрланды.")
    page.click("form button[type=submit]")
    receipt = page.inner_text("#receipt").strip()
    wrong = "0000" if receipt[-4:] != "0000" else "1111"
    page.fill("#confirm", wrong)
    page.check("input[name=saved]")
    page.click("form button[type=submit]")
    # The browser's own form validation keeps the reporter on the receipt page.
    assert page.inner_text("#receipt").strip() == receipt
    context.close()
