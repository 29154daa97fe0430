"""Checks of a server deployment: ``tipdrop doctor`` and ``/healthz`` call these.

Each ``check_*`` function looks at one thing and returns a list of
:class:`Finding` (empty when all is well): what is wrong and how to fix it.
Nothing here changes the deployment, and nothing reads or counts tips.
Time, free disk space, file reading and HTTP are parameters so that tests
can set up each broken case without breaking the machine.
"""

import os
import shutil
import sqlite3
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tipdrop.common import sqlite
from tipdrop.crypto import keys
from tipdrop.errors import ConfigError, KeyFileError, TipdropError
from tipdrop.protocol.routing import Routing
from tipdrop.server import nginxconf, sockets
from tipdrop.server.unitkeys import UnitKeys

#: The header an nginx that passes request bodies through unbuffered sets
#: (docs/reverse-proxy.md); ``--check-url`` looks for it.
PROXY_HEADER = "X-Tipdrop-Proxy-Buffering"
EARLIEST_YEAR = 2025
#: Private keys are small; larger files are still scanned this far.
_SCAN_LIMIT = 1024 * 1024
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the deployment, and what to do about it."""

    problem: str
    fix: str

    def __str__(self):
        return f"problem: {self.problem} -- fix: {self.fix}"


def _read_head(path):
    with open(path, "rb") as f:
        return f.read(_SCAN_LIMIT)


def check_keys_dir(keys_dir, read=_read_head):
    """Private key material, unreadable files and broken .pub files in the keys folder."""
    keys_dir = Path(keys_dir)
    if not keys_dir.is_dir():
        return [Finding(f"the keys folder {keys_dir} does not exist",
                        f"create it and copy each unit's .pub into it: mkdir {keys_dir}")]
    found = []
    for path in sorted(keys_dir.rglob("*")):
        if path.is_dir():
            continue
        private = Finding(
            f"{path} holds a private key; the server must hold only public keys",
            "move it off the server (to the unit's workstation), treat that key as exposed "
            "and make the unit a new one (tipdrop keygen)")
        if path.suffix == ".key":
            found.append(private)
            continue
        try:
            data = read(path)
        except OSError as e:
            found.append(Finding(f"{path} cannot be read ({e.strerror or e})",
                                 f"let the server's user read it (chmod 644 {path}) or remove it"))
            continue
        if keys.looks_private(data):
            found.append(private)
        elif path.suffix == ".pub":
            try:
                keys.parse_public(data)
            except KeyFileError as e:
                found.append(Finding(f"{path} is not a valid unit public key ({e.message})",
                                     "copy the .pub again from the unit's workstation"))
    return found


def check_routing(keys_dir, routing_path, categories_path=None):
    """routing.json loads, and every unit it routes regions to has a public key."""
    try:
        routing = Routing.load(Path(routing_path), categories_path and Path(categories_path))
    except ConfigError as e:
        return [Finding(e.detail or e.message,
                        f"write a valid {routing_path} (see keys/README.md)")]
    keys_dir = Path(keys_dir)
    units_with_keys = set()
    for path in sorted(keys_dir.glob("*.pub")):
        try:
            units_with_keys.add(keys.parse_public(path.read_bytes()).unit)
        except (OSError, TipdropError):
            continue  # reported by check_keys_dir
    found = []
    for unit in routing.units:
        if unit in units_with_keys:
            continue
        regions = ", ".join(r.code for r in routing.regions if routing.unit_for(r.code) == unit)
        found.append(Finding(
            f"{routing_path} routes {regions} to unit {unit!r}, which has no public key "
            f"in {keys_dir}",
            f"copy {unit}.pub from the unit's workstation into {keys_dir} (compare its "
            f"fingerprint: tipdrop keys show), or route those regions to another unit"))
    if found or check_keys_dir(keys_dir):
        return found  # what check_keys_dir finds it reports itself, file by file
    try:
        UnitKeys.load(keys_dir)
    except TipdropError as e:
        found.append(Finding(f"the server would not load {keys_dir}: {e.message}",
                             "fix the keys folder as the message says, then restart"))
    return found


def _installed_units(keys_dir):
    """The units with a key in ``keys_dir``; none if it cannot be loaded (check_keys says why)."""
    try:
        return UnitKeys.load(keys_dir).units
    except TipdropError:
        return []


#: An alert interval below this tells a report's time of arrival too finely.
ALERT_INTERVAL_FLOOR = 60


def check_alerts(settings):
    """alerts.json and the secret files it names, as the server would load them at start."""
    from tipdrop.server import alertconfig

    if not Path(settings.alerts_path).exists():
        return []
    try:
        routing = Routing.load(Path(settings.routing_path), settings.categories_path)
    except ConfigError:
        return []  # check_routing says why
    fix = (f"correct {settings.alerts_path} or the file it names (docs/operations.md, "
           "\"Duty alerts\"), then reload: systemctl reload tipdrop")
    try:
        config = alertconfig.load_alerts(settings.alerts_path, settings.keys_dir, routing,
                                         _installed_units(settings.keys_dir))
        alertconfig.read_secrets(config)
    except ConfigError as e:
        return [Finding(e.detail or e.message, fix)]
    return [Finding(
        f"{settings.alerts_path}: unit {unit} is alerted every {found.interval} s: an alert then "
        f"tells when a report arrived to within {found.interval} s (docs/threat-model.md, "
        "\"Duty alerts\")", f"set its interval to {ALERT_INTERVAL_FLOOR} s or more")
        for unit, found in sorted(config.units.items())
        if found.interval < ALERT_INTERVAL_FLOOR]


def check_data_dir(data_dir, uid=None):
    """The data folder is private: mode 0700, owned by the user running the server."""
    data_dir = Path(data_dir)
    uid = os.geteuid() if uid is None else uid
    try:
        info = data_dir.stat()
    except FileNotFoundError:
        return [Finding(f"the data folder {data_dir} does not exist",
                        f"start the server once (it creates it), or: mkdir -m 700 {data_dir}")]
    found = []
    mode = info.st_mode & 0o777
    if mode != 0o700:
        found.append(Finding(
            f"the data folder {data_dir} has mode {mode:04o}; only its owner may enter it",
            f"chmod 700 {data_dir}"))
    if info.st_uid != uid:
        found.append(Finding(
            f"the data folder {data_dir} belongs to {_user(info.st_uid)}, not to "
            f"{_user(uid)} who runs this check",
            f"run tipdrop (and this check) as its owner, or: chown -R {_user(uid)} {data_dir}"))
    return found


def _user(uid):
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def check_database(database_path, connect=sqlite.connect):
    """The database opens, answers, and tipdrop's connections get WAL, FULL sync, secure_delete."""
    database_path = Path(database_path)
    if not database_path.exists():
        return [Finding(f"the database {database_path} does not exist",
                        "start the server once (tipdrop serve): it creates the database")]
    db = None
    try:
        db = connect(database_path)
        answer = db.execute("SELECT 1").fetchone()
        pragmas = sqlite.pragma_report(db)
    except (sqlite3.Error, OSError) as e:
        return [Finding(f"cannot use the database {database_path} ({e})",
                        "check that the server's user owns it (mode 0600) and the disk is not "
                        f"full; then: sqlite3 {database_path} 'PRAGMA integrity_check'")]
    finally:
        if db is not None:
            db.close()
    found = []
    if answer != (1,):
        found.append(Finding(f"the database {database_path} gives wrong answers",
                             f"check it: sqlite3 {database_path} 'PRAGMA integrity_check'"))
    if str(pragmas["journal_mode"]).lower() != "wal":
        found.append(Finding(
            f"the database runs in journal mode {pragmas['journal_mode']!r}, not WAL, so "
            "an acknowledged report may not survive a crash",
            "keep the data folder on a local disk (WAL does not work on network shares); "
            "tipdrop switches to WAL itself where it can"))
    if pragmas["synchronous"] != 2:
        found.append(Finding(
            f"the database connection has synchronous={pragmas['synchronous']}, not FULL (2), "
            "so a power cut may lose acknowledged reports",
            "restore 'PRAGMA synchronous=FULL' in tipdrop/server/store/__init__.py (PRAGMAS)"))
    if pragmas["secure_delete"] != 1:
        found.append(Finding(
            "the database connection has secure_delete off, so purged reports stay in free pages",
            "restore 'PRAGMA secure_delete=ON' in tipdrop/server/store/__init__.py (PRAGMAS); use an SQLite "
            "that supports it"))
    return found


def check_token_secret(data_dir):
    """The form-token secret exists, has 32+ bytes, and only its owner can read it."""
    from tipdrop.server.web.tokens import SECRET_FILE

    path = Path(data_dir) / SECRET_FILE
    make = f"head -c 32 /dev/urandom > {path} && chmod 600 {path}"
    try:
        size = len(path.read_bytes())
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        return [Finding(f"the token secret {path} is missing",
                        f"start the server once (it makes one), or: {make}")]
    except OSError as e:
        return [Finding(f"the token secret {path} cannot be read ({e.strerror})",
                        f"give it to the server's user: chown USER {path} && chmod 600 {path}")]
    found = []
    if size < 32:
        found.append(Finding(f"the token secret {path} has {size} bytes; it needs at least 32",
                             f"replace it (open forms expire once): {make}"))
    if mode & 0o077:
        found.append(Finding(
            f"the token secret {path} has mode {mode:04o}: other users could forge form tokens",
            f"chmod 600 {path}"))
    return found


def check_legacy_attachments(attachments_dir):
    """No attachment files an older tipdrop wrote are left: their times tell when reports arrived."""
    folder = Path(attachments_dir)
    files = sum(1 for _ in folder.glob("*.bin")) if folder.is_dir() else 0
    if not files:
        return []
    return [Finding(
        f"{folder} holds {files} attachment file(s) from a tipdrop older than database version 6; "
        "their file times tell when each report arrived",
        "restart the server (systemctl restart tipdrop): at start it moves them into the "
        "database and deletes them")]


def check_backups(backup_dir: Path, max_age_hours: int, backup_key: Path | None = None,
                  now: float | None = None) -> list[Finding]:
    """The newest backup in TIPDROP_BACKUP_DIR is recent, and the backup key is installed."""
    from tipdrop.server import backup

    folder = Path(backup_dir)
    found = []
    from tipdrop.server.backups_cli import load_backup_public

    try:
        load_backup_public(backup_key)
    except (TipdropError, OSError):
        found.append(Finding(
            "TIPDROP_BACKUP_KEY is not set or names no backup public key: "
            "`tipdrop backup` cannot run",
            "make a backup key offline with `tipdrop backup-keygen`, copy backup.pub to the "
            "server and set TIPDROP_BACKUP_KEY to it"))
    if not folder.is_dir():
        return found + [Finding(f"the backup folder {folder} does not exist",
                                f"install -d -m 0700 -o tipdrop {folder}, and enable "
                                "tipdrop-backup.timer (docs/operations.md)")]
    today = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    # Hidden files are unfinished backups a crash left (prune deletes them in time).
    backups = [b for b in backup.find_backups(folder) if not b.path.name.startswith(".")]
    if not backups:
        return found + [Finding(f"there is no backup in {folder}",
                                "run `tipdrop backup --out FOLDER` and enable tipdrop-backup.timer")]
    age = today - backups[-1].created
    if age.total_seconds() > max_age_hours * 3600:
        found.append(Finding(
            f"the newest backup in {folder} was made {age.total_seconds() / 3600:.0f} hours ago, "
            f"more than TIPDROP_BACKUP_MAX_AGE_HOURS ({max_age_hours})",
            "check the timer: systemctl status tipdrop-backup.timer; journalctl -u tipdrop-backup"))
    return found


def check_clock(now=None):
    """The system clock is at least plausible (token expiry and officer requests rely on it)."""
    now = time.time() if now is None else now
    today = datetime.fromtimestamp(now, UTC)
    if today.year >= EARLIEST_YEAR:
        return []
    return [Finding(f"the system clock says {today:%Y-%m-%d}, before {EARLIEST_YEAR}",
                    "set the clock and keep it set: timedatectl set-ntp true")]


def _free_bytes(path):
    return shutil.disk_usage(path).free


def check_disk_space(data_dir, max_upload_mb, upload_slots, workers=1, free_bytes=_free_bytes):
    """Free space for twice the uploads that can arrive at once."""
    path = Path(data_dir)
    while not path.exists() and path != path.parent:
        path = path.parent
    needed = 2 * max_upload_mb * _MIB * upload_slots * workers
    free = free_bytes(path)
    if free >= needed:
        return []
    return [Finding(
        f"{free // _MIB} MiB free for {data_dir}; {workers} worker(s) x {upload_slots} upload "
        f"slots x {max_upload_mb} MB need twice that at once: {needed // _MIB} MiB",
        "free disk space, or lower TIPDROP_MAX_UPLOAD_MB or TIPDROP_UPLOAD_SLOTS")]


def _total_memory():
    """The machine's physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


#: The share of the machine's memory the workers' read-ahead bodies may take at most.
READ_AHEAD_SHARE = 4


def check_read_ahead_memory(read_ahead_mb, workers=1, total_memory=_total_memory):
    """The small bodies all workers may hold at once fit in a quarter of the machine's memory.

    Each worker's main loop holds up to TIPDROP_READ_AHEAD_MB of small
    request bodies (tipdrop/server/readahead.py), and a flood of slow
    clients fills it. More than a quarter of memory for them leaves too
    little for the Argon2 hashes, the uploads and the rest of the machine.
    """
    total = total_memory()
    held = read_ahead_mb * _MIB * workers
    if total is None or held * READ_AHEAD_SHARE <= total:
        return []
    return [Finding(
        f"{workers} worker(s) x TIPDROP_READ_AHEAD_MB={read_ahead_mb} may hold {held // _MIB} "
        f"MiB of request bodies at once, more than a quarter of this machine's "
        f"{total // _MIB} MiB of memory",
        f"lower TIPDROP_READ_AHEAD_MB to {max(1, total // READ_AHEAD_SHARE // workers // _MIB)} "
        "or less (32 by default), or run fewer workers")]


def check_nginx_config(path):
    """nginx passes request bodies to tipdrop unbuffered and never spools them to disk.

    nginx buffers a whole request body before proxying it, in temporary
    files once it outgrows memory: for tipdrop that would be uploads in
    plaintext on disk (docs/design.md, invariant 1). Every block that proxies to the app needs
    ``proxy_request_buffering off`` and ``proxy_http_version 1.1`` (with 1.0,
    nginx buffers chunked bodies regardless), and ``client_body_temp_path``
    should point to a RAM-backed folder for anything nginx still buffers.
    Nor may nginx name reporters: ``access_log off``, and ``error_log
    /dev/null``, since nginx ends every line about a connection or request, at
    any level, with ``client: <address>`` (docs/reverse-proxy.md, "Logs").
    And ``gzip off``, and no ``brotli``/``zstd`` (ngx_brotli, the zstd
    module) on where the app is proxied or in the http context it inherits
    from: compression undoes the fixed size of receipt-check answers
    (tipdrop/server/web/padded.py).
    """
    try:
        root = nginxconf.parse(path)
    except ConfigError as e:
        return [Finding(f"cannot read the nginx configuration: {e.detail or e.message}",
                        "give the file (or nginx.conf) that holds the server block for tipdrop")]
    passes = [d for d in root.walk() if d.name == "proxy_pass"]
    if not passes:
        return [Finding(f"{path} has no proxy_pass, so it does not serve tipdrop",
                        "give the file with the server block that proxies to tipdrop")]
    found = []
    for proxy in passes:
        block = proxy.parent
        where = f"{proxy.where} ({' '.join([block.name, *block.args])})"
        buffering = nginxconf.effective(proxy, "proxy_request_buffering")
        if buffering is None or buffering.args != ["off"]:
            found.append(Finding(
                f"{where}: request bodies are buffered (proxy_request_buffering is on), "
                "so nginx writes uploads to its temporary files in plaintext",
                f"add 'proxy_request_buffering off;' to that {block.name} block"))
        version = nginxconf.effective(proxy, "proxy_http_version")
        if version is None or version.args != ["1.1"]:
            found.append(Finding(
                f"{where}: proxy_http_version is not 1.1, so nginx buffers chunked uploads "
                "whatever proxy_request_buffering says",
                f"add 'proxy_http_version 1.1;' to that {block.name} block"))
        if nginxconf.effective(proxy, "client_body_temp_path") is None:
            found.append(Finding(
                f"{where}: client_body_temp_path is not set, so a body nginx does buffer "
                "goes to its default temporary folder on disk",
                "add 'client_body_temp_path /run/nginx-tipdrop;' (a folder in RAM, tmpfs) "
                "to the server block"))
        spool = nginxconf.effective(proxy, "proxy_max_temp_file_size")
        if nginxconf.effective(proxy, "proxy_temp_path") is None and (
                spool is None or spool.args != ["0"]):
            found.append(Finding(
                f"{where}: proxy_temp_path is not set, so an answer nginx buffers for a slow "
                "reader (a status page holds the police's replies, decrypted) goes to its "
                "default temporary folder on disk",
                "add 'proxy_temp_path /run/nginx-tipdrop-proxy;' (a folder in RAM, tmpfs) "
                "to the server block"))
        found.extend(_tls_findings(proxy, where))
        access = _in_force(proxy, "access_log")
        if not access or any(log.args != ["off"] for log in access):
            found.append(Finding(
                f"{where}: access_log is not off, so nginx records every visitor's address",
                "add 'access_log off;' to the server block"))
        error_logs = _in_force(proxy, "error_log")
        if not error_logs or any(log.args[:1] != ["/dev/null"] for log in error_logs):
            found.append(Finding(
                f"{where}: error_log is not /dev/null, so nginx's lines about refused, cut or "
                "broken requests name the reporter's address ('client: ...')",
                "add 'error_log /dev/null;' to the server block"))
        gzip = nginxconf.effective(proxy, "gzip")
        if gzip is None or gzip.args != ["off"]:
            found.append(Finding(
                f"{where}: gzip is not off, so nginx may compress tipdrop's answers (Debian's "
                "nginx.conf turns it on for HTML), and a receipt check's padded answer shows "
                "again by its size whether the police replied",
                "add 'gzip off;' to the server block"))
        for module in ("brotli", "zstd"):  # ngx_brotli, zstd-nginx-module: off unless set
            compress = nginxconf.effective(proxy, module)
            if compress is not None and compress.args != ["off"]:
                found.append(Finding(
                    f"{where}: {module} is on ({compress.where}), so nginx compresses tipdrop's "
                    "answers, and a receipt check's padded answer shows again by its size "
                    "whether the police replied",
                    f"add '{module} off;' to the server block, or remove '{module} on;'"))
    return found


def check_nginx_refusals(path):
    """nginx answers the requests it refuses itself with tipdrop's pages, in the reporter's language.

    A body over client_max_body_size, a request line or header over nginx's
    buffers and a head it cannot parse never reach tipdrop; without the
    error_page lines of deploy/nginx/tipdrop.conf and the pages of
    ``tipdrop nginx-pages`` nginx answers them with its own English page
    (docs/reverse-proxy.md, "nginx's own refusals"). What is missing is
    named exactly, with the line to add (tipdrop/server/nginxpages.py).
    """
    from tipdrop.server import nginxpages

    try:
        root = nginxconf.parse(path)
    except ConfigError:
        return []  # check_nginx_config says why
    return [Finding(problem, fix) for problem, fix in nginxpages.check_config(root)]


def _tls_findings(proxy, where):
    """What weakens the TLS of a server block that listens with ``ssl``.

    Session tickets are encrypted with a key nginx keeps in memory until it
    restarts: whoever gets that key decrypts every recorded TLS 1.2 session
    it served, and with it the reports of the form without JavaScript, which
    reach the server in plaintext inside TLS. TLS 1.0 and 1.1 are broken.
    """
    server = proxy.parent
    while server is not None and server.name != "server":
        server = server.parent
    listens = [d for d in (server.children if server else ()) if d.name == "listen"]
    if not any("ssl" in d.args for d in listens):
        return []  # plain HTTP: the onion service's block on loopback
    found = []
    tickets = nginxconf.effective(proxy, "ssl_session_tickets")
    if tickets is None or tickets.args != ["off"]:
        found.append(Finding(
            f"{where}: ssl_session_tickets is not off, so the ticket key in nginx's memory "
            "can decrypt recorded TLS 1.2 sessions, reports without JavaScript among them",
            "add 'ssl_session_tickets off;' to the server block"))
    protocols = nginxconf.effective(proxy, "ssl_protocols")
    if protocols is None or set(protocols.args) - {"TLSv1.2", "TLSv1.3"}:
        found.append(Finding(
            f"{where}: ssl_protocols does not leave TLS 1.0 and 1.1 out (Debian's nginx.conf "
            "names them), so an old client's reports travel over a broken protocol",
            "add 'ssl_protocols TLSv1.2 TLSv1.3;' to the server block"))
    return found


def _in_force(directive, name):
    """Every ``name`` directive in force inside ``directive``'s block (nginx allows
    several access_log and error_log at one level, and uses them all); [] if none."""
    first = nginxconf.effective(directive, name)
    if first is None:
        return []
    return [d for d in first.parent.children if d.name == name]


def _fetch(url):
    """(status, headers) of a GET, also for error statuses; http(s) only."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"not an http(s) address: {url}")
    request = urllib.request.Request(url, headers={"User-Agent": "tipdrop-doctor"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (checked above)
            return response.status, response.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers


def check_proxy_header(base_url, fetch=_fetch):
    """The proxy in front of ``base_url`` says it passes request bodies through unbuffered."""
    url = base_url.rstrip("/") + "/healthz"
    try:
        status, headers = fetch(url)
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        return [Finding(f"cannot reach {url} ({reason})",
                        "check the URL, and that nginx and tipdrop are running")]
    found = []
    if (headers.get(PROXY_HEADER) or "").strip().lower() != "off":
        found.append(Finding(
            f"{url} answered without '{PROXY_HEADER}: off', so the proxy in front may "
            "buffer uploads to disk in plaintext",
            "in the nginx block serving tipdrop set 'proxy_request_buffering off;' and "
            f"'add_header {PROXY_HEADER} off always;' (docs/reverse-proxy.md)"))
    if status != 200:
        found.append(Finding(f"{url} answered {status}: the service reports a fault",
                             "run tipdrop doctor on the server to see what is wrong"))
    return found


def check_runtime_dir(runtime_dir):
    """The rate-limit counters' folder is in RAM (the server refuses to start otherwise)."""
    from tipdrop.server.web.ratelimit import RuntimeDirError, check_in_memory

    try:
        check_in_memory(runtime_dir)
    except RuntimeDirError as e:
        problem, _, fix = e.message.partition(": set ")
        return [Finding(problem, "set " + fix if fix else "use a tmpfs folder")]
    return []


def check_loaded_config(settings):
    """Whether the running server uses the keys folder and routing as they are on disk.

    Each server worker records a digest of the files it loaded
    (tipdrop/server/reload.py); a different digest now means a key or routing.json
    changed since, and the server was not reloaded, or refused the reload.
    """
    from tipdrop.server.reload import config_digest, read_loaded
    from tipdrop.server.web.ratelimit import shared_dir

    running = read_loaded(shared_dir(settings.runtime_dir, settings.data_dir))
    if running is None or running[0] == config_digest(settings):
        return []
    return [Finding(
        f"the running server (gunicorn master {running[1]}) uses other unit keys or routing "
        f"than the files in {settings.keys_dir} now (alerts.json included)",
        f"reload it: systemctl reload tipdrop (or kill -HUP {running[1]}); if it refuses the "
        "files, its log says why and the checks above show what is wrong")]


def check_listening(proxies, addresses):
    """With trusted proxies, the server must be reachable through them only.

    ``addresses``: the (host, port) pairs the running server listens on
    (sockets.serving_addresses). TIPDROP_PROXIES tells tipdrop to take the
    client's address from X-Forwarded-For; whoever reaches gunicorn directly
    writes that header himself, claims a new address with every request and
    is never rate-limited. So the server may listen on loopback or a Unix
    socket only, with the proxy the one thing in front.
    """
    if not proxies or not addresses:
        return []
    return [Finding(
        f"TIPDROP_PROXIES={proxies} trusts X-Forwarded-For, but the server listens on "
        f"{host}:{port}, which is not loopback: anyone who reaches it directly can claim any "
        "address and escape the rate limits",
        "bind gunicorn to 127.0.0.1 or a Unix socket (bind in deploy/gunicorn.conf.py, "
        "tipdrop serve --host 127.0.0.1) so it is reachable only through the proxy "
        "(docs/reverse-proxy.md)")
        for host, port in addresses if not sockets.is_loopback(host)]


def diagnose(settings, *, nginx_config=None, check_url=None, workers=1,
             listening=sockets.serving_addresses):
    """Run every check that applies: a list of (name, findings) pairs."""
    results = [
        ("keys folder", check_keys_dir(settings.keys_dir)),
        ("routing", check_routing(settings.keys_dir, settings.routing_path,
                                  settings.categories_path)),
        ("alerts", check_alerts(settings)),
        ("data folder", check_data_dir(settings.data_dir)),
        ("runtime folder", check_runtime_dir(settings.runtime_dir)),
        ("keys in use", check_loaded_config(settings)),
    ]
    if settings.data_dir.exists():
        results += [
            ("database", check_database(settings.database_path)),
            ("token secret", check_token_secret(settings.data_dir)),
            ("attachment files", check_legacy_attachments(settings.attachments_dir)),
        ]
    if settings.backup_dir is not None:
        results.append(("backups", check_backups(settings.backup_dir, settings.backup_max_age_hours,
                                                 settings.backup_key)))
    results += [
        ("clock", check_clock()),
        ("disk space", check_disk_space(settings.data_dir, settings.max_upload_mb,
                                        settings.upload_slots, workers)),
        ("read-ahead memory", check_read_ahead_memory(settings.read_ahead_mb, workers)),
    ]
    if settings.proxies:
        addresses = listening(settings.data_dir)
        if addresses is not None:
            results.append(("listening address", check_listening(settings.proxies, addresses)))
    if nginx_config:
        results.append(("nginx config", check_nginx_config(nginx_config)))
        results.append(("nginx refusal pages", check_nginx_refusals(nginx_config)))
    if check_url:
        results.append(("proxy header", check_proxy_header(check_url)))
    return results
