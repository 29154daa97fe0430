"""Honest receipt checks while 100 uploads stall: p99 latency with and without.

``tipdrop serve`` (its shipped choices: 2 gthread workers, TIPDROP_UPLOAD_SLOTS
+ 4 threads each, the default read deadline and minimum rate) answers
receipt checks from a closed loop of honest clients, first alone, then while
100 other connections each send the head of a multipart upload and then
nothing. An upload the server ends (408 after the read deadline, or 503
when every upload slot is taken) is started again by its attacker a moment
later, so about 100 are in flight throughout. An attacker does not hang up
when answered, it waits for the server to close the connection. The figure is the honest
check's p99 in both phases and their ratio; a check that got no answer
within CHECK_TIMEOUT counts as taking that long (and is counted apart).

The same is measured while TRICKLING connections each send the head of a
JSON check announcing a 200 KiB body and then that body at twice
TIPDROP_MIN_BODY_RATE, so no deadline ends them: such small bodies are read
by the worker's main loop, not a thread (tipdrop/server/readahead.py);
before, three per thread held every thread and the honest checks got no
answer.

Run alone: ``python -m bench.stalled`` (prints the figures as JSON).
"""

import http.client
import json
import select
import socket
import sys
import threading
import time
import uuid

from bench.http_load import TEXT, Server

STALLED = 100
HEAD_BYTES = 1024
#: An honest check not answered within this long counts as this long.
CHECK_TIMEOUT = 10.0
#: Before an ended upload is started again.
RESTART_PAUSE = 0.2
#: Connections trickling small bodies: three per thread of both workers.
TRICKLING = 48
SMALL_BODY_BYTES = 200 * 1024
#: Each trickle sends this every TRICKLE_PAUSE: 2 KiB/s, twice the default minimum rate.
TRICKLE_BYTES = 512
TRICKLE_PAUSE = 0.25


def _stalled_upload_head(port):
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="region"\r\n\r\nastana\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="v.mp4"\r\n'
            f"Content-Type: video/mp4\r\n\r\n").encode() + b"\x00" * HEAD_BYTES
    return (f"POST /api/v1/tips HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(head) + 50 * 1024 * 1024}\r\n\r\n").encode() + head


class _Attack:
    """STALLED connections, each holding a stalled upload open until the server ends it."""

    def __init__(self, port, count, small=False):
        self.port, self.count, self.small = port, count, small
        self.stop = threading.Event()
        self.ends = {}
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._attacker, daemon=True) for _ in range(count)]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _wait_for_the_end(self, sock):
        """The status the server answered (or "closed"), once it has closed the connection.

        An attacker does not hang up when answered: it waits for the server to
        close, which costs a server that drains the unread body a thread.
        """
        end = None
        while not self.stop.is_set():
            if select.select([sock], [], [], 0.5)[0]:
                data = sock.recv(65536)
                if not data:
                    return end or "closed"
                end = end or data[9:12].decode(errors="replace")
        return "still open"

    def _trickle(self, sock):
        """Send a small body slowly; the status if the server answered, else "still open"."""
        body = b'{"receipt": "' + b"x" * (SMALL_BODY_BYTES - 15) + b'"}'
        sock.sendall((f"POST /api/v1/check HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                      ).encode())
        sent = 0
        while not self.stop.wait(TRICKLE_PAUSE):
            if select.select([sock], [], [], 0)[0]:
                data = sock.recv(65536)
                return data[9:12].decode(errors="replace") if data else "closed"
            sock.sendall(body[sent:sent + TRICKLE_BYTES])
            sent += TRICKLE_BYTES
        return "still open"

    def _attacker(self):
        while not self.stop.is_set():
            end = "error"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
                    if self.small:
                        end = self._trickle(sock)
                    else:
                        sock.sendall(_stalled_upload_head(self.port))
                        end = self._wait_for_the_end(sock)
            except OSError:
                end = "reset"
            with self._lock:
                self.ends[end] = self.ends.get(end, 0) + 1
            self.stop.wait(RESTART_PAUSE)


def _checks(server, body, clients, seconds):
    """A closed loop of honest receipt checks: latencies (s) and statuses."""
    latencies, statuses, lock = [], {}, threading.Lock()
    stop_at = time.monotonic() + seconds

    def client():
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=CHECK_TIMEOUT)
            try:
                conn.request("POST", "/api/v1/check", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = "no answer"
            finally:
                conn.close()
            elapsed = min(time.perf_counter() - start, CHECK_TIMEOUT)
            with lock:
                latencies.append(elapsed)
                statuses[str(status)] = statuses.get(str(status), 0) + 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return latencies, statuses


def _p(latencies, q):
    return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000


def measure(workers=2, seconds=10, stalled=STALLED, clients=2, extra_env=None):
    """Honest check latency, idle and under ``stalled`` stalled uploads."""
    server = Server(workers, extra_env={"TIPDROP_ARGON2_SLOTS": "2"} | (extra_env or {}))
    try:
        status, answer = server.request("POST", "/api/v1/tips", json.dumps(
            {"region": "astana", "category": "drugs", "description": TEXT}).encode())
        assert status == 201, answer
        body = json.dumps({"receipt": json.loads(answer)["receipt"]}).encode()
        idle, idle_statuses = _checks(server, body, clients, seconds)
        with _Attack(server.port, stalled) as attack:
            time.sleep(2)  # let the stalled uploads take the upload slots
            under, under_statuses = _checks(server, body, clients, seconds)
            ends = dict(attack.ends)
            rss = server.rss_mib()
    finally:
        server.stop()
    idle_p99, under_p99 = _p(idle, 0.99), _p(under, 0.99)
    return {
        "check_p50_ms_idle": _p(idle, 0.50),
        "check_p99_ms_idle": idle_p99,
        f"check_p50_ms_under_{stalled}_stalled_uploads": _p(under, 0.50),
        f"check_p99_ms_under_{stalled}_stalled_uploads": under_p99,
        "check_p99_ratio_stalled_vs_idle": under_p99 / idle_p99,
        "stalled_check_statuses_idle": idle_statuses,
        "stalled_check_statuses_under_attack": under_statuses,
        "stalled_upload_ends": ends,
        "stalled_server_rss_mib": rss,
        "stalled_uploads": stalled,
        "stalled_check_clients": clients,
    }


def measure_small_bodies(workers=2, seconds=10, trickling=TRICKLING, clients=2, extra_env=None):
    """Honest check latency, idle and while ``trickling`` connections trickle small bodies."""
    server = Server(workers, extra_env={"TIPDROP_ARGON2_SLOTS": "2"} | (extra_env or {}))
    try:
        status, answer = server.request("POST", "/api/v1/tips", json.dumps(
            {"region": "astana", "category": "drugs", "description": TEXT}).encode())
        assert status == 201, answer
        body = json.dumps({"receipt": json.loads(answer)["receipt"]}).encode()
        idle, idle_statuses = _checks(server, body, clients, seconds)
        with _Attack(server.port, trickling, small=True) as attack:
            time.sleep(2)  # every trickle connected and sending
            under, under_statuses = _checks(server, body, clients, seconds)
            ends = dict(attack.ends)
            rss = server.rss_mib()
    finally:
        server.stop()
    idle_p99, under_p99 = _p(idle, 0.99), _p(under, 0.99)
    return {
        "small_trickles_check_p50_ms_idle": _p(idle, 0.50),
        "small_trickles_check_p99_ms_idle": idle_p99,
        f"check_p50_ms_under_{trickling}_small_body_trickles": _p(under, 0.50),
        f"check_p99_ms_under_{trickling}_small_body_trickles": under_p99,
        "check_p99_ratio_small_trickles_vs_idle": under_p99 / idle_p99,
        "small_trickles_check_statuses_under_attack": under_statuses,
        "small_trickles_ended_during_the_checks": ends,
        "small_trickles_server_rss_mib": rss,
        "small_body_trickles": trickling,
    }


if __name__ == "__main__":
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    print(json.dumps({"stalled_uploads": measure(seconds=seconds),
                      "small_body_trickles": measure_small_bodies(seconds=seconds)}, indent=2))
