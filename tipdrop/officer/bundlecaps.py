"""How much one bundle may bring to the workstation: a cap on its items and on each tip's follow-ups.

A follow-up (or report) of a device-sealed tip that does not open is
imported as damaged (staging.py), and making one needs no cryptography:
without a cap a hostile server, or whoever edits an export, could fill the
workstation's memory and disk and bury the real report under a million
junk follow-ups. A bundle past either cap is refused whole, with one line
(docs/officer-guide.md, docs/threat-model.md).
"""

import os

from tipdrop.errors import TipdropError
from tipdrop.protocol import forwards

#: The most records (tips, follow-ups, files) one bundle may carry: a unit's busiest
#: year with every tip's files and follow-ups, many times over.
MAX_ITEMS = 100_000
#: The setting that raises (or lowers) MAX_ITEMS, for a unit that needs it.
MAX_ITEMS_ENV = "TIPDROP_MAX_BUNDLE_ITEMS"
#: The most follow-ups one tip may have in the workspace, held and new: what a forward
#: carries at most (protocol/forwards.py); the server takes 10 a day per tip.
MAX_FOLLOWUPS_PER_TIP = forwards.MAX_FOLLOWUPS


class TooManyItemsError(TipdropError):
    """This bundle carries more than a workstation opens (it may be made to exhaust memory or bury real reports). Nothing was imported."""


def max_items():
    """MAX_ITEMS, or the positive number TIPDROP_MAX_BUNDLE_ITEMS sets."""
    value = os.environ.get(MAX_ITEMS_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else MAX_ITEMS


class Caps:
    """The counts of one pass over a bundle (staging.Reading)."""

    def __init__(self, db):
        self.db = db
        self.items = 0
        self.max_items = max_items()
        #: Tip id -> the follow-ups it would have: held, and new in this bundle so far.
        self.followups_of = {}

    def item(self):
        """Count one tip, follow-up or file record; refuse past max_items."""
        self.items += 1
        if self.items > self.max_items:
            raise TooManyItemsError(f"it carries more than {self.max_items} items (tips, "
                                    f"follow-ups, files); {MAX_ITEMS_ENV} allows more")

    def new_followup(self, tip_id):
        """Count a follow-up the workspace does not hold; refuse past MAX_FOLLOWUPS_PER_TIP."""
        count = self.followups_of.get(tip_id)
        if count is None:
            (count,) = self.db.execute("SELECT COUNT(*) FROM followups WHERE tip_id = ?",
                                       [tip_id]).fetchone()
        self.followups_of[tip_id] = count = count + 1
        if count > MAX_FOLLOWUPS_PER_TIP:
            raise TooManyItemsError(f"tip {tip_id[:8]} would have more than "
                                    f"{MAX_FOLLOWUPS_PER_TIP} follow-ups")
