"""What an export acknowledgement tells the server, item by item, whatever its version.

A version-1 acknowledgement names its items; a compact one (version 2) names
runs of exports and the items of them not held, which mean something only
against the server's own record of what each export first carried. Tests
that ask "is this item acknowledged?" ask it here, against the server's
database read directly (no tipdrop code in between).
"""

import json


def acknowledged(data, db):
    """{"tips": [...], "followups": [[tip, seq]...], "attachments": [[tip, part]...]}, sorted."""
    doc = json.loads(data)
    if doc["version"] == 1:
        return {name: doc[name] for name in ("tips", "followups", "attachments")}
    runs = " OR ".join("export_seq BETWEEN ? AND ?" for _ in doc["exports"])
    bounds = [n for first, last, _ in doc["exports"] for n in (first, last)]
    tips = [row[0] for row in db.execute(
        f"SELECT id FROM tips WHERE unit = ? AND ({runs})", [doc["unit"], *bounds])]
    followups = [list(row) for row in db.execute(
        f"SELECT tip_id, seq FROM followups WHERE tip_id IN (SELECT id FROM tips WHERE unit = ?) "
        f"AND ({runs})", [doc["unit"], *bounds])]
    attachments = [list(row) for row in db.execute(
        f"SELECT tip_id, part FROM attachments WHERE tip_id IN (SELECT id FROM tips WHERE "
        f"unit = ?) AND ({runs})", [doc["unit"], *bounds])]
    return {"tips": sorted(set(tips) - set(doc["except_tips"])),
            "followups": sorted(f for f in followups if f not in doc["except_followups"]),
            "attachments": sorted(a for a in attachments if a not in doc["except_attachments"])}
