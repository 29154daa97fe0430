"""The app's tip page stays bounded for a tip buried under follow-ups.

A hostile export may give a device-sealed tip thousands of junk follow-ups
(each imported as damaged; bundlecaps.py caps them at 10,000): the page
shows the newest workspace.SHOWN_FOLLOWUPS and says how many it left out.
Only the follow-ups shown are marked read: a real one buried under more
than that stays in the "follow-ups not read yet" list.
A real export (the server's library), relabelled and padded as a hostile
server would; the real app through Flask's test client.
"""

import re

from tests.e2e.test_officer_open_caps import _junk
from tests.officer.test_officer_app import (  # noqa: F401 (fixtures)
    LAUNCH,
    PORT,
    clock,
    get,
    opened_workspace,
    unit,
    unlocked,
)
from tests.protocol.test_bundles import Server, _records
from tipdrop.officer.app import create_app
from tipdrop.officer.app.desk import Desk
from tipdrop.officer.workspace import SHOWN_FOLLOWUPS


def test_the_tip_page_shows_the_newest_follow_ups_and_marks_only_those_read(
        tmp_path, unit, clock):  # noqa: F811
    key_path, key = unit
    server = Server(tmp_path / "server", key)
    server.submit("almaty", "Во дворе продают краденые телефоны.")
    server.export("demo", tmp_path / "real.tdx")
    server.db.close()
    bundle = _junk(_records((tmp_path / "real.tdx").read_bytes()), tmp_path / "junk.tdx",
                   SHOWN_FOLLOWUPS + 40)
    desk = Desk(opened_workspace(bundle, key, tmp_path / "cases"), key_path, clock=clock)
    try:
        client = unlocked(create_app(desk, PORT, launch_token=LAUNCH,
                                     outbox_dir=tmp_path / "outbox"))
        [tip] = re.findall(r'data-tip="([0-9a-f]+)"', get(client, "/inbox").get_data(as_text=True))
        page = get(client, f"/tip/{tip}").get_data(as_text=True)
        # The 40 left out were not read: the tip stays among those with
        # follow-ups not read yet, so one buried under junk is not lost.
        unread = get(client, "/inbox?view=unread").get_data(as_text=True)
        left = desk.workspace.db.execute(
            "SELECT seq FROM followups WHERE tip_id = ? AND read = 0 ORDER BY seq", [tip]).fetchall()
    finally:
        desk.close()
    # Before: all 540 listed
    assert page.count('<li class="followup') == SHOWN_FOLLOWUPS
    assert re.search(r'id="followups-not-shown">40 earlier follow-ups are not shown', page)
    assert "They stay among the follow-ups not read yet" in page
    assert [seq for (seq,) in left] == list(range(1, 41))
    assert f'data-tip="{tip}"' in unread
