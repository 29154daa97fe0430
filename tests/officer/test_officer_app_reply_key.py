"""The officer app's tip page says when a report does not bind its reply key.

A report sealed before the reply key was bound (docs/protocol.md section 14)
still opens; its page says replies go to a key the export named.
"""

import sqlite3

from tests.officer.test_officer_app import (  # noqa: F401 (fixtures)
    app,
    clock,
    desk,
    get,
    tip_ids,
    unit,
    unlocked,
    workdir,
)
from tipdrop.crypto import envelope
from tipdrop.protocol import documents


def test_the_tip_page_says_reply_key_not_bound_only_for_a_report_that_binds_none(
        app, unit, workdir):  # noqa: F811
    # Given one held report re-sealed as a server sealed it before binding (no reply_public)
    with sqlite3.connect(workdir / "workspace.db") as db:
        old_id, new_id = [row[0] for row in db.execute("SELECT id FROM tips ORDER BY id")][:2]
        old = documents.report_document(tip_id=old_id, region="almaty", category="theft",
                                        description="Sealed last year.", digests={})
        db.execute("UPDATE tips SET body = ? WHERE id = ?", [
            envelope.seal(old, unit[1].public.recipient, kind="tip", tip_id=old_id), old_id])
        db.execute("DELETE FROM attachments WHERE tip_id = ?", [old_id])

    client = unlocked(app)
    # Then its page says so, and the page of a report sealed now does not
    old_page = get(client, f"/tip/{old_id}").get_data(as_text=True)
    assert 'id="reply-key-not-bound"' in old_page and "Sealed last year." in old_page
    new_page = get(client, f"/tip/{new_id}").get_data(as_text=True)
    assert 'id="reply-key-not-bound"' not in new_page
