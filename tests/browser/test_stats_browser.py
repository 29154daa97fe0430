"""The public figures in a real browser: SVG charts drawn, no script, no console error."""

import datetime

import pytest

from tests.browser.conftest import collect_errors
from tests.figures import add_tips
from tipdrop.common import sqlite
from tipdrop.server import stats

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "locale": "ru-RU", "java_script_enabled": False}


def _seed(data_dir):
    """A year of tips in three regions, some with small counts."""
    months = stats.period(datetime.datetime.now(datetime.UTC).date())
    db = sqlite.connect(data_dir / "tipdrop.db")
    for i, month in enumerate(months):
        add_tips(db, 5 + i * 2, region="almaty", category="public-disorder", day=f"{month}-03",
                 statuses=[(f"{month}-20", "confirmed")])
        add_tips(db, 6 + i, region="astana", category="traffic", day=f"{month}-05")
    add_tips(db, 9, region="almaty", category="rudeness", day=f"{months[5]}-07",
             statuses=[(f"{months[6]}-01", "unfounded")])
    add_tips(db, 2, region="shymkent", category="drugs", day=f"{months[8]}-09",
             statuses=[(f"{months[9]}-01", "unfounded")])
    db.close()


def test_public_figures_render_as_charts_on_a_phone_in_russian(browser, server, screenshots):
    _seed(server.data_dir)
    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors = collect_errors(page)

    # Given the start page, the reader follows the footer link to the figures
    page.goto(f"http://127.0.0.1:{server.port}/")
    page.click("footer a[href^='/stats']")

    # Then the page is in Russian with four visible SVG charts
    assert page.locator("html").get_attribute("lang") == "ru"
    assert page.locator("h1").count() == 1
    charts = page.locator("svg.bars")
    assert charts.count() == 4
    for i in range(4):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 200 and box["height"] > 40
        bar = charts.nth(i).locator("rect.bar").first.bounding_box()
        assert bar and bar["width"] > 0
    assert "Алматы" in page.inner_text("#regions")
    assert "<5" in page.inner_text("#regions")
    page.screenshot(path=str(screenshots / "stats-ru.png"), full_page=True)
    assert errors == []
    assert context.cookies() == []
    context.close()
