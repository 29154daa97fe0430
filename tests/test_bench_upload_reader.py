"""The upload bound of bench/upload.py: the WSGI reader under tipdrop's own worker class.

It is served as ``tipdrop serve`` serves tipdrop (bench/upload_reader.py), so
the worker reads small bodies ahead in its main loop for it too. A reader that
gave the worker less than tipdrop's app does killed the worker on its first
small body, and ``make bench`` stopped there.
"""

import json
import socket
import time

import pytest

from bench import upload
from bench.common import MiB, proc_children


@pytest.fixture(scope="module")
def reader():
    server = upload.ReaderServer(workers=1)
    yield server
    server.stop()


def _paused_post(port, size):
    """A small multipart POST whose body waits a second and a half in the worker's read-ahead."""
    head, tail = upload._parts(size)
    body = head + b"\1" * size + tail
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /api/v1/tips HTTP/1.1\r\nHost: bench\r\nContent-Type: "
                     b"multipart/form-data; boundary=" + upload.BOUNDARY.encode()
                     + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                     + body[:100])
        # Longer than the worker's round of deadline checks (about a second).
        time.sleep(1.5)
        sock.sendall(body[100:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and answer.endswith(b"}"):
                break
    return answer, len(body)


def test_the_reader_bound_answers_small_bodies_without_losing_its_worker(reader):
    workers = proc_children(reader.process.pid)
    for _ in range(2):
        answer, length = _paused_post(reader.port, 1024)
        assert answer.startswith(b"HTTP/1.1 201")
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["received"] == length
    assert proc_children(reader.process.pid) == workers


def test_the_reader_bound_reads_a_large_body_whole(reader):
    head, tail = upload._parts(4 * MiB)
    answer = upload._upload(reader.port, 4 * MiB)
    assert answer["status"] == 201
    assert json.loads(answer["body"])["received"] == len(head) + 4 * MiB + len(tail)
