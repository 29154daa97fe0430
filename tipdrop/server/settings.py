"""Settings as data: each has a name, an environment variable, a type, a default and help.

Settings are read once, by :func:`from_env` at the edge (the CLI, ``wsgi.py``)
and passed down as a frozen object; nothing reads the environment at import
time. Tests build ``Settings`` directly or pass a dict to ``create_app``.

These are the server's settings. The workstation's (TIPDROP_KEY,
TIPDROP_WORKDIR, TIPDROP_PASSPHRASE) are options of the officer commands,
read by click where they are used (tipdrop/officer/cli.py).
"""

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from tipdrop.errors import ConfigError

#: Past this a phone would work for hours (docs/protocol.md section 21).
MAX_PUZZLE_BITS = 32


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    type: type
    default: object
    help: str


SETTINGS = (
    Setting("data_dir", "TIPDROP_DATA_DIR", Path, Path("./instance"),
            "Server data: the SQLite database, attachment ciphertext, the token secret."),
    Setting("keys_dir", "TIPDROP_KEYS_DIR", Path, Path("./keys"),
            "Unit public keys (*.pub) and routing.json. Never a private key."),
    Setting("max_upload_mb", "TIPDROP_MAX_UPLOAD_MB", int, 200,
            "Largest submission (all files together), in megabytes."),
    Setting("argon2_slots", "TIPDROP_ARGON2_SLOTS", int, 2,
            "Receipt hashes one worker process runs at once; more wait, then get 503."),
    Setting("upload_slots", "TIPDROP_UPLOAD_SLOTS", int, 4,
            "Submissions larger than 256 KiB one worker process streams in at once; more wait "
            "(TIPDROP_UPLOAD_WAIT) or get 503 (smaller ones are read whole first and need no slot). "
            "`tipdrop serve` runs 4 more threads than this, kept for checks, pages and /healthz."),
    Setting("upload_wait", "TIPDROP_UPLOAD_WAIT", int, 8,
            "Seconds a large submission waits in line when every upload slot of its worker is "
            "held, before it gets 503; a freed slot goes to the one that waited longest. At most "
            "2 wait per worker process, more get 503 at once; 0: no waiting."),
    Setting("open_uploads", "TIPDROP_OPEN_UPLOADS", int, 50,
            "Reports being uploaded in resumable pieces at once, for the whole server; more "
            "get 503, unless one of them is idle (TIPDROP_UPLOAD_IDLE_SECONDS). Each holds at most TIPDROP_MAX_UPLOAD_MB of ciphertext in the database "
            "until it is stored or `tipdrop purge` deletes it (a day or two later)."),
    Setting("upload_idle_seconds", "TIPDROP_UPLOAD_IDLE_SECONDS", int, 600,
            "Seconds after which a resumable upload that received no piece gives up its place "
            "among TIPDROP_OPEN_UPLOADS: it is deleted, the longest idle first, when a new upload "
            "needs the room. One still receiving pieces keeps its place."),
    Setting("upload_lifetime_seconds", "TIPDROP_UPLOAD_LIFETIME_SECONDS", int, 10800,
            "Seconds a resumable upload may take from its begin, however often pieces arrive: "
            "past them it is deleted and its device told to send the report again. The "
            "default (3 hours) is about nine times what the largest upload takes on a 3G "
            "uplink with drops; it bounds how long one client holds one of "
            "TIPDROP_OPEN_UPLOADS (docs/protocol.md section 19, \"Lifetime\")."),
    Setting("read_timeout", "TIPDROP_READ_TIMEOUT", int, 20,
            "Seconds a request body may pause between two pieces (then it is ended, 408), "
            "and a request head may take to arrive."),
    Setting("min_body_rate", "TIPDROP_MIN_BODY_RATE", int, 1024,
            "Bytes per second a request body must average over every TIPDROP_RATE_WINDOW; "
            "a slower one is ended (408) and nothing of it is kept."),
    Setting("rate_window", "TIPDROP_RATE_WINDOW", int, 30,
            "Seconds over which TIPDROP_MIN_BODY_RATE and TIPDROP_CONTENDED_BODY_RATE are measured."),
    Setting("contended_body_rate", "TIPDROP_CONTENDED_BODY_RATE", int, 32768,
            "When every upload slot of a worker is held and another large upload comes, the "
            "slowest upload that brought less than this many bytes per second over the last "
            "TIPDROP_RATE_WINDOW is ended (408) to give it the slot; 0: never."),
    Setting("read_ahead_mb", "TIPDROP_READ_AHEAD_MB", int, 32,
            "Mebibytes of small request bodies (at most 256 KiB each) one worker process holds "
            "while it reads them before a thread takes them; a body that does not fit gets 503 "
            "at once. `tipdrop doctor` warns if the workers together could hold more than a "
            "quarter of the machine's memory."),
    Setting("submits_per_hour", "TIPDROP_SUBMITS_PER_HOUR", int, 20,
            "Submissions per hour from one client, for the whole server (counted in RAM, "
            "anonymised); locators asked for by devices are counted alike, on their own."),
    Setting("checks_per_hour", "TIPDROP_CHECKS_PER_HOUR", int, 60,
            "Receipt checks per hour from one client, for the whole server (counted in RAM, anonymised)."),
    Setting("followups_per_hour", "TIPDROP_FOLLOWUPS_PER_HOUR", int, 20,
            "Follow-up messages per hour from one client, for the whole server (counted in RAM, anonymised)."),
    Setting("puzzle_bits", "TIPDROP_PUZZLE_BITS", int, 16,
            "Past a per-client limit, a client with JavaScript (or an app) may pass by solving a "
            "puzzle of this many bits of SHA-256 work (each bit doubles it; 16 is a few seconds "
            "on a phone); 0: no puzzle, a plain 429 as for a browser without JavaScript."),
    Setting("followups_per_day", "TIPDROP_FOLLOWUPS_PER_DAY", int, 10,
            "Follow-up messages one report takes per day (UTC), from all clients together."),
    Setting("runtime_dir", "TIPDROP_RUNTIME_DIR", Path, Path("/dev/shm"),  # noqa: S108 (a RAM folder, by design)
            "A folder in RAM (tmpfs) where the workers of one server share their rate-limit "
            "counters, one-time page keys and the locators reserved for devices; never on a disk."),
    Setting("proxies", "TIPDROP_PROXIES", int, 0,
            "Reverse proxies in front of the app (e.g. 1 for nginx): trust that many "
            "X-Forwarded-For/-Proto hops, for rate limits and HSTS. 0 when exposed directly."),
    Setting("retention_days", "TIPDROP_RETENTION_DAYS", int, 90,
            "`tipdrop purge` deletes tips closed at least this many days ago."),
    Setting("backup_key", "TIPDROP_BACKUP_KEY", Path, None,
            "The operator's backup public key file (from `tipdrop backup-keygen`), outside the "
            "keys folder: `tipdrop backup` seals to it; its private half is kept offline."),
    Setting("backup_dir", "TIPDROP_BACKUP_DIR", Path, None,
            "Where backups are kept: `tipdrop doctor` warns when the newest there is too old."),
    Setting("backup_days", "TIPDROP_BACKUP_DAYS", int, 14,
            "`tipdrop backup --prune` deletes backups made more than this many days ago; a "
            "purged report survives in backups at most this long plus one day."),
    Setting("backup_max_age_hours", "TIPDROP_BACKUP_MAX_AGE_HOURS", int, 36,
            "`tipdrop doctor` warns when the newest backup in TIPDROP_BACKUP_DIR is older."),
    Setting("quick_exit_url", "TIPDROP_QUICK_EXIT_URL", str, "https://www.google.com/",
            "Where the quick-exit button on every reporter page leads: a neutral site."),
)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./instance")
    keys_dir: Path = Path("./keys")
    max_upload_mb: int = 200
    argon2_slots: int = 2
    upload_slots: int = 4
    upload_wait: int = 8
    open_uploads: int = 50
    upload_idle_seconds: int = 600
    upload_lifetime_seconds: int = 10800
    read_timeout: int = 20
    min_body_rate: int = 1024
    rate_window: int = 30
    contended_body_rate: int = 32768
    read_ahead_mb: int = 32
    submits_per_hour: int = 20
    checks_per_hour: int = 60
    followups_per_hour: int = 20
    puzzle_bits: int = 16
    followups_per_day: int = 10
    runtime_dir: Path = Path("/dev/shm")  # noqa: S108 (a RAM folder, by design)
    proxies: int = 0
    retention_days: int = 90
    backup_key: Path | None = None
    backup_dir: Path | None = None
    backup_days: int = 14
    backup_max_age_hours: int = 36
    quick_exit_url: str = "https://www.google.com/"
    #: Argon2id parameters for new receipts; not settable from the
    #: environment (tests pass cheap ones, production keeps the default).
    receipt_params: object = None

    @property
    def database_path(self):
        return self.data_dir / "tipdrop.db"

    @property
    def attachments_dir(self):
        return self.data_dir / "attachments"

    @property
    def routing_path(self):
        return self.keys_dir / "routing.json"

    @property
    def categories_path(self):
        """Optional: the operator's own list of categories (else the shipped one)."""
        return self.keys_dir / "categories.json"

    @property
    def max_upload_bytes(self):
        return self.max_upload_mb * 1024 * 1024

    @property
    def read_ahead_bytes(self):
        """The body bytes one worker reads ahead at most (tipdrop/server/readahead.py)."""
        return self.read_ahead_mb * 1024 * 1024

    @property
    def alerts_path(self):
        """Optional: which units get duty alerts, and how (alertconfig.py)."""
        return self.keys_dir / "alerts.json"

    def as_env(self):
        """These settings as the environment variables :func:`from_env` reads back.

        How a process started by the server (the alert sender, alerts.py)
        gets the very settings the server runs with, flags included.
        """
        found = {}
        for setting in SETTINGS:
            value = getattr(self, setting.name)
            if value is not None:
                found[setting.env] = str(value)
        return found

    def replace(self, **changes):
        """A copy with ``changes`` (None values ignored), converted to each setting's type."""
        declared = {s.name: s for s in SETTINGS}
        values = {}
        for name, value in changes.items():
            if value is None:
                continue
            if name not in {f.name for f in dataclasses.fields(self)}:
                raise ConfigError(f"unknown setting {name!r}")
            setting = declared.get(name)
            values[name] = value if setting is None else _convert(setting, value)
        return dataclasses.replace(self, **values)


#: Settings that may be 0 (each says what 0 means); every other number is at least 1.
_ZERO_ALLOWED = ("proxies", "puzzle_bits", "contended_body_rate", "upload_wait")


def _convert(setting, value):
    """``value`` as ``setting``'s type, or ConfigError naming the setting and what it takes."""
    kind, label = setting.type, f"setting {setting.name} ({setting.env})"
    if isinstance(value, kind):
        return value  # from code, not from a person: tests and commands may go lower
    try:
        converted = kind(value)
    except (TypeError, ValueError):
        noun = "a whole number" if kind is int else f"a valid {kind.__name__}"
        raise ConfigError(f"{label}: {value!r} is not {noun}") from None
    if kind is int:
        least = 0 if setting.name in _ZERO_ALLOWED else 1
        if converted < least:
            raise ConfigError(f"{label} is out of range: {converted} (at least {least})")
        if setting.name == "puzzle_bits" and converted > MAX_PUZZLE_BITS:
            raise ConfigError(f"{label} is out of range: {converted} (at most {MAX_PUZZLE_BITS})")
    return converted


def from_env(environ=None, **overrides):
    """Build Settings from ``environ`` (default os.environ); non-None overrides win."""
    environ = os.environ if environ is None else environ
    values = {s.name: environ[s.env] for s in SETTINGS if environ.get(s.env)}
    return Settings().replace(**values).replace(**overrides)
