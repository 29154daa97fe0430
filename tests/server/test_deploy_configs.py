"""The files in deploy/ are what gunicorn and systemd expect (docs/deploy.md)."""

import configparser
import logging
import os
import runpy
import shutil
import subprocess
from pathlib import Path

import pytest
from gunicorn.config import Config

from tipdrop.common import sqlite

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def gunicorn_config():
    """deploy/gunicorn.conf.py read as gunicorn does: every name must be a known setting."""
    namespace = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    cfg = Config()
    unknown = []
    for name, value in namespace.items():
        if name.startswith("_"):
            continue
        if name not in cfg.settings:
            unknown.append(name)
            continue
        cfg.set(name, value)  # runs gunicorn's own validator for the setting
    assert not unknown, f"not gunicorn settings (a typo?): {unknown}"
    return cfg


def test_gunicorn_config_is_valid_and_quiet():
    cfg = gunicorn_config()
    assert cfg.worker_class_str == "tipdrop.server.worker.Worker"
    from gunicorn.workers.gthread import ThreadWorker

    assert issubclass(cfg.worker_class, ThreadWorker)
    # Threads beyond the upload slots stay free for checks, pages and /healthz.
    from tipdrop.server.serve import RESERVED_THREADS
    from tipdrop.server.settings import Settings

    assert cfg.workers == 2 and cfg.threads == Settings().upload_slots + RESERVED_THREADS == 8
    # No access log: reporter requests leave no trace (docs/design.md, invariant 2).
    assert cfg.accesslog is None
    assert cfg.errorlog == "-"
    assert cfg.wsgi_app == "wsgi:app"
    assert [str(a) for a in cfg.address] == ["('127.0.0.1', 8080)"]
    assert cfg.limit_request_line == 4094 and cfg.limit_request_fields == 50
    assert cfg.umask == 0o077
    # No address or request content in the log, a bounded number of lines per request
    from tipdrop.server.logs import GunicornLogger

    assert cfg.logger_class is GunicornLogger


def test_the_master_moves_attachment_files_of_an_older_tipdrop_before_workers_start(
        tmp_path, monkeypatch):
    from tipdrop.server import store

    data_dir = tmp_path / "instance"
    (data_dir / "attachments").mkdir(parents=True)
    db = sqlite.connect(data_dir / "tipdrop.db")
    store.init(db)
    db.close()
    orphan = data_dir / "attachments" / ("c" * 32 + ".bin")
    orphan.write_bytes(b"left by a crash of an older tipdrop")
    os.utime(orphan, (0, 0))
    monkeypatch.setenv("TIPDROP_DATA_DIR", str(data_dir))
    gunicorn_config().on_starting(_Master())
    assert not (data_dir / "attachments").exists()


def test_the_master_removes_runtime_folders_dead_servers_left(tmp_path, monkeypatch):
    import secrets

    from tipdrop.server.web.ratelimit import HELD, hold

    runtime = Path("/dev/shm") / f"td-conf-test-{secrets.token_hex(6)}"
    runtime.mkdir(mode=0o700)
    try:
        dead, live = runtime / "tipdrop-0123456789abcdef", runtime / "tipdrop-fedcba9876543210"
        for folder in (dead, live):
            folder.mkdir(mode=0o700)
            (folder / HELD).write_bytes(b"")
        held = hold(live)
        monkeypatch.setenv("TIPDROP_DATA_DIR", str(tmp_path / "instance"))
        monkeypatch.setenv("TIPDROP_RUNTIME_DIR", str(runtime))
        gunicorn_config().on_starting(_Master())
        os.close(held)
        assert not dead.exists() and live.is_dir()
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


class _Master:
    """What on_starting touches of gunicorn's arbiter: its SIGHUP handler."""

    def handle_hup(self):
        self.reloaded = True


def test_the_master_checks_keys_and_routing_before_a_sighup_reload(tmp_path, monkeypatch):
    data_dir, keys_dir = tmp_path / "instance", tmp_path / "keys"
    keys_dir.mkdir()
    (keys_dir / "routing.json").write_text('{"version": 1, "regions": {"astana": "demo"}}')
    monkeypatch.setenv("TIPDROP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("TIPDROP_KEYS_DIR", str(keys_dir))
    master = _Master()
    master.log = logging.getLogger("test-master")
    gunicorn_config().on_starting(master)
    # Given a region routed to a unit without a key, a SIGHUP changes nothing
    master.handle_hup()
    assert not hasattr(master, "reloaded")
    # And once the key is there, it reloads
    from tipdrop.crypto import keys

    (keys_dir / "demo.pub").write_bytes(keys.generate("demo").public.to_json())
    master.handle_hup()
    assert master.reloaded


def test_gunicorn_config_matches_tipdrop_serve():
    """`tipdrop serve` and the production file make the same choices."""
    import inspect

    from tipdrop.server import serve as server

    source = inspect.getsource(server.run_gunicorn)
    cfg = gunicorn_config()
    assert '"threads": settings.upload_slots + RESERVED_THREADS' in source
    assert cfg.threads == 4 + server.RESERVED_THREADS  # TIPDROP_UPLOAD_SLOTS's default
    assert f'"worker_class": "{cfg.worker_class_str}"' in source
    assert '"accesslog": None' in source


def unit(name):
    parser = configparser.ConfigParser(strict=False, interpolation=None,
                                       dict_type=_MultiDict)
    parser.optionxform = str
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


class _MultiDict(dict):
    """systemd allows repeated keys (Environment=): keep them all, newline-joined."""

    def __setitem__(self, key, value):
        if key in self and isinstance(value, list) and isinstance(self[key], list):
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def test_tipdrop_service_runs_gunicorn_as_tipdrop_with_hardening():
    service = unit("tipdrop.service")["Service"]
    assert service["User"] == "tipdrop" and service["Group"] == "tipdrop"
    assert "gunicorn -c /opt/tipdrop/deploy/gunicorn.conf.py" in service["ExecStart"]
    env = service["Environment"].split("\n")
    assert "TIPDROP_DATA_DIR=/var/lib/tipdrop" in env
    assert "TIPDROP_KEYS_DIR=/etc/tipdrop/keys" in env
    assert "TIPDROP_PROXIES=1" in env
    assert service["StateDirectory"] == "tipdrop" and service["StateDirectoryMode"] == "0700"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "ReadWritePaths": "/var/lib/tipdrop", "PrivateTmp": "yes",
                       "LimitCORE": "0", "UMask": "0077"}.items():
        assert service[key] == value, key
    assert unit("tipdrop.service")["Install"]["WantedBy"] == "multi-user.target"


def test_tipdrop_service_starts_gunicorn_with_the_allocator_settings_of_tipdrop_serve():
    """Production runs gunicorn itself, so the unit must set what `tipdrop serve` sets."""
    from tipdrop.server.serve import ALLOCATOR_ENV

    env = unit("tipdrop.service")["Service"]["Environment"].split("\n")
    for name, value in ALLOCATOR_ENV.items():
        assert f"{name}={value}" in env


def test_purge_service_and_daily_timer():
    service = unit("tipdrop-purge.service")["Service"]
    assert service["Type"] == "oneshot" and service["User"] == "tipdrop"
    assert service["ExecStart"].endswith("tipdrop purge")
    assert "TIPDROP_DATA_DIR=/var/lib/tipdrop" in service["Environment"].split("\n")
    timer = unit("tipdrop-purge.timer")
    assert timer["Timer"]["OnCalendar"] == "daily"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_backup_service_prunes_then_backs_up_daily_at_a_fixed_time():
    service = unit("tipdrop-backup.service")["Service"]
    assert service["Type"] == "oneshot" and service["User"] == "tipdrop"
    assert service["ExecStart"].endswith(
        "tipdrop backup --prune /var/backups/tipdrop --out /var/backups/tipdrop")
    env = service["Environment"].split("\n")
    assert "TIPDROP_BACKUP_KEY=/etc/tipdrop/backup.pub" in env
    assert "TIPDROP_BACKUP_DAYS=14" in env
    assert service["ReadWritePaths"] == "/var/lib/tipdrop /var/backups/tipdrop"
    timer = unit("tipdrop-backup.timer")["Timer"]
    # No random delay: the age bound in docs/operations.md counts on one run a day.
    assert timer["OnCalendar"] == "*-*-* 04:00:00" and "RandomizedDelaySec" not in timer
    assert timer["Persistent"] == "true"


def test_torrc_points_the_onion_at_nginx_onion_block():
    lines = [line.split() for line in (DEPLOY / "tor" / "torrc").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert ["HiddenServiceDir", "/var/lib/tor/tipdrop/"] in lines
    assert ["HiddenServicePort", "80", "127.0.0.1:8081"] in lines
    assert "listen 127.0.0.1:8081;" in (DEPLOY / "nginx" / "tipdrop.conf").read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_finds_no_syntax_errors(tmp_path):
    # Only syntax: the paths (/opt/tipdrop, user tipdrop) do not exist here.
    for name in ("tipdrop.service", "tipdrop-purge.service", "tipdrop-purge.timer",
                 "tipdrop-backup.service", "tipdrop-backup.timer"):
        (tmp_path / name).write_text((DEPLOY / "systemd" / name).read_text())
    result = subprocess.run(["systemd-analyze", "verify", "--man=no",
                             *(str(tmp_path / n) for n in ("tipdrop.service",
                                                           "tipdrop-purge.service",
                                                           "tipdrop-purge.timer",
                                                           "tipdrop-backup.service",
                                                           "tipdrop-backup.timer"))],
                            capture_output=True, text=True, timeout=60)
    syntax = [line for line in result.stderr.splitlines()
              if "Unknown key" in line or "Unknown section" in line
              or "Failed to parse" in line or "Invalid" in line]
    assert not syntax, result.stderr
