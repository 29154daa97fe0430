"""Nothing a reporter sends, and nothing about the reporter, is left in the clear.

A real ``tipdrop serve`` (gunicorn) receives a report whose every field and
attachment carries a canary string, from a fixed client address and user
agent; afterwards no file under the data folder (database, WAL, attachment
files), the server's temp folder or its log contains any of them, in any of
the encodings a careless store would use.
"""

import base64
import json
import re
import urllib.parse

import pytest

from tests.serving import multipart
from tests.stored import all_blobs

pytestmark = pytest.mark.e2e

CLIENT_ADDRESS = "127.0.0.2"
USER_AGENT = "CanaryBrowser/7.3 (leak-test; Android 14; SM-A546)"

CANARIES = {
    "what": "CANARY-WHAT-2b7e",
    "where": "CANARY-WHERE-улица Абая 17",
    "when": "CANARY-WHEN-вчера 23:40",
    "description": "CANARY-DESC-9c41 Ол жерде есірткі сатып жатыр",
    "contact": "CANARY-CONTACT-+77015551234",
    "followup": "CANARY-FOLLOWUP-КАНАРЕЙКА-55",
    "file": "CANARY-FILE-d00d",
    "filename": "CANARY-NAME-ivanov.mp4",
}


def encodings(text):
    """The ways a canary could be written by careless code."""
    raw = text.encode("utf-8")
    forms = {
        raw,
        text.encode("utf-16-le"),
        text.encode("utf-16-be"),
        urllib.parse.quote(text).encode(),
        urllib.parse.quote_plus(text).encode(),
        json.dumps(text).encode()[1:-1],
        base64.b64encode(raw)[:-4],
    }
    # A distinctive ASCII fragment, in case a store keeps only part of a field.
    ascii_part = re.match(r"[A-Z]+-[A-Z]+-[\w+]+", text)
    if ascii_part:
        forms.add(ascii_part.group(0).encode())
    return forms


def all_files(*roots):
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                yield path



def test_no_report_content_address_or_user_agent_is_left_anywhere(server):
    headers = {"User-Agent": USER_AGENT, "X-Forwarded-For": "203.0.113.77"}
    # Given a report with canaries everywhere, and a 2 MB attachment (far
    # beyond any in-memory spool threshold) from a fixed address and agent
    token = server.form_token("/submit?lang=ru")
    file_bytes = (CANARIES["file"].encode() + b"\x00" * 1000) * 2000
    fields = {"token": token, "region": "astana", "category": "drugs", "website": ""}
    fields |= {k: CANARIES[k] for k in ("what", "where", "when", "description", "contact")}
    content_type, body = multipart(fields, [("files", CANARIES["filename"], "video/mp4", file_bytes)])
    status, response_headers, page = server.request(
        "POST", "/submit?lang=ru", body, headers | {"Content-Type": content_type},
        source=CLIENT_ADDRESS)
    assert status == 203, page[:500]
    assert "Set-Cookie" not in response_headers
    receipt = re.search(rb'id="receipt">([^<]+)<', page).group(1).decode()

    # When the reporter checks and adds a follow-up
    check_token = server.form_token("/check?lang=ru")
    form = urllib.parse.urlencode({"token": check_token, "receipt": receipt})
    status, _, page = server.request("POST", "/check?lang=ru", form, headers | {
        "Content-Type": "application/x-www-form-urlencoded"}, source=CLIENT_ADDRESS)
    assert status == 203
    followup_token = re.search(rb'action="/followup[^"]*"[^>]*>\s*<input type="hidden" name="token" value="([^"]+)"', page).group(1).decode()
    form = urllib.parse.urlencode({"token": followup_token, "text": CANARIES["followup"]})
    status, _, _ = server.request("POST", "/followup?lang=ru", form, headers | {
        "Content-Type": "application/x-www-form-urlencoded"}, source=CLIENT_ADDRESS)
    assert status == 200
    server.stop()

    # Then nothing of it is anywhere on disk
    needles = {name: encodings(text) for name, text in CANARIES.items()}
    needles["client address"] = {CLIENT_ADDRESS.encode(), b"203.0.113.77"}
    needles["user agent"] = encodings(USER_AGENT) | {b"CanaryBrowser"}
    needles["receipt"] = {receipt.encode(), receipt.replace("-", "").encode()}
    # Every file is read as the server left it before this test opens the
    # database: closing the last connection folds the WAL into tipdrop.db and
    # deletes tipdrop.db-wal and -shm, so a list taken first would name files
    # that are gone, and the WAL's own pages would never be looked at.
    contents = {path: path.read_bytes()
                for path in [*all_files(server.data_dir, server.tmp_dir), server.log_path]}
    assert any(p.name == "tipdrop.db" for p in contents)
    assert len(all_blobs(server.data_dir)) == 1  # the attachment's ciphertext, in tipdrop.db
    for path, content in contents.items():
        for name, forms in needles.items():
            for form in forms:
                assert form not in content, f"{name} found in {path}"


def test_server_log_is_silent_about_reporter_requests(server):
    token = server.form_token("/submit")
    content_type, body = multipart({"token": token, "region": "astana", "category": "theft",
                                    "description": "quiet"})
    server.request("POST", "/submit", body, {"Content-Type": content_type,
                                             "User-Agent": USER_AGENT}, source=CLIENT_ADDRESS)
    server.request("GET", "/check", headers={"User-Agent": USER_AGENT}, source=CLIENT_ADDRESS)
    # Positive control, in the same run: what the server does log (a health
    # problem, at warning level) reaches this file, so its silence about the
    # reporter's requests means something.
    (server.keys_dir / "control-7f3a.key").write_bytes(b"not a public key")
    status, _, _ = server.request("GET", "/healthz")
    server.stop()
    log = server.log_path.read_bytes()
    # (The log masks long path-like strings, tipdrop/server/logs.py, so look for the message.)
    assert status == 503 and b"holds a private key" in log, log
    assert b"/submit" not in log and b"/check" not in log
    assert CLIENT_ADDRESS.encode() not in log and USER_AGENT.encode() not in log
