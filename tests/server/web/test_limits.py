"""Flood protection: concurrency slots, and rate limits shared by a server's workers."""

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from tipdrop.server.web import create_app
from tipdrop.server.web.limits import BusyError, Slots
from tipdrop.server.web.ratelimit import (
    HELD,
    IN_MEMORY,
    RateLimitedError,
    RateLimiter,
    RuntimeDirError,
    SharedCounts,
    check_in_memory,
    filesystem_type,
    hold,
    shared_dir,
    sweep_stale,
)


@pytest.fixture
def counts(tmp_path):
    """A server's shared counters in a folder of their own under /dev/shm (tmpfs)."""
    counts = SharedCounts.for_server("/dev/shm", tmp_path / "instance")
    yield counts
    import shutil

    shutil.rmtree(counts.folder, ignore_errors=True)


def limiter(counts, limit, window=60, now=None, name="check"):
    clock = (lambda: now[0]) if now is not None else time.monotonic
    return RateLimiter(counts, name, limit, window, clock=clock)


def test_rate_limiter_refuses_past_the_limit_and_forgets_after_the_window(counts):
    now = [1000.0]
    checks = limiter(counts, 3, now=now)
    for _ in range(3):
        checks.hit("10.0.0.1")
    with pytest.raises(RateLimitedError):
        checks.hit("10.0.0.1")
    checks.hit("10.0.0.2")  # someone else is not affected
    now[0] += 61
    checks.hit("10.0.0.1")


def test_each_limit_counts_on_its_own(counts):
    limiter(counts, 1, name="submit").hit("10.0.0.1")
    limiter(counts, 1, name="check").hit("10.0.0.1")
    with pytest.raises(RateLimitedError):
        limiter(counts, 1, name="submit").hit("10.0.0.1")


def test_window_slides_one_event_at_a_time(counts):
    now = [1000.0]
    checks = limiter(counts, 2, window=60, now=now)
    checks.hit("a")
    now[0] += 30
    checks.hit("a")
    now[0] += 29  # the first is 59 s old: still inside the window
    with pytest.raises(RateLimitedError):
        checks.hit("a")
    now[0] += 2  # now it has left the window, the second has not
    checks.hit("a")
    with pytest.raises(RateLimitedError):
        checks.hit("a")


def _hit_in_child(folder, limit, results):
    counts = SharedCounts(folder)
    refused = 0
    for _ in range(limit):
        try:
            RateLimiter(counts, "check", limit, 3600).hit("192.0.2.7")
        except RateLimitedError:
            refused += 1
    results.put(refused)


def test_processes_sharing_the_counts_share_one_limit(counts):
    # Given four processes (as gunicorn forks workers) each trying `limit` times
    limit, processes = 25, 4
    results = multiprocessing.get_context("fork").Queue()
    children = [multiprocessing.get_context("fork").Process(
        target=_hit_in_child, args=(counts.folder, limit, results)) for _ in range(processes)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
    refused = sum(results.get(timeout=10) for _ in children)
    # Then exactly `limit` got through, all processes together
    assert processes * limit - refused == limit


# An IPv4 address, and an IPv6 client as context._counted_client names it (its /64)
@pytest.mark.parametrize("client", ["192.0.2.44", "2001:db8:1:2::/64"])
def test_counts_keep_no_address_only_keyed_digests(counts, client):
    limiter(counts, 5).hit(client)
    rows = counts.rows()
    raw = (counts.folder / "limits.db").read_bytes()
    assert client.encode() not in raw and client not in repr(rows)
    assert b"2001:db8:1:2" not in raw  # nor the prefix without its length
    assert [len(client) for _, client, _ in rows["events"]] == [16]


def test_day_key_changes_daily_and_takes_the_old_counts_with_it(tmp_path):
    day = [1]
    counts = SharedCounts(shared_dir("/dev/shm", tmp_path / "d"), day=lambda: day[0])
    try:
        limiter(counts, 1).hit("192.0.2.44")
        (key1,) = [key for _, _, key in counts.rows()["day_key"]]
        first = {client for _, client, _ in counts.rows()["events"]}
        day[0] = 2
        limiter(counts, 1).hit("192.0.2.44")  # not refused: yesterday's count is gone
        rows = counts.rows()
        assert [key for _, _, key in rows["day_key"]] != [key1]
        assert len(rows["events"]) == 1
        assert {client for _, client, _ in rows["events"]}.isdisjoint(first)
        assert key1 not in (counts.folder / "limits.db").read_bytes()
    finally:
        import shutil

        shutil.rmtree(counts.folder, ignore_errors=True)


def test_counts_are_bounded(counts, monkeypatch):
    from tipdrop.server.web import ratelimit

    monkeypatch.setattr(ratelimit, "MAX_EVENTS", 100)
    monkeypatch.setattr(ratelimit, "PRUNE_EVERY", 10)
    checks = limiter(counts, 1)
    for i in range(1000):
        checks.hit(f"10.0.{i // 256}.{i % 256}")
    assert len(counts.rows()["events"]) <= 100 + 10


def test_counts_folder_and_file_are_private(counts):
    assert counts.folder.stat().st_mode & 0o777 == 0o700
    assert (counts.folder / "limits.db").stat().st_mode & 0o777 == 0o600


def test_runtime_folder_on_a_disk_is_refused(tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/vda / ext4 rw 0 0\ntmpfs /dev/shm tmpfs rw 0 0\n"
                      "tmpfs /run tmpfs rw 0 0\n")
    disk = tmp_path / "on-disk"
    disk.mkdir()
    with pytest.raises(RuntimeDirError, match="ext4"):
        check_in_memory(disk, mounts)
    check_in_memory("/dev/shm", mounts)
    with pytest.raises(RuntimeDirError, match="does not exist"):
        check_in_memory(tmp_path / "missing", mounts)


def test_app_refuses_to_start_with_counts_on_a_disk(app_config, tmp_path):
    # A real folder on a disk: the test's own, or else this checkout's.
    disk = next(p for p in (tmp_path, Path(__file__).parent)
                if filesystem_type(p) not in IN_MEMORY)
    with pytest.raises(RuntimeDirError, match="not in RAM"):
        create_app(app_config | {"runtime_dir": disk})
    assert not shared_dir(disk, app_config["data_dir"]).exists()


def test_slots_give_up_quickly_when_full():
    slots = Slots(1, wait=0.05)
    with slots():
        start = time.monotonic()
        with pytest.raises(BusyError):
            with slots():
                pass
        assert time.monotonic() - start < 1
    with slots():
        pass


def test_busy_server_answers_503_with_retry_after(app_config):
    app = create_app(app_config | {"argon2_slots": 1})
    slots = app.extensions["tipdrop"]["argon2_slots"]
    slots.wait = 0.05
    client = app.test_client()
    with slots():
        response = client.post("/api/v1/check", data=json.dumps({"receipt": "0" * 23 + "1"}),
                               content_type="application/json")
    # A malformed receipt is refused before any Argon2 work, busy or not.
    assert response.status_code == 400
    from tipdrop.protocol import receipts

    with slots():
        response = client.post("/api/v1/check",
                               data=json.dumps({"receipt": receipts.generate().formatted}),
                               content_type="application/json")
    assert response.status_code == 503
    assert response.headers["Retry-After"]


def test_too_many_checks_from_one_client_get_429(app_config):
    app = create_app(app_config | {"checks_per_hour": 2})
    client = app.test_client()
    from tipdrop.protocol import receipts

    codes = []
    for _ in range(3):
        response = client.post("/api/v1/check",
                               data=json.dumps({"receipt": receipts.generate().formatted}),
                               content_type="application/json")
        codes.append(response.status_code)
    assert codes == [404, 404, 429]


@pytest.mark.parametrize("make", ["open to others", "a link"])
def test_a_counts_folder_someone_else_could_read_is_refused(tmp_path, make):
    # /dev/shm is writable by every user and the folder's name can be guessed
    data_dir = tmp_path / "instance"
    folder = shared_dir("/dev/shm", data_dir)
    decoy = Path("/dev/shm") / f"{folder.name}-decoy"
    try:
        if make == "open to others":
            folder.mkdir(mode=0o700)
            folder.chmod(0o777)
        else:
            decoy.mkdir(mode=0o700)
            folder.symlink_to(decoy)
        with pytest.raises(RuntimeDirError, match="not a private folder"):
            SharedCounts.for_server("/dev/shm", data_dir)
        assert not (folder / "limits.db").exists()
    finally:
        if folder.is_symlink():
            folder.unlink()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(decoy, ignore_errors=True)


def test_counts_go_on_when_their_file_is_removed_while_the_server_runs(counts):
    check = limiter(counts, 2)
    check.hit("192.0.2.1")
    (counts.folder / "limits.db").unlink()
    # A new file is made and used (the others' processes reopen it too), no 500
    check.hit("192.0.2.1")
    check.hit("192.0.2.1")
    with pytest.raises(RateLimitedError):
        check.hit("192.0.2.1")
    assert (counts.folder / "limits.db").exists()


def test_counts_that_cannot_be_written_are_a_503_not_an_internal_error(counts):
    check = limiter(counts, 2)
    check.hit("192.0.2.1")
    import shutil

    shutil.rmtree(counts.folder)
    counts.folder.write_bytes(b"")  # the folder's place taken: nothing can be opened there
    try:
        with pytest.raises(BusyError):
            check.hit("192.0.2.1")
    finally:
        counts.folder.unlink()


@pytest.fixture
def runtime_dir():
    """A runtime folder of this test's own in /dev/shm: other servers on the machine are not in it."""
    import secrets
    import shutil

    folder = Path("/dev/shm") / f"td-sweep-test-{secrets.token_hex(6)}"
    folder.mkdir(mode=0o700)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_the_sweep_removes_a_folder_once_every_process_holding_it_is_dead(runtime_dir):
    import signal
    import subprocess
    import sys

    folder = shared_dir(runtime_dir, "/srv/some-data")
    # Given a process that uses the folder (as a worker does), killed with SIGKILL
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from tipdrop.server.web.ratelimit import SharedCounts\n"
         f"counts = SharedCounts({str(folder)!r}); counts.rows()\n"
         "print('ready', flush=True); time.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        # While it lives, a sweep leaves its folder alone
        assert sweep_stale(runtime_dir) == 0
        assert (folder / "limits.db").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # Once it is dead, the folder goes
    assert sweep_stale(runtime_dir) == 1
    assert not folder.exists()


def test_the_sweep_touches_nothing_it_cannot_prove_a_dead_server_s(runtime_dir, tmp_path):
    # A folder an older tipdrop made (no HELD file), a name tipdrop does not
    # give, and a link to someone's folder with an unheld HELD file in it
    older = runtime_dir / "tipdrop-0123456789abcdef"
    older.mkdir(mode=0o700)
    (older / "limits.db").write_bytes(b"x")
    odd = runtime_dir / "tipdrop-backup-2024"
    odd.mkdir(mode=0o700)
    (odd / HELD).write_bytes(b"")
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (target / HELD).write_bytes(b"")
    (runtime_dir / "tipdrop-fedcba9876543210").symlink_to(target)
    assert sweep_stale(runtime_dir) == 0
    assert (older / "limits.db").exists() and odd.is_dir() and (target / HELD).exists()


def test_a_folder_swept_while_a_process_starts_using_it_is_made_again(runtime_dir):
    folder = shared_dir(runtime_dir, "/srv/data")
    first = hold(folder)
    os.close(first)  # its process died: the folder is a dead server's
    counts = SharedCounts(folder)
    assert sweep_stale(runtime_dir) == 1
    counts.rows()  # a new process: it makes and holds the folder again
    assert (folder / HELD).exists()
    assert sweep_stale(runtime_dir) == 0  # held: kept
    del counts
    import gc

    gc.collect()
    assert sweep_stale(runtime_dir) == 1  # let go with its object


def _check_from(client, address):
    from tipdrop.protocol import receipts

    return client.post("/api/v1/check", data=json.dumps({"receipt": receipts.generate().formatted}),
                       content_type="application/json",
                       environ_base={"REMOTE_ADDR": address}).status_code


def test_ipv6_clients_are_counted_by_their_64_prefix(app_config):
    # Given a limit of 2 checks, and a phone that rotates addresses inside its /64
    client = create_app(app_config | {"checks_per_hour": 2}).test_client()
    rotating = ["2001:db8:1:2::1", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::ffff"]
    # Then its third check is refused, from whichever address of the /64
    assert [_check_from(client, a) for a in rotating] == [404, 404, 429]
    # And the neighbouring /64 is another client
    assert _check_from(client, "2001:db8:1:3::1") == 404


def test_ipv6_addresses_embedding_ipv4_are_counted_by_that_ipv4_address(app_config):
    # Given a limit of 1 check, and IPv4 clients reaching the server through IPv6
    # (NAT64, local-use NAT64, IPv4-compatible, 6to4, Teredo)
    client = create_app(app_config | {"checks_per_hour": 1}).test_client()
    teredo = "2001:0:4136:e378:8000:63bf:{:x}:{:x}"  # client address XOR ffff:ffff

    def teredo_of(a, b, c, d):
        return teredo.format(0xFFFF ^ (a << 8 | b), 0xFFFF ^ (c << 8 | d))

    kinds = [
        lambda a, b, c, d: f"64:ff9b::{a}.{b}.{c}.{d}",
        lambda a, b, c, d: f"64:ff9b:1:abcd::{a}.{b}.{c}.{d}",
        lambda a, b, c, d: f"::{a}.{b}.{c}.{d}",
        lambda a, b, c, d: f"2002:{a:02x}{b:02x}:{c:02x}{d:02x}:1::1",
        teredo_of,
    ]
    for n, kind in enumerate(kinds):
        # Then three different IPv4 hosts embedded alike do not share a limit
        hosts = [(198, 51, 100, 10 * n + i) for i in (1, 2, 3)]
        assert [_check_from(client, kind(*h)) for h in hosts] == [404, 404, 404], n
        # And the same IPv4 host, embedded another way or plain, is the same client
        assert _check_from(client, "{}.{}.{}.{}".format(*hosts[0])) == 429, n
    second = (203, 0, 113, 7)
    assert _check_from(client, kinds[3](*second)) == 404  # 6to4 from one /64 ...
    assert _check_from(client, "2002:cb00:7107:ffff::2") == 429  # ... and another
    assert _check_from(client, teredo_of(*second)) == 429


def test_ipv4_and_ipv4_mapped_clients_are_still_counted_per_address(app_config):
    client = create_app(app_config | {"checks_per_hour": 1}).test_client()
    # An IPv4-mapped IPv6 address (a dual-stack socket) is its IPv4 address
    assert _check_from(client, "::ffff:192.0.2.1") == 404
    assert _check_from(client, "192.0.2.1") == 429
    # Neighbouring IPv4 addresses are different clients
    assert _check_from(client, "192.0.2.2") == 404
    assert _check_from(client, "::ffff:192.0.2.3") == 404


# --- a line for the upload slots: a freed slot goes to the longest waiting -----------

def _in_thread(slots, results, name, hold=0.0, started=None):
    """Take a slot in a thread of its own (as a request does); record (name, outcome, when)."""
    import threading

    def run():
        try:
            with slots():
                results.append((name, "slot", time.monotonic()))
                time.sleep(hold)
        except BusyError:
            results.append((name, "busy", time.monotonic()))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _until(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_freed_slot_goes_to_the_longest_waiting_request_not_to_whoever_asks_then():
    """A holder that asks again as soon as it lets go (a client that reopens
    at once) must not take its slot back before a newcomer that waited."""
    slots = Slots(1, wait=10, line=2)
    results = []
    with slots():
        newcomer = _in_thread(slots, results, "newcomer", hold=0.3)
        _until(lambda: len(slots._waiters) == 1)
    # The holder let go and asks again at once: the slot is the newcomer's already
    again = _in_thread(slots, results, "holder again")
    for thread in (newcomer, again):
        thread.join(timeout=20)
    assert [(name, outcome) for name, outcome, _ in results] == [
        ("newcomer", "slot"), ("holder again", "slot")]


def test_only_line_requests_wait_for_a_slot_one_more_is_refused_at_once():
    slots = Slots(1, wait=10, line=2)
    results = []
    with slots():
        waiters = [_in_thread(slots, results, f"waiter {n}") for n in range(2)]
        _until(lambda: len(slots._waiters) == 2)
        start = time.monotonic()
        with pytest.raises(BusyError):
            with slots():
                pass
        assert time.monotonic() - start < 1
    for thread in waiters:
        thread.join(timeout=20)
    assert sorted(outcome for _, outcome, _ in results) == ["slot", "slot"]


def test_a_waiter_gives_up_after_its_wait_and_leaves_the_line():
    slots = Slots(1, wait=0.3, line=2)
    results = []
    with slots():
        waiter = _in_thread(slots, results, "waiter")
        waiter.join(timeout=20)
        assert [outcome for _, outcome, _ in results] == ["busy"]
        assert not slots._waiters
    with slots():  # the slot came back free, not to a waiter that left
        pass


def test_a_waiter_asks_again_while_it_waits_for_a_holder_to_be_ended():
    """Holders too young to be judged when a request comes are judged while it waits."""
    judged = []
    slots = Slots(1, wait=10, line=2, recheck=0.05)
    results = []

    def reclaim():
        judged.append(time.monotonic())
        if len(judged) < 3:  # not yet old enough to be judged
            return False
        release.set()  # ended: the holder (this test's thread) lets go
        return threading.main_thread().ident

    import threading

    release = threading.Event()
    slots.reclaim = reclaim
    with slots():
        waiter = _in_thread(slots, results, "waiter")
        assert release.wait(10)
    waiter.join(timeout=20)
    assert [outcome for _, outcome, _ in results] == ["slot"]
    assert len(judged) == 3  # asked again while it waited, and no more once one was ended


def test_a_slot_freed_by_a_holder_not_ended_does_not_count_as_the_ended_one_letting_go():
    """A waiter served by a finished holder leaves the ended holder's release for the next."""
    import threading

    ended_holders = []
    holders = {}
    slots = Slots(3, wait=10, line=2, recheck=0.05)

    def reclaim():
        ended_holders.append("h1")
        return holders["h1"][0].ident  # ended, but it has not let go yet

    def hold(name):
        let_go = threading.Event()

        def run():
            with slots():
                let_go.wait(20)

        thread = threading.Thread(target=run)
        holders[name] = (thread, let_go)
        thread.start()

    slots.reclaim = reclaim
    for name in ("h1", "h2", "h3"):
        hold(name)
    _until(lambda: slots._free == 0)
    # Given a waiter that had the slowest holder, h1, ended for it
    hold("w1")
    _until(lambda: ended_holders == ["h1"])
    # When another holder finishes and its slot goes to that waiter
    holders["h2"][1].set()
    _until(lambda: not slots._waiters)
    # Then a new waiter has no second holder ended: h1's release will serve it
    hold("w2")
    _until(lambda: len(slots._waiters) == 1)
    time.sleep(0.3)  # several rechecks
    assert ended_holders == ["h1"]
    holders["h1"][1].set()
    _until(lambda: not slots._waiters)
    assert ended_holders == ["h1"]
    for thread, let_go in holders.values():
        let_go.set()
        thread.join(timeout=20)
    assert slots._free == 3 and not slots._holders and not slots._ending


def test_a_full_line_keeps_the_places_of_waiters_that_sent_most():
    """Clients holding the line with heads alone are pushed out by an upload that sends its body."""
    import threading

    sent = {"MainThread": 0, "head only": 10, "honest": 300_000, "another head": 10}

    def standing():
        mine = sent[threading.current_thread().name]
        return lambda: mine

    slots = Slots(1, wait=10, line=1, standing=standing)
    results = []

    def request(name):
        thread = threading.Thread(target=lambda: _take_and_note(slots, results, name), name=name)
        thread.start()
        return thread

    with slots():
        first = request("head only")
        _until(lambda: len(slots._waiters) == 1)
        # When an upload whose client sent more comes, it takes the place, and the head is refused
        honest = request("honest")
        _until(lambda: ("head only", "busy") in [(n, o) for n, o, _ in results])
        # And one that sent no more than the honest one is refused at once
        another = request("another head")
        _until(lambda: ("another head", "busy") in [(n, o) for n, o, _ in results])
    for thread in (first, honest, another):
        thread.join(timeout=20)
    assert [(name, outcome) for name, outcome, _ in results] == [
        ("head only", "busy"), ("another head", "busy"), ("honest", "slot")]


def _take_and_note(slots, results, name):
    try:
        with slots():
            results.append((name, "slot", time.monotonic()))
    except BusyError:
        results.append((name, "busy", time.monotonic()))
