"""Days, never times: the only clock tipdrop stores.
"""

import datetime


def today():
    """Stored dates are days (UTC), never times: a time of day can identify."""
    return datetime.datetime.now(datetime.UTC).date().isoformat()
