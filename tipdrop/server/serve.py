"""Run the app under gunicorn from ``tipdrop serve`` (and so from ``make run``)."""

import os
import sys

from gunicorn.app.base import BaseApplication

#: glibc malloc settings the server runs with (docs/deploy.md, "Memory"). Each
#: receipt derivation allocates one 19 MiB Argon2 block. With glibc's dynamic
#: mmap threshold, the first free raises the threshold to the block's size, and
#: from then on every gthread thread keeps a freed block in its own malloc arena:
#: a worker's memory follows its threads (8), not its Argon2 slots (2). A fixed
#: threshold keeps such blocks mmapped and returns them to the system on free
#: (bench/RESULTS.md, "Flood"). 4 MiB, not less: the 1 MiB buffers an upload
#: is received in must stay in the heap (at 1 MiB each was a fresh mapping,
#: and gunicorn received bodies at half the speed). glibc reads these
#: variables only when a process starts, so ``tipdrop serve`` starts itself
#: again with them (:func:`with_allocator_settings`) and
#: deploy/systemd/tipdrop.service sets them.
ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": str(4 * 1024 * 1024)}


class _Gunicorn(BaseApplication):
    def __init__(self, app_factory, options):
        self._factory = app_factory
        self._options = options
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        return self._factory()


#: Threads per worker beyond TIPDROP_UPLOAD_SLOTS: never busy reading an
#: upload, so a flood of stalled uploads cannot take them (bench/RESULTS.md).
RESERVED_THREADS = 4


def with_allocator_settings() -> None:
    """Start this process again, same arguments, with ALLOCATOR_ENV, unless it has them.

    A variable the operator set already is kept as it is; once every one is
    set this returns, so the process starts again at most once. The pid stays
    the same (exec), so a supervisor sees no difference.
    """
    missing = {name: value for name, value in ALLOCATOR_ENV.items() if name not in os.environ}
    if missing:
        sys.stdout.flush()
        sys.stderr.flush()
        # The same interpreter and arguments again, never a shell.
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]],  # noqa: S606
                  os.environ | missing)


def run_gunicorn(settings, host, port, workers):
    """Serve with access logging off: reporter requests must leave no trace (docs/design.md, invariant 2).

    When the server stops, the workers' shared rate-limit counters and their
    day key go with it (web/ratelimit.py). At start, the folders servers that
    died without stopping left in the runtime folder are removed (this
    server's own included, after a crash), and the master holds its own for
    as long as it lives (ratelimit.hold).
    """
    from tipdrop.server import reload
    from tipdrop.server.alerts import SenderProcess
    from tipdrop.server.web import create_app
    from tipdrop.server.web.ratelimit import hold, remove_shared, shared_dir, sweep_stale

    with_allocator_settings()
    # What servers that died left in RAM goes first, this server's own folder
    # too if a crash left it: a restart forgets, as a clean stop does (ratelimit.py).
    sweep_stale(settings.runtime_dir)
    # Fail before forking if the set-up is wrong (e.g. a private key in keys/,
    # a duty alert's secret file missing); the keys and routing checked here
    # are what every worker serves (reload.py). The app first: it makes the
    # data folder, so a doctor run after a refused start finds only the problem.
    create_app(settings)
    # Held for the master's life, so no other server's start takes it for a dead one's.
    held = hold(shared_dir(settings.runtime_dir, settings.data_dir))
    reload.check_in_master(settings)
    # The duty alert sender: a child of the master (tipdrop/server/alerts.py).
    sender = SenderProcess(settings)
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        # Threads, so a reporter trickling a video in over a slow phone
        # connection does not hold a whole worker; Argon2 and uploads are
        # bounded per process by the app's own slots, and RESERVED_THREADS
        # more than the upload slots keep checks, pages and /healthz
        # answered whatever uploads do (docs/deploy.md, "Workers").
        "worker_class": "tipdrop.server.worker.Worker",
        "threads": settings.upload_slots + RESERVED_THREADS,
        "accesslog": None,
        "errorlog": "-",
        # No address, user agent or request content in any line, a bounded
        # number of lines per request (tipdrop/server/logs.py).
        "logger_class": "tipdrop.server.logs.GunicornLogger",
        "loglevel": "warning",
        "timeout": 120,
        "graceful_timeout": 10,
        # SIGHUP loads the keys folder, routing and alerts again, once the
        # master has checked them (reload.py).
        "on_starting": lambda arbiter: reload.guard_hup(arbiter, lambda: settings,
                                                        after=sender.reload),
        "when_ready": sender.when_ready,
        "on_exit": lambda _arbiter: (sender.stop(),
                                     remove_shared(settings.runtime_dir, settings.data_dir)),
    }
    try:
        _Gunicorn(lambda: create_app(settings, hold_wal=True), options).run()
    finally:
        os.close(held)
