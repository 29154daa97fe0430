"""Which addresses a running tipdrop server listens on, read from Linux's /proc.

``tipdrop doctor`` uses it: with ``TIPDROP_PROXIES`` set, tipdrop believes
the client address a proxy writes into X-Forwarded-For, so a server that
anyone can reach directly lets a client claim any address and escape every
per-client rate limit. What gunicorn was told to bind to is not enough to
know (a flag, a config file, systemd socket activation): this looks at the
sockets the server's processes actually hold.

A process serves a data folder if it runs gunicorn or ``tipdrop serve`` and
its data folder (``--data-dir``, else its TIPDROP_DATA_DIR, else
``./instance``, from its working directory) is that folder. Only processes
of the calling user can be read, so run the doctor as the server's user.
"""

import ipaddress
import os
from pathlib import Path

LISTEN = "0A"


def _args(pid, proc):
    raw = (proc / str(pid) / "cmdline").read_bytes()
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def _environ(pid, proc):
    raw = (proc / str(pid) / "environ").read_bytes()
    pairs = (item.decode("utf-8", "replace").partition("=") for item in raw.split(b"\0"))
    return {name: value for name, _, value in pairs if name}


def _is_server(args):
    names = [os.path.basename(a) for a in args[:3]]
    return "gunicorn" in names or any(a.startswith("gunicorn:") for a in args[:1]) or (
        "tipdrop" in names and "serve" in args)


def _data_dir(pid, args, proc):
    chosen = None
    for i, arg in enumerate(args):
        if arg == "--data-dir" and i + 1 < len(args):
            chosen = args[i + 1]
        elif arg.startswith("--data-dir="):
            chosen = arg.split("=", 1)[1]
    if chosen is None:
        chosen = _environ(pid, proc).get("TIPDROP_DATA_DIR") or "./instance"
    cwd = os.readlink(proc / str(pid) / "cwd")
    return Path(os.path.normpath(os.path.join(cwd, chosen)))


def _socket_inodes(pid, proc):
    inodes = set()
    for fd in (proc / str(pid) / "fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _address(hex_address):
    """'0100007F:1F90' or the 32-hex-digit IPv6 form -> ('127.0.0.1', 8080)."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # The kernel prints each 32-bit word in host (little-endian) order.
    packed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(packed)), int(port, 16)


def _listening(pid, proc):
    """(host, port) of every TCP socket in LISTEN state, by inode, in pid's network view."""
    found = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / str(pid) / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == LISTEN:
                found[fields[9]] = _address(fields[1])
    return found


def serving_addresses(data_dir, proc="/proc"):
    """Sorted (host, port) pairs the server of ``data_dir`` listens on over TCP.

    None if no process serving ``data_dir`` could be found (not running,
    or run by another user); an empty list if it listens on Unix sockets only.
    """
    proc = Path(proc)
    target = Path(os.path.realpath(data_dir))
    found, serving = set(), False
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            args = _args(pid, proc)
            if not _is_server(args) or Path(os.path.realpath(_data_dir(pid, args, proc))) != target:
                continue
            inodes = _socket_inodes(pid, proc)
            listening = _listening(pid, proc)
        except OSError:
            continue  # gone, or another user's
        serving = True
        found.update(address for inode, address in listening.items() if inode in inodes)
    return sorted(found) if serving else None


def is_loopback(host):
    address = ipaddress.ip_address(host)
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback
