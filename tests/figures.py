"""Seed plaintext tip rows for the public-figures tests (tipdrop.server.stats reads only
region, category, day and status; the ciphertext columns hold placeholders)."""

import json
import secrets

from tipdrop.server import store


def add_tips(db, count, *, region="almaty", category="theft", day="2026-03-14",
             statuses=()):
    """Insert ``count`` tips received on ``day``; each gets the (day, status)
    changes in ``statuses`` as replies, in order. Returns their ids."""
    ids = []
    for _ in range(count):
        tip_id = secrets.token_hex(16)
        store.insert_tip(db, {
            "id": tip_id, "unit": "demo", "key_id": "00" * 16, "region": region,
            "category": category, "received_day": day, "status": "received", "status_day": day,
            "locator": secrets.token_hex(5).upper(), "receipt_salt": b"s" * 16,
            "receipt_params": json.dumps({}), "verifier": b"v" * 32, "reply_public": b"p" * 32,
            "body": b"ciphertext", "encrypted_on": "server", "export_seq": 0,
        })
        rows = [{"tip_id": tip_id, "seq": seq, "day": when, "status": status, "body": None,
                 "signature": b"x" * 64, "key_id": "00" * 16}
                for seq, (when, status) in enumerate(statuses, 1)]
        if rows:
            store.insert_replies(db, rows, {tip_id: statuses[-1][::-1]})
        ids.append(tip_id)
    return ids
