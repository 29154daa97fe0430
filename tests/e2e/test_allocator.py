"""`tipdrop serve` runs its workers with the glibc allocator settings it ships.

Without them a burst of receipt checks leaves a freed 19 MiB Argon2 block in
the malloc arena of every gthread thread, and the flood's memory goal is
missed (tipdrop/server/serve.py, ALLOCATOR_ENV; bench/RESULTS.md, "Flood"). glibc
reads the settings only when a process starts, so what counts is the
environment each worker process was started with: /proc/PID/environ.
"""

import time
from pathlib import Path

from tests.e2e.test_flood import _children
from tests.serving import start_server
from tipdrop.server.serve import ALLOCATOR_ENV


def _environ(pid):
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode("utf-8", "replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def _workers(master, count, seconds=60):
    """The master's worker processes, once ``count`` of them run (the server
    answers as soon as the first one does; the others may still be starting)."""
    deadline = time.monotonic() + seconds
    while len(workers := _children(master)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return workers


def test_serve_workers_start_with_the_allocator_settings(tmp_path, monkeypatch):
    for name in ALLOCATOR_ENV:  # started without them, as an operator would
        monkeypatch.delenv(name, raising=False)
    server = start_server(tmp_path, workers=2, allocator_env=False)
    try:
        assert not set(ALLOCATOR_ENV) & set(server.launch_env)
        master = server.process.pid
        workers = _workers(master, 2)
        assert len(workers) == 2
        for pid in {master} | workers:
            environ = _environ(pid)
            for name, value in ALLOCATOR_ENV.items():
                assert environ.get(name) == value, (pid, name)
    finally:
        server.stop()


def test_an_allocator_setting_the_operator_chose_is_kept(tmp_path):
    name = next(iter(ALLOCATOR_ENV))
    server = start_server(tmp_path, workers=1, extra_env={name: "4194304"})
    try:
        for pid in {server.process.pid} | _workers(server.process.pid, 1):
            assert _environ(pid)[name] == "4194304"
    finally:
        server.stop()
