"""A report refused without JavaScript comes back as the form, with everything typed in it.

Through the Flask test client, one case per way the server refuses a
submit: the page is the form in the reporter's language with the refusal's
status, every text field, the region, the category and the answers to its
questions filled in again, a fresh form token, the message next to the
field at fault, and the names of the files to choose again. Real gunicorn
and Chromium with JavaScript off: tests/browser/test_submit_again_browser.py.
"""

import html
import io
import logging
import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from markupsafe import escape

from tests.server.web.conftest import form_token
from tests.server.web.test_questions import required_categories
from tipdrop.common import sqlite
from tipdrop.server.web import create_app

TYPED = {
    "what": "Драка у входа",
    "where": "Астана, ул. Кенесары 12",
    "when": "вчера около 22:00",
    "description": "Двое мужчин дрались, один упал.",
    "contact": "не звонить",
}
EXPIRED = {"kk": "мерзімі өтіп кеткен", "ru": "Срок действия формы истёк", "en": "has expired"}
REQUIRED = {"kk": "ол міндетті", "ru": "он обязательный", "en": "it is required"}


@pytest.fixture
def strict(app_config, keys_dir):
    """An app whose operator made the kind of place required for drugs, at most three reports an hour."""
    required_categories(keys_dir / "categories.json", "drugs.place")
    app = create_app(app_config | {"submits_per_hour": 3})
    return app, app.test_client()


def stale_token(data_dir, token):
    """The same token as if the server had signed it five hours ago (tokens.FORM_MAX_AGE is four)."""
    secret = (data_dir / "token-secret").read_bytes()

    class FiveHoursAgo(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - 5 * 3600

    data = URLSafeTimedSerializer(secret, salt="tipdrop/v1/form").loads(token)
    return URLSafeTimedSerializer(secret, salt="tipdrop/v1/form", signer=FiveHoursAgo).dumps(data)


def post(client, lang, fields, files=(), headers=None):
    data = {"token": form_token(client, f"/submit?lang={lang}"), "website": "",
            "region": "astana", "category": "drugs", "q.drugs.place": "school",
            "q.drugs.ongoing": "yes", **TYPED} | fields
    data = {k: v for k, v in data.items() if v is not None}
    if files:
        data["files"] = [(io.BytesIO(body), name, "application/octet-stream") for name, body in files]
    return client.post(f"/submit?lang={lang}", data=data, content_type="multipart/form-data",
                       headers=headers)


def tips(app):
    return sqlite.connect(app.config["TIPDROP"].database_path)["tips"].count


def value_of(page, field_id):
    """What the form shows in the text field ``field_id``, unescaped."""
    if field_id == "description":
        return html.unescape(re.search(r'<textarea id="description"[^>]*>(.*?)</textarea>',
                                       page, re.S).group(1))
    found = re.search(rf'<input id="{re.escape(field_id)}" [^>]*?value="([^"]*)"', page)
    return html.unescape(found.group(1)) if found else ""


def assert_kept(page, typed, *, region="astana", category="drugs"):
    """The page is the submit form again with everything typed in it, and a fresh token."""
    assert 'id="report-form"' in page
    for name, text in typed.items():
        assert value_of(page, name) == text, name
    if region is not None:
        assert f'<option value="{region}" selected>' in page
    assert f'<option value="{category}" selected>' in page
    assert f'<details class="questions" data-category="{category}" open>' in page


CASES = {
    # name: (fields sent, status, the field marked, a fragment of its message)
    "required answer missing": ({"q.drugs.place": ""}, 400, "q-drugs-place", REQUIRED),
    "answer not an option": ({"q.drugs.place": "moon"}, 400, "q-drugs-place",
                             {"kk": "Жауаптардың бірі", "ru": "Один из ответов", "en": "One of the answers"}),
    "description empty": ({"description": "  "}, 400, "description",
                          {"kk": "Не болғанын", "ru": "опишите", "en": "describe what happened"}),
    "text too long": ({"where": "ж" * 2001}, 413, "where",
                      {"kk": "2000 таңбаға", "ru": "до 2000 символов", "en": "at most 2000 characters"}),
    "unknown region": ({"region": "atlantis"}, 400, "region",
                       {"kk": "өңірді таңдаңыз", "ru": "выберите регион", "en": "choose a region"}),
}


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
@pytest.mark.parametrize("case", CASES)
def test_a_refused_report_comes_back_with_everything_typed(strict, case, lang):
    app, client = strict
    fields, status, field_id, message = CASES[case]
    response = post(client, lang, fields)
    assert response.status_code == status
    page = response.text
    assert f'<html lang="{lang}">' in page
    typed = TYPED | {k: v for k, v in fields.items() if k in TYPED}
    # A region that is not one of the page's is not chosen again.
    assert_kept(page, typed, region=None if "region" in fields else "astana")
    # The message next to the field at fault, which says so to a screen reader.
    note = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', page).group(1)
    assert message[lang] in html.unescape(note)
    assert re.search(rf'id="{field_id}"[^>]* aria-invalid="true" aria-describedby="{field_id}-error',
                     page)
    assert tips(app) == 0


def test_every_problem_of_the_form_is_marked_at_once(strict):
    _, client = strict
    page = post(client, "ru", {"q.drugs.place": "", "description": "", "when": "x" * 2001}).text
    marked = re.findall(r'<p class="field-error" id="([^"]+)-error">', page)
    assert marked == ["q-drugs-place", "when", "description"]


def test_the_answers_to_the_questions_are_chosen_again(strict):
    _, client = strict
    page = post(client, "kk", {"description": "", "q.drugs.place": "school"}).text
    assert '<option value="school" selected>' in page
    assert re.search(r'id="q-drugs-ongoing-yes"[^>]*value="yes" checked', page)


def test_an_expired_form_comes_back_renewed_and_is_then_accepted(strict):
    app, client = strict
    token = stale_token(app.config["TIPDROP"].data_dir, form_token(client, "/submit?lang=kk"))
    response = post(client, "kk", {"token": token})
    assert response.status_code == 403
    assert EXPIRED["kk"] in response.text
    assert_kept(response.text, TYPED)
    fresh = re.search(r'name="token" value="([^"]+)"', response.text).group(1)
    assert fresh != token
    # Given the form shown again, when the reporter presses the button, then it is stored.
    resent = post(client, "kk", {"token": fresh})
    assert resent.status_code == 303 and "/receipt/" in resent.location
    assert tips(app) == 1
    # A report stored is never shown again: sent once more, it would be stored twice.
    again = post(client, "kk", {"token": fresh})
    assert again.status_code == 409
    assert 'id="report-form"' not in again.text and TYPED["description"] not in again.text
    assert tips(app) == 1


ATTACKER = {"description": "ATTACKER-CHOSEN TEXT", "contact": "+7 700 ATTACKER"}


def forged_token():
    """A submit token shaped like ours, signed with a secret that is not the server's."""
    return URLSafeTimedSerializer(b"another site" * 3, salt="tipdrop/v1/form").dumps(
        {"p": "submit", "n": "x" * 22})


@pytest.mark.parametrize("token", ["bogus", "forged", ""])
def test_a_form_posted_by_another_site_with_origin_null_is_not_filled_with_its_text(strict, token):
    # Given another site's page (no referrer: Origin null, no Fetch Metadata in an
    # older browser) that auto-submits a form to us with its own text
    app, client = strict
    sent = {"bogus": "bogus", "forged": forged_token(), "": ""}[token]
    response = post(client, "ru", ATTACKER | {"token": sent}, files=[("ATTACKER.jpg", b"x")],
                    headers={"Origin": "null"})
    # Then the answer is the plain refusal: nothing it sent is on our page
    assert response.status_code == 403
    assert EXPIRED["ru"] in response.text
    assert 'id="report-form"' not in response.text
    for text in [*ATTACKER.values(), "ATTACKER"]:
        assert text not in response.text
    assert tips(app) == 0


@pytest.mark.parametrize("site", ["none", "cross-site", "same-site"])
def test_a_refused_form_the_browser_says_came_from_elsewhere_is_not_filled(strict, site):
    # Even with a token of ours (anyone can fetch one), a POST the browser says
    # did not come from our own pages never shows its text on ours.
    _, client = strict
    response = post(client, "kk", ATTACKER | {"q.drugs.place": ""},
                    headers={"Origin": "null", "Sec-Fetch-Site": site})
    assert 400 <= response.status_code < 500
    assert 'id="report-form"' not in response.text
    assert ATTACKER["description"] not in response.text


def test_our_own_expired_form_posted_with_origin_null_comes_back_with_its_text(strict):
    # Our pages send no referrer, so a browser sends Origin null for them too.
    app, client = strict
    token = stale_token(app.config["TIPDROP"].data_dir, form_token(client, "/submit?lang=ru"))
    for headers in ({"Origin": "null"}, {"Origin": "null", "Sec-Fetch-Site": "same-origin"}):
        response = post(client, "ru", {"token": token}, headers=headers)
        assert response.status_code == 403
        assert EXPIRED["ru"] in response.text
        assert_kept(response.text, TYPED)


def test_a_rate_limited_report_comes_back_with_its_text(strict):
    app, client = strict
    for _ in range(3):
        assert post(client, "ru", {}).status_code == 303
    response = post(client, "ru", {})
    assert response.status_code == 429
    assert response.headers["Retry-After"]
    assert "Слишком много попыток" in response.text
    assert_kept(response.text, TYPED)
    assert tips(app) == 3


def test_refused_files_are_named_to_be_chosen_again(strict):
    _, client = strict
    files = [(f"фото-{i}.jpg", b"x" * 100) for i in range(11)]
    response = post(client, "ru", {}, files=files)
    assert response.status_code == 400
    assert_kept(response.text, TYPED)
    assert "Браузер не может сохранить выбранные файлы" in response.text
    named = re.search(r'<ul id="files-to-choose">(.*?)</ul>', response.text, re.S).group(1)
    assert re.findall(r"<li>(.*?)</li>", named) == [f"фото-{i}.jpg" for i in range(11)]
    assert 'id="files-error"' in response.text


def test_typed_text_and_file_names_are_escaped_never_markup(strict):
    _, client = strict
    hostile = '"><script>alert(1)</script></textarea><img src=x onerror=alert(2)>'
    response = post(client, "en", {"what": hostile, "description": hostile, "q.drugs.place": ""},
                    files=[(hostile, b"x")])
    assert response.status_code == 400
    page = response.text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert value_of(page, "what") == hostile
    assert value_of(page, "description") == hostile
    assert str(escape(hostile)) in page


def test_a_large_body_refused_before_it_is_read_says_nothing_was_kept(app_config):
    client = create_app(app_config | {"max_upload_mb": 1}).test_client()
    response = post(client, "kk", {}, files=[("big.mp4", b"x" * (3 * 1024 * 1024))])
    assert response.status_code == 413
    assert 'id="report-form"' in response.text
    assert 'id="nothing-kept"' in response.text and "big.mp4" not in response.text
    assert "Егер файл тіркеген болсаңыз" in response.text


def test_a_form_shown_again_is_kept_from_caches_and_logs(strict, caplog):
    caplog.set_level(logging.DEBUG)
    _, client = strict
    response = post(client, "ru", {"q.drugs.place": ""})
    assert response.status_code == 400  # not a 200: Chromium keeps it in no back/forward cache
    assert_kept(response.text, TYPED)
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for text in TYPED.values():
        assert text not in logged


def test_a_large_report_refused_busy_says_its_text_must_be_typed_again_a_small_one_is_stored(
        app_config):
    # Given every upload slot held (a large body streams under one; a small one needs none)
    app = create_app(app_config | {"upload_slots": 1, "upload_wait": 0})
    client = app.test_client()
    with app.extensions["tipdrop"]["upload_slots"]():
        large = post(client, "ru", {}, files=[("video.mp4", b"x" * (512 * 1024))])
        small = post(client, "ru", {}, files=[("photo.jpg", b"x" * 1024)])
    # Then the large one is refused busy before it is read: the form says nothing was kept
    assert large.status_code == 503 and large.headers["Retry-After"]
    assert 'id="report-form"' in large.text and 'id="nothing-kept"' in large.text
    assert TYPED["description"] not in large.text
    # And the small one is stored
    assert small.status_code == 303


def test_a_body_cut_before_any_field_arrived_says_nothing_was_kept(strict):
    # A body shorter than its declared length: no part of the form was read.
    _, client = strict
    response = client.post("/submit?lang=kk", data=b"--x\r\nContent-Dispo", headers={
        "Content-Type": "multipart/form-data; boundary=x", "Content-Length": "4000"})
    assert 400 <= response.status_code < 500
    assert 'id="report-form"' in response.text
    assert 'id="nothing-kept"' in response.text and 'id="kept-note"' not in response.text
