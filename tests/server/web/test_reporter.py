"""The reporter pages, driven through Flask's test client."""

import io
import json
import re

import pytest

from tests.samples import photo_with_metadata
from tests.server.web.conftest import find, form_token, refused
from tests.stored import all_blobs, blob_bytes
from tipdrop.common import sqlite
from tipdrop.crypto import envelope, stream
from tipdrop.protocol import receipts


def _db(app):
    return sqlite.connect(app.config["TIPDROP"].database_path)


def _tips(app):
    return list(_db(app)["tips"].rows)


def _blobs(app):
    """Every attachment file, and every blob and piece of ciphertext in the database."""
    folder = app.config["TIPDROP"].attachments_dir
    chunks = _db(app).execute("SELECT blob, seq FROM blob_chunks").fetchall()
    return sorted(folder.rglob("*")) + sorted(all_blobs(app.config["TIPDROP"].database_path)) + chunks


def _open_report(app, unit_key, tip):
    body = envelope.open_(tip["body"], unit_key.opener, kind="tip", tip_id=tip["id"])
    return json.loads(body)


def test_submit_shows_the_receipt_only_after_storing_the_sealed_report(app, submit, unit_key):
    response = submit(description="Someone sells drugs near school 12.", where="Abai ave 10")
    assert response.status_code == 203
    code = find(r'id="receipt">([^<]+)<', response.text)
    parsed = receipts.parse(code)
    [tip] = _tips(app)
    assert tip["locator"] == parsed.locator
    assert tip["region"] == "astana" and tip["category"] == "theft"
    assert tip["status"] == "received" and len(tip["received_day"]) == 10
    assert b"drugs" not in tip["body"]
    report = _open_report(app, unit_key, tip)
    assert report["description"] == "Someone sells drugs near school 12."
    assert report["where"] == "Abai ave 10"


def test_receipt_page_is_never_cached_and_sets_no_cookie(submit):
    response = submit()
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


def test_receipt_page_warns_that_a_lost_code_cannot_be_recovered(submit):
    text = submit().text
    assert "cannot be recovered by anyone" in text
    assert 'name="saved"' in text and "required" in text


def test_receipt_page_has_no_script_and_checks_the_last_group_on_the_server(submit):
    text = submit().text
    assert find(r'id="receipt">([^<]+)<', text)
    assert "<script" not in re.sub(r'<script src="/assets/js/page\.[0-9a-f]{16}\.js" defer></script>', "", text)
    assert 'name="link"' in text and "pattern=" not in text


def test_optional_contact_is_only_inside_the_ciphertext(app, submit, unit_key):
    submit(contact="+7 701 555 12 34")
    [tip] = _tips(app)
    assert _open_report(app, unit_key, tip)["contact"] == "+7 701 555 12 34"
    assert b"555" not in _db(app).conn.execute("SELECT * FROM tips").fetchone().__repr__().encode()


def test_attachment_is_stored_as_ciphertext_that_opens_to_the_same_bytes(app, submit, unit_key):
    data = b"evidence " * 50_000
    submit(files=[(io.BytesIO(data), "video.mp4", "video/mp4")])
    [tip] = _tips(app)
    [row] = list(_db(app)["attachments"].rows)
    blob = blob_bytes(app.config["TIPDROP"].database_path, row["blob"])
    assert b"evidence" not in blob
    out = io.BytesIO()
    stream.decrypt_stream(io.BytesIO(blob), out, unit_key.opener, kind="attachment",
                          tip_id=tip["id"], part="a1")
    assert out.getvalue() == data
    info = json.loads(envelope.open_(row["info"], unit_key.opener, kind="attachment-info",
                                     tip_id=tip["id"], part="a1"))
    assert info["name"] == "video.mp4" and info["size"] == len(data)


def test_several_files_get_their_own_parts(app, submit):
    files = [(io.BytesIO(b"one" * 10), "1.txt", "text/plain"), (io.BytesIO(b"two" * 10), "2.txt", "text/plain")]
    submit(files=files)
    parts = sorted(r["part"] for r in _db(app)["attachments"].rows)
    assert parts == ["a1", "a2"]


def test_empty_file_input_is_ignored(app, submit):
    submit(files=[(io.BytesIO(b""), "", "application/octet-stream")])
    assert _db(app)["attachments"].count == 0
    assert len(_tips(app)) == 1


def test_right_receipt_shows_status_typed_in_any_case(submit, check):
    code = find(r'id="receipt">([^<]+)<', submit().text)
    response = check(code.lower().replace("-", " "))
    assert response.status_code == 203
    assert find(r'id="status"[^>]*>([^<]+)<', response.text) == "Received"
    assert 'data-status="received"' in response.text
    assert "Set-Cookie" not in response.headers


def test_wrong_and_unknown_receipts_get_the_same_answer(submit, check):
    code = find(r'id="receipt">([^<]+)<', submit().text)
    real = receipts.parse(code)
    wrong = receipts.Receipt(real.locator, receipts.generate().secret).formatted
    unknown = receipts.generate().formatted
    first, second = check(wrong), check(unknown)
    assert first.status_code == second.status_code == 404
    assert find(r'id="receipt-error"[^>]*>([^<]+)<', first.text) == find(r'id="receipt-error"[^>]*>([^<]+)<', second.text)


@pytest.mark.parametrize("typed,fragment", [
    ("1234", "wrong number of characters"),
    ("NG9Q-QN1E-K73T-PK5B-71CM-0FKM", "mistyped"),
    ("NG9Q-QN1E-K73T-PK5B-71CM-0FK#", "never used"),
])
def test_malformed_receipt_is_explained_before_any_lookup(check, typed, fragment):
    response = check(typed)
    # Back on the form (a GET: the browser keeps no POST body), the error linked to the field.
    assert response.request.path == "/check" and response.request.method == "GET"
    assert fragment in find(r'id="receipt-error"[^>]*>([^<]+)<', response.text)
    assert 'aria-invalid="true"' in response.text


def test_followup_is_sealed_to_the_unit_and_bound_to_its_number(app, client, submit, check, unit_key):
    code = find(r'id="receipt">([^<]+)<', submit().text)
    page = check(code)
    token = find(r'action="/followup[^"]*"[^>]*>\s*<input type="hidden" name="token" value="([^"]+)"', page.text)
    response = client.post("/followup", data={"token": token, "text": "The car is a white Lada."})
    assert response.status_code == 303
    [row] = list(_db(app)["followups"].rows)
    [tip] = _tips(app)
    body = envelope.open_(row["body"], unit_key.opener, kind="followup", tip_id=tip["id"], part="f1")
    assert json.loads(body)["text"] == "The car is a white Lada."
    again = check(code)
    assert "You have added 1 message" in again.text


def test_forged_followup_token_is_refused_and_stores_nothing(app, client, submit):
    submit()
    response = refused(client, client.post("/followup?lang=en",
                                           data={"token": "forged.token.value", "text": "hi"}))
    assert response.status_code == 403
    assert _db(app)["followups"].count == 0


def _assert_nothing_stored(app):
    assert _tips(app) == []
    assert _blobs(app) == []


@pytest.mark.parametrize("fields,status,fragment", [
    ({"description": ""}, 400, "describe what happened"),
    ({"description": "   \n\t "}, 400, "describe what happened"),
    ({"region": "atlantis"}, 400, "choose a region"),
    ({"region": None}, 400, "choose a region"),
    ({"category": "jaywalking"}, 400, "choose a category"),
    ({"token": "not-a-token"}, 403, "expired"),
    ({"token": None}, 403, "expired"),
    ({"website": "http://spam.example"}, 400, "could not be accepted"),
    ({"description": "x" * 20_001}, 413, "too long"),
])
def test_bad_submission_is_explained_and_nothing_is_stored(app, submit, fields, status, fragment):
    response = submit(files=[(io.BytesIO(b"file bytes" * 100), "a.bin", "application/octet-stream")],
                      **fields)
    assert response.status_code == status
    assert fragment in response.text
    assert "Traceback" not in response.text
    _assert_nothing_stored(app)


def test_unexpected_extra_fields_are_ignored(app, submit):
    response = submit(language="xx", unknown="yes", lang="kk")
    assert response.status_code == 203
    assert len(_tips(app)) == 1


def test_invalid_utf8_field_is_refused(app, client):
    token = form_token(client, "/submit")
    boundary = "XyZ"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n{token}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"region\"\r\n\r\nastana\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\ntheft\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\n"
    ).encode() + b"\xff\xfe broken\r\n" + f"--{boundary}--\r\n".encode()
    response = client.post("/submit?lang=en", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400
    assert "UTF-8" in response.text
    _assert_nothing_stored(app)


def test_cut_off_upload_is_refused_and_leaves_no_file(app, client):
    token = form_token(client, "/submit")
    boundary = "XyZ"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n{token}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"region\"\r\n\r\nastana\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"v.mp4\"\r\n"
        "Content-Type: video/mp4\r\n\r\n"
    ).encode() + b"\x00" * 300_000
    response = client.post("/submit?lang=en", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400
    _assert_nothing_stored(app)


def test_files_before_the_region_are_refused(app, client):
    token = form_token(client, "/submit")
    boundary = "XyZ"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n{token}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"v.mp4\"\r\n"
        "Content-Type: video/mp4\r\n\r\nbytes\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"region\"\r\n\r\nastana\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    response = client.post("/submit?lang=en", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400
    _assert_nothing_stored(app)


def test_oversized_upload_gets_a_413_page_in_the_reporters_language(app_config, data_dir):
    from tipdrop.server.web import create_app

    app = create_app(app_config | {"max_upload_mb": 1})
    client = app.test_client()
    token = form_token(client, "/submit?lang=ru")
    data = {"token": token, "region": "astana", "category": "theft", "description": "d",
            "files": [(io.BytesIO(b"\x01" * (3 * 1024 * 1024)), "big.mp4", "video/mp4")]}
    response = client.post("/submit?lang=ru", data=data, content_type="multipart/form-data")
    assert response.status_code == 413
    assert 'lang="ru"' in response.text
    assert _tips(app) == [] and _blobs(app) == []


def test_post_from_another_site_is_refused(client, app):
    token = form_token(client, "/submit")
    response = client.post("/submit", data={"token": token}, content_type="multipart/form-data",
                           headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert _tips(app) == []


def test_file_parts_are_refused_outside_submit(client):
    token = form_token(client, "/check")
    response = refused(client, client.post(
        "/check", data={"token": token, "receipt": "x",
                        "f": (io.BytesIO(b"x" * 1_000_000), "f.bin")},
        content_type="multipart/form-data"))
    assert response.status_code == 400


@pytest.mark.parametrize("query,header,expected", [
    ("?lang=kk", None, "kk"),
    ("?lang=ru", None, "ru"),
    ("?lang=en", "ru", "en"),
    ("", "ru-RU,ru;q=0.9", "ru"),
    ("", "kk-KZ", "kk"),
    ("", "de-DE", "ru"),
    # "*" is any language: the default, Russian (docs/protocol.md section 12), not the
    # first of the list; the client's order and q=0 refusals count.
    ("", "*", "ru"),
    ("", "de, *;q=0.1", "ru"),
    ("", "*, kk;q=0.5", "ru"),
    ("", "ru;q=0, *", "kk"),
    ("", "en, kk", "en"),
    ("", "kk, ru", "kk"),
])
def test_language_comes_from_the_query_then_the_browser(client, query, header, expected):
    headers = {"Accept-Language": header} if header else {}
    page = client.get(f"/submit{query}", headers=headers)
    assert f'<html lang="{expected}">' in page.text


def test_forms_keep_the_language_in_their_action(client):
    page = client.get("/submit?lang=kk")
    assert 'action="/submit?lang=kk"' in page.text


def test_every_page_works_without_javascript_and_loads_nothing_external(client):
    for path in ("/", "/submit", "/check"):
        text = client.get(path).text
        text = text.replace('href="https://www.google.com/"', "")  # the quick exit: a plain link
        assert "http://" not in text and "https://" not in text
        # Scripts (page.js everywhere, encryption on /submit): our own files, no inline code.
        scripts = re.findall(r"<script[^>]*>(.*?)</script>", text, re.S)
        assert all(body == "" for body in scripts)
        sources = re.findall(r'<script src="([^"]+)"', text)
        assert len(sources) == len(scripts)
        assert all(src.startswith("/assets/js/") for src in sources)
        assert (path == "/submit") == any(re.fullmatch(r"/assets/js/submit\.[0-9a-f]{16}\.js", src)
                                          for src in sources)


def _jpeg_with_metadata():
    return photo_with_metadata(make="CanaryMake", color=(200, 30, 30), tags=[
        (0x0110, "CanaryModel-X1"),       # Model
        (0x0112, 6),                      # Orientation
        (0x0132, "2026:11:27 22:15:00"),  # DateTime
    ])


def _open_attachment(app, unit_key, tip_id, row):
    out = io.BytesIO()
    blob = blob_bytes(app.config["TIPDROP"].database_path, row["blob"])
    stream.decrypt_stream(io.BytesIO(blob), out, unit_key.opener, kind="attachment",
                          tip_id=tip_id, part=row["part"])
    return out.getvalue()


@pytest.mark.parametrize("keep", [False, True])
def test_photo_metadata_is_removed_before_encryption_unless_location_is_kept(app, submit, unit_key, keep):
    from PIL import Image

    photo = _jpeg_with_metadata()
    submit(files=[(io.BytesIO(photo), "IMG_0001.jpg", "image/jpeg")],
           keep_location="yes" if keep else None)
    [tip] = _tips(app)
    [row] = list(_db(app)["attachments"].rows)
    cleaned = _open_attachment(app, unit_key, tip["id"], row)
    assert b"CanaryMake" not in cleaned and b"CanaryModel" not in cleaned
    exif = Image.open(io.BytesIO(cleaned)).getexif()
    assert exif.get(0x0112) == 6
    assert bool(exif.get_ifd(0x8825)) is keep
    assert Image.open(io.BytesIO(cleaned)).tobytes() == Image.open(io.BytesIO(photo)).tobytes()
    info = json.loads(envelope.open_(row["info"], unit_key.opener, kind="attachment-info",
                                     tip_id=tip["id"], part="a1"))
    assert info["photo"] == "jpeg" and info["kept_location_and_time"] is keep
    assert any("Make" in item for item in info["metadata_removed"])


def test_signed_tokens_carry_no_receipt_and_no_key(submit, check):
    import base64

    code = find(r'id="receipt">([^<]+)<', submit().text)
    page = check(code).text
    tokens = __import__("re").findall(r'name="token" value="([^"]+)"', page)
    assert tokens
    for token in tokens:
        payload = token.split(".")[0]
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        doc = json.loads(decoded)
        assert set(doc) <= {"p", "n", "t"}
        assert receipts.parse(code).secret not in decoded.decode()
        assert code.replace("-", "") not in decoded.decode()
