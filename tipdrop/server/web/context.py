"""Per-app and per-request objects the views share."""

import ipaddress

from flask import current_app, g, request

from tipdrop.common import sqlite
from tipdrop.crypto import kdf
from tipdrop.server.tips import Tips
from tipdrop.server.web.limits import BusyError
from tipdrop.server.web.puzzles import SOLUTION_HEADER, wants_puzzle
from tipdrop.server.web.ratelimit import RateLimitedError


def extension(name):
    """An app-wide object built by create_app (keys, routing, tokens, limits)."""
    return current_app.extensions["tipdrop"][name]


def sealing_keys():
    """Which key each region's reports are sealed to: its unit's newest key.

    Served to the submit page (for encryption in the browser) and to apps at
    /api/v1/keys, in the .pub file format. An app should pin these keys
    (compare the fingerprint out of band) rather than trust this answer.
    """
    routing, unit_keys = extension("routing"), extension("unit_keys")
    regions = {r.code: routing.unit_for(r.code) for r in routing.regions}
    return {
        "regions": regions,
        "units": {unit: unit_keys.current(unit).as_document()
                  for unit in sorted(set(regions.values()))},
    }


def get_db():
    """This request's database connection, the only one a request opens (closed by close_db).

    The schema was made or upgraded when the process started (prepare_storage).
    """
    if "db" not in g:
        g.db = sqlite.connect(current_app.config["TIPDROP"].database_path)
    return g.db


def get_tips():
    """The Tips use cases over this request's database connection."""
    settings = current_app.config["TIPDROP"]
    return Tips(
        get_db(),
        extension("unit_keys"),
        extension("routing"),
        settings.attachments_dir,
        receipt_params=settings.receipt_params or kdf.RECEIPT_PARAMS,
        argon2_slot=extension("argon2_slots"),
        followups_per_day=settings.followups_per_day,
        locators=extension("locators"),
        alerts=extension("alerts"),
    )


def close_db(exc=None):
    db = g.pop("db", None)
    if db is not None:
        db.close()


def count_request(limit_name):
    """Count this request against the named rate limit, shared by all workers.

    With :func:`limit_reached`, the only place the client address is read
    (:func:`_counted_client`: an IPv6 client counts by its /64): it goes
    straight into the limiter's daily-keyed HMAC and is never stored or
    logged (docs/design.md, invariant 2; see ratelimit.py).

    A request that brings a puzzle solution is admitted by it alone, and not
    counted; past the limit, a client that solves puzzles gets its 429 with
    a challenge (puzzles.py), any other the plain 429.
    """
    puzzles, purpose = extension("puzzles"), limit_name.removesuffix("_limit")
    solution = request.headers.get(SOLUTION_HEADER)
    if solution is not None and puzzles.enabled:
        g.uncount = puzzles.redeem(solution, purpose)
        return
    try:
        g.uncount = extension(limit_name).hit(_counted_client())
    except RateLimitedError as error:
        if puzzles.enabled and wants_puzzle():
            error.puzzle = puzzles.issue(purpose)
        raise


def uncount_request(error):
    """Take back this request's count (or puzzle solution) if ``error`` refused it before any work.

    Such refusals (``refused_before_work``: no upload slot free, no room
    for another upload) are 503s the client is told to try again after; the
    tries must not use up the reporter's limit, nor a solved puzzle. Any
    other refusal keeps the count: work may have been done. So does any
    refusal once a large body has begun to stream in (upload.upload_slot
    drops the means to take the count back), or once a submission's first
    file has begun to be stored (:func:`work_begins`).
    """
    uncount = g.pop("uncount", None)
    if uncount is not None and getattr(error, "refused_before_work", False):
        try:
            uncount()
        except BusyError:
            pass  # the RAM file cannot be written: the count stays, as it would have


def work_begins():
    """From here this request does work a refusal cannot undo: it keeps its count.

    Called where a request starts storing what it brings (the first file of
    a submission, encrypted and written to the database as it arrives):
    once the server has done that work, a later refusal, even a 503 "busy"
    (no Argon2 slot for the receipt), must not give the count or the
    puzzle solution back, or refusals would make storing files free
    (:func:`uncount_request`).
    """
    g.pop("uncount", None)


def limit_reached(limit_name):
    """Whether this request's client is at the named limit now; nothing is counted.

    For the puzzle probe (GET /api/v1/puzzle): the address, as in
    count_request, only enters the limiter's daily-keyed HMAC.
    """
    return extension(limit_name).reached(_counted_client())


def _counted_client():
    """Who this request counts as: its IPv4 address, or its IPv6 address's /64.

    An ISP gives a phone or a home a whole IPv6 /64, and the device picks
    (and changes, by privacy extensions or at will) its address inside it:
    counted per address, one client would have 2**64 limits. So an IPv6
    client is its /64 prefix, written as a network ("2001:db8:1:2::/64").
    An IPv6 address that carries an IPv4 client (:func:`_embedded_ipv4`:
    IPv4-mapped, NAT64, IPv4-compatible, 6to4, Teredo) is that IPv4 address,
    or behind NAT64 every IPv4 reporter would share one /64. Whatever it is, it only enters
    the limiter's daily-keyed HMAC (ratelimit.py): never stored or logged.
    """
    address = request.remote_addr or ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a Unix socket's peer): counted as it is
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return str(embedded)
        prefix = ipaddress.IPv6Address(int(ip) >> 64 << 64)  # drops a %scope too
        return f"{prefix}/64"
    return str(ip)


_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated, RFC 4291


def _embedded_ipv4(ip):
    """The IPv4 client an IPv6 address stands for, or None.

    IPv4-mapped (``::ffff:a.b.c.d``), NAT64 (``64:ff9b::a.b.c.d`` and the
    local-use ``64:ff9b:1::/48``, the IPv4 address in the last 32 bits),
    IPv4-compatible (``::a.b.c.d``, not ``::`` or ``::1``), 6to4
    (``2002:V4ADDR::/48``: one IPv4 holder has 65,536 /64s) and Teredo
    (``2001:0::/32``: the clients of one Teredo server share /64s; the
    client's own address is carried, obfuscated, in the last 32 bits).
    """
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    last_32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64_WELL_KNOWN or ip in _NAT64_LOCAL_USE:
        return last_32
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        return last_32
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None
