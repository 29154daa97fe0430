"""The officer app's tip page says when a report does not bind its reply key.

A report sealed before the reply key was bound (docs/protocol.md section 14)
still opens; its page says replies go to a key the export named.
"""

import re
import sqlite3

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tests.officer.test_officer_app import (  # noqa: F401 (fixtures)
    _upload,
    app,
    clock,
    desk,
    get,
    outcome,
    tip_ids,
    unit,
    unlocked,
    workdir,
)
from tipdrop.common import sqlite
from tipdrop.crypto import envelope
from tipdrop.protocol import documents
from tipdrop.server import exchange


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


def test_the_apps_import_result_names_a_tip_whose_clear_reply_key_differs(
        app, tmp_path):  # noqa: F811
    client = unlocked(app)
    tip_id = sorted(tip_ids(get(client, "/inbox")))[0]
    # Given a server that carries a held tip again with a reply key of its own
    db = sqlite.connect(tmp_path / "server" / "instance" / "tipdrop.db")
    db.execute("UPDATE tips SET reply_public = ? WHERE id = ?",
               [X25519PrivateKey.generate().public_key().public_bytes_raw(), tip_id])
    exchange.export_unit(db, tmp_path / "server" / "instance" / "attachments", unit="demo",
                         out=tmp_path / "again.tdx", since_start=True)
    db.close()

    page = outcome(client, _upload(client, tmp_path / "again.tdx", name="again.tdx"))

    # Then the import result names it
    text = page.get_data(as_text=True)
    said = re.search(r'<p class="warning" role="alert" id="clear-differs">(.*?)</p>', text, re.S)
    assert said and "the sealed values were kept" in said[1]
    assert f'data-tip="{tip_id}"' in said[1]
