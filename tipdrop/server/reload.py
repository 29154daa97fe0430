"""Keys and routing without a restart: SIGHUP, and what the running server uses.

gunicorn's own SIGHUP already does most of it: the master starts new
workers, which load the keys folder and routing.json afresh (create_app),
and stops the old ones gracefully; the listening socket stays open
throughout, so a request waits in its queue for a moment but never fails
(tests/e2e/test_reload.py). What gunicorn does not do is look before it
leaps: new workers that cannot load a broken keys folder make the master
halt, and the old workers are already stopping, so a typo in routing.json
would take the whole server down. :func:`guard_hup` makes the master load
the new files itself first and, if they are wrong, log why and keep the
workers it has.

A worker also starts outside a reload: gunicorn replaces one that died (a
crash, the kernel's OOM killer) or timed out. Such a worker must not read
files an operator installed but did not reload, or that a refused reload
left on disk: if they were broken it could not boot, and gunicorn halts on
a worker that cannot boot. So the master keeps the keys and routing it
checked last (:func:`check_in_master`, at start and at each accepted
SIGHUP) and every worker it forks serves those (:func:`config_for_worker`):
the files on disk are read again only at the next reload.

Each worker also publishes a digest of the files it loaded
(:func:`publish_loaded`), in the server's runtime folder, so ``tipdrop
doctor`` can say when the files on disk are not the ones the running server
uses (a forgotten or refused reload). The digest covers file names and
bytes: public keys and routing, nothing secret.
"""

import hashlib
import json
import logging
import os
from pathlib import Path

from tipdrop.common.files import atomic_write
from tipdrop.errors import TipdropError
from tipdrop.protocol.routing import Routing
from tipdrop.server import alertconfig
from tipdrop.server.alertconfig import AlertConfig
from tipdrop.server.unitkeys import RETIRED, UnitKeys

#: The runtime file a worker writes after loading keys and routing.
LOADED = "loaded-config.json"

log = logging.getLogger(__name__)


def config_files(settings) -> list[Path]:
    """Every file that decides which keys, routes and duty alerts the server uses."""
    keys_dir = Path(settings.keys_dir)
    found = sorted(keys_dir.glob("*.pub")) + sorted((keys_dir / RETIRED).glob("*.pub"))
    found.append(Path(settings.routing_path))
    if settings.categories_path is not None:
        found.append(Path(settings.categories_path))
    found.append(Path(settings.alerts_path))
    return found


def config_digest(settings) -> str:
    """SHA-256 over the names and bytes of :func:`config_files` (a missing one counts too)."""
    digest = hashlib.sha256()
    for path in config_files(settings):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = None
        name = str(path).encode("utf-8", "surrogateescape")
        digest.update(len(name).to_bytes(4, "big") + name)
        digest.update(b"\x00" if data is None else b"\x01" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def load_config(settings, secrets=False) -> tuple[UnitKeys, Routing, alertconfig.AlertConfig]:
    """Load and cross-check the keys folder, routing.json and alerts.json; raise what is wrong.

    With ``secrets``, the secret files alerts.json names are read and
    checked too (by the master and the alert sender; a web worker needs none).
    """
    unit_keys = UnitKeys.load(settings.keys_dir)
    routing = Routing.load(settings.routing_path, settings.categories_path)
    routing.check_units_have_keys(unit_keys)
    alerts = alertconfig.load_alerts(settings.alerts_path, settings.keys_dir, routing,
                                     unit_keys.units)
    if secrets:
        alertconfig.read_secrets(alerts)
    return unit_keys, routing, alerts


#: Set in the gunicorn master only: the keys, routing and digest it checked last, by the
#: settings' file paths. Workers forked later inherit it (a fork copies memory).
_checked: dict[tuple[str, str, str], tuple[UnitKeys, Routing, AlertConfig, str]] = {}


def _paths(settings) -> tuple[str, str, str]:
    return str(settings.keys_dir), str(settings.routing_path), str(settings.categories_path)


def check_in_master(settings) -> None:
    """Load and check the files (raise what is wrong), and keep them for the workers to come.

    The duty alerts' secret files are checked too, but not kept: a worker
    has no use for them (alerts.py sends from a process of its own).
    """
    # The digest first: a file changed while loading then shows as differing.
    digest = config_digest(settings)
    unit_keys, routing, alerts = load_config(settings, secrets=True)
    _checked[_paths(settings)] = (unit_keys, routing, alerts, digest)


def config_for_worker(settings) -> tuple[UnitKeys, Routing, AlertConfig, str]:
    """The keys, routing and their digest a new process serves.

    In a worker of ``tipdrop serve``, the master's last checked copy;
    anywhere else (a test, a WSGI server of the operator's), the files.
    """
    checked = _checked.get(_paths(settings))
    if checked is not None:
        return checked
    digest = config_digest(settings)
    unit_keys, routing, alerts = load_config(settings)
    return unit_keys, routing, alerts, digest


def publish_loaded(folder, digest: str, master: int) -> None:
    """Record, for ``tipdrop doctor``, which files a worker of server ``master`` loaded.

    ``folder`` is the server's shared runtime folder (web/ratelimit.py);
    ``master`` the gunicorn master's process id, so that a file a stopped
    server left behind is known as such. The last worker to start writes
    last: after a reload, a new one.
    """
    atomic_write(Path(folder) / LOADED,
                 json.dumps({"digest": digest, "master": master}).encode(), overwrite=True)


def read_loaded(folder):
    """What :func:`publish_loaded` recorded, if a server is running: (digest, master pid)."""
    try:
        doc = json.loads((Path(folder) / LOADED).read_text("utf-8"))
        digest, master = doc["digest"], int(doc["master"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(master, 0)
    except ProcessLookupError:
        return None  # that server stopped
    except PermissionError:
        pass  # running, as another user
    return digest, master


def guard_hup(arbiter, settings_factory, after=None) -> None:
    """Make the gunicorn master check the keys folder and routing before a SIGHUP reload.

    Call it from gunicorn's ``on_starting`` hook. gunicorn looks its signal
    handlers up on the arbiter object, so this one replaces ``handle_hup``
    for that arbiter only. ``after`` is called once the new files passed
    (the alert sender reloads them: alerts.py).
    """
    reload = arbiter.handle_hup

    def handle_hup():
        try:
            check_in_master(settings_factory())
        except TipdropError as e:
            # The file name and the reason, never a key or a secret's content.
            arbiter.log.error("reload refused, the server keeps its keys and routing: %s",
                              e.message)
            return
        reload()
        if after is not None:
            after()

    arbiter.handle_hup = handle_hup
