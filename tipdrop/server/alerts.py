"""The duty alert sender: one process beside the web workers, the only one that sends.

Where it runs, and why. A submission only adds to a count in its own
transaction (store/alerts.py); the network I/O happens here, in a process
of its own that the gunicorn master starts once it is ready and stops when
it exits (:class:`SenderProcess`, from the hooks of serve.py and
deploy/gunicorn.conf.py), so ``make run``, ``tipdrop serve`` and the
systemd service all have it with nothing more to run. It is not

* a thread of a web worker: every worker would have one (alerts sent once
  per worker), and workers come and go (a SIGHUP, a timeout);
* a thread of the master doing the sending: the master forks new workers at
  any time, and a fork while that thread holds a lock (TLS, SQLite, logging)
  can leave the new worker deadlocked;
* a separate service: one more unit to install and forget.

The master keeps only a small thread that waits for the sender and starts it
again (after a pause) if it stops. A worker restart does not touch it. An
exclusive lock in the data folder (:data:`LOCK`) lets only one sender run per
database, even if a second server were started on the same folder, so a
count is never sent by two processes.

When. Each unit and way of alerting has its own clock: every ``interval``
seconds plus a random ``jitter`` (from ``secrets``), the sender reads what
is pending and, if anything (or, with ``heartbeat``, always), sends one
alert, then takes away what it sent. The moments of sending do not depend on
when reports arrive; an alert says that reports arrived in the last interval
and nothing finer (docs/threat-model.md, "Duty alerts"). A failed delivery
is tried again after 30 s (or the interval, if shorter), doubling to at most
the interval (or 5 minutes, if longer); the next try sends what is pending then.
The log says which unit and which way failed and why, never a count, an
address, a URL or a secret.
"""

import fcntl
import logging
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time

from tipdrop.errors import TipdropError
from tipdrop.protocol.alerts import MAX_COUNT, Alert
from tipdrop.server import alertconfig, alertdelivery, reload, store
from tipdrop.server.store import alerts as pending_alerts

#: The sender's lock file, in the data folder; never written, only locked.
LOCK = "alerts.lock"
#: How long the sender sleeps at most before it looks again (SIGHUP, its parent).
MAX_SLEEP = 1.0

log = logging.getLogger("tipdrop.alerts")


def jitter_draw(jitter):
    """A random delay from 0 to ``jitter`` seconds, in milliseconds, from ``secrets``."""
    return secrets.randbelow(int(jitter) * 1000 + 1) / 1000


def retry_delay(interval, failures):
    """Seconds to wait after the ``failures``-th failure in a row."""
    first = min(interval, 30)
    return min(first * 2 ** (failures - 1), max(interval, 300))


class Sender:
    """Alerts for every configured unit, on their clocks; see the module docstring.

    Time (``clock``), randomness (``draw``) and the network (``deliver``)
    are parameters, so tests can drive it without waiting.
    """

    def __init__(self, settings, *, clock=time.monotonic, draw=jitter_draw, deliver=None):
        self.settings = settings
        self.clock = clock
        self.draw = draw
        self.deliver = deliver or self._deliver
        self.config = alertconfig.AlertConfig()
        self.secrets = {}
        self.due = {}
        self.failures = {}
        self.db = None
        self.stopping = threading.Event()
        self.hup = threading.Event()

    def load(self):
        """Read alerts.json and its secret files; keep each clock that still has a unit."""
        _, _, config = reload.load_config(self.settings)
        found = alertconfig.read_secrets(config)
        now = self.clock()
        wanted = {(unit, target): unit_config for unit, unit_config in config.units.items()
                  for target in unit_config.targets}
        old = self.config.units
        self.due = {key: self.due[key] if key in self.due and old.get(key[0]) == cfg
                    else now + cfg.interval + self.draw(cfg.jitter)
                    for key, cfg in wanted.items()}
        self.failures = {key: n for key, n in self.failures.items() if key in wanted}
        self.config, self.secrets = config, found
        pending_alerts.keep_only(self.db, set(wanted))

    def run(self, parent=None):
        """Send alerts until stopped (SIGTERM), or until ``parent`` is gone."""
        self.db = store.open_database(self.settings.database_path)
        self.load()
        while not self.stopping.is_set():
            if parent is not None and os.getppid() != parent:
                log.warning("the server stopped; the alert sender stops too")
                return
            if self.hup.is_set():
                self.hup.clear()
                try:
                    self.load()
                except TipdropError as e:
                    log.error("alerts.json not reloaded, the alerts stay as they were: %s",
                              e.message)
            self.send_due()
            now = self.clock()
            wait = min([*self.due.values(), now + MAX_SLEEP]) - now
            self.stopping.wait(max(0.0, min(wait, MAX_SLEEP)))

    def send_due(self):
        for key in sorted(self.due):
            if self.stopping.is_set():
                return
            if self.due[key] <= self.clock():
                try:
                    self.tick(*key)
                except sqlite3.Error as e:
                    # A busy or broken database: the counts stay; try again shortly.
                    log.error("alerts: the database failed (%s); trying again", type(e).__name__)
                    self.due[key] = self.clock() + min(self.config.units[key[0]].interval, 30)

    def tick(self, unit, target):
        """One turn of one clock: send what is pending, if anything (see the module docstring)."""
        cfg = self.config.units[unit]
        new, urgent = pending_alerts.pending(self.db, unit, target)
        if new == 0 and not cfg.heartbeat:
            self.due[(unit, target)] = self.clock() + cfg.interval + self.draw(cfg.jitter)
            return
        new = min(new, MAX_COUNT)
        alert = Alert(unit, new, min(urgent, new))
        try:
            self.deliver(target, cfg, alert)
        except Exception as e:  # noqa: BLE001 - whatever fails, the counts wait for a retry
            reason = e.reason if isinstance(e, alertdelivery.DeliveryError) \
                else f"unexpected {type(e).__name__}"
            failures = self.failures[(unit, target)] = self.failures.get((unit, target), 0) + 1
            delay = retry_delay(cfg.interval, failures)
            log.warning("alert for unit %s by %s not delivered: %s; trying again in %d s",
                        unit, target, reason, delay)
            self.due[(unit, target)] = self.clock() + delay
            return
        pending_alerts.delivered(self.db, unit, target, alert.new, alert.urgent)
        if self.failures.pop((unit, target), 0):
            log.warning("alert for unit %s by %s delivered after failed tries", unit, target)
        self.due[(unit, target)] = self.clock() + cfg.interval + self.draw(cfg.jitter)

    def _deliver(self, target, cfg, alert):
        if target == "webhook":
            alertdelivery.post_webhook(cfg.webhook, self.secrets[cfg.webhook.secret_file], alert)
            return
        smtp = self.config.smtp
        password = self.secrets.get(smtp.password_file) if smtp.password_file else None
        refused = alertdelivery.send_email(smtp, password, cfg.email, alert)
        if refused:
            log.warning("alert for unit %s by email: the mail server refused %d of %d "
                        "recipients, the others got it", alert.unit, refused, len(cfg.email))


def hold_lock(data_dir, stopping):
    """Take the sender's lock of ``data_dir``, waiting while another sender holds it.

    Returns the locked file descriptor, or None if ``stopping`` was set first.
    """
    fd = os.open(os.path.join(data_dir, LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    waiting = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if not waiting:
                log.warning("another alert sender runs for this data folder; this one waits")
                waiting = True
        if stopping.wait(1.0):
            os.close(fd)
            return None


def main():
    """``python -m tipdrop.server.alerts``: the sender, as SenderProcess starts it."""
    from tipdrop.server import logs
    from tipdrop.server.settings import from_env

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(
        "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s", "%Y-%m-%d %H:%M:%S %z"))
    logs.guard_process_logging([handler])
    parent = os.getppid()
    try:
        settings = from_env()
        sender = Sender(settings)
        signal.signal(signal.SIGTERM, lambda *_: sender.stopping.set())
        # Ctrl+C at `tipdrop serve` reaches the whole process group: the master
        # stops the sender itself (SIGTERM), so it is not restarted meanwhile.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, lambda *_: sender.hup.set())
        lock = hold_lock(settings.data_dir, sender.stopping)
        if lock is None:
            return 0
        try:
            sender.run(parent=parent)
        finally:
            os.close(lock)
    except TipdropError as e:
        log.error("the alert sender cannot run: %s", e.message)
        return 2
    return 0


#: Held while the master forks a worker (os.register_at_fork) and while it
#: starts the sender, so neither happens during the other: a worker forked
#: while Popen runs would inherit Popen's exec-status pipe and keep it open.
_SPAWNING = threading.Lock()
_FORK_GUARD: list[bool] = []


def _guard_forks():
    """Make every fork of this process wait while a sender is being started (once)."""
    if not _FORK_GUARD:
        os.register_at_fork(before=_SPAWNING.acquire, after_in_parent=_SPAWNING.release,
                            after_in_child=_forked)
        _FORK_GUARD.append(True)


def _forked():
    global _SPAWNING
    _SPAWNING = threading.Lock()  # the child's copy was taken at the fork; it starts none


class SenderProcess:
    """The sender as a child of the gunicorn master, started again if it stops.

    :meth:`when_ready` once the master is ready (gunicorn's hook of that
    name), :meth:`reload` after a SIGHUP the master accepted
    (reload.guard_hup), :meth:`stop` when the master exits (``on_exit``). If
    no unit has alerts, no process is started until a reload brings one.
    """

    def __init__(self, settings, logger=None):
        self.settings = settings
        self.log = logger or log
        self.process = None
        self.thread = None
        self.stopping = threading.Event()

    def start(self):
        """Check alerts.json and its secrets (raise ConfigError), then start if a unit has alerts."""
        _, _, config = reload.load_config(self.settings, secrets=True)
        if self.thread is not None or not config.units:
            return
        _guard_forks()
        self.thread = threading.Thread(target=self._supervise, name="tipdrop-alerts",
                                       daemon=True)
        self.thread.start()

    def when_ready(self, arbiter):
        """gunicorn's ``when_ready``: start, or stop the server with one line saying why."""
        try:
            self.start()
        except TipdropError as e:
            arbiter.log.error("error: %s", e.message)
            raise SystemExit(2) from None

    def reload(self):
        if self.thread is None:
            try:
                self.start()
            except TipdropError as e:  # guard_hup checked the same files a moment ago
                self.log.error("alerts not started: %s", e.message)
            return
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGHUP)

    def stop(self, timeout=10):
        self.stopping.set()
        with _SPAWNING:
            process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _supervise(self):
        pause = 1
        while True:
            with _SPAWNING:
                if self.stopping.is_set():
                    return
                started = time.monotonic()
                # The same interpreter, the server's settings, stdout and stderr
                # shared with the master (the server's log); never a shell.
                self.process = subprocess.Popen(  # noqa: S603
                    [sys.executable, "-m", "tipdrop.server.alerts"], stdin=subprocess.DEVNULL,
                    env=os.environ | self.settings.as_env(), close_fds=True)
            # gunicorn's master reaps every child it sees exit: then this wait
            # reports 0, but it returns all the same.
            code = self.process.wait()
            if self.stopping.is_set():
                return
            pause = 1 if time.monotonic() - started > 60 else min(pause * 2, 60)
            self.log.error("the alert sender stopped (exit code %s); starting it again in %d s",
                           code, pause)
            self.stopping.wait(pause)


if __name__ == "__main__":
    sys.exit(main())
