"""Duty alerts at submission: what counting a report for its unit's alerts costs.

A submission of a unit with alerts adds one upsert per way of alerting
(e-mail, webhook) to the transaction that stores the report
(tipdrop/server/store/alerts.py); the sending happens in another process.
Measured in one run, alternating: the same reports submitted through
``Tips.submit`` (Argon2id with the real parameters, HPKE, the durable
transaction) to a unit with both ways of alerting and to one without, and
the store's transaction alone, with and without the counting.

    python -m bench.alerts [REPORTS]
"""

import json
import sys
import tempfile
import time
from pathlib import Path


def _setup(folder):
    from tipdrop.common import sqlite
    from tipdrop.crypto import keys
    from tipdrop.protocol.routing import Routing
    from tipdrop.server import alertconfig, store
    from tipdrop.server.tips import Tips
    from tipdrop.server.unitkeys import UnitKeys

    alerted, quiet = keys.generate("alerted"), keys.generate("quiet")
    routing = Routing({"astana": "alerted", "almaty": "quiet"})
    config = alertconfig.AlertConfig({"alerted": alertconfig.UnitAlerts(
        unit="alerted", interval=900, jitter=120, urgent=frozenset({"child-in-danger"}),
        email=("duty@example.kz",),
        webhook=alertconfig.Webhook("https://duty.example.kz/", Path("/nonexistent")))})
    db = sqlite.connect(Path(folder) / "tipdrop.db")
    store.init(db)
    tips = Tips(db, UnitKeys([alerted.public, quiet.public]), routing,
                Path(folder) / "attachments", alerts=config)
    return db, tips


def _submit(tips, region):
    from tipdrop.protocol.report import Report

    draft = tips.start(region=region)
    tips.submit(draft, Report.build(region=region, category="child-in-danger",
                                    description="x" * 600))


def _insert(db, n, alert):
    from tipdrop.server import store

    store.insert_tip(db, {
        "id": f"{n:032x}", "unit": "alerted", "key_id": "00" * 16, "region": "astana",
        "category": "theft", "received_day": "2026-12-06", "status": "received",
        "status_day": "2026-12-06", "locator": f"L{n:09d}", "receipt_salt": b"s" * 16,
        "receipt_params": "{}", "verifier": b"v" * 32, "reply_public": b"r" * 32,
        "body": b"b" * 2048, "encrypted_on": "server", "export_seq": 0,
    }, alert=alert)


def measure(reports=60):
    """Seconds per submission, alerted vs not, and of the store's transaction alone."""
    with tempfile.TemporaryDirectory() as folder:
        db, tips = _setup(folder)
        timing = {"alerted": 0.0, "quiet": 0.0, "insert_alert": 0.0, "insert_plain": 0.0}
        for _ in range(reports):
            # Alternate, so both sides see the same machine at the same moment.
            for name, region in (("alerted", "astana"), ("quiet", "almaty")):
                start = time.perf_counter()
                _submit(tips, region)
                timing[name] += time.perf_counter() - start
        for i in range(reports * 5):
            for name, alert in (("insert_alert", (("email", "webhook"), False)),
                                ("insert_plain", None)):
                start = time.perf_counter()
                _insert(db, i * 2 + (name == "insert_plain") + 10**6, alert)
                timing[name] += time.perf_counter() - start
        counted = db.execute("SELECT SUM(new) FROM alerts_pending").fetchone()[0]
        db.close()
    assert counted == reports * 2 + reports * 5 * 2
    return {
        "alert_submit_ms": timing["alerted"] / reports * 1000,
        "alert_submit_ratio": timing["alerted"] / timing["quiet"],
        "alert_insert_ms": timing["insert_alert"] / (reports * 5) * 1000,
        "alert_insert_ratio": timing["insert_alert"] / timing["insert_plain"],
    }


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 60), indent=2))
