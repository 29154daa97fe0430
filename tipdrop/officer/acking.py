"""What the workspace tells the server it holds: export acknowledgements.

Each export the workspace opens leaves a row in its ``held`` table: the
items it now holds from that export, and, from a server that chains its
exports (docs/protocol.md section 11), the export's id and chain value and
the items it carried that the workspace could not take (damaged, or a tip
another workspace already holds). From those rows :func:`pending_ack` signs
one acknowledgement:

- **compact** (version 2) when every export it covers has a chain value:
  runs of consecutive exports, each run checked link by link against the
  chain values its bundles carried, plus the items of those exports not
  held. Its size depends on the runs and those items, never on how many
  items the exports carried.
- **item by item** (version 1) otherwise, for exports from an older server.

An item carried but not held at first and held later (an intact copy
brought by a later export, ``officer reopen``) makes its export's
acknowledgement pending again, so the server hears of it.
"""

import json

from tipdrop.common.days import today
from tipdrop.errors import InputError
from tipdrop.protocol import acks

ITEM_LISTS = ("tips", "followups", "attachments")


def migrate(db):
    """Add the columns compact acknowledgements need to an older workspace's ``held``."""
    columns = db["held"].columns_dict
    for name, kind in (("export_id", "TEXT"), ("previous_chain", "TEXT"), ("chain", "TEXT"),
                       ("missing", "TEXT")):
        if name not in columns:
            db.execute(f"ALTER TABLE held ADD COLUMN {name} {kind}")


def _keys(items):
    """{list name: set of item keys} from a held row's JSON (keys are tuples or tip ids)."""
    return {name: {tuple(i) if isinstance(i, list) else i for i in items.get(name, ())}
            for name in ITEM_LISTS}


def _dump(keys):
    return json.dumps({name: sorted(keys[name]) for name in ITEM_LISTS})


def record_held(db, export_seq, held, *, export_id=None, previous_chain=None, chain=None,
                carried=None):
    """Remember what an export gave us (inside the import's transaction).

    ``export_id`` and the chain values (bytes) come from the bundle's header,
    checked against the items read (bundlechecks.check_chain), when the server chains its
    exports; ``carried`` is every item the bundle named, so that what it
    carried and the workspace does not hold can be named as not held.
    """
    if chain is None and not any(held.values()):
        return
    row = db.execute("SELECT items, chain, missing, export_id, previous_chain FROM held "
                     "WHERE export_seq = ?", [export_seq]).fetchone()
    items = {name: set(held[name]) for name in ITEM_LISTS}
    carried = carried or {name: set() for name in ITEM_LISTS}
    missing = {name: set(carried[name]) - items[name] for name in ITEM_LISTS}
    if row and chain is None and row[1]:
        # Never forget a chain held (opening.py refuses an unchained export once
        # the workspace holds a chained one; an older bundle reopened keeps it).
        export_id, previous_chain, chain = (bytes.fromhex(v) for v in (row[3], row[4], row[1]))
    if row:  # the same number again (a restored server, or reopen): keep both lists
        before = _keys(json.loads(row[0]))
        items = {name: items[name] | before[name] for name in ITEM_LISTS}
        if chain is not None and row[1] == chain.hex() and row[2]:
            earlier = _keys(json.loads(row[2]))
            missing = {name: missing[name] | earlier[name] for name in ITEM_LISTS}
    missing = {name: missing[name] - items[name] for name in ITEM_LISTS}
    # An export that carried nothing (a pull with nothing new) has nothing to
    # acknowledge; it is kept so that the runs around it stay one run.
    empty = not any(items.values()) and not any(missing.values())
    db.execute("INSERT OR REPLACE INTO held (export_seq, items, day, acked_day, export_id, "
               "previous_chain, chain, missing) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               [export_seq, _dump(items), today(), today() if empty else None] + [
                   value.hex() if value else None
                   for value in (export_id, previous_chain, chain)] + [_dump(missing)])
    _reopen_acknowledged(db, export_seq, items)


def _reopen_acknowledged(db, export_seq, items):
    """Exports already acknowledged without an item that is held now become pending again."""
    for seq, text in list(db.execute(
            "SELECT export_seq, missing FROM held WHERE export_seq != ? AND acked_day IS NOT "
            "NULL AND missing IS NOT NULL AND missing != ?", [export_seq, _dump(_empty())])):
        missing = _keys(json.loads(text))
        if any(missing[name] & items[name] for name in ITEM_LISTS):
            db.execute("UPDATE held SET acked_day = NULL WHERE export_seq = ?", [seq])


def _empty():
    return {name: set() for name in ITEM_LISTS}


def pending_ack(db, keyring, everything=False):
    """One signed acknowledgement of the exports opened and not yet acknowledged.

    With ``everything``, exports already acknowledged are named again (a lost
    acknowledgement file), and so are those the server refused. Returns
    (bytes, export numbers); nothing is marked here. A compact one covers at
    most acks.MAX_RANGES runs and acks.MAX_EXCEPT items not held: exports
    beyond stay pending for the next acknowledgement.
    """
    rows = list(db.execute(
        "SELECT export_seq, items, chain, previous_chain, missing, acked_day IS NULL AND "
        "ack_refused IS NULL FROM held ORDER BY export_seq"))
    empty = {row[0] for row in rows if row[2] and row[1] == row[4] == _dump(_empty())}
    due = [row for row in rows if (everything or row[5]) and row[0] not in empty]
    if not due:
        raise InputError("every opened export is already acknowledged; nothing to write "
                         "(--all writes them all again)")
    unit_key = keyring.signing_key
    if any(row[2] is None for row in due):
        return _by_item(unit_key, due)
    # Exports that carried nothing join the runs: a run goes on across them.
    return _compact(db, unit_key, [row for row in rows if row in due or row[0] in empty],
                    {row[0] for row in due})


def _by_item(unit_key, rows):
    """Version 1: every item held from these exports, under the newest number."""
    items = _empty()
    for _, text, *_ in rows:
        for name, values in _keys(json.loads(text)).items():
            items[name] |= values
    ack = acks.sign_ack(unit_key.ed25519, unit_key.unit, unit_key.key_id,
                        export_seq=rows[-1][0], **items)
    return acks.dumps(ack), [row[0] for row in rows]


def _compact(db, unit_key, rows, due):
    """Version 2: runs of consecutive chained exports, and what they carried not held.

    An export continues the run before it when its header's previous chain
    value is that export's chain value: the server's own check of the run's
    last value then covers every export of the run. ``rows`` may hold
    exports that carried nothing, so that a run goes on across them; a run
    with no export of ``due`` (numbers) in it is left out.
    """
    runs = []  # [first, last, chain of last, [numbers], not held]
    held_anywhere = None
    for seq, _, chain, previous, missing, _ in rows:
        not_held = _keys(json.loads(missing)) if missing else _empty()
        if any(not_held.values()):
            if held_anywhere is None:
                held_anywhere = _all_held(db)
            not_held = {name: not_held[name] - held_anywhere[name] for name in ITEM_LISTS}
        if runs and runs[-1][1] == seq - 1 and runs[-1][2].hex() == previous:
            run = runs[-1]
            run[1:3] = [seq, bytes.fromhex(chain)]
        else:
            run = [seq, seq, bytes.fromhex(chain), [], _empty()]
            runs.append(run)
        run[3].append(seq)
        run[4] = {name: run[4][name] | not_held[name] for name in ITEM_LISTS}
    chosen, numbers, excepted = [], [], _empty()
    for first, last, chain, seqs, not_held in runs:
        if not due.intersection(seqs):
            continue
        more = {name: excepted[name] | not_held[name] for name in ITEM_LISTS}
        if len(chosen) == acks.MAX_RANGES or sum(map(len, more.values())) > acks.MAX_EXCEPT:
            break  # the rest waits for the next acknowledgement
        chosen.append((first, last, chain))
        numbers += seqs
        excepted = more
    if not chosen:
        raise InputError(f"the first exports to acknowledge carried more than {acks.MAX_EXCEPT} "
                         "items this workspace does not hold; reopen them first")
    ack = acks.sign_range_ack(unit_key.ed25519, unit_key.unit, unit_key.key_id, ranges=chosen,
                              except_tips=excepted["tips"],
                              except_followups=excepted["followups"],
                              except_attachments=excepted["attachments"])
    return acks.dumps(ack), numbers


def _all_held(db):
    """Every item the workspace holds from any export."""
    held = _empty()
    for (text,) in db.execute("SELECT items FROM held"):
        for name, values in _keys(json.loads(text)).items():
            held[name] |= values
    return held
