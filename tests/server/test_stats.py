"""Public figures: aggregation, small-count suppression, and nothing about a single tip."""

import datetime
import json
import random
import re

import pytest
import sqlite_utils

from tests.figures import add_tips
from tipdrop.server import stats, store

TODAY = datetime.date(2026, 11, 28)  # the period is 2025-11 .. 2026-10


@pytest.fixture
def db():
    database = sqlite_utils.Database(memory=True)
    store.init(database)
    return database


def test_period_is_the_twelve_complete_months_before_today():
    assert stats.period(TODAY) == [f"2025-{m}" for m in ("11", "12")] + [
        f"2026-{m:02d}" for m in range(1, 11)]
    assert stats.period(datetime.date(2026, 1, 1))[-1] == "2025-12"
    assert stats.period(datetime.date(2026, 1, 1))[0] == "2025-01"


@pytest.mark.parametrize("count,published", [(0, 0), (1, "<5"), (4, "<5"), (5, 5), (1234, 1234)])
def test_counts_from_one_to_four_are_published_as_less_than_five(count, published):
    assert stats.suppress(count) == published


@pytest.mark.parametrize("count,published", [(1, "<5"), (4, "<5"), (5, 5)])
def test_suppression_is_applied_to_the_cells_of_the_published_table(db, count, published):
    add_tips(db, count, region="ulytau", category="drugs", day="2026-02-03")
    [cell] = stats.figures(db, today=TODAY).cells
    assert (cell.month, cell.region, cell.category, cell.status) == (
        "2026-02", "ulytau", "drugs", "received")
    assert cell.count == published


def test_tips_are_counted_by_month_region_category_and_status(db):
    add_tips(db, 7, region="almaty", category="theft", day="2026-03-01")
    add_tips(db, 6, region="almaty", category="theft", day="2026-03-31",
             statuses=[("2026-04-02", "in-review"), ("2026-05-10", "confirmed")])
    add_tips(db, 5, region="astana", category="fraud", day="2025-11-01",
             statuses=[("2026-01-01", "unfounded")])
    figures = stats.figures(db, today=TODAY)
    assert [c.public() for c in figures.cells] == [
        {"month": "2025-11", "region": "astana", "category": "fraud", "status": "unfounded", "count": 5},
        {"month": "2026-03", "region": "almaty", "category": "theft", "status": "confirmed", "count": 6},
        {"month": "2026-03", "region": "almaty", "category": "theft", "status": "received", "count": 7},
    ]
    assert figures.total() == stats.Count(18)
    assert figures.total(region="almaty") == stats.Count(13)
    assert figures.by("status", ["confirmed", "unfounded", "closed"]) == {
        "confirmed": stats.Count(6), "unfounded": stats.Count(5), "closed": stats.Count(0),
        "received": stats.Count(7)}


def test_only_the_period_counts_and_statuses_are_taken_at_its_end(db):
    add_tips(db, 5, day="2025-10-31")   # before the period
    add_tips(db, 5, day="2026-11-01")   # this month: not yet published
    add_tips(db, 5, day="2026-10-31", statuses=[("2026-10-31", "in-review"),
                                                ("2026-11-02", "confirmed")])
    figures = stats.figures(db, today=TODAY)
    assert [(c.month, c.status, c.count) for c in figures.cells] == [("2026-10", "in-review", 5)]
    assert figures.as_of == "2026-10"


def test_a_total_with_a_small_cell_is_a_lower_bound(db):
    add_tips(db, 10, region="almaty", day="2026-01-05")
    add_tips(db, 3, region="almaty", day="2026-01-05", statuses=[("2026-02-01", "unfounded")])
    figures = stats.figures(db, today=TODAY)
    assert figures.total(region="almaty", status="received") == stats.Count(10)
    assert figures.total(region="almaty", status="unfounded") == stats.Count(1, exact=False)
    assert figures.total(region="almaty") == stats.Count(11, exact=False)
    assert figures.public()["totals"]["all"] == {"count": 11, "exact": False}


REGIONS = ("almaty", "astana", "ulytau")
CATEGORIES = ("theft", "drugs", "fraud")
STATUSES = (None, "confirmed", "unfounded")
MONTHS = ("2026-01-15", "2026-06-15", "2026-10-15")


def _population(rng):
    """Random cells: (region, category, day, status) → count, many of them small."""
    return {(rng.choice(REGIONS), rng.choice(CATEGORIES), rng.choice(MONTHS),
             rng.choice(STATUSES)): rng.choice([1, 2, 3, 4, 5, 6, 9, 20])
            for _ in range(rng.randint(1, 12))}


def _published(population):
    db = sqlite_utils.Database(memory=True)
    store.init(db)
    for (region, category, day, status), count in population.items():
        add_tips(db, count, region=region, category=category, day=day,
                 statuses=[("2026-10-20", status)] if status else ())
    figures = stats.figures(db, today=TODAY)
    return json.dumps(figures.public(regions=REGIONS, categories=CATEGORIES), sort_keys=True)


@pytest.mark.parametrize("seed", range(12))
def test_no_published_figure_tells_a_small_cell_from_another(seed):
    # Given a population, and a second one where every cell of 1 to 4 tips
    # has another count from 1 to 4 (all other cells the same)
    rng = random.Random(seed)
    first = _population(rng)
    second = {key: rng.randint(1, 4) if n < 5 else n for key, n in first.items()}
    # Then everything published, cells and every total, is identical: no
    # subtraction of published figures can recover a small cell
    assert _published(first) == _published(second)


def test_a_lonely_small_cell_cannot_be_recovered_from_the_totals(db):
    # Given a region with 40 confirmed tips and 1 unfounded one
    add_tips(db, 40, region="ulytau", day="2026-05-05", statuses=[("2026-06-01", "confirmed")])
    add_tips(db, 1, region="ulytau", day="2026-05-05", statuses=[("2026-06-01", "unfounded")])
    doc = stats.figures(db, today=TODAY).public(regions=["ulytau"])
    # Then neither the region total nor the grand total is the exact 41
    assert doc["totals"]["region"]["ulytau"] == {"count": 41, "exact": False}
    assert doc["totals"]["all"] == {"count": 41, "exact": False}
    assert doc["totals"]["status"]["unfounded"] == {"count": "<5", "exact": False}
    assert '"count": 41, "exact": true' not in json.dumps(doc)


def test_nothing_published_is_about_a_single_tip(db):
    ids = add_tips(db, 6, region="astana", day="2026-04-17", statuses=[("2026-05-03", "closed")])
    ids += add_tips(db, 2, region="astana", day="2026-04-18")
    locators = [row["locator"] for row in db["tips"].rows]
    text = json.dumps(stats.figures(db, today=TODAY).public())
    assert not any(tip_id in text for tip_id in ids)
    assert not any(locator in text for locator in locators)
    assert re.search(r"\d{4}-\d{2}-\d{2}", text) is None  # months only, never a day
