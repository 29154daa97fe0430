"""A report encrypted in the browser: the plaintext is in no request the browser sends.

Every byte the browser sends goes through a recording proxy. With JavaScript
on, the report text, the attachment and the photo's metadata must appear in
none of them, and the officer's tool must still decrypt all of it; with
JavaScript off the same steps go through the server-side path (and the
proxy then does see the plaintext, which shows the recording works).
"""

import io
import json
import os

import pytest
from PIL import Image

from tests.browser.conftest import choose_category
from tests.samples import photo_with_metadata
from tests.serving import start_server
from tipdrop.common import sqlite

pytestmark = pytest.mark.e2e

CANARY = "КАНАРЕЙКА-5b1e: взятка у окна 4"
PASS = {"TIPDROP_PASSPHRASE": "officer pass"}


def _fill_and_send(page, base, files):
    page.goto(f"{base}/submit?lang=ru")
    choose_category(page, "corruption")
    page.select_option("#region", "almaty")
    page.fill("#where", "ЦОН №2")
    page.fill("#description", CANARY)
    page.set_input_files("#files", [str(f) for f in files])
    page.click("form button[type=submit]")
    page.wait_for_selector("#receipt:not(:empty)", timeout=30_000)
    return page.inner_text("#receipt").strip()


def _windows(data, width=32, step=4096):
    return [data[i:i + width] for i in range(0, len(data) - width, step)]


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_report_and_files_leave_the_browser_only_encrypted_when_javascript_runs(
        browser, server, proxy, run_cli, tmp_path, javascript):
    evidence = os.urandom(300_000)  # five stream chunks
    (tmp_path / "clip.bin").write_bytes(evidence)
    photo = photo_with_metadata(make="CanaryMake")
    (tmp_path / "photo.jpg").write_bytes(photo)
    base = f"http://127.0.0.1:{proxy.port}"
    context = browser.new_context(locale="ru-RU", java_script_enabled=javascript)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # When the reporter sends a report with a file and a photo
    receipt = _fill_and_send(page, base, [tmp_path / "clip.bin", tmp_path / "photo.jpg"])
    assert len(receipt) == 29 and errors == []

    # Then the receipt page says which path protected the report, and the
    # "I saved it" confirmation works on both paths
    where = "device" if javascript else "server"
    assert page.get_attribute(".protection", "data-encrypted-on") == where
    page.fill("#confirm", receipt[-4:].lower())
    page.check("input[name=saved]")
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    assert "/submit/done" in page.url
    assert context.cookies() == []
    context.close()

    # And, with JavaScript, no byte of the report, the file or the photo's
    # metadata was in any request (without it, the proxy saw them: it records)
    sent = proxy.sent
    leaked = [CANARY.encode() in sent, b"CanaryMake" in sent,
              any(w in sent for w in _windows(evidence))]
    assert leaked == ([False] * 3 if javascript else [True] * 3)

    db = sqlite.connect(server.data_dir / "tipdrop.db")
    [tip] = list(db["tips"].rows)
    assert tip["encrypted_on"] == where

    # And the officer's tool decrypts the report and both files
    officer = {**PASS, "TIPDROP_WORKDIR": str(tmp_path / "cases"),
               "TIPDROP_KEY": str(server.key_file)}
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e.tdx", env=server.env(), check=True)
    run_cli("officer", "open", tmp_path / "e.tdx", env=officer, check=True)
    shown = run_cli("officer", "show", tip["id"], "--save-attachments", tmp_path / "evidence",
                    env=officer, check=True)
    assert CANARY in shown.stdout and "ЦОН №2" in shown.stdout
    assert f"encrypted on: {where}" in shown.stdout
    # On both paths the sealed report binds both files (protocol.md section 14)
    detail = json.loads(run_cli("officer", "show", tip["id"], "--json", env=officer,
                                check=True).stdout)
    assert detail["files_bound"] and detail["missing_attachments"] == []
    # And it says who sealed it; the server, sealing, made the receipt first and binds its
    # reply key, the page cannot (the server makes its receipt after it sealed)
    assert detail["report"]["sealed_by"] == where
    assert detail["reply_key_bound"] is (where == "server")
    assert [f["binding"] for f in detail["attachments"]] == ["bound", "bound"]
    saved = {p.name.rsplit("-", 1)[1]: p.read_bytes() for p in (tmp_path / "evidence").iterdir()}
    assert saved["clip.bin"] == evidence
    cleaned = saved["photo.jpg"]
    assert b"CanaryMake" not in cleaned
    with Image.open(io.BytesIO(cleaned)) as image, Image.open(io.BytesIO(photo)) as original:
        assert 0x8825 not in image.getexif()  # no GPS: the reporter did not tick "keep"
        assert image.tobytes() == original.tobytes()  # lossless on both paths


def test_key_document_on_the_page_is_the_units_key(browser, server):
    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{server.port}/submit")
    doc = json.loads(page.get_attribute("#report-form", "data-keys"))
    assert doc["units"]["demo"]["key_id"] == server.unit_key.public.key_id.hex()
    page.wait_for_function("document.getElementById('protection').dataset.encryptedOn === 'device'")
    page.close()


def test_files_the_server_would_refuse_are_refused_before_encrypting(browser, tmp_path):
    small = start_server(tmp_path, extra_env={"TIPDROP_MAX_UPLOAD_MB": "1"})
    try:
        (tmp_path / "big.bin").write_bytes(os.urandom(2 * 1024 * 1024))
        page = browser.new_page(locale="ru-RU")
        posts = []
        page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
        page.goto(f"http://127.0.0.1:{small.port}/submit?lang=ru")
        page.wait_for_function("document.getElementById('protection').dataset.encryptedOn === 'device'")
        choose_category(page, "corruption")
        page.select_option("#region", "almaty")
        page.fill("#description", CANARY)
        page.set_input_files("#files", str(tmp_path / "big.bin"))
        page.click("form button[type=submit]")
        page.wait_for_selector("#form-status:not([hidden])")
        assert "слишком" in page.inner_text("#form-status").lower()
        assert posts == [] and page.locator("#receipt").count() == 0
        page.close()
    finally:
        small.stop()


def _ready_form(page, base):
    page.goto(f"{base}/submit?lang=ru")
    page.wait_for_function("document.getElementById('protection').dataset.encryptedOn === 'device'")
    choose_category(page, "corruption")
    page.select_option("#region", "almaty")
    page.fill("#description", CANARY)


def test_a_key_document_that_does_not_check_out_sends_nothing(browser, server, proxy):
    page = browser.new_page(locale="ru-RU")
    _ready_form(page, f"http://127.0.0.1:{proxy.port}")
    # Given a key document whose key id does not match its keys
    page.evaluate("""() => {
      const form = document.getElementById('report-form');
      const doc = JSON.parse(form.dataset.keys);
      for (const unit of Object.values(doc.units)) unit.key_id = '00'.repeat(16);
      form.dataset.keys = JSON.stringify(doc);
    }""")
    page.click("form button[type=submit]")
    page.wait_for_selector("#form-status:not([hidden])")
    # Then the reporter is told to reload, and nothing was sent at all
    assert "обновите страницу" in page.inner_text("#form-status")
    page.click("form button[type=submit]")  # pressing again does not send either
    page.wait_for_timeout(300)
    assert CANARY.encode() not in proxy.sent and b"POST" not in proxy.sent
    assert page.get_attribute("#protection", "data-encrypted-on") == "device"
    page.close()


def test_when_encryption_fails_the_server_path_needs_a_second_press(browser, server, proxy):
    page = browser.new_page(locale="ru-RU")
    _ready_form(page, f"http://127.0.0.1:{proxy.port}")
    # Given a browser whose AES-GCM fails (as a broken WebCrypto would)
    page.evaluate("() => { crypto.subtle.encrypt = () => Promise.reject(new Error('broken')); }")

    # When the reporter presses Send
    page.click("form button[type=submit]")
    page.wait_for_selector("#form-status:not([hidden])")

    # Then nothing was sent, and the page now says the server would encrypt it
    assert b"POST" not in proxy.sent
    assert page.get_attribute("#protection", "data-encrypted-on") == "server"
    assert "ещё раз" in page.inner_text("#form-status")
    # And only a second press sends it, through the server-side path
    page.click("form button[type=submit]")
    page.wait_for_selector("#receipt")
    assert page.get_attribute(".protection", "data-encrypted-on") == "server"
    assert CANARY.encode() in proxy.sent
    page.close()
