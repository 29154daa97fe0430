"""A file saved from a tip's page in a real Chromium gets a neutral name, not the reporter's.

The officer app served as serve.run serves it, with the tip of
tests/officer/test_attachment_download.py, whose files' names name their
reporter. Chromium is started with a profile on disk, as the officer's
browser has one: the name it suggests for the download, which a normal
Chromium writes into its download history, is the tip's reference and the
file's part, and no file of the profile holds the reporter's name once the
browser is closed. (Playwright takes the download itself over, so this
profile's history would not show the old name either: the suggested name is
the proof, the profile a guard against the name reaching it another way.)
"""

import re

import pytest

from tests.browser.conftest import open_profile
from tests.browser.test_officer_app_typed_text_browser import served
from tests.officer.test_attachment_download import (  # noqa: F401 (fixtures)
    FILES,
    REPORTER,
    desk,
    workdir,
)
from tests.officer.test_officer_app import PASSPHRASE, clock, unit  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e


def _files_holding(root, piece):
    return [p for p in root.rglob("*") if p.is_file() and piece in p.read_bytes()]


@pytest.mark.parametrize("script", [False, True], ids=["without-script", "with-script"])
def test_a_saved_file_has_a_neutral_name_in_the_browser_and_its_profile(
        playwright_driver, desk, tmp_path, script):  # noqa: F811
    profile = tmp_path / "profile"
    with served(desk, tmp_path) as url:
        context = open_profile(playwright_driver, profile, locale="en-US", accept_downloads=True,
                               java_script_enabled=script)
        page = context.new_page()
        page.goto(url)
        page.fill("#passphrase", PASSPHRASE)
        page.click("#unlock")
        page.wait_for_selector("#counts", timeout=60_000)
        page.click("table.tips a")
        tip = re.search(r"/tip/([0-9a-f]{32})", page.url).group(1)
        # The page shows the officer the reporter's names of the files
        assert [page.inner_text(f"li[data-part={part}] .file-name") for part in ("a1", "a4")] \
            == [FILES[0][0], FILES[3][0]]
        saved = []
        for part, data in (("a1", FILES[0][2]), ("a4", FILES[3][2])):
            with page.expect_download() as download:
                page.click(f"li[data-part={part}] a[download]")
            saved.append(download.value.suggested_filename)
            target = tmp_path / "stick" / download.value.suggested_filename
            download.value.save_as(target)
            assert target.read_bytes() == data
        # Chromium names them after the tip and the part, with the extension the bytes confirm
        assert saved == [f"tip-{tip[:12]}-a1.jpg", f"tip-{tip[:12]}-a4.bin"]
        context.close()
    # And its profile on disk (history, downloads, session) holds no reporter's name
    assert _files_holding(profile, REPORTER.encode()) == []
