"""Public figures: how many tips per month, region, category and status.

Only what the server keeps in the clear for routing is used: region,
category, the month a tip arrived, and its status. Nothing about a single
tip is published: no tip id, no locator, no day.

The period is the 12 complete calendar months before the current one, and
each tip counts with the status it had at the end of that period (from the
unit's signed replies). The figures therefore change once a month, not
every time an officer acts, so comparing today's page with yesterday's
cannot single out one tip's status change.

Small-count suppression, and why totals cannot undo it:

* The published table has one cell per (month, region, category, status).
  A cell of 1 to 4 tips is published as "<5"; 0 is published as 0 (empty
  cells are left out of the lists).
* Every other figure (the total, per region, per status, per month ...)
  is computed from the published cells only, never from the database. A
  total that adds up no "<5" cell is exact; one that adds up any "<5" cell
  is published as a lower bound, "at least N", where N counts each "<5"
  cell as 1 (or as "<5" if it is nothing but one "<5" cell). So a total carries no information the cell table does not
  already show, and no subtraction of published figures can tell a "<5"
  cell's value. (Classic secondary suppression, hiding a further cell
  beside each lonely "<5", still leaks when the hidden cells' sum is small
  or when one population is broken down several ways; deriving everything
  from one suppressed table cannot leak by construction.) The price is
  that totals with small cells are a little low, at most 3 per "<5" cell,
  and are marked as such.
"""

import datetime
from dataclasses import dataclass

from tipdrop.protocol.fields import STATUSES
from tipdrop.server import store

#: Counts from 1 up to (not including) this are published as "<5".
THRESHOLD = 5
SMALL = "<5"
MONTHS = 12
DIMENSIONS = ("month", "region", "category", "status")


@dataclass(frozen=True)
class Count:
    """A published number: exact, or (``exact`` False) at least ``value``."""

    value: int
    exact: bool = True

    @property
    def small(self):
        """Whether this is nothing but one "<5" cell (and is shown as such)."""
        return not self.exact and self.value == 1

    def public(self):
        return {"count": SMALL if self.small else self.value, "exact": self.exact}


@dataclass(frozen=True)
class Cell:
    """One published cell: ``count`` is an int of 0 or at least 5, or "<5"."""

    month: str
    region: str
    category: str
    status: str
    count: object

    def public(self):
        return {"month": self.month, "region": self.region, "category": self.category,
                "status": self.status, "count": self.count}


def suppress(n):
    """The published form of a cell count: 1 to 4 become "<5"."""
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"a count must be a non-negative int, not {n!r}")
    return SMALL if 0 < n < THRESHOLD else n


def add_up(published):
    """Total of published cell values: exact unless a "<5" is among them."""
    published = list(published)
    small = sum(1 for value in published if value == SMALL)
    exact = sum(value for value in published if value != SMALL)
    return Count(exact + small, exact=small == 0)


def period(today):
    """The 12 complete months before ``today``'s month, oldest first, as "YYYY-MM"."""
    year, month = today.year, today.month
    months = []
    for _ in range(MONTHS):
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        months.append(f"{year:04d}-{month:02d}")
    return months[::-1]


@dataclass(frozen=True)
class Figures:
    """The published cells of one period, and totals computed from them alone."""

    months: tuple
    cells: tuple

    @property
    def as_of(self):
        """The month at whose end statuses are counted."""
        return self.months[-1]

    def _matching(self, where):
        unknown = set(where) - set(DIMENSIONS)
        if unknown:
            raise ValueError(f"unknown dimension {sorted(unknown)}")
        return (cell for cell in self.cells
                if all(getattr(cell, name) == value for name, value in where.items()))

    def total(self, **where):
        """Sum of the cells matching ``where`` (e.g. region="almaty", status="confirmed")."""
        return add_up(cell.count for cell in self._matching(where))

    def by(self, dimension, values=(), **where):
        """{value: Count} for each value of ``dimension`` (``values`` first, in order),
        over the cells matching ``where``."""
        groups = {value: [] for value in values}
        for cell in self._matching(where):
            groups.setdefault(getattr(cell, dimension), []).append(cell.count)
        return {value: add_up(counts) for value, counts in groups.items()}

    def public(self, regions=(), categories=()):
        """Everything published, as plain data (for JSON)."""
        return {
            "months": list(self.months),
            "status_as_of": self.as_of,
            "threshold": THRESHOLD,
            "cells": [cell.public() for cell in self.cells],
            "totals": {
                "all": self.total().public(),
                "month": _public(self.by("month", self.months)),
                "region": _public(self.by("region", regions)),
                "category": _public(self.by("category", categories)),
                "status": _public(self.by("status", STATUSES)),
            },
        }


def _public(counts):
    return {key: count.public() for key, count in counts.items()}


def figures(db, *, today=None):
    """The published figures for the 12 months before ``today`` (UTC today by default)."""
    today = today or datetime.datetime.now(datetime.UTC).date()
    months = period(today)
    first = f"{months[0]}-01"
    last = (datetime.date(today.year, today.month, 1) - datetime.timedelta(days=1)).isoformat()
    cells = tuple(Cell(month, region, category, status, suppress(n))
                  for month, region, category, status, n in store.stats_cells(db, first, last))
    return Figures(tuple(months), cells)
