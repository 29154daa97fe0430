"""Public figures for everyone (lawmakers, journalists): /stats, /stats.csv, /api/v1/stats.

All numbers come from tipdrop.server.stats, which applies the small-count
suppression; this module only names, formats and draws them. The charts are
inline SVG drawn on the server (no JavaScript, no inline styles), each with
a title, a description and a table of the same numbers.
"""

import csv
import datetime
import io
import textwrap
import time

from flask import Blueprint, Response, current_app, render_template
from flask_babel import format_date, gettext

from tipdrop.common import collation
from tipdrop.protocol.fields import STATUSES
from tipdrop.server import stats
from tipdrop.server.web.context import extension, get_db
from tipdrop.server.web.i18n import current_language, status_label

bp = Blueprint("stats", __name__)

#: Figures change once a month; recomputing them at most this often keeps
#: a busy public page from costing a database scan per visit.
CACHE_SECONDS = 600
_cache: dict = {}


def current_figures():
    settings = current_app.config["TIPDROP"]
    today = datetime.datetime.now(datetime.UTC).date()
    key = (str(settings.database_path), today)
    cached = _cache.get(key)
    if cached is None or time.monotonic() - cached[0] > CACHE_SECONDS:
        cached = (time.monotonic(), stats.figures(get_db(), today=today))
        _cache.clear()
        _cache[key] = cached
    return cached[1]


def _names(lang):
    routing = extension("routing")
    return ({r.code: r.name(lang) for r in routing.all_regions},
            {c.code: c.name(lang) for c in routing.categories})


def _served():
    """Regions some unit serves: listed even with no tips (0 is worth showing)."""
    return [r.code for r in extension("routing").regions]


def _month_name(month, form="LLLL y"):
    year, number = (int(part) for part in month.split("-"))
    return format_date(datetime.date(year, number, 1), form)


def shown(count):
    """A Count as text: "1234", or "at least 1234" when small cells are in it."""
    if count.exact:
        return str(count.value)
    if count.small:
        return stats.SMALL
    return gettext("at least %(num)s", num=count.value)


#: SVG text does not wrap: labels are cut into lines that fit a phone.
LABEL_CHARS = 34
LINE = 18
BAR = 16


def bars(rows):
    """Rows of (label, Count) → what the chart macro draws: label lines with
    their y, the bar's y and width (percent of the chart), and the chart's height."""
    top = max((count.value for _, count in rows), default=0) or 1
    drawn, y = [], 0
    for label, count in rows:
        lines = textwrap.wrap(label, LABEL_CHARS) or [""]
        drawn.append({
            "label": label, "lines": [(y + LINE * (i + 1) - 3, line) for i, line in enumerate(lines)],
            "bar_y": y + LINE * len(lines) + 4, "text": shown(count), "number": count.value,
            "exact": count.exact, "small": count.small,
            "width": round(70 * count.value / top, 2),
        })
        y += LINE * len(lines) + BAR + 12
    return {"rows": drawn, "height": y}


def _by_value(counts, names):
    """Largest first; equal counts in the page language's alphabetical order."""
    lang = current_language()
    return sorted(((names.get(code, code), count) for code, count in counts.items()),
                  key=lambda row: (-row[1].value, collation.sort_key(row[0], lang)))


@bp.get("/stats")
def page():
    figures = current_figures()
    regions, categories = _names(current_language())
    per_region = figures.by("region", _served())
    confirmed = figures.by("region", per_region, status="confirmed")
    unfounded = figures.by("region", per_region, status="unfounded")
    # The table is for looking a region up: in the alphabet's order.
    lang = current_language()
    region_rows = [
        {"name": regions.get(code, code), "total": shown(count),
         "confirmed": shown(confirmed[code]), "unfounded": shown(unfounded[code])}
        for code, count in sorted(per_region.items(), key=lambda item: collation.sort_key(
            regions.get(item[0], item[0]), lang))
    ]
    charts = {
        "month": bars([(_month_name(m, "LLL y"), c)
                       for m, c in figures.by("month", figures.months).items()]),
        "region": bars(_by_value(per_region, regions)),
        "status": bars([(status_label(s), c) for s, c in figures.by("status", STATUSES).items()]),
        "category": bars(_by_value(figures.by("category", list(categories)), categories)),
    }
    return render_template(
        "stats.html", charts=charts, region_rows=region_rows, total=shown(figures.total()),
        first=_month_name(figures.months[0]), last=_month_name(figures.months[-1]),
        threshold=stats.THRESHOLD,
    )


@bp.get("/stats.csv")
def csv_download():
    figures = current_figures()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(stats.DIMENSIONS + ("count",))
    for cell in figures.cells:
        writer.writerow([cell.month, cell.region, cell.category, cell.status, cell.count])
    name = f"tipdrop-figures-{figures.months[0]}-to-{figures.months[-1]}.csv"
    # The BOM makes Excel read the file as UTF-8 (region names are Cyrillic elsewhere).
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/api/v1/stats")
def api():
    figures = current_figures()
    regions, categories = _names(current_language())
    doc = figures.public(regions=_served(),
                         categories=list(categories))
    doc["language"] = current_language()
    doc["names"] = {"region": regions, "category": categories,
                    "status": {s: status_label(s) for s in STATUSES}}
    return doc
