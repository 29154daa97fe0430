"""Forwarding a tip to another unit from its page in the officer app (forwards.py).

The same real workspace, key file and Flask test client as test_officer_app.py;
the forward is the one `tipdrop officer forward` makes (tipdrop/officer/forwarding.py).
"""

import pytest

from tests.officer import test_officer_app as base
from tests.officer.test_officer_app import get, post, search, tip_ids, unlocked
from tipdrop.crypto import keys
from tipdrop.protocol import bundles

# The fixtures of the app's tests: a workspace of four tips, its key, the app, a clock.
app, clock, desk, unit, workdir = base.app, base.clock, base.desk, base.unit, base.workdir


@pytest.fixture(scope="module")
def north():
    return keys.generate("north").public


def _form(north, **changes):
    return {"to": "north", "unit_key": north.to_json().decode("utf-8"),
            "fingerprint": keys.format_fingerprint(north.fingerprint)} | changes


@pytest.mark.parametrize("changes", [
    {"fingerprint": ""},
    {"fingerprint": "0" * 64},
    {"to": "south"},
    {"unit_key": "not a key file"},
])
def test_a_forward_without_the_units_checked_key_seals_nothing(app, north, changes):
    client = unlocked(app)
    [tip] = tip_ids(search(client, "взятку"))
    answer = post(client, f"/tip/{tip}/forward", _form(north, **changes))
    assert answer.status_code == 400 and "Not done" in answer.get_data(as_text=True)
    page = get(client, f"/tip/{tip}").get_data(as_text=True)
    assert 'data-status="received"' in page and 'id="forward"' in page
    assert post(client, "/outbox").status_code == 400  # nothing queued


def test_a_tip_forwarded_from_its_page_is_transferred_and_leaves_with_the_outbox(
        app, north, tmp_path):
    client = unlocked(app)
    [tip] = tip_ids(search(client, "взятку"))
    # Given the tip page offers the forward
    assert 'id="forward"' in get(client, f"/tip/{tip}").get_data(as_text=True)

    # When the officer forwards it to north, with north's key and its fingerprint
    answer = post(client, f"/tip/{tip}/forward", _form(north))
    assert answer.status_code == 303 and answer.location.endswith(f"/tip/{tip}"), answer.data

    # Then the tip is transferred here, offers no second forward, and the outbox carries
    # the forward, sealed to north's key and signed by this unit
    page = get(client, f"/tip/{tip}").get_data(as_text=True)
    assert 'data-status="transferred"' in page and 'id="forward"' not in page
    assert post(client, "/outbox").status_code == 200
    [path] = (tmp_path / "outbox").iterdir()
    [forward] = bundles.parse_reply_bundle(path.read_bytes()).forwards
    assert (forward.tip_id, forward.to_unit, forward.to_key_id) == (tip, "north", north.key_id)
    # And a second forward of it is refused
    again = post(client, f"/tip/{tip}/forward", _form(north))
    assert again.status_code == 400


def test_a_forward_keeps_the_reply_and_note_typed_on_the_page(app, north):
    # The forward's button sends the tip page's one form: a reply and a note typed and not
    # sent come back on the tip's page; the forward's own boxes, done, are forgotten.
    client = unlocked(app)
    [tip] = tip_ids(search(client, "взятку"))
    answer = post(client, f"/tip/{tip}/forward", _form(north) | {
        "from_tip": tip, "message": "Передаём в другой отдел.", "text": "Звонил в отдел."})
    assert answer.status_code == 303, answer.data
    page = get(client, answer.location).get_data(as_text=True)
    assert 'data-status="transferred"' in page
    assert ">Передаём в другой отдел.</textarea>" in page and ">Звонил в отдел.</textarea>" in page
    assert "Передаём" not in answer.location
    assert app.extensions["officer_desk"].recall_draft(tip).keys() == {"message", "text"}
