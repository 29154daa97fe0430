"""Triage in the officer app and the CLI: duplicates linked both ways, and bulk status.

The workspace of tests/officer/test_officer_app.py (four tips exported by the
server's code), the real app through Flask's test client, and the real
`tipdrop` command as a process.
"""

import os
import re
import subprocess

import pytest

from tests.e2e.conftest import TIPDROP
from tests.officer.test_officer_app import (  # noqa: F401 (fixtures)
    ORIGIN,
    PASSPHRASE,
    app,
    clock,
    desk,
    get,
    post,
    search,
    tip_ids,
    unit,
    unlock,
    unlocked,
    workdir,
)
from tipdrop.officer import triage
from tipdrop.officer.app.gate import TOKEN_FIELD
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace


def the(client, words):
    [tip] = tip_ids(search(client, words))
    return tip


def page(client, tip):
    return get(client, f"/tip/{tip}").get_data(as_text=True)


def duplicate_of(text):
    found = re.search(r'id="duplicate-of" data-tip="([0-9a-f]+)"', text)
    return found and found.group(1)


def duplicates(text):
    return re.findall(r'<li class="duplicate" data-tip="([0-9a-f]+)"', text)


def statuses(client):
    """Each tip's status in the workspace (the record the outbox and the CLI read)."""
    workspace = client.application.extensions["officer_desk"].workspace
    return {t["id"]: t["status"] for t in workspace.list()}


def audit(workdir, *actions):  # noqa: F811
    return [(e["action"], e["tip"], e["info"]) for e in Workspace(workdir).audit.entries()
            if e["action"] in actions]


# --- duplicates ----------------------------------------------------------------------------


def test_a_duplicate_is_linked_both_ways_and_shown_on_both_pages(app, workdir):  # noqa: F811
    client = unlocked(app)
    copy, original = the(client, "велосипед"), the(client, "взятку")
    answer = post(client, f"/tip/{copy}/duplicate", {"of": original[:6]})
    assert answer.status_code == 303 and answer.location == f"/tip/{copy}"
    assert duplicate_of(page(client, copy)) == original
    assert duplicates(page(client, original)) == [copy]
    assert duplicate_of(page(client, original)) is None
    assert audit(workdir, "duplicate") == [("duplicate", copy, {"of": original})]


def test_duplicates_survive_lock_and_unlock_and_are_the_clis_too(app, unit):  # noqa: F811
    client = unlocked(app)
    copy, original = the(client, "велосипед"), the(client, "взятку")
    other = the(client, "pills")
    post(client, f"/tip/{copy}/duplicate", {"of": original})
    post(client, f"/tip/{other}/duplicate", {"of": original})
    post(client, "/lock")
    unlock(client)
    assert duplicate_of(page(client, copy)) == original
    assert duplicates(page(client, original)) == sorted([copy, other])
    workspace = app.extensions["officer_desk"].workspace
    assert triage.links(workspace, original, Keyring.of(unit[1])) == {
        "duplicate_of": None, "duplicates": sorted([copy, other])}


def test_undo_removes_the_link_from_both_tips_from_either_page(app, workdir):  # noqa: F811
    client = unlocked(app)
    copy, original = the(client, "велосипед"), the(client, "взятку")
    post(client, f"/tip/{copy}/duplicate", {"of": original})
    answer = post(client, f"/tip/{copy}/duplicate/undo")
    assert answer.status_code == 303 and answer.location == f"/tip/{copy}"
    assert duplicate_of(page(client, copy)) is None and duplicates(page(client, original)) == []
    # And from the original's page, where the button names the duplicate
    post(client, f"/tip/{copy}/duplicate", {"of": original})
    answer = post(client, f"/tip/{copy}/duplicate/undo", {"from_tip": original})
    assert answer.location == f"/tip/{original}"
    assert duplicate_of(page(client, copy)) is None and duplicates(page(client, original)) == []
    assert [a for a, _, _ in audit(workdir, "duplicate", "duplicate-undone")] == [
        "duplicate", "duplicate-undone", "duplicate", "duplicate-undone"]


@pytest.mark.parametrize("case, message", [
    ("itself", "cannot be a duplicate of itself"),
    ("twice", "already marked as a duplicate"),
    ("circle", "already a duplicate of this one"),
    ("circle-through-another", "already a duplicate of this one"),
    ("unknown", "No tip in the workspace matches"),
])
def test_a_link_that_makes_no_sense_is_refused_and_changes_nothing(app, case, message):  # noqa: F811
    client = unlocked(app)
    a, b, c = the(client, "велосипед"), the(client, "взятку"), the(client, "pills")
    post(client, f"/tip/{b}/duplicate", {"of": c})  # b duplicates c
    if case == "circle-through-another":
        post(client, f"/tip/{a}/duplicate", {"of": b})  # a duplicates b, which duplicates c
    tip, of = {"itself": (a, a), "twice": (b, a), "circle": (c, b),
               "circle-through-another": (c, a), "unknown": (a, "0000000000")}[case]
    before = {t: (duplicate_of(page(client, t)), duplicates(page(client, t))) for t in (a, b, c)}
    answer = post(client, f"/tip/{tip}/duplicate", {"of": of})
    assert answer.status_code == 400 and message in answer.get_data(as_text=True)
    assert {t: (duplicate_of(page(client, t)), duplicates(page(client, t)))
            for t in (a, b, c)} == before


def test_undo_of_a_tip_that_duplicates_nothing_is_a_clear_message(app):  # noqa: F811
    client = unlocked(app)
    answer = post(client, f"/tip/{the(client, 'велосипед')}/duplicate/undo")
    assert answer.status_code == 400
    assert "not marked as a duplicate" in answer.get_data(as_text=True)


def test_a_link_is_sealed_in_the_workspace(app, workdir):  # noqa: F811
    client = unlocked(app)
    copy, original = the(client, "велосипед"), the(client, "взятку")
    post(client, f"/tip/{copy}/duplicate", {"of": original})
    rows = list(Workspace(workdir).db.execute("SELECT tip_id, body FROM links"))
    assert sorted(tip for tip, _ in rows) == sorted([copy, original])
    for _, body in rows:
        assert original.encode() not in body and copy.encode() not in body
        assert b"duplicate" not in body


@pytest.mark.parametrize("path", ["/tip/{copy}/duplicate", "/tip/{copy}/duplicate/undo",
                                  "/bulk-status"])
@pytest.mark.parametrize("headers", [{"Origin": "http://evil.example"},
                                     {"Origin": ORIGIN, "Sec-Fetch-Site": "cross-site"},
                                     None])
def test_a_cross_origin_or_tokenless_triage_post_is_refused(app, path, headers):  # noqa: F811
    client = unlocked(app)
    copy, original = the(client, "велосипед"), the(client, "взятку")
    post(client, f"/tip/{copy}/duplicate", {"of": original})
    before = (page(client, copy), statuses(client))
    data = {"of": original, "tip": [copy, original], "status": "unfounded"}
    if headers is not None:
        data[TOKEN_FIELD] = app.extensions["officer_gate"].form_token
        answer = client.post(path.format(copy=copy), base_url=ORIGIN, data=data, headers=headers)
    else:
        answer = post(client, path.format(copy=copy), data, token=False)
    assert answer.status_code == 403
    assert (page(client, copy), statuses(client)) == before


# --- bulk status ---------------------------------------------------------------------------


def test_bulk_status_changes_exactly_the_selected_tips(app, workdir):  # noqa: F811
    client = unlocked(app)
    inbox = get(client, "/inbox").get_data(as_text=True)
    assert re.search(r'<form[^>]*id="bulk"', inbox)
    assert len(re.findall(r'<input[^>]*type="checkbox" name="tip"[^>]*form="bulk"', inbox)) == 4
    spam = [the(client, "велосипед"), the(client, "pills")]
    answer = post(client, "/bulk-status", {"tip": spam, "status": "unfounded"})
    assert answer.status_code == 200
    assert "2 tips now have the status Not confirmed" in answer.get_data(as_text=True)
    after = statuses(client)
    assert {t for t, s in after.items() if s == "unfounded"} == set(spam)
    assert {s for t, s in after.items() if t not in spam} == {"received"}
    assert sorted(audit(workdir, "status")) == sorted(
        ("status", tip, {"seq": 1, "status": "unfounded"}) for tip in spam)
    # Each change is a signed status change queued for its reporter
    rows = list(Workspace(workdir).db.execute("SELECT tip_id, status, body FROM outbox"))
    assert sorted(rows) == sorted((tip, "unfounded", b"") for tip in spam)
    assert tip_ids(get(client, "/inbox?status=unfounded")) and \
        set(tip_ids(get(client, "/inbox?status=unfounded"))) == set(spam)  # the index follows


def test_bulk_status_leaves_tips_that_already_have_it_alone(app, workdir):  # noqa: F811
    client = unlocked(app)
    first, second = the(client, "велосипед"), the(client, "pills")
    post(client, "/bulk-status", {"tip": [first], "status": "closed"})
    answer = post(client, "/bulk-status", {"tip": [first, second], "status": "closed"})
    assert "1 tip now has the status Closed" in answer.get_data(as_text=True)
    assert len(audit(workdir, "status")) == 2


@pytest.mark.parametrize("form, message", [
    ({"status": "unfounded"}, "No tip was selected"),
    ({"tip": ["TIPS"], "status": "rejected"}, "not a status a tip can have"),
    ({"tip": ["TIPS", "0000000000"], "status": "unfounded"}, "No tip in the workspace matches"),
])
def test_a_bulk_status_that_cannot_be_done_is_refused_whole(app, form, message, workdir):  # noqa: F811
    client = unlocked(app)
    tips = [the(client, "велосипед"), the(client, "pills")]
    form = dict(form)
    if "tip" in form:
        form["tip"] = [t for item in form["tip"] for t in (tips if item == "TIPS" else [item])]
    answer = post(client, "/bulk-status", form)
    assert answer.status_code == 400 and message in answer.get_data(as_text=True)
    assert set(statuses(client).values()) == {"received"}
    assert audit(workdir, "status") == []


# --- the command line -----------------------------------------------------------------------


def test_the_cli_marks_lists_and_undoes_a_duplicate(app, workdir, unit):  # noqa: F811
    client = unlocked(app)
    copy, original = the(client, "велосипед"), the(client, "взятку")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")} | {
        "TIPDROP_PASSPHRASE": PASSPHRASE, "TIPDROP_WORKDIR": str(workdir),
        "TIPDROP_KEY": str(unit[0])}

    def cli(*args):
        return subprocess.run([str(TIPDROP), "officer", "duplicate", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    done = cli(copy[:6], "--of", original[:6])
    assert done.returncode == 0 and "is now a duplicate of" in done.stdout, done.stderr
    assert duplicates(page(client, original)) == [copy]  # the app sees what the CLI did
    assert f"{copy} is a duplicate of {original[:12]}" in cli(original[:6]).stdout
    again = cli(copy[:6], "--of", original[:6])
    assert again.returncode == 2
    assert again.stderr.strip() == ("error: This tip is already marked as a duplicate of "
                                    "another tip: undo that first.")
    assert cli(copy[:6], "--undo").returncode == 0
    assert duplicates(page(client, original)) == []
    assert "has no duplicates" in cli(copy[:6]).stdout
