"""The submit page whose final answer never arrives ends with exactly one report
(docs/protocol.md section 19, "Lost answers"), in a real Chromium behind a proxy that
loses the finish's answer after the server committed the report.

Cut off while the answer came, the page asks again and gets the receipt page. Lost,
and the upload purged while the phone was offline, the page starts over with the same
sealed bytes, whose report digest the server knows: it says, in the page's language,
that the report was received, and does not offer to send it again.
"""

import json
import re
import secrets
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.browser.conftest import collect_errors, fill_report_with_file
from tests.cutting_proxy import CuttingProxy
from tests.stored import tip_ids

pytestmark = pytest.mark.e2e

SIZE = 1_500_000  # two pieces once sealed


def _purge(server, run_cli):
    def purge():
        with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db, db:
            db.execute("UPDATE uploads SET day = date('now', '-2 days')")
        assert "deleted 1 uploads" in run_cli("purge", env=server.env(), check=True).stdout

    return purge


def _send(browser, proxy, tmp_path, lang):
    (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(SIZE))
    context = browser.new_context(locale=f"{lang}-KZ")
    page = context.new_page()
    errors = collect_errors(page)
    fill_report_with_file(page, f"http://127.0.0.1:{proxy.port}", lang, tmp_path / "clip.bin")
    page.click("#report-form button[type=submit]")
    return context, page, errors


def test_a_lost_answer_whose_upload_was_purged_ends_with_one_report_said_to_be_received(
        browser, server, tmp_path, run_cli):
    proxy = CuttingProxy(server.port, "/api/v1/uploads/finish", on_cut=_purge(server, run_cli))
    context, page, _ = _send(browser, proxy, tmp_path, "kk")

    # Then the page says, in Kazakh, that the report arrived and was stored
    page.wait_for_function(
        "() => document.getElementById('form-status').textContent.includes('сақталды')",
        timeout=90_000)
    assert "Түбіртек" in page.inner_text("#form-status")
    # And it does not offer to send it again: the button stays off, the form is empty
    assert page.locator("#report-form button[type=submit]").is_disabled()
    assert page.input_value("#description") == ""
    assert len(proxy.lost) == 1
    context.close()
    proxy.close()

    # And exactly one report is stored
    assert len(tip_ids(server.data_dir)) == 1


def test_an_answer_cut_while_it_came_is_asked_again_and_the_receipt_page_opens(
        browser, server, tmp_path):
    # The head of the finish's answer and a part of its body arrive, then the connection drops
    proxy = CuttingProxy(server.port, "/api/v1/uploads/finish", keep=300)
    context, page, _ = _send(browser, proxy, tmp_path, "ru")

    page.wait_for_url(re.compile(r"/receipt/"), timeout=90_000)
    assert len(page.inner_text("#receipt").strip()) == 29
    assert len(proxy.lost) == 1
    context.close()
    proxy.close()
    assert len(tip_ids(server.data_dir)) == 1


def test_resume_js_computes_the_report_digest_vector(browser, server):
    vectors = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "uploads.json")
                         .read_text())
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{server.port}/submit")
    page.wait_for_function("() => window.TipdropResume !== undefined")
    found = page.evaluate("""(v) => window.TipdropResume.reportDigest(
        v.tip_id, v.pieces.map((p) => window.TipdropCrypto.hexToBytes(p.digest)))""", vectors)
    assert found == vectors["report_digest"]
    context.close()
