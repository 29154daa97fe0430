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
from tipdrop.officer.app.desk import Desk

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
