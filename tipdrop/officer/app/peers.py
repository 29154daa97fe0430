"""Only the officer's own user may talk to the officer app: a stolen cookie is worth nothing.

The session cookie is the app's proof that a request comes from the
officer's browser, but browsers send a cookie to every port of its host:
a server that another user of the workstation runs on 127.0.0.1:8080 is
sent the officer's ``tipdrop_officer_PORT`` cookie as soon as the officer's
browser loads one of its pages in a same-site way (a page of that server
that moves on to itself is enough; SameSite=Strict does not tell ports
apart). With it, that user could read the inbox over a plain connection to
the app's port (docs/threat-model.md, "Web pages and other programs on the
workstation, against the officer app").

So the app answers only connections whose socket belongs to its own user.
Linux names the owner of every TCP socket in ``/proc/net/tcp``, readable by
every user: the client end of a connection to the app (local address the
client's, remote address the app's) carries the uid of the process that
opened it. A connection of another user, or one whose socket is not listed
(already closed), is closed without an answer. Where there is no
``/proc/net/tcp`` (not Linux) the check cannot be made, and the app relies
on the cookie alone, as before.
"""

import os
import socket
import struct
import sys

#: Where Linux lists the IPv4 TCP sockets of this network namespace, with their owners.
PROC_NET_TCP = "/proc/net/tcp"
TIME_WAIT = "06"


def _hex_address(host: str, port: int) -> str:
    """An address as /proc/net/tcp writes it: the IPv4 bytes as one native-order word, the port."""
    (word,) = struct.unpack("=I", socket.inet_aton(host))
    return f"{word:08X}:{port:04X}"


def socket_owner(client: tuple[str, int], server: tuple[str, int],
                 table: str = PROC_NET_TCP) -> int | None:
    """The uid owning the client end of the connection ``client`` -> ``server``.

    None if no such socket is listed (the client went away). OSError if the
    table cannot be read at all.
    """
    local, remote = _hex_address(*client), _hex_address(*server)
    with open(table, encoding="ascii") as rows:
        next(rows, None)  # the column names
        for row in rows:
            # sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ...
            columns = row.split()
            # A socket in TIME_WAIT (06) is listed as root's, whoever had it: a closed
            # connection's, never the one being checked.
            if len(columns) > 7 and columns[1] == local and columns[2] == remote \
                    and columns[3] != TIME_WAIT:
                return int(columns[7])
    return None


class OwnUserOnly:
    """``verify_request`` for the app's server: connections of this process's user only."""

    def __init__(self, server_address: tuple[str, int], uid: int | None = None,
                 table: str = PROC_NET_TCP):
        self.server_address = server_address
        self.uid = os.geteuid() if uid is None else uid
        self.table = table
        self.checkable = os.path.exists(table)
        self._told: set[int | None] = set()

    def __call__(self, _request, client_address) -> bool:
        if not self.checkable:
            return True
        try:
            owner = socket_owner(tuple(client_address[:2]), self.server_address, self.table)
        except (OSError, ValueError):
            owner = None
        if owner == self.uid:
            return True
        if owner not in self._told:  # once per user: no line per connection of a flood
            self._told.add(owner)
            who = f"user {owner}" if owner is not None else "a connection that went away"
            print(f"officer app: refused a connection from {who}: only this user's browser "
                  "is answered", file=sys.stderr)
        return False
