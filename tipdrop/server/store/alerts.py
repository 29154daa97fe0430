"""The counts behind duty alerts: how many reports arrived for a unit since its last alert.

A submission adds one to its unit's row for each way the unit is alerted
(``email``, ``webhook``), in the transaction that stores the report: a
report is counted exactly when it is stored, and the submission does no
more than that (no network, no waiting; docs/operations.md, "Duty alerts").
The alert sender (tipdrop/server/alerts.py) reads a row, delivers it, and
then takes away what it delivered; what arrived meanwhile stays for the
next alert. The rows hold counts only: no tip id, no category, no time.
"""

from tipdrop.common.sqlite import transaction


def count_report(db, unit, targets, urgent):
    """One more report for ``unit`` on each of ``targets``. Call inside the report's transaction."""
    for target in targets:
        db.execute(
            "INSERT INTO alerts_pending (unit, target, new, urgent) VALUES (?, ?, 1, ?) "
            "ON CONFLICT (unit, target) DO UPDATE SET new = new + 1, urgent = urgent + ?",
            [unit, target, int(bool(urgent)), int(bool(urgent))])


def pending(db, unit, target):
    """(new, urgent) not yet delivered to ``unit`` by ``target``."""
    row = db.execute("SELECT new, urgent FROM alerts_pending WHERE unit = ? AND target = ?",
                     [unit, target]).fetchone()
    return (row[0], row[1]) if row else (0, 0)


def delivered(db, unit, target, new, urgent):
    """Take away what an alert delivered; a row down to nothing goes."""
    with transaction(db):
        db.execute("UPDATE alerts_pending SET new = MAX(new - ?, 0), urgent = MAX(urgent - ?, 0) "
                   "WHERE unit = ? AND target = ?", [new, urgent, unit, target])
        db.execute("DELETE FROM alerts_pending WHERE unit = ? AND target = ? AND new = 0",
                   [unit, target])


def keep_only(db, configured):
    """Forget the counts of every (unit, target) not in ``configured`` (alerts switched off)."""
    with transaction(db):
        rows = db.execute("SELECT unit, target FROM alerts_pending").fetchall()
        for unit, target in rows:
            if (unit, target) not in configured:
                db.execute("DELETE FROM alerts_pending WHERE unit = ? AND target = ?",
                           [unit, target])
