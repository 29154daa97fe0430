"""A right-to-left override in a reporter's file name, as Chromium draws the officer app's page.

The workspace of tests/officer/test_officer_app_hostile_text.py: a file named
``CON.txt\\u202egpj.exe``. Drawn as it was, the override ran on past the name
and mirrored the app's own provenance words after it, and the name read as
``CON.txtexe.jpg``. Now the name reads with its real end, ``.exe``, and the
words after it are drawn left to right, letter after letter.
"""

import pytest

from tests.browser.test_officer_app_typed_text_browser import served
from tests.officer.test_officer_app import PASSPHRASE, clock, unit  # noqa: F401 (fixtures)
from tests.officer.test_officer_app_hostile_text import workdir  # noqa: F401 (a fixture)
from tests.protocol.test_bundles import Server
from tipdrop.officer.app.desk import Desk
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol.report import Report

pytestmark = pytest.mark.e2e

#: The x of each letter of the text after the file's link, as the browser laid them out.
LETTERS_AFTER_THE_LINK = """() => {
  const item = document.querySelector('li[data-part="a1"]');
  const link = item.querySelector("a");
  const walker = document.createTreeWalker(item, NodeFilter.SHOW_TEXT);
  let text = null;
  while (walker.nextNode()) {
    if (walker.currentNode.data.includes("bound to the report")) text = walker.currentNode;
  }
  const range = document.createRange();
  const xs = [];
  for (let i = 0; i < text.length; i++) {
    range.setStart(text, i);
    range.setEnd(text, i + 1);
    if (text.data[i].trim()) xs.push(range.getBoundingClientRect().left);
  }
  return {text: text.data, xs: xs, link: link.innerText};
}"""


@pytest.fixture
def desk(workdir, unit, clock):  # noqa: F811
    made = Desk(workdir, unit[0], idle_seconds=15 * 60, clock=clock)
    yield made
    made.close()


def test_the_warning_after_a_hostile_file_name_reads_left_to_right(browser, desk, tmp_path):
    with served(desk, tmp_path) as url:
        page = browser.new_page(locale="en-US")
        page.goto(url)
        page.fill("#passphrase", PASSPHRASE)
        page.click("#unlock")
        page.wait_for_selector("#counts", timeout=60_000)
        page.click("table.tips a")
        page.wait_for_selector('li[data-part="a1"]')
        laid_out = page.evaluate(LETTERS_AFTER_THE_LINK)
        page.close()
    assert "bound to the report" in laid_out["text"], laid_out
    assert laid_out["xs"] == sorted(laid_out["xs"]), laid_out  # not mirrored
    assert laid_out["link"].endswith("CON.txt\\u202egpj.exe"), laid_out


#: A reporter's text with no place to break a line: a pasted link, a long number, a flood.
UNBROKEN = "Ж" * 3000


@pytest.fixture
def long_desk(tmp_path, unit, clock):  # noqa: F811
    """One tip whose description, answer, file name and follow-up are one unbroken word."""
    _, key = unit
    server = Server(tmp_path / "server", key)
    draft = server.tips.start(region="almaty")
    draft.new_attachment(f"{UNBROKEN[:250]}.jpg", "image/jpeg").write(b"MZ not a photo")
    server.tips.submit(draft, Report.build(region="almaty", category="theft", language="ru",
                                           description=UNBROKEN, what=UNBROKEN[:2000],
                                           where=UNBROKEN[:2000]))
    server.tips.add_followup(tip_id=draft.tip_id, text=UNBROKEN)
    server.export("demo", tmp_path / "export.tdx")
    server.db.close()
    workspace = Workspace(tmp_path / "cases")
    workspace.open_bundle(tmp_path / "export.tdx", Keyring.of(key))
    workspace.close()
    made = Desk(tmp_path / "cases", unit[0], idle_seconds=15 * 60, clock=clock)
    yield made
    made.close()


def test_a_reporters_unbroken_text_wraps_within_the_page_and_leaves_its_buttons_in_view(
        browser, long_desk, tmp_path):
    with served(long_desk, tmp_path) as url:
        page = browser.new_page(locale="en-US", viewport={"width": 1024, "height": 768})
        page.goto(url)
        page.fill("#passphrase", PASSPHRASE)
        page.click("#unlock")
        page.wait_for_selector("#counts", timeout=60_000)
        page.click("table.tips a")
        page.wait_for_selector("#queue-reply")
        widths = page.evaluate("""() => ({page: document.documentElement.scrollWidth,
            view: document.documentElement.clientWidth,
            button: document.getElementById("queue-reply").getBoundingClientRect().right})""")
        page.close()
    # Before, the page was some 48,000 pixels wide: the report ran off to the right and the
    # officer scrolled sideways to find anything.
    assert widths["page"] <= widths["view"] and widths["button"] <= widths["view"], widths
