"""/stats, /stats.csv and /api/v1/stats: the same suppressed figures, in kk/ru/en."""

import csv
import datetime
import io
import re

import pytest

from tests.figures import add_tips
from tipdrop.common import sqlite
from tipdrop.server import stats

MONTHS = stats.period(datetime.datetime.now(datetime.UTC).date())


@pytest.fixture
def seeded(app):
    """Almaty: 12 confirmed and 3 unfounded theft tips; Astana: 6 received fraud tips."""
    db = sqlite.connect(app.config["TIPDROP"].database_path)
    add_tips(db, 12, region="almaty", category="theft", day=f"{MONTHS[3]}-10",
             statuses=[(f"{MONTHS[4]}-01", "confirmed")])
    add_tips(db, 3, region="almaty", category="theft", day=f"{MONTHS[3]}-11",
             statuses=[(f"{MONTHS[4]}-02", "unfounded")])
    ids = add_tips(db, 6, region="astana", category="fraud", day=f"{MONTHS[-1]}-20")
    db.close()
    return ids


def _cells(text):
    return re.findall(r"<td class=\"num\"[^>]*>([^<]*)</td>", text)


@pytest.mark.parametrize("lang,region,confirmed,heading", [
    ("en", "Almaty", "Confirmed", "Public figures"),
    ("ru", "Алматы", "Подтверждено", None),
    ("kk", "Алматы", None, None),
])
def test_page_shows_the_figures_in_the_readers_language(client, seeded, lang, region, confirmed,
                                                        heading):
    page = client.get(f"/stats?lang={lang}")
    assert page.status_code == 200
    assert f'<html lang="{lang}">' in page.text
    row = re.search(rf'<tr><th scope="row">{region}</th>(.*?)</tr>', page.text).group(1)
    assert _cells(row)[1] == "12"  # confirmed
    assert "&lt;5" in _cells(row)[2]  # 3 unfounded
    if confirmed:
        assert confirmed in page.text
    if heading:
        assert f"<h1>{heading}</h1>" in page.text


def test_page_shows_small_counts_as_less_than_five_and_totals_with_them_as_lower_bounds(client, seeded):
    page = client.get("/stats?lang=en").text
    row = re.search(r'<tr><th scope="row">Almaty</th>(.*?)</tr>', page).group(1)
    assert _cells(row) == ["at least 13", "12", "&lt;5"]
    assert re.search(r'id="total">at least 19<', page)
    assert ">15<" not in page and ">21<" not in page  # the exact totals are never shown


def test_page_has_accessible_svg_charts_and_no_script_or_external_resource(client, seeded):
    page = client.get("/stats?lang=ru").text
    charts = re.findall(r'<svg class="bars" role="img" aria-labelledby="([^"]+)"', page)
    assert len(charts) == 4
    for labels in charts:
        for label in labels.split():
            assert f'id="{label}"' in page
    assert page.count("<title id=") == 4 and page.count("<desc id=") == 4
    assert page.count("<table>") == 5
    assert "<script" not in page and "style=" not in page and "<style" not in page
    page = page.replace('href="https://www.google.com/"', "")  # the quick exit: a plain link
    assert "http://" not in page and "https://" not in page


def test_footer_links_to_the_figures(client):
    assert 'href="/stats?lang=kk"' in client.get("/?lang=kk").text


def test_csv_is_an_attachment_excel_reads_as_utf8_with_small_counts_as_text(client, seeded):
    response = client.get("/stats.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0] == ["month", "region", "category", "status", "count"]
    assert sorted(rows[1:]) == sorted([
        [MONTHS[3], "almaty", "theft", "confirmed", "12"],
        [MONTHS[3], "almaty", "theft", "unfounded", "<5"],
        [MONTHS[-1], "astana", "fraud", "received", "6"],
    ])


def test_json_has_the_same_figures_and_names_in_the_language(client, seeded):
    doc = client.get("/api/v1/stats?lang=kk").get_json()
    assert doc["months"] == MONTHS and doc["status_as_of"] == MONTHS[-1]
    assert {"month": MONTHS[3], "region": "almaty", "category": "theft", "status": "unfounded",
            "count": "<5"} in doc["cells"]
    assert doc["totals"]["region"]["astana"] == {"count": 6, "exact": True}
    assert doc["totals"]["region"]["shymkent"] == {"count": 0, "exact": True}
    assert doc["totals"]["status"]["unfounded"] == {"count": "<5", "exact": False}
    assert doc["names"]["status"]["received"] == "Қабылданды"


def test_nothing_about_a_single_tip_is_published(client, seeded):
    for path in ("/stats?lang=en", "/stats.csv", "/api/v1/stats"):
        text = client.get(path).get_data(as_text=True)
        assert not any(tip_id in text for tip_id in seeded)
        assert re.search(r"\d{4}-\d{2}-\d{2}", text) is None


def test_empty_figures_render(client):
    assert client.get("/stats?lang=en").status_code == 200
    assert client.get("/api/v1/stats").get_json()["cells"] == []


def test_regions_and_equal_bars_follow_the_kazakh_alphabet_not_code_points(tmp_path, keys_dir):
    import json

    from tipdrop.server.web import create_app

    # Қ (U+049B) sorts after every Russian letter by code point; in Kazakh it follows К.
    (keys_dir / "routing.json").write_text(json.dumps({"version": 1, "regions": {
        "astana": "demo", "almaty": "demo", "aktobe": "demo", "kostanay": "demo"}}))
    app = create_app({"data_dir": tmp_path / "instance", "keys_dir": keys_dir})
    page = app.test_client().get("/stats?lang=kk").text
    table = page[page.index('id="regions"'):]
    rows = re.findall(r'<th scope="row">([^<]+)</th>', table)[:4]
    assert rows == ["Ақтөбе облысы", "Алматы", "Астана", "Қостанай облысы"]
    chart = page[page.index('id="chart-region"'):page.index("</figure>", page.index('id="chart-region"'))]
    labels = re.findall(r'<text class="label"[^>]*>([^<]+)</text>', chart)
    assert labels == ["Ақтөбе облысы", "Алматы", "Астана", "Қостанай облысы"]
