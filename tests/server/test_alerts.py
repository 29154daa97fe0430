"""Duty alerts on the server: alerts.json, the counts a submission leaves, the sender's turns.

The sender runs here with its clock, its random draw and its delivery as
parameters (tipdrop/server/alerts.py), over a real SQLite database; the real
network and processes are in tests/e2e/test_duty_alerts.py.
"""

import json
import logging
import os
import threading

import pytest

from tipdrop.common import sqlite
from tipdrop.crypto import kdf
from tipdrop.errors import ConfigError, ReportAlreadySentError
from tipdrop.protocol.alerts import Alert
from tipdrop.protocol.report import Report
from tipdrop.protocol.routing import Routing
from tipdrop.server import alertconfig, alertdelivery, store
from tipdrop.server.alerts import Sender, hold_lock, jitter_draw, retry_delay
from tipdrop.server.settings import Settings
from tipdrop.server.store import alerts as pending_alerts
from tipdrop.server.tips import Tips
from tipdrop.server.unitkeys import UnitKeys
from tipdrop.server.web.tokens import FormUse

ROUTES = {"astana": "test-unit", "almaty": "other-unit"}
SECRET = "s" * 40


@pytest.fixture
def folders(tmp_path, unit_key, other_unit_key):
    keys_dir, secrets = tmp_path / "keys", tmp_path / "secrets"
    keys_dir.mkdir()
    secrets.mkdir()
    (keys_dir / "test-unit.pub").write_bytes(unit_key.public.to_json())
    (keys_dir / "other-unit.pub").write_bytes(other_unit_key.public.to_json())
    (keys_dir / "routing.json").write_text(json.dumps({"version": 1, "regions": ROUTES}))
    secret = secrets / "hook"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    password = secrets / "smtp"
    password.write_text("mail-password\n")
    password.chmod(0o600)
    return keys_dir, secrets


def _config(**changes):
    doc = {"version": 1, "interval": 600, "jitter": 60,
           "smtp": {"host": "mail.example.kz", "username": "tipdrop",
                    "password_file": "../secrets/smtp", "from": "tipdrop@example.kz"},
           "units": {"test-unit": {"email": ["duty@example.kz"],
                                   "webhook": {"url": "https://duty.example.kz/hook",
                                               "secret_file": "../secrets/hook"}}}}
    for path, value in changes.items():
        *parents, last = path.split(".")
        target = doc
        for name in parents:
            target = target[name]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return doc


DELETE = object()


def _load(keys_dir, doc):
    (keys_dir / "alerts.json").write_text(json.dumps(doc))
    routing = Routing.load(keys_dir / "routing.json")
    return alertconfig.load_alerts(keys_dir / "alerts.json", keys_dir, routing)


# --- alerts.json -------------------------------------------------------------------


def test_a_full_config_names_each_way_and_the_default_urgent_categories(folders):
    keys_dir, secrets = folders
    config = _load(keys_dir, _config(**{"units.test-unit.interval": 300}))
    unit = config.units["test-unit"]
    assert unit.targets == ("email", "webhook")
    assert unit.urgent == {"child-in-danger", "domestic-violence"}
    assert (unit.interval, unit.jitter) == (300, 60)
    assert config.smtp.port == 587 and config.smtp.security == "starttls"
    assert config.targets_of("other-unit") == ()
    found = alertconfig.read_secrets(config)
    assert found[unit.webhook.secret_file] == SECRET.encode()
    assert found[config.smtp.password_file] == b"mail-password"
    assert config.smtp.password_file.resolve() == (secrets / "smtp").resolve()


def test_a_unit_that_only_receives_forwards_can_be_alerted(folders):
    # Given other-unit's key installed, but routing.json sending it no region
    keys_dir, _ = folders
    (keys_dir / "routing.json").write_text(json.dumps({"version": 1, "regions": {
        "astana": "test-unit"}}))
    routing = Routing.load(keys_dir / "routing.json")
    (keys_dir / "alerts.json").write_text(json.dumps(
        _config(**{"units.other-unit": {"email": ["duty-other@example.kz"]}})))
    # When alerts.json names it, it is accepted as the server loads it (with its keys)
    installed = UnitKeys.load(keys_dir).units
    config = alertconfig.load_alerts(keys_dir / "alerts.json", keys_dir, routing, installed)
    assert config.units["other-unit"].email == ("duty-other@example.kz",)
    # And without its key it is refused, saying both ways a unit gets reports
    (keys_dir / "other-unit.pub").unlink()
    with pytest.raises(ConfigError, match="units.other-unit: no key is installed"):
        alertconfig.load_alerts(keys_dir / "alerts.json", keys_dir, routing,
                                UnitKeys.load(keys_dir).units)


def test_no_alerts_file_means_no_alerts(folders):
    keys_dir, _ = folders
    routing = Routing.load(keys_dir / "routing.json")
    assert alertconfig.load_alerts(keys_dir / "alerts.json", keys_dir, routing).units == {}


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"version": 2}, '"version": 1'),
    ({"units.test-unit.emails": ["x@example.kz"]}, "unknown member 'emails'"),
    ({"units.north": {"email": ["a@example.kz"]}}, "units.north: no key is installed for this unit and routing.json sends no region"),
    ({"units.test-unit.email": ["duty@example.kz\r\nBcc: spy@evil.example"]},
     "is not an e-mail address"),
    ({"units.test-unit.email": ["not-an-address"]}, "is not an e-mail address"),
    ({"units.test-unit.webhook.url": "http://duty.example.kz/hook"}, "https://"),
    ({"units.test-unit.webhook.url": "https://user:pw@duty.example.kz/"}, "user name or password"),
    ({"units.test-unit.webhook.url": "ftp://duty.example.kz/"}, "https://"),
    ({"units.test-unit.webhook.secret_file": DELETE}, 'needs "secret_file"'),
    ({"units.test-unit.webhook.secret_file": "hook.secret"}, "must not be in the keys folder"),
    ({"units.test-unit.urgent": ["kidnapping"]}, "unknown: kidnapping"),
    ({"units.test-unit.interval": 0}, "whole seconds from 1"),
    ({"jitter": -1}, "jitter: must be whole seconds from 0"),
    ({"interval": "900"}, "interval: must be whole seconds"),
    ({"units.test-unit.heartbeat": "yes"}, "true or false"),
    ({"units.test-unit.email": DELETE, "units.test-unit.webhook": DELETE}, '"email" or "webhook"'),
    ({"smtp": DELETE}, 'needs the "smtp" section'),
    ({"smtp.security": "ssl"}, '"starttls", "tls" or "none"'),
    ({"smtp.security": "none", "smtp.username": DELETE, "smtp.password_file": DELETE},
     "only for a mail relay on this computer"),
    ({"smtp.host": "127.0.0.1", "smtp.security": "none"}, "never sent without TLS"),
    ({"smtp.password_file": DELETE}, '"username" and "password_file" go together'),
    ({"smtp.from": "tipdrop"}, "smtp.from: must be an e-mail address"),
    ({"smtp.port": 70000}, "smtp.port: must be a port number"),
])
def test_a_wrong_config_is_one_clear_line_naming_the_member(folders, changes, fragment):
    keys_dir, _ = folders
    with pytest.raises(ConfigError) as raised:
        _load(keys_dir, _config(**changes))
    message = raised.value.message
    assert fragment in message and "alerts.json" in message and "\n" not in message


def test_a_file_that_is_not_json_is_one_line_too(folders):
    keys_dir, _ = folders
    (keys_dir / "alerts.json").write_text("{\"version\": 1,")
    with pytest.raises(ConfigError, match="alerts.json"):
        alertconfig.load_alerts(keys_dir / "alerts.json", keys_dir,
                                Routing.load(keys_dir / "routing.json"))


@pytest.mark.parametrize(("content", "mode", "fragment"), [
    (None, 0o600, "cannot be read"),
    (SECRET, 0o644, "open to other users"),
    ("short", 0o600, "shorter than 32 characters"),
    ("", 0o600, "one line of printable ASCII"),
    ("two words " + SECRET, 0o600, "one line of printable ASCII"),
])
def test_a_wrong_secret_file_is_refused_without_showing_its_content(folders, content, mode,
                                                                    fragment):
    keys_dir, secrets = folders
    path = secrets / "hook"
    if content is None:
        path.unlink()
    else:
        path.write_text(content + "\n")
        path.chmod(mode)
    config = _load(keys_dir, _config())
    with pytest.raises(ConfigError) as raised:
        alertconfig.read_secrets(config)
    assert fragment in raised.value.message and "units.test-unit.webhook.secret_file" \
        in raised.value.message
    assert SECRET not in raised.value.message and "two words" not in raised.value.message


# --- counting at submission ----------------------------------------------------------


@pytest.fixture
def db(tmp_path):
    database = sqlite.connect(tmp_path / "tipdrop.db")
    store.init(database)
    yield database
    database.close()


def _tips(db, tmp_path, folders, unit_key, other_unit_key):
    keys_dir, _ = folders
    routing = Routing.load(keys_dir / "routing.json")
    config = alertconfig.load_alerts(keys_dir / "alerts.json", keys_dir, routing)
    return Tips(db, UnitKeys([unit_key.public, other_unit_key.public]), routing,
                tmp_path / "attachments", receipt_params=kdf.TEST_PARAMS, alerts=config)


def _submit(tips, region, category, once=None):
    draft = tips.start(region=region)
    draft.once = once
    tips.submit(draft, Report.build(region=region, category=category,
                                    description="A report that no alert may carry."))


def test_a_report_counts_once_per_way_its_unit_is_alerted_and_urgent_by_category(
        db, tmp_path, folders, unit_key, other_unit_key):
    keys_dir, _ = folders
    _load(keys_dir, _config())
    tips = _tips(db, tmp_path, folders, unit_key, other_unit_key)
    _submit(tips, "astana", "child-in-danger")
    _submit(tips, "astana", "theft")
    _submit(tips, "almaty", "child-in-danger")  # other-unit has no alerts
    rows = db.execute("SELECT * FROM alerts_pending ORDER BY target").fetchall()
    assert [tuple(r) for r in rows] == [("test-unit", "email", 2, 1),
                                        ("test-unit", "webhook", 2, 1)]


def test_a_report_not_stored_is_not_counted(db, tmp_path, folders, unit_key, other_unit_key):
    keys_dir, _ = folders
    _load(keys_dir, _config())
    tips = _tips(db, tmp_path, folders, unit_key, other_unit_key)
    once = FormUse(b"\x07" * 32, "2099-01-01", ReportAlreadySentError)
    _submit(tips, "astana", "theft", once=once)
    # The same form again: refused, and the count stays where the stored report put it.
    with pytest.raises(ReportAlreadySentError):
        _submit(tips, "astana", "theft", once=once)
    assert pending_alerts.pending(db, "test-unit", "email") == (1, 0)


# --- the sender's turns -------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Deliveries:
    """What the sender sent, and failures to play back: a list of reasons (None: success)."""

    def __init__(self):
        self.sent = []
        self.outcomes = []
        self.meanwhile = None

    def __call__(self, target, cfg, alert):
        if self.meanwhile is not None:
            self.meanwhile()
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise alertdelivery.DeliveryError(outcome)
        self.sent.append((target, alert))


@pytest.fixture
def sender(tmp_path, folders, db):
    keys_dir, _ = folders
    _load(keys_dir, _config(**{"units.test-unit.interval": 60, "units.test-unit.jitter": 10}))
    clock, deliveries = Clock(), Deliveries()
    made = Sender(Settings(data_dir=tmp_path, keys_dir=keys_dir), clock=clock,
                  draw=lambda jitter: jitter / 2, deliver=deliveries)
    made.db = db
    made.load()
    return made, clock, deliveries


def _count(db, new=1, urgent=0, targets=("email", "webhook")):
    with sqlite.transaction(db):
        for i in range(new):
            pending_alerts.count_report(db, "test-unit", targets, i < urgent)


def test_the_first_turn_comes_one_interval_and_a_random_jitter_after_start(sender):
    made, clock, deliveries = sender
    assert made.due == {("test-unit", "email"): 1065.0, ("test-unit", "webhook"): 1065.0}
    _count(made.db, 3, 1)
    clock.now = 1064.9
    made.send_due()
    assert deliveries.sent == []
    clock.now = 1065.0
    made.send_due()
    assert deliveries.sent == [("email", Alert("test-unit", 3, 1)),
                               ("webhook", Alert("test-unit", 3, 1))]
    assert pending_alerts.pending(made.db, "test-unit", "email") == (0, 0)
    assert made.due[("test-unit", "email")] == 1065.0 + 65


def test_many_reports_between_two_turns_make_one_alert_per_turn_at_most(sender):
    made, clock, deliveries = sender
    for second in range(1000, 1400):
        clock.now = float(second)
        _count(made.db, 1, targets=("email",))
        made.send_due()
    emails = [alert for target, alert in deliveries.sent if target == "email"]
    # Turns at 1065, 1130, 1195, 1260, 1325, 1390: one alert each, every report counted once.
    assert len(emails) == 6
    assert sum(a.new for a in emails) + pending_alerts.pending(made.db, "test-unit", "email")[0] \
        == 400


def test_nothing_pending_sends_nothing_unless_the_unit_wants_a_heartbeat(sender, folders):
    made, clock, deliveries = sender
    clock.now = 1065.0
    made.send_due()
    assert deliveries.sent == []
    keys_dir, _ = folders
    _load(keys_dir, _config(**{"units.test-unit.heartbeat": True}))
    made.load()
    clock.now = 5000.0
    made.send_due()
    assert deliveries.sent == [("email", Alert("test-unit", 0, 0)),
                               ("webhook", Alert("test-unit", 0, 0))]


def test_reports_arriving_while_an_alert_is_sent_wait_for_the_next_one(sender):
    made, clock, deliveries = sender
    _count(made.db, 2, targets=("email",))
    deliveries.meanwhile = lambda: _count(made.db, 1, 1, targets=("email",))
    clock.now = 1065.0
    made.tick("test-unit", "email")
    assert deliveries.sent == [("email", Alert("test-unit", 2, 0))]
    assert pending_alerts.pending(made.db, "test-unit", "email") == (1, 1)


def test_a_failed_delivery_is_logged_without_content_retried_with_backoff_then_sent_once(
        sender, caplog):
    made, clock, deliveries = sender
    _count(made.db, 2, 1, targets=("email",))
    deliveries.outcomes = ["connection refused", "connection refused"]
    caplog.set_level(logging.WARNING, "tipdrop.alerts")
    clock.now = 1065.0
    made.tick("test-unit", "email")
    assert made.due[("test-unit", "email")] == 1065.0 + 30
    clock.now = 1095.0
    _count(made.db, 1, targets=("email",))
    made.tick("test-unit", "email")
    assert made.due[("test-unit", "email")] == 1095.0 + 60
    clock.now = 1155.0
    made.tick("test-unit", "email")
    assert deliveries.sent == [("email", Alert("test-unit", 3, 1))]
    assert made.due[("test-unit", "email")] == 1155.0 + 65
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == ("alert for unit test-unit by email not delivered: connection refused; "
                        "trying again in 30 s")
    assert lines[-1] == "alert for unit test-unit by email delivered after failed tries"
    assert not any(fragment in line for line in lines for fragment in ("new", "urgent", "duty@"))


def test_one_way_failing_does_not_send_the_other_twice(sender):
    made, clock, deliveries = sender
    _count(made.db, 1)
    deliveries.outcomes = ["no answer in time"]  # the email, tried first
    clock.now = 1065.0
    made.send_due()
    assert deliveries.sent == [("webhook", Alert("test-unit", 1, 0))]
    clock.now = 1095.0
    made.send_due()
    assert deliveries.sent[1:] == [("email", Alert("test-unit", 1, 0))]


def test_a_reload_keeps_the_clocks_of_unchanged_units_and_forgets_switched_off_ways(
        sender, folders):
    made, clock, deliveries = sender
    keys_dir, _ = folders
    _count(made.db, 4)
    before = dict(made.due)
    clock.now = 1030.0
    made.load()
    assert made.due == before
    _load(keys_dir, _config(**{"units.test-unit.interval": 60, "units.test-unit.jitter": 10,
                               "units.test-unit.webhook": DELETE}))
    made.load()
    assert set(made.due) == {("test-unit", "email")}
    assert pending_alerts.pending(made.db, "test-unit", "webhook") == (0, 0)
    assert pending_alerts.pending(made.db, "test-unit", "email") == (4, 0)


def test_an_unexpected_failure_is_retried_like_a_failed_delivery(sender, caplog):
    made, clock, deliveries = sender
    _count(made.db, 1, targets=("email",))

    def broken(target, cfg, alert):
        raise RuntimeError("a bug")

    made.deliver = broken
    clock.now = 1065.0
    made.tick("test-unit", "email")
    assert "not delivered: unexpected RuntimeError; trying again in 30 s" in caplog.text
    assert pending_alerts.pending(made.db, "test-unit", "email") == (1, 0)


def test_only_one_sender_holds_a_data_folder_and_a_waiting_one_can_be_stopped(tmp_path):
    first = hold_lock(tmp_path, threading.Event())
    second_stop, taken = threading.Event(), []
    second = threading.Thread(target=lambda: taken.append(hold_lock(tmp_path, second_stop)))
    second.start()
    second.join(1.5)
    assert second.is_alive() and taken == []
    # When the first sender ends, the second takes over
    os.close(first)
    second.join(10)
    assert taken and taken[0] is not None
    # And a third, waiting behind it, stops when told to
    third_stop, third_taken = threading.Event(), []
    third = threading.Thread(target=lambda: third_taken.append(hold_lock(tmp_path, third_stop)))
    third.start()
    third_stop.set()
    third.join(10)
    assert third_taken == [None]
    os.close(taken[0])


def test_retries_start_at_30_seconds_or_the_interval_and_stop_growing():
    assert [retry_delay(900, n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]
    assert [retry_delay(2, n) for n in range(1, 4)] == [2, 4, 8]
    assert retry_delay(2, 20) == 300


def test_the_jitter_is_drawn_between_zero_and_its_bound():
    draws = {jitter_draw(3) for _ in range(200)}
    assert all(0 <= d <= 3 for d in draws) and len(draws) > 50
    assert jitter_draw(0) == 0


# --- the e-mail -----------------------------------------------------------------------


def test_every_email_of_a_unit_has_the_same_size_and_says_only_the_counts():
    sizes = set()
    for new, urgent in ((1, 1), (9, 0), (50, 10), (999_999, 999_999), (0, 0)):
        message = alertdelivery.email_message("tipdrop@police.example.kz",
                                              ["duty@police.example.kz"],
                                              Alert("almaty-city", new, urgent), now=1796522400)
        # The longest unit name and counts still fit.
        alertdelivery.email_message("a@b.kz", ["c@d.kz"], Alert("a" * 32, new, urgent))
        raw = message.as_bytes()
        sizes.add(len(raw))
        text = message.get_payload(decode=True).decode("utf-8")
        assert text.startswith(f"unit almaty-city: {new} new, {urgent} urgent\n")
        assert f"almaty-city бөлімшесі: жаңа хабарламалар: {new}" in text
        assert f"новых сообщений: {new}, из них срочных: {urgent}" in text
        assert message["Subject"] == "tipdrop: new reports for unit almaty-city"
        assert message["Message-ID"].endswith("@police.example.kz>")
        assert message["Date"] == "Sun, 06 Dec 2026 02:00:00 +0000"
    assert len(sizes) == 1
