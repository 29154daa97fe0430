"""Only a body that streams takes an upload slot (tipdrop/server/web/upload.py, SMALL_BODY).

The upload slots bound the threads busy streaming a large body in. A body
declaring at most SMALL_BODY bytes is read whole first and worked on
without one, so uploads holding every slot cannot keep out a report
without a large attachment; against a real gunicorn, with trickling
uploads: tests/e2e/test_held_upload_slots.py.
"""

import io
import json
import secrets

import pytest

from tests.stored import staged_blobs, tip_count
from tipdrop.protocol import uploads
from tipdrop.protocol.report import Report
from tipdrop.reporter import client as reporter
from tipdrop.reporter.resumable import write_body
from tipdrop.server.web import create_app
from tipdrop.server.web.upload import SMALL_BODY

from .conftest import form_token

BOUNDARY = "tipdropslots"


@pytest.fixture
def app(app_config):
    # Refused at once, not after a wait in line (tests/server/web/test_limits.py)
    return create_app(app_config | {"upload_slots": 1, "upload_wait": 0})


@pytest.fixture
def slots_held(app):
    """Every upload slot of the app taken, as by uploads trickling in."""
    with app.extensions["tipdrop"]["upload_slots"]():
        yield


def _form(fields, file_size):
    """A multipart body with ``fields`` and, if ``file_size``, one file of that size."""
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
             .encode() for name, value in fields.items()]
    if file_size:
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
                     f'filename="clip.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
                     .encode() + b"\x00" * file_size + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def _form_of_length(fields, length):
    """A multipart body of exactly ``length`` bytes: ``fields`` and a file filling the rest."""
    overhead = len(_form(fields, 1)) - 1
    body = _form(fields, length - overhead)
    assert len(body) == length
    return body


def _post(client, path, body):
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={BOUNDARY}")


API_FIELDS = {"region": "astana", "category": "theft", "description": "A bicycle was stolen."}


def test_a_json_submit_is_stored_while_every_upload_slot_is_held(app, client, slots_held):
    answer = client.post("/api/v1/tips", json=API_FIELDS)
    assert answer.status_code == 201, answer.json
    assert tip_count(app.config["TIPDROP"].data_dir) == 1


@pytest.mark.parametrize("length, expected", [(SMALL_BODY, 201), (SMALL_BODY + 1, 503)])
def test_only_a_body_longer_than_small_body_needs_an_upload_slot(
        app, client, slots_held, length, expected):
    answer = _post(client, "/api/v1/tips", _form_of_length(API_FIELDS, length))
    assert answer.status_code == expected, answer.json
    if expected == 503:
        assert answer.headers["Retry-After"]
    assert tip_count(app.config["TIPDROP"].data_dir) == (expected == 201)
    assert staged_blobs(app.config["TIPDROP"].data_dir) == []


def test_the_form_without_javascript_is_stored_while_every_upload_slot_is_held(
        app, client, slots_held):
    token = form_token(client, "/submit?lang=ru&category=theft")
    body = _form(API_FIELDS | {"token": token, "website": ""}, 20_000)
    answer = _post(client, "/submit?lang=ru", body)
    assert answer.status_code == 303
    assert "/receipt/" in answer.headers["Location"]
    assert tip_count(app.config["TIPDROP"].data_dir) == 1


def test_a_small_body_cut_short_leaves_nothing(app, client, slots_held):
    body = _form(API_FIELDS, 20_000)
    answer = client.post("/api/v1/tips", input_stream=io.BytesIO(body[:-5000]),
                         content_type=f"multipart/form-data; boundary={BOUNDARY}",
                         headers={"Content-Length": str(len(body))})
    assert answer.status_code == 400
    assert tip_count(app.config["TIPDROP"].data_dir) == 0
    assert staged_blobs(app.config["TIPDROP"].data_dir) == []


def _resumable(client, tmp_path, unit_key, file_size):
    """Begin a resumable upload of a report with a ``file_size``-byte file: (key, body)."""
    (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(file_size))
    work = tmp_path / f"seal-{secrets.token_hex(4)}"
    work.mkdir()
    report = Report.build(region="astana", category="other", description="sent in pieces")
    _, sealed, _ = reporter.seal_upload(report, [tmp_path / "clip.bin"],
                                        unit_key.public.recipient, work)
    out = io.BytesIO()
    request = write_body(sealed.parts, out)
    key = secrets.token_hex(16)
    begun = client.post("/api/v1/uploads", json=request, headers={"Idempotency-Key": key})
    assert begun.status_code == 201, begun.json
    return key, out.getvalue()


def _put(client, key, data):
    return client.put("/api/v1/uploads/pieces/0", data=data,
                      content_type="application/octet-stream",
                      headers={"Idempotency-Key": key,
                               "Piece-Digest": uploads.piece_digest(data).hex()})


def _finish(client, key, data):
    chain = uploads.chain(uploads.upload_id(key), [uploads.piece_digest(data)])
    return client.post("/api/v1/uploads/finish", json={"chain": chain.hex()},
                       headers={"Idempotency-Key": key})


def test_a_small_resumable_upload_is_stored_while_every_upload_slot_is_held(
        app, client, tmp_path, unit_key, slots_held):
    key, data = _resumable(client, tmp_path, unit_key, 10_000)
    assert len(data) <= SMALL_BODY
    assert _put(client, key, data).status_code == 200
    finished = _finish(client, key, data)
    assert finished.status_code == 201, finished.json
    assert tip_count(app.config["TIPDROP"].data_dir) == 1


def test_a_large_resumable_upload_waits_for_a_slot_and_is_kept_meanwhile(
        app, client, tmp_path, unit_key):
    # Given a resumable upload larger than SMALL_BODY (one piece)
    key, data = _resumable(client, tmp_path, unit_key, SMALL_BODY + 10_000)
    assert SMALL_BODY < len(data) <= uploads.PIECE_BYTES
    slot = app.extensions["tipdrop"]["upload_slots"]
    # When its piece comes while every slot is held, Then it is refused, busy
    with slot():
        refused = _put(client, key, data)
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    # And sent again with a slot free, it is taken
    assert _put(client, key, data).status_code == 200
    # When it is finished while every slot is held, Then it is refused, busy,
    # and the upload is kept: finished again with a slot free, it is stored
    with slot():
        refused = _finish(client, key, data)
    assert refused.status_code == 503 and refused.headers["Retry-After"], refused.json
    assert tip_count(app.config["TIPDROP"].data_dir) == 0
    finished = _finish(client, key, data)
    assert finished.status_code == 201, finished.json
    assert json.loads(finished.data)["encrypted_on"] == "device"
    assert tip_count(app.config["TIPDROP"].data_dir) == 1


@pytest.fixture
def limited_app(app_config):
    """Two submits an hour, cheap puzzles past them, one upload slot and one Argon2 slot."""
    return create_app(app_config | {"upload_slots": 1, "upload_wait": 0, "argon2_slots": 1,
                                    "submits_per_hour": 2, "puzzle_bits": 4})


def test_a_submit_refused_for_want_of_an_upload_slot_does_not_count_against_the_limit(
        limited_app):
    client = limited_app.test_client()
    large = _form_of_length(API_FIELDS, SMALL_BODY + 1)
    # Given every upload slot held, a reporter's large upload refused busy again and again
    with limited_app.extensions["tipdrop"]["upload_slots"]():
        refused = [_post(client, "/api/v1/tips", large).status_code for _ in range(4)]
    assert refused == [503] * 4
    # When the slots are free, the hour's two submits are still there
    assert [_post(client, "/api/v1/tips", large).status_code for _ in range(2)] == [201, 201]
    # Then the third is the limit, as it would have been without the busy tries
    assert _post(client, "/api/v1/tips", large).status_code == 429
    assert tip_count(limited_app.config["TIPDROP"].data_dir) == 2


def test_a_puzzle_solution_refused_for_want_of_an_upload_slot_is_not_spent(limited_app):
    from tipdrop.protocol import puzzle

    client = limited_app.test_client()
    large = _form_of_length(API_FIELDS, SMALL_BODY + 1)
    for _ in range(2):
        assert _post(client, "/api/v1/tips", large).status_code == 201
    # Given a reporter past the limit who solved the puzzle offered
    offered = _post(client, "/api/v1/tips", large)
    assert offered.status_code == 429
    solution = {puzzle.SOLUTION_HEADER: puzzle.solve_offered(offered.json["puzzle"])}
    # When the solution arrives while every upload slot is held, it is refused busy
    with limited_app.extensions["tipdrop"]["upload_slots"]():
        busy = client.post("/api/v1/tips", data=large, headers=solution,
                           content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert busy.status_code == 503
    # Then sent again once a slot is free, the same solution admits the report, once
    def again():
        return client.post("/api/v1/tips", data=large, headers=solution,
                           content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert again().status_code == 201
    replayed = again()
    assert (replayed.status_code, replayed.json["error"]) == (429, "PuzzleSpentError")
    assert tip_count(limited_app.config["TIPDROP"].data_dir) == 3


def test_a_large_upload_refused_after_it_streamed_keeps_its_count(limited_app):
    # Given the hour's two submits, and the Argon2 slots (the receipt's) all held
    client = limited_app.test_client()
    large = _form_of_length(API_FIELDS, SMALL_BODY + 1)
    argon2 = limited_app.extensions["tipdrop"]["argon2_slots"]
    argon2.wait = 0
    # When large uploads stream in and are then refused busy for want of an Argon2 slot
    with argon2():
        busy = [_post(client, "/api/v1/tips", large).status_code for _ in range(2)]
    assert busy == [503, 503]
    # Then they counted: sending large bodies is never free, even when refused
    assert _post(client, "/api/v1/tips", large).status_code == 429
    assert tip_count(limited_app.config["TIPDROP"].data_dir) == 0


@pytest.mark.parametrize("form", ["api", "page"])
def test_a_small_upload_refused_after_its_file_was_stored_keeps_its_count(limited_app, form):
    # Given the Argon2 slots (the receipt's) all held
    client = limited_app.test_client()
    argon2 = limited_app.extensions["tipdrop"]["argon2_slots"]
    argon2.wait = 0

    def send():
        if form == "api":
            return _post(client, "/api/v1/tips", _form(API_FIELDS, 100_000)).status_code
        token = form_token(client, "/submit?lang=ru&category=theft")
        body = _form(API_FIELDS | {"token": token, "website": ""}, 100_000)
        return _post(client, "/submit?lang=ru", body).status_code

    # When reports with a file under SMALL_BODY are read whole, their file
    # encrypted and stored, and then refused busy for want of an Argon2 slot
    with argon2():
        busy = [send() for _ in range(2)]
    assert busy == [503, 503]
    # Then they counted: the server did the work of storing their files
    # (refusing busy cannot make storing files free), and left none of it
    assert send() == 429
    data_dir = limited_app.config["TIPDROP"].data_dir
    assert tip_count(data_dir) == 0
    assert staged_blobs(data_dir) == []


def test_a_small_report_without_a_file_refused_busy_does_not_count(limited_app):
    # Given the Argon2 slots all held, a report with no file refused busy
    client = limited_app.test_client()
    argon2 = limited_app.extensions["tipdrop"]["argon2_slots"]
    argon2.wait = 0
    with argon2():
        busy = [client.post("/api/v1/tips", json=API_FIELDS).status_code for _ in range(3)]
    assert busy == [503] * 3
    # Then nothing was stored for it, and the hour's two submits are still there
    assert [client.post("/api/v1/tips", json=API_FIELDS).status_code
            for _ in range(3)] == [201, 201, 429]
