"""Bounded under flood (docs/design.md, invariant 8): a real ``tipdrop serve`` under a burst.

Two workers with known slots receive a bounded burst of JSON submits,
receipt checks and slow multipart uploads from many client threads at once,
far more than the Argon2 and upload slots allow. Every answer must be a
success or a 429/503 with Retry-After, the server's memory must stay under a
bound computed from its settings, no worker may die, and a normal submit and
check must work right afterwards. How fast the 503s come back is a figure of
the machine's load, not a behaviour: bench/flood.py measures it (the
"Refusals under a burst" table of bench/RESULTS.md).

Why slow uploads are part of the burst: a gthread worker runs at most
``THREADS`` requests at once and queues the rest of its connections itself
(cheaply, as sockets). An Argon2 run takes tens of milliseconds, so the
Argon2 slot's 2 s wait is never reached by fast requests alone; what fills
the slots in a real flood is uploads trickling in over slow connections.
They hold upload slots (their files are larger than SMALL_BODY, so they
stream), and further uploads arriving meanwhile must be refused with 503 at
once rather than queue behind them; JSON submits take no upload slot and
are still served (tests/e2e/test_held_upload_slots.py).
"""

import http.client
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import pytest

from tests.readable import readable
from tests.serving import multipart, start_server
from tipdrop.crypto import kdf
from tipdrop.protocol import receipts
from tipdrop.server.serve import RESERVED_THREADS
from tipdrop.server.web.upload import SMALL_BODY

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

WORKERS = 2
ARGON2_SLOTS = 1
UPLOAD_SLOTS = 1
#: gthread threads per worker process, as set in tipdrop/server/serve.py.
THREADS = UPLOAD_SLOTS + RESERVED_THREADS
ARGON2_MIB = kdf.RECEIPT_PARAMS.memory_cost_kib / 1024
#: Interpreter, app and per-thread overhead a worker may add after boot
#: (first requests, translations, SQLite page cache, thread stacks).
MARGIN_MIB_PER_WORKER = 64

REQUESTS = 200
CLIENTS = 40
#: Every SLOW_EVERY-th request is a multipart upload that stalls mid-body.
SLOW_EVERY = 4
SLOW_STALL = 1.5
BURST_DEADLINE = 180
ALLOWED = {200, 201, 404, 429, 503}

JSON = {"Content-Type": "application/json"}


def memory_bound_mib(base_mib):
    """The most memory (MiB, summed over master and workers) the burst may reach.

        bound = base + WORKERS * (THREADS * ARGON2_MIB + MARGIN_MIB_PER_WORKER)

    ``base`` is measured before the burst. At most ``ARGON2_SLOTS`` Argon2
    runs happen at once per worker, but glibc keeps a freed 19 MiB Argon2
    block in the malloc arena of the thread that used it (the dynamic mmap
    threshold rises to the block size after the first free), so a worker's
    resident size follows its thread count, not its slots: one block per
    thread at most, with ARGON2_SLOTS <= THREADS. Upload work streams to
    encrypted files and adds no per-request buffer of note, so the margin
    covers it, as it covers the small bodies read whole before any work
    (JSON, small forms: at most one SMALL_BODY, 256 KiB, per thread, 1.25 MiB
    per worker here). With this file's numbers:
    base + 2 * (5 * 19 + 64) = base + 318 MiB.
    """
    assert ARGON2_SLOTS <= THREADS
    return base_mib + WORKERS * (THREADS * ARGON2_MIB + MARGIN_MIB_PER_WORKER)


# --- looking at the server's processes through /proc ---------------------------------

def _status(pid):
    """VmRSS, VmHWM (MiB) and thread count of ``pid``, or None if it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024,
            int(fields["Threads"]))


def _children(pid):
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(c) for c in (task / "children").read_text().split())
        except FileNotFoundError:
            pass
    return found


def _wait_for_workers(master, deadline=30):
    """The worker pids, once all WORKERS have booted and their size has settled."""
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        workers = _children(master)
        sizes = [_status(pid) for pid in sorted(workers)]
        now = (tuple(sorted(workers)), tuple(s and round(s[0]) for s in sizes))
        if len(workers) == WORKERS and None not in sizes and now == last:
            return workers
        last = now
        time.sleep(0.5)
    raise AssertionError(f"{WORKERS} workers did not settle in {deadline} s")


class MemorySampler(threading.Thread):
    """Samples the summed VmRSS of master + workers every 50 ms until stopped."""

    def __init__(self, master):
        super().__init__(daemon=True)
        self.master = master
        self.peak_rss = 0.0
        self.max_threads = 0
        self.pids = set()
        self.samples = 0
        self._done = threading.Event()

    def run(self):
        end = time.monotonic() + BURST_DEADLINE + 30
        while not self._done.is_set() and time.monotonic() < end:
            workers = _children(self.master)
            self.pids |= workers
            total = 0.0
            for pid in {self.master} | workers:
                status = _status(pid)
                if status:
                    total += status[0]
                    if pid != self.master:
                        self.max_threads = max(self.max_threads, status[2])
            self.peak_rss = max(self.peak_rss, total)
            self.samples += 1
            self._done.wait(0.05)

    def stop(self):
        self._done.set()
        self.join(timeout=10)


# --- clients ------------------------------------------------------------------------

def _post_json(server, path, doc, source="127.0.0.1"):
    """(status, headers, body, seconds) of one JSON POST on its own connection."""
    start = time.monotonic()
    status, headers, body = server.request("POST", path, json.dumps(doc).encode(), JSON,
                                           source=source)
    return status, headers, body, time.monotonic() - start


def _slow_upload(server, number):
    """A multipart submit with a photo larger than SMALL_BODY (so it streams under an
    upload slot), whose body stalls for SLOW_STALL s after its first KiB,
    as from a phone on a bad connection. If the server answers early (a 503
    before reading the body), the answer is read instead of sending the rest."""
    content_type, body = multipart(
        {"region": "astana", "category": "theft", "description": f"slow upload {number}"},
        [("files", "photo.jpg", "image/jpeg", os.urandom(SMALL_BODY + 32 * 1024))])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    start = time.monotonic()
    try:
        conn.putrequest("POST", "/api/v1/tips")
        conn.putheader("Content-Type", content_type)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        conn.send(body[:1024])
        answered_early = readable([conn.sock], SLOW_STALL)
        if not answered_early:
            conn.send(body[1024:])
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After"), time.monotonic() - start
    finally:
        conn.close()


def _one(server, number):
    """Request ``number`` of the burst: ("kind", status, Retry-After) or ("error", error, None)."""
    try:
        if number % SLOW_EVERY == 0:
            status, retry_after, _ = _slow_upload(server, number)
            return "slow upload", status, retry_after
        if number % 3 == 0:
            doc = {"region": "astana", "category": "theft", "description": f"flood {number}"}
            status, headers, _, _ = _post_json(server, "/api/v1/tips", doc)
            return "submit", status, headers.get("Retry-After")
        doc = {"receipt": receipts.generate().formatted}
        status, headers, _, _ = _post_json(server, "/api/v1/check", doc)
        return "check", status, headers.get("Retry-After")
    except (OSError, http.client.HTTPException) as error:
        return "error", repr(error), None


def _submit_and_check(server, source="127.0.0.1"):
    doc = {"region": "astana", "category": "theft", "description": "after the flood"}
    status, _, body, submit_seconds = _post_json(server, "/api/v1/tips", doc, source)
    assert status == 201, body[:300]
    receipt = json.loads(body)["receipt"]
    status, _, body, check_seconds = _post_json(server, "/api/v1/check", {"receipt": receipt},
                                                source)
    assert status == 200, body[:300]
    assert json.loads(body)["status"] == "received"
    return submit_seconds, check_seconds


# --- tests ----------------------------------------------------------------------------

@pytest.fixture
def flood_server(tmp_path):
    # High rate limits: this measures the concurrency bound, not the rate limiter.
    running = start_server(tmp_path, workers=WORKERS, extra_env={
        "TIPDROP_ARGON2_SLOTS": str(ARGON2_SLOTS),
        "TIPDROP_UPLOAD_SLOTS": str(UPLOAD_SLOTS),
        "TIPDROP_SUBMITS_PER_HOUR": "100000",
        "TIPDROP_CHECKS_PER_HOUR": "100000",
    })
    yield running
    running.stop()


def test_burst_far_above_the_slots_gets_503s_with_retry_after_and_stays_within_memory(
        flood_server):
    """Every request of the burst is answered, the slots refuse with 503 and Retry-After.

    No latency is asserted: on a shared 2-core machine the 503s' p95 ranged from
    1.5 s to 7 s with the load of other work, so a bound that never fails
    spuriously would not tell a quick refusal from a queued one. bench/flood.py
    measures the 503 latency under the same kind of burst ("Refusals under a
    burst" in bench/RESULTS.md); here every answer must arrive within
    BURST_DEADLINE.
    """
    server = flood_server
    master = server.process.pid
    # Given two booted workers, and the memory they use before the burst
    workers = _wait_for_workers(master)
    before = [_status(pid) for pid in {master} | workers]
    base_mib = sum(hwm for _, hwm, _ in before)
    bound = memory_bound_mib(base_mib)

    # When REQUESTS requests arrive from CLIENTS threads at once
    sampler = MemorySampler(master)
    sampler.start()
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(_one, server, n) for n in range(REQUESTS)]
        done, not_done = wait(futures, timeout=BURST_DEADLINE)
        for future in not_done:
            future.cancel()
    sampler.stop()
    assert not not_done, f"{len(not_done)} requests unanswered after {BURST_DEADLINE} s"
    results = [f.result() for f in done]
    after = [_status(pid) for pid in {master} | workers]

    # Then every answer is a success or a refusal, never an error or a dropped connection
    errors = [r for r in results if r[0] == "error" or r[1] not in ALLOWED]
    assert not errors, f"{len(errors)} bad answers, e.g. {errors[:5]}"
    statuses = {}
    for kind, status, _ in results:
        statuses[(kind, status)] = statuses.get((kind, status), 0) + 1
    # ... the limit engaged, and each refusal says when to come back
    busy = [retry_after for _, status, retry_after in results if status == 503]
    assert busy, f"no 503 at all, the slots never refused anything: {statuses}"
    assert all(value and int(value) > 0 for value in busy), f"503 without Retry-After: {busy}"
    # ... and work still got done: JSON submits too, though the slow uploads
    # may hold every upload slot for the whole burst; a report without a
    # large attachment takes none (tipdrop/server/web/upload.py, SMALL_BODY)
    # and waits only for an Argon2 slot.
    assert statuses.get(("submit", 201)) and statuses.get(("check", 404)), statuses

    # And no worker died or was replaced, and memory stayed under the bound
    assert None not in after, "a worker exited during the burst"
    assert sampler.pids == workers, "gunicorn replaced a worker during the burst"
    # The pool's threads, the main thread and the body-deadline watchdog.
    assert sampler.max_threads <= THREADS + 2, (
        f"a worker ran {sampler.max_threads} threads; the memory bound assumes {THREADS}")
    assert sampler.samples > 10
    hwm_mib = sum(hwm for _, hwm, _ in after)
    report = (f"base {base_mib:.0f} MiB, sampled peak {sampler.peak_rss:.0f} MiB, "
              f"sum of VmHWM {hwm_mib:.0f} MiB, bound {bound:.0f} MiB")
    print(statuses, report, f"threads {sampler.max_threads}")  # shown when the test fails
    assert sampler.peak_rss <= bound, report
    assert hwm_mib <= bound, report

    # And right after the burst a normal submit and check work
    _submit_and_check(server)


def test_repeated_checks_from_one_client_get_429_and_others_are_unaffected(tmp_path):
    limit = 5
    server = start_server(tmp_path, workers=WORKERS,
                          extra_env={"TIPDROP_CHECKS_PER_HOUR": str(limit)})
    try:
        # Given a client that checks receipts over and over. The workers share
        # one count (web/ratelimit.py), so the limit is the server's.
        attempts = WORKERS * limit + 4
        answers = [_post_json(server, "/api/v1/check", {"receipt": receipts.generate().formatted})
                   for _ in range(attempts)]
        statuses = [status for status, _, _, _ in answers]

        # Then exactly `limit` are answered, whichever worker took them, and the rest refused
        assert statuses == [404] * limit + [429] * (attempts - limit), statuses
        for status, headers, body, _ in answers:
            if status == 429:
                assert int(headers["Retry-After"]) > 0
                assert json.loads(body)["error"] == "RateLimitedError"

        # And a different address is not affected
        status, _, body, _ = _post_json(server, "/api/v1/check",
                                        {"receipt": receipts.generate().formatted},
                                        source="127.0.0.3")
        assert status == 404, body[:300]
    finally:
        server.stop()


def test_a_client_rotating_ipv6_addresses_inside_its_64_shares_one_limit(tmp_path):
    # Given a real server behind a local proxy (TIPDROP_PROXIES=1: the client
    # is the X-Forwarded-For address, as nginx writes it) and a limit of 3 checks
    limit = 3
    server = start_server(tmp_path, workers=WORKERS,
                          extra_env={"TIPDROP_CHECKS_PER_HOUR": str(limit),
                                     "TIPDROP_PROXIES": "1"})

    def check_from(address):
        body = json.dumps({"receipt": receipts.generate().formatted}).encode()
        status, _, _ = server.request("POST", "/api/v1/check", body,
                                      JSON | {"X-Forwarded-For": address})
        return status

    try:
        # When a phone checks from a new address of its /64 each time
        rotating = [f"2001:db8:5:6:{n:x}::{n + 1:x}" for n in range(limit + 2)]
        statuses = [check_from(address) for address in rotating]

        # Then the /64 is one client: past the limit it is refused, whichever worker answers
        assert statuses == [404] * limit + [429] * 2, statuses
        # And the next /64, and an IPv4 client, are not affected
        assert check_from("2001:db8:5:7::1") == 404
        assert check_from("198.51.100.7") == 404
    finally:
        server.stop()
