"""gunicorn settings for tipdrop in production: ``gunicorn -c deploy/gunicorn.conf.py``.

Run from the checkout (``wsgi.py`` is there) as the service user; settings of
tipdrop itself come from TIPDROP_* environment variables (deploy/systemd/
tipdrop.service, docs/deploy.md). ``tipdrop serve`` uses the same choices.
tests/server/test_deploy_configs.py loads this file through gunicorn's own
configuration classes.
"""

wsgi_app = "wsgi:app"

# Loopback only: nginx (deploy/nginx/tipdrop.conf) is the one thing that talks to
# us, and it is where TLS, the per-request body timeout and the onion service live.
bind = "127.0.0.1:8080"

# 2 workers x 8 threads, for a 2-core machine (bench/RESULTS.md):
# * workers = cores. The CPU work is Argon2id (one per submit or receipt check,
#   ~25 ms each). Two processes reach the measured Argon2 bound (receipt checks
#   through the server ran at 1.00 of it); more processes on 2 cores only add
#   memory. On a bigger machine: one worker per core.
# * gthread, so a reporter trickling a video in over a slow phone connection
#   holds a thread, not a whole worker, while Argon2 runs stay bounded by
#   TIPDROP_ARGON2_SLOTS (2) per worker.
# * threads = TIPDROP_UPLOAD_SLOTS (4) + 4, as `tipdrop serve` (RESERVED_THREADS in
#   tipdrop/server/serve.py): at most 4 threads read uploads, beyond that a worker
#   answers 503 at once, and the other 4 are always there for receipt checks,
#   pages and /healthz. With as many threads as upload slots, 100 stalled uploads
#   left no thread for a check (docs/deploy.md, "Workers, threads and slow
#   clients"). Raise both numbers together.
# * Memory follows the Argon2 slots only with glibc's mmap threshold fixed
#   (MALLOC_MMAP_THRESHOLD_ in deploy/systemd/tipdrop.service; docs/deploy.md,
#   "Memory"); without it up to one 19 MiB Argon2 block per thread stays in the
#   worker, about 2 x (8 x 19 + 64) MiB above the base (tests/e2e/test_flood.py).
workers = 2
# gthread that reads each request head before giving it a thread (tipdrop/server/worker.py).
worker_class = "tipdrop.server.worker.Worker"
threads = 8

# No access log at all: reporter requests leave no trace (docs/design.md, invariant 2).
accesslog = None
errorlog = "-"          # stderr, i.e. the journal under systemd
loglevel = "warning"
# No address, user agent or request content in any line (gunicorn's own
# "Invalid request from ip=..." included), and a bounded number of lines per
# request: tipdrop/server/logs.py.
logger_class = "tipdrop.server.logs.GunicornLogger"

# `timeout` is the worker heartbeat, not a per-request limit: a gthread worker
# whose threads are all blocked reading slow uploads still heartbeats. A stalled
# or trickling body is ended by tipdrop itself (TIPDROP_READ_TIMEOUT,
# TIPDROP_MIN_BODY_RATE; docs/operations.md, "Slow clients").
timeout = 120
graceful_timeout = 10
keepalive = 5

# Small, strict request heads: tipdrop's URLs and headers are short.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190

# Files tipdrop writes are for the service user alone.
umask = 0o077
# The heartbeat file, in RAM.
worker_tmp_dir = "/dev/shm"  # noqa: S108 (a RAM folder, by design)
proc_name = "tipdrop"
# Trust X-Forwarded-Proto only from nginx on loopback (tipdrop itself trusts
# X-Forwarded-For hops per TIPDROP_PROXIES).
forwarded_allow_ips = "127.0.0.1"


#: The duty alert sender (tipdrop/server/alerts.py), made in on_starting.
_SENDER = []


def on_starting(server):
    """In the master, before any worker: make or upgrade the database, and move
    attachment files an older tipdrop left into it (docs/operations.md). Done
    here, no worker timeout cuts a long move short. And make SIGHUP (systemctl
    reload tipdrop) check the keys folder, routing.json and alerts.json before
    it starts new workers with them (tipdrop/server/reload.py, docs/operations.md).
    First, remove the runtime folders servers that died left (their page keys
    with them): systemd's RuntimeDirectory= does it too, a runtime folder
    outside it needs this (tipdrop/server/web/ratelimit.py)."""
    from tipdrop.server.alerts import SenderProcess
    from tipdrop.server.reload import guard_hup
    from tipdrop.server.settings import from_env
    from tipdrop.server.web import prepare_storage
    from tipdrop.server.web.ratelimit import sweep_stale

    settings = from_env()
    sweep_stale(settings.runtime_dir)
    prepare_storage(settings)
    _SENDER[:] = [SenderProcess(settings)]
    guard_hup(server, from_env, after=_SENDER[0].reload)


def when_ready(server):
    """Start the duty alert sender, a child of the master that survives worker
    restarts; a wrong alerts.json or secret file stops the server here, with one
    line in the journal (docs/operations.md, "Duty alerts")."""
    _SENDER[0].when_ready(server)


def on_exit(server):
    """Stop the duty alert sender with the master."""
    if _SENDER:
        _SENDER[0].stop()
