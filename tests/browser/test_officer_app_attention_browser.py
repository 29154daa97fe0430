"""The inbox's views of what waits, in a real Chromium against the real app process.

``tipdrop officer app --answer-days 7`` over a workspace whose tips were
received on days of the past (tests/officer/test_officer_app_attention.py):
with JavaScript off, the officer presses *Waiting for a first answer* and
gets the unanswered reports, the longest waiting first, the one past the
target marked; searches within that view; then *Follow-ups not read yet*, opens
the report, and it leaves that view.
"""

import os

import pytest

from tests.browser.test_officer_app_browser import running_app
from tests.officer.test_officer_app_attention import PASSPHRASE, TARGET, aged  # noqa: F401

pytestmark = pytest.mark.e2e


def _rows(page):
    return page.eval_on_selector_all("tr.tip", "rows => rows.map(r => r.dataset.tip)")


def test_the_waiting_and_follow_up_views_work_without_javascript(aged, browser,  # noqa: F811
                                                                 tmp_path):
    workdir, key_path, ids = aged
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    env |= {"TIPDROP_WORKDIR": str(workdir), "TIPDROP_KEY": str(key_path)}
    with running_app(env, tmp_path, "--answer-days", str(TARGET)) as (url, _):
        context = browser.new_context(locale="en-US", java_script_enabled=False)
        page = context.new_page()
        page.goto(url)  # the launch page: without its script, Continue signs the browser in
        with page.expect_navigation():
            page.click("#continue")
        page.fill("#passphrase", PASSPHRASE)
        page.click("#unlock")
        page.wait_for_selector("#counts", timeout=60_000)
        # When the officer presses the count of reports waiting for an answer
        assert page.inner_text("#view-waiting") == "Waiting for a first answer: 3"
        assert page.inner_text("#overdue-count") == f"over {TARGET} days: 1"
        with page.expect_navigation():
            page.click("#view-waiting")
        # Then the unanswered ones, the longest waiting first, the one past the target marked
        assert _rows(page) == [ids["old"], ids["week"], ids["new"]]
        assert page.locator(f'tr[data-tip="{ids["old"]}"] .overdue').count() == 1
        assert page.locator(".overdue").count() == 1
        assert page.input_value("#view") == "waiting"
        # A search within the view stays in it
        page.fill("#q", "велосипед")
        with page.expect_navigation():
            page.click("#search")
        assert _rows(page) == [ids["week"]] and page.input_value("#view") == "waiting"
        assert "велосипед" not in page.url and "%D0%B2" not in page.url
        # The reports with new follow-ups: opening one reads them, and it leaves the view
        page.select_option("#view", "unread")
        page.fill("#q", "")
        with page.expect_navigation():
            page.click("#search")
        assert _rows(page) == [ids["week"]]
        with page.expect_navigation():
            page.click(f'tr[data-tip="{ids["week"]}"] a')
        with page.expect_navigation():
            page.go_back()
        page.reload()
        assert _rows(page) == [] and page.inner_text("#view-unread") == "Follow-ups not read yet: 0"
        context.close()
