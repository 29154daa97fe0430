"""The officer guide's pictures, made by the test suite from made-up reports.

A real server takes a handful of invented reports (Russian, Kazakh,
English; one urgent with a photo), exports them with the CLI, and the
officer app, started as the officer starts it, shows its main screens in
Chromium: unlock, inbox, a tip, the Exchange page. Each run checks that
they render without an error in the browser; with
TIPDROP_GUIDE_SCREENSHOTS=1 (`make screenshots`) the pictures replace
docs/img/officer-app-*.png, which docs/officer-guide.md shows. No real
report is ever photographed: everything here is invented.
"""

import os
from pathlib import Path

import pytest

from tests.browser.conftest import collect_errors
from tests.browser.test_officer_app_browser import running_app
from tests.samples import photo_with_metadata
from tests.serving import multipart

pytestmark = pytest.mark.e2e

GUIDE_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "img"
#: The guide's pictures, in the order the guide shows them.
SCREENS = ("unlock", "inbox", "tip", "exchange")

#: Invented reports: (language, region, category, description).
DEMO_REPORTS = [
    ("ru", "almaty", "theft", "У подъезда на Абая 52 третий раз за месяц срезают замки с "
                              "велосипедов. Вчера около 23:00 видели двоих в серых куртках."),
    ("kk", "astana", "road-accident", "Қабанбай батыр даңғылында екі көлік соқтығысты, "
                                      "жүргізушінің бірі оқиға орнынан кетіп қалды."),
    ("ru", "almaty", "corruption", "В ЦОНе просят доплатить за «ускорение» справки, "
                                   "иначе ждать месяц."),
    ("en", "shymkent", "drugs", "Someone sells pills behind the school on Tauke Khan avenue "
                                "after classes."),
    ("ru", "astana", "domestic-violence", "За стеной каждую ночь крики и удары, соседка "
                                          "просила о помощи."),
    ("kk", "almaty", "public-disorder", "Түнде саябақта топ жастар айқайлап, "
                                        "орындықтарды сындырып жатыр."),
    ("ru", "shymkent", "rudeness", "Кассир на автовокзале оскорбляет пожилых пассажиров."),
]
URGENT = ("ru", "almaty", "child-in-danger",
          "Ребёнок лет пяти один на балконе девятого этажа, дверь заперта, взрослых нет.")


def _report(server, language, region, category, description, files=()):
    token = server.form_token(f"/submit?lang={language}")
    content_type, body = multipart({"token": token, "region": region, "category": category,
                                    "description": description}, files)
    status, _, page = server.request("POST", f"/submit?lang={language}", body,
                                     {"Content-Type": content_type})
    assert status == 203, page[:300]


def _shoot(page, name, screenshots, full_page=False):
    """The picture for the guide when asked (make screenshots), else for a person to look at."""
    if os.environ.get("TIPDROP_GUIDE_SCREENSHOTS") == "1":
        GUIDE_IMAGES.mkdir(exist_ok=True)
        path = GUIDE_IMAGES / f"officer-app-{name}.png"
    else:
        path = screenshots / f"guide-officer-app-{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def test_the_guides_screens_render_from_made_up_reports(server, run_cli, browser, tmp_path,
                                                        screenshots):
    for report in DEMO_REPORTS:
        _report(server, *report)
    _report(server, *URGENT, files=[("files", "balcony.jpg", "image/jpeg", photo_with_metadata())])
    run_cli("export", "--unit", "demo", "--out", tmp_path / "export.tdx", env=server.env(),
            check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")} | {
        "TIPDROP_WORKDIR": str(tmp_path / "cases"), "TIPDROP_KEY": str(server.key_file),
        "TIPDROP_SERVER": "https://tips.example.kz"}
    shot = []
    with running_app(env, tmp_path) as (url, _):
        context = browser.new_context(locale="en-US", viewport={"width": 1180, "height": 760})
        page = context.new_page()
        errors = collect_errors(page)

        # Unlock: the passphrase typed (shown as dots)
        page.goto(url)
        page.fill("#passphrase", "officer pass")
        shot.append(_shoot(page, "unlock", screenshots))
        page.click("#unlock")
        page.wait_for_selector("#counts")

        # Opening the export bundle on the Exchange page
        page.click("#exchange")
        page.set_input_files("#exchange-bundle", str(tmp_path / "export.tdx"))
        page.click("#exchange-import")
        assert "New: 8 tips" in page.inner_text("#imported")

        # The inbox: the urgent categories first
        page.click("text=Back to the inbox")
        assert page.locator("tr.tip.urgent").count() == 2
        shot.append(_shoot(page, "inbox", screenshots))

        # A tip: a note written, a question to the reporter drafted from a template
        page.locator("tr.tip.urgent a").first.click()
        page.fill("#note", "Наряд направлен в 14:05, дверь открыта с соседями.")
        page.click("#add-note")
        page.select_option("#template", "need-info")
        page.click("#use-template")
        shot.append(_shoot(page, "tip", screenshots, full_page=True))
        page.select_option("#new-status", "need-info")
        page.click("#queue-reply")

        # The Exchange page, with the outbox written once
        page.click("#write-outbox")
        page.click("#exchange")
        assert page.locator("#outbox-files li").count() == 1
        shot.append(_shoot(page, "exchange", screenshots))
        assert errors == []
        context.close()
    assert [p.name.split("officer-app-")[1] for p in shot] == [f"{s}.png" for s in SCREENS]

