"""The inbox's side of the in-memory index: its pages, views, counts and filters' choices.

A part of :class:`tipdrop.officer.search.SearchIndex` (which fills the
``tips`` table these read, and keeps them in memory only): every inbox page
asks for a page of tips, the counts by status, the attention counts and the
filters' choices. The counts read index entries in proportion to the tips,
so they are read once until the list changes (:meth:`InboxList._counted`):
a year of reports costs an inbox page its 50 rows (bench/officer_year.py).
"""

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from tipdrop.officer.folding import match_expression
from tipdrop.protocol.fields import STATUSES

#: Tips per inbox page.
PAGE_SIZE = 50
#: Counts kept between two changes of the list (InboxList._counted).
MAX_COUNTED = 256
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: The inbox's views (InboxList.inbox): their conditions, fixed SQL.
VIEWS = {"waiting": ("t.answered = 0",), "unread": ("t.unread > 0",)}


@dataclass(frozen=True)
class Page:
    """One page of the inbox: its tips and where it is in the whole list."""

    tips: list
    total: int
    page: int
    pages: int


class InboxList:
    """The inbox's queries over ``self.db``'s ``tips`` table (search.SearchIndex holds it).

    The index clears ``_counted_cache`` whenever the list changes.
    """

    db: sqlite3.Connection
    _counted_cache: dict

    def _require_words(self) -> None:
        raise NotImplementedError  # search.SearchIndex: the full-text index is whole

    def _counted(self, key: tuple, count: Callable):
        """``count()``, read once until the list changes (a tip listed or indexed again).

        Every inbox page shows the counts by status, the attention counts, the
        filters' choices and its list's total: each reads index entries in
        proportion to the tips, so a year's tips made every page cost more.
        They change only when the list does, and the app serialises the
        requests, so one read serves every page until then.
        """
        if key not in self._counted_cache:
            if len(self._counted_cache) >= MAX_COUNTED:  # searches' totals: a few at a time
                self._counted_cache.clear()
            self._counted_cache[key] = count()
        return self._counted_cache[key]

    def counts(self) -> dict:
        """How many tips have each status (every status, zeros included), and in all."""
        return dict(self._counted(("counts",), self._counts))

    def _counts(self) -> dict:
        found = dict(self.db.execute("SELECT status, COUNT(*) FROM tips GROUP BY status"))
        counts = {status: found.pop(status, 0) for status in STATUSES}
        counts.update(found)
        return counts | {"all": sum(counts.values())}

    def attention(self, overdue_before: str) -> dict:
        """How many tips wait for a first answer, how many of them were received before the
        day ``overdue_before`` (YYYY-MM-DD: over the unit's target), and how many have
        follow-ups not read yet. Counted from their indexes, not by reading every row."""
        return dict(self._counted(("attention", overdue_before),
                                  lambda: self._attention(overdue_before)))

    def _attention(self, overdue_before: str) -> dict:
        (waiting,), (overdue,), (unread,) = (self.db.execute(sql, args).fetchone() for sql, args in (
            ("SELECT COUNT(*) FROM tips WHERE answered = 0", []),
            ("SELECT COUNT(*) FROM tips WHERE answered = 0 AND received < ?", [overdue_before]),
            ("SELECT COUNT(*) FROM tips WHERE unread > 0", [])))
        return {"waiting": waiting, "overdue": overdue, "unread": unread}

    def choices(self, column: str) -> list:
        """The values of ``column`` (category or region) present, for the filters."""
        if column not in ("category", "region"):
            raise ValueError(column)
        # column is one of two names checked above; values are always bound parameters.
        sql = f"SELECT DISTINCT {column} FROM tips ORDER BY 1"  # noqa: S608
        return list(self._counted(("choices", column),
                                  lambda: [r[0] for r in self.db.execute(sql)]))

    def inbox(self, status: str | None = None, category: str | None = None,
              region: str | None = None, query: str | None = None, since: str | None = None,
              until: str | None = None, oldest_first: bool = False, page: int = 1,
              page_size: int = PAGE_SIZE, view: str | None = None) -> Page:
        """Tips matching the filters: urgent categories first, then the newest (or oldest).

        ``since`` and ``until`` are days (YYYY-MM-DD), both included; anything
        else is not a day and is ignored, as an empty field is. ``view``:
        ``waiting``, the tips no one has answered yet (no reply, no status
        change), the longest waiting first, urgent or not; ``unread``, the tips
        with follow-ups not read yet; anything else, every tip.
        """
        where, args = list(VIEWS.get(view or "", ())), []
        for operator, day in ((">=", since), ("<=", until)):
            if day and _DAY.fullmatch(day):
                where.append(f"t.received {operator} ?")
                args.append(day)
        for column, value in (("status", status), ("category", category), ("region", region)):
            if value:
                where.append(f"t.{column} = ?")
                args.append(value)
        expression = match_expression(query or "")
        if query and expression is None:
            return Page([], 0, 1, 1)
        if expression:
            self._require_words()  # never an empty answer for want of the index
            where.append("t.n IN (SELECT rowid FROM fulltext.words WHERE words MATCH ?)")
            args.append(expression)
        clause = " WHERE " + " AND ".join(where) if where else ""
        # The clause is built from fixed column names; every value is a bound parameter.
        sql = f"SELECT COUNT(*) FROM tips t{clause}"  # noqa: S608
        total = self._counted(("total", sql, *args),
                              lambda: self.db.execute(sql, args).fetchone()[0])
        pages = max(1, -(-total // page_size))
        page = min(max(1, page), pages)
        # Waiting the longest comes first there: the order a unit answers in.
        order = ("t.received ASC, t.id" if view == "waiting" else
                 f"t.urgent DESC, t.received {'ASC' if oldest_first else 'DESC'}, t.id")
        rows = self.db.execute(
            f"SELECT * FROM tips t{clause} ORDER BY {order} "  # noqa: S608
            "LIMIT ? OFFSET ?", [*args, page_size, (page - 1) * page_size])
        return Page([dict(r) for r in rows], total, page, pages)
