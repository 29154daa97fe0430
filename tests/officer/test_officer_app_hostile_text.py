"""The reporter's text in the officer app cannot disguise itself or reorder the app's own words.

A reporter chooses every character of a file's name and type, of the
description and of a follow-up. A right-to-left override (U+202E) in
``CON.txt\\u202egpj.exe`` makes a browser draw it as ``CON.txtexe.jpg``, and,
if the override is not closed, draws the app's words after it (the file's
provenance warning) mirrored. The page must isolate every such text (a
``<bdi>`` or an element with ``dir``), and show the controls of a file's name
and type visibly, as ``tipdrop officer show`` prints them.
"""

import re
from html.parser import HTMLParser

import pytest

from tests.officer.test_officer_app import (  # noqa: F401 (fixtures)
    LAUNCH,
    PORT,
    clock,
    get,
    tip_ids,
    unit,
    unlocked,
)
from tests.protocol.test_bundles import Server
from tipdrop.officer.app import create_app
from tipdrop.officer.app.desk import Desk
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol.report import Report

RLO = "\u202e"
NAME = f"CON.txt{RLO}gpj.exe"
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def workdir(tmp_path, unit):  # noqa: F811
    """One tip whose file name, file type, description and follow-up carry bidi overrides."""
    _, key = unit
    server = Server(tmp_path / "server", key)
    draft = server.tips.start(region="almaty")
    draft.new_attachment(NAME, f"image/jpeg{RLO}").write(b"MZ not a photo")
    server.tips.submit(draft, Report.build(region="almaty", category="theft", language="ru",
                                           description=f"Кража {RLO}у подъезда",
                                           what=f"{RLO}Случай"))
    server.tips.add_followup(tip_id=draft.tip_id, text=f"Ещё {RLO}одно")
    server.export("demo", tmp_path / "export.tdx")
    server.db.close()
    workspace = Workspace(tmp_path / "cases")
    workspace.open_bundle(tmp_path / "export.tdx", Keyring.of(key))
    workspace.close()
    return tmp_path / "cases"


@pytest.fixture
def app(workdir, unit, clock, tmp_path):  # noqa: F811
    desk = Desk(workdir, unit[0], idle_seconds=15 * 60, clock=clock)
    yield create_app(desk, PORT, launch_token=LAUNCH, outbox_dir=tmp_path / "outbox")
    desk.close()


class _Isolation(HTMLParser):
    """Every text with a bidi control, and whether an isolating element encloses it."""

    VOID = {"input", "img", "br", "meta", "link", "hr", "source"}

    def __init__(self):
        super().__init__()
        self.open = []  # (tag, isolates)
        self.found = []  # (text, isolated)

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.open.append((tag, tag == "bdi" or "dir" in dict(attrs)))

    def handle_endtag(self, tag):
        while self.open:
            if self.open.pop()[0] == tag:
                break

    def handle_data(self, data):
        if BIDI_CONTROLS.search(data):
            self.found.append((data, any(isolates for _, isolates in self.open)))


def test_a_hostile_file_name_shows_its_real_extension_and_leaves_the_warning_intact(app):
    client = unlocked(app)
    [tip] = tip_ids(get(client, "/inbox"))
    page = get(client, f"/tip/{tip}").get_data(as_text=True)
    [item] = re.findall(r'<li data-part="a1">(.*?)</li>', page, re.S)
    # The name is shown as the CLI prints it: the override is visible, ".exe" is the end.
    assert "CON.txt\\u202egpj.exe" in item and NAME not in page
    assert "image/jpeg\\u202e" in item
    # The name and type are isolated, and the provenance words after them are the app's own,
    # outside any text of the reporter.
    name = re.search(r'<bdi class="file-name">([^<]*)</bdi></a> \(<bdi>([^<]*)</bdi>, \d+ B\) '
                     r'— ([^<]*)$', item.strip())
    assert name, item
    assert name.group(3) == "bound to the report"


def test_every_reporters_text_with_a_bidi_control_is_isolated_in_the_page(app):
    client = unlocked(app)
    for path in ("/inbox", f"/tip/{tip_ids(get(client, '/inbox'))[0]}"):
        parser = _Isolation()
        parser.feed(get(client, path).get_data(as_text=True))
        assert all(isolated for _, isolated in parser.found), (path, parser.found)
    # The description, the "what" and the follow-up were all on the tip's page.
    assert len(parser.found) >= 3, parser.found
