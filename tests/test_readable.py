"""tests/readable.py: readable() sees sockets whatever their descriptor number."""

import os
import select
import socket
from contextlib import closing

import pytest

from tests.readable import readable

#: Past select()'s FD_SETSIZE (1024), as a long test process reaches.
HIGH = 1500


def _high(sock):
    """``sock`` moved to a descriptor number of HIGH or more."""
    moved = socket.socket(fileno=os.dup2(sock.fileno(), _free_from(HIGH)))
    sock.close()
    return moved


def _free_from(number):
    while True:
        try:
            os.fstat(number)
        except OSError:
            return number
        number += 1


def test_a_socket_past_1024_is_seen_readable_once_bytes_come_where_select_fails():
    here, there = socket.socketpair()
    with closing(_high(here)) as here, closing(there):
        assert here.fileno() >= HIGH
        with pytest.raises(ValueError, match="out of range"):
            select.select([here], [], [], 0)  # what the tests used
        assert readable([here], 0) == []
        there.sendall(b"x")
        assert readable([here], 5) == [here]


def test_readable_keeps_the_order_given_and_sees_a_peer_that_closed():
    pairs = [socket.socketpair() for _ in range(3)]
    try:
        pairs[2][1].sendall(b"x")
        pairs[0][1].close()
        mine = [here for here, _ in pairs]
        assert readable(mine, 5) == [mine[0], mine[2]]
    finally:
        for pair in pairs:
            for sock in pair:
                sock.close()
