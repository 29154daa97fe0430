"""Replacing a damaged copy with an intact one, when an export brings it (``officer reopen``).

The workspace keeps an item it could not read (sealed on a reporter's
device) marked damaged, and never acknowledges it: the server keeps its
copy. A later export may bring that item intact (the damage was done on the
server or on the way). staging.py stages such a copy like any new item, so
it passes every check a new item passes, bindings included, and marks it
with :data:`REPLACES`; here it is taken out of the new rows and written over
the damaged copy, in the import's transaction.
"""

from pathlib import Path

#: Marks a staged row that is an intact copy of an item the workspace holds damaged.
REPLACES = "_replaces"


def take_replacements(staged, item_lists: tuple) -> dict:
    """Move the intact copies of items held damaged out of the lists of new rows.

    A copy the binding check marked damaged (provenance.py) replaces
    nothing: its staged file is dropped and the damaged copy stays.
    """
    replacing, dropped = {}, set()
    for name in item_lists:
        kept: list[dict] = []
        copies: list[dict] = []
        for row in getattr(staged, name):
            (copies if row.pop(REPLACES, False) else kept).append(row)
        setattr(staged, name, kept)
        dropped |= {r["blob"] for r in copies if r["damaged"] and "blob" in r}
        replacing[name] = [r for r in copies if not r["damaged"]]
    for tmp, final in staged.files:
        if Path(final).name in dropped:
            Path(tmp).unlink(missing_ok=True)
    staged.files = [(tmp, final) for tmp, final in staged.files
                    if Path(final).name not in dropped]
    return replacing


def replace_damaged(db, replacing: dict, load=lambda value: value) -> list:
    """Write the intact copies over the damaged ones; return the old files' names.

    ``load`` gives an envelope from what its row holds (staging.py keeps a
    ref into its spill there, spill.py).

    A tip keeps what the workspace did with it (status, replies, notes); its
    report, key and the server's metadata are the new copy's. Who sealed an
    item (``encrypted_on``) stays as first recorded: only a device's item is
    ever held damaged, and a later copy must not change that claim. The
    checks were those of any new item (staging.Reading), the bindings
    included.
    """
    for row in replacing["tips"]:
        db.execute("UPDATE tips SET key_id = ?, region = ?, category = ?, server_region = ?, "
                   "server_category = ?, body = ?, damaged = NULL "
                   "WHERE id = ? AND damaged IS NOT NULL",
                   [row["key_id"], row["region"], row["category"], row["server_region"],
                    row["server_category"], load(row["body"]), row["id"]])
    for row in replacing["followups"]:
        db.execute("UPDATE followups SET body = ?, received_day = ?, read = 0, damaged = NULL "
                   "WHERE tip_id = ? AND seq = ? AND damaged IS NOT NULL",
                   [load(row["body"]), row["received_day"], row["tip_id"], row["seq"]])
    old = []
    for row in replacing["attachments"]:
        (before,) = db.execute("SELECT blob FROM attachments WHERE tip_id = ? AND part = ?",
                               [row["tip_id"], row["part"]]).fetchone()
        old.append(before)
        db.execute("UPDATE attachments SET info = ?, size = ?, blob = ?, damaged = NULL "
                   "WHERE tip_id = ? AND part = ?",
                   [load(row["info"]), row["size"], row["blob"], row["tip_id"], row["part"]])
    return old
