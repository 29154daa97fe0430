"""The check page shows the report's history as a timeline, in the reporter's language."""

import re

import pytest

from tests.server.web.conftest import find
from tipdrop.common import sqlite
from tipdrop.crypto import envelope, keys
from tipdrop.protocol import bundles
from tipdrop.server import exchange
from tipdrop.server.web import i18n

#: (day, status, message) as the unit signs them; status-only changes have no message.
HISTORY = [
    ("2026-11-02", "in-review", ""),
    ("2026-11-03", "need-info", "В какой день это было? / Which day was it?"),
    ("2026-11-05", "in-review", ""),
    ("2026-11-09", "confirmed", "Задержан подозреваемый. Рахмет! A suspect was detained."),
]


def _sign_history(tip, unit_key):
    replies = []
    for seq, (day, status, message) in enumerate(HISTORY, 1):
        body = b""
        if message:
            body = envelope.seal(message.encode(), keys.reply_recipient(tip["reply_public"]),
                                 kind="reply", tip_id=tip["id"], part=f"r{seq}")
        replies.append(bundles.sign_reply(unit_key.ed25519, unit_key.unit, unit_key.key_id,
                                          tip_id=tip["id"], seq=seq, day=day, status=status,
                                          body=body))
    return bundles.make_reply_bundle(unit_key.ed25519, unit_key.unit, unit_key.key_id,
                                     HISTORY[-1][0], replies)


@pytest.fixture
def answered(app, submit, unit_key):
    """A submitted report whose unit replied four times; returns (receipt, tip row)."""
    receipt = find(r'id="receipt">([^<]+)<', submit().text)
    db = sqlite.connect(app.config["TIPDROP"].database_path)
    [tip] = list(db["tips"].rows)
    exchange.import_replies(db, app.extensions["tipdrop"]["unit_keys"], _sign_history(tip, unit_key))
    db.close()
    return receipt, tip


def _events(page):
    """(status, day, label, message or None, current?) of each timeline entry, in order."""
    timeline = find(r'<ol class="timeline" id="timeline">(.*?)</ol>', page)
    found = []
    for attrs, body in re.findall(r"<li ([^>]*)>(.*?)</li>", timeline, re.S):
        message = re.search(r'<p class="message">(.*?)</p>', body, re.S)
        found.append((
            re.search(r'data-status="([^"]+)"', attrs).group(1),
            re.search(r"<time[^>]*>([^<]+)</time>", body).group(1),
            re.search(r'<span class="label">([^<]+)</span>', body).group(1),
            message.group(1) if message else None,
            'aria-current="step"' in attrs,
        ))
    return found


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_timeline_lists_every_signed_status_change_in_order_in_the_language(app, answered, check,
                                                                           lang):
    receipt, tip = answered
    page = check(receipt, lang=lang).text
    with app.test_request_context(f"/?lang={lang}"):
        label = {status: i18n.status_label(status)
                 for status in ("received", "in-review", "need-info", "confirmed")}
    if lang != "en":
        assert label["confirmed"] != "Confirmed" and label["need-info"] != "Information needed"

    events = _events(page)

    # The report arriving comes first, then each of the unit's changes, the last one current
    assert events == [
        ("received", tip["received_day"], label["received"], None, False),
        ("in-review", "2026-11-02", label["in-review"], None, False),
        ("need-info", "2026-11-03", label["need-info"], HISTORY[1][2], False),
        ("in-review", "2026-11-05", label["in-review"], None, False),
        ("confirmed", "2026-11-09", label["confirmed"], HISTORY[3][2], True),
    ]
    assert f'<html lang="{lang}">' in page
    assert 'data-status="confirmed"' in find(r'(<strong id="status"[^>]*>)', page)


def test_a_new_report_has_one_entry_received_and_current(submit, check):
    receipt = find(r'id="receipt">([^<]+)<', submit().text)
    events = _events(check(receipt, lang="ru").text)
    assert len(events) == 1
    status, _day, label, message, current = events[0]
    assert (status, label, message, current) == ("received", "Получено", None, True)


def test_a_reply_planted_in_the_database_without_the_units_signature_is_not_shown(
        app, answered, check):
    receipt, tip = answered
    db = sqlite.connect(app.config["TIPDROP"].database_path)
    db["replies"].insert({"tip_id": tip["id"], "seq": 5, "day": "2026-11-10", "status": "closed",
                          "body": None, "signature": b"\x00" * 64,
                          "key_id": app.extensions["tipdrop"]["unit_keys"].current("demo").key_id.hex()})
    db.close()
    events = _events(check(receipt, lang="en").text)
    assert [e[0] for e in events] == ["received", "in-review", "need-info", "in-review", "confirmed"]
