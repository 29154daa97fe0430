"""`tipdrop doctor` through the real command: exit 0 on a clean set-up, 2 with fixes on a broken one."""

import json
from pathlib import Path

import pytest

from tipdrop.crypto import kdf, keys
from tipdrop.server.web import create_app

pytestmark = pytest.mark.e2e

DOCS = Path(__file__).resolve().parents[2] / "docs"
# Small uploads, so the disk space check passes on any test machine.
ENV = {"TIPDROP_MAX_UPLOAD_MB": "1"}


@pytest.fixture
def deployment(tmp_path):
    """Keys, routing and a data folder made by the app itself, as on a first start."""
    keys_dir, data_dir = tmp_path / "keys", tmp_path / "instance"
    keys_dir.mkdir()
    (keys_dir / "demo.pub").write_bytes(keys.generate("demo").public.to_json())
    (keys_dir / "routing.json").write_text(json.dumps({"version": 1, "regions": {"astana": "demo"}}))
    create_app({"data_dir": data_dir, "keys_dir": keys_dir, "receipt_params": kdf.TEST_PARAMS})
    return keys_dir, data_dir


def doctor(run_cli, deployment, *extra):
    keys_dir, data_dir = deployment
    return run_cli("doctor", "--data-dir", data_dir, "--keys-dir", keys_dir, *extra, env=ENV)


def with_pages(run_cli, tmp_path, source=DOCS / "nginx-tipdrop.conf"):
    """``source`` with its refusal pages in ``tmp_path``, written by `tipdrop nginx-pages`."""
    from tipdrop.server.nginxpages import FOLDER

    folder = tmp_path / "refusals"
    result = run_cli("nginx-pages", "--out", folder)
    assert result.returncode == 0, result.stderr
    path = tmp_path / source.name
    path.write_text(source.read_text().replace(FOLDER, str(folder)))
    return path


def test_doctor_passes_a_clean_deployment(run_cli, deployment, tmp_path):
    result = doctor(run_cli, deployment, "--nginx-config", with_pages(run_cli, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "problem:" not in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("doctor: all is well (checked ")
    assert "nginx config" in result.stdout


def test_doctor_without_a_proxy_to_check_says_so_and_passes(run_cli, deployment):
    result = doctor(run_cli, deployment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "note: the reverse proxy was not checked" in result.stdout


def test_doctor_names_each_problem_with_its_fix_and_exits_2(run_cli, deployment, tmp_path):
    # Given a deployment broken in four ways
    keys_dir, data_dir = deployment
    (keys_dir / "demo.key").write_text("a private key, by mistake")
    data_dir.chmod(0o755)
    (data_dir / "token-secret").chmod(0o644)
    buffering = tmp_path / "nginx.conf"
    buffering.write_text("server { client_body_temp_path /run/t; proxy_temp_path /run/p;"
                         " access_log off; gzip off;"
                         " error_log /dev/null; location / {"
                         " proxy_pass http://127.0.0.1:8080; proxy_http_version 1.1; } }")
    # When the doctor looks at it
    result = doctor(run_cli, deployment, "--nginx-config", buffering)
    # Then it exits 2 with one line per problem, each with its fix, and a summary
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    problems = [line for line in lines if line.startswith("problem: ")]
    # (and the config's lack of the error_page lines for nginx's own refusals, twice)
    assert len(problems) == 6
    assert all(" -- fix: " in line for line in problems)
    assert lines[-1].startswith("doctor: 6 problem(s) found")
    text = "\n".join(problems)
    assert "move it off the server" in text
    assert f"chmod 700 {data_dir}" in text
    assert f"chmod 600 {data_dir / 'token-secret'}" in text
    assert "'proxy_request_buffering off;'" in text
    assert "'error_page 413 /.tipdrop-refused/413.$tipdrop_lang.$tipdrop_refusal_kind;'" in text


def test_doctor_asks_the_live_site_for_the_proxys_marker(run_cli, server):
    # Given tipdrop served directly, with no nginx in front to add the marker
    status, _, body = server.request("GET", "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok", "storage": "ok", "keys": "ok"}
    # When the doctor checks the site's address, Then it misses the marker
    result = run_cli("doctor", "--check-url", f"http://127.0.0.1:{server.port}",
                     env=server.env() | ENV)
    assert result.returncode == 2, result.stdout + result.stderr
    [problem] = [line for line in result.stdout.splitlines() if line.startswith("problem: ")]
    assert f"http://127.0.0.1:{server.port}/healthz answered without " \
           "'X-Tipdrop-Proxy-Buffering: off'" in problem
    assert "add_header X-Tipdrop-Proxy-Buffering off always;" in problem


@pytest.mark.parametrize("host,found", [("127.0.0.1", False), ("0.0.0.0", True)])
def test_doctor_checks_the_server_behind_a_trusted_proxy_listens_on_loopback_only(
        run_cli, tmp_path, host, found):
    from tests.serving import start_server

    # Given a running server that trusts one proxy, bound to `host`
    server = start_server(tmp_path, host=host, extra_env={"TIPDROP_PROXIES": "1"})
    try:
        # When the doctor looks at the deployment
        result = run_cli("doctor", env=server.env() | ENV | {"TIPDROP_PROXIES": "1"})
    finally:
        server.stop()
    # Then a server anyone can reach directly is a problem, with its fix
    problems = [line for line in result.stdout.splitlines() if line.startswith("problem: ")]
    assert "listening address" in result.stdout.splitlines()[-1]
    if found:
        assert result.returncode == 2, result.stdout
        [problem] = problems
        assert f"listens on 0.0.0.0:{server.port}, which is not loopback" in problem
        assert "bind gunicorn to 127.0.0.1 or a Unix socket" in problem
    else:
        assert result.returncode == 0, result.stdout
        assert problems == []


def test_doctor_says_when_no_running_server_was_found_to_check(run_cli, deployment):
    keys_dir, data_dir = deployment
    result = run_cli("doctor", "--data-dir", data_dir, "--keys-dir", keys_dir,
                     env=ENV | {"TIPDROP_PROXIES": "1"})
    assert result.returncode == 0, result.stdout
    assert "note: no running server of this data folder was found" in result.stdout


def test_doctor_checks_the_backups_when_a_backup_folder_is_set(run_cli, deployment, tmp_path):
    import datetime

    from tipdrop.crypto import backupkey
    from tipdrop.server import backup

    keys_dir, data_dir = deployment
    key = backupkey.generate()
    (tmp_path / "backup.pub").write_bytes(key.public.to_json())
    folder = tmp_path / "backups"
    folder.mkdir()
    env = ENV | {"TIPDROP_BACKUP_DIR": str(folder), "TIPDROP_BACKUP_KEY": str(tmp_path / "backup.pub")}

    def run():
        return run_cli("doctor", "--data-dir", data_dir, "--keys-dir", keys_dir, env=env)

    empty = run()
    assert empty.returncode == 2
    assert f"problem: there is no backup in {folder}" in empty.stdout
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=50)
    backup.write_backup(data_dir, key.public, folder, now=old)
    late = run()
    assert late.returncode == 2 and "was made 50 hours ago" in late.stdout
    backup.write_backup(data_dir, key.public, folder)
    fresh = run()
    assert fresh.returncode == 0, fresh.stdout
    assert "backups" in fresh.stdout.strip().splitlines()[-1]


def test_doctor_warns_when_the_workers_read_ahead_budgets_outgrow_the_machine(run_cli, deployment):
    keys_dir, data_dir = deployment
    # 64 workers x 16 TiB each: more than a quarter of any machine's memory
    result = run_cli("doctor", "--data-dir", data_dir, "--keys-dir", keys_dir, "--workers", "64",
                     env=ENV | {"TIPDROP_READ_AHEAD_MB": str(16 * 1024 * 1024)})
    assert result.returncode == 2, result.stdout + result.stderr
    problems = [line for line in result.stdout.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 1, result.stdout
    assert problems[0].startswith(
        "problem: 64 worker(s) x TIPDROP_READ_AHEAD_MB=16777216 may hold 1073741824 MiB of "
        "request bodies at once, more than a quarter of this machine's ")
    assert " -- fix: lower TIPDROP_READ_AHEAD_MB to " in problems[0]
    # ... and with the default, nothing to say
    result = run_cli("doctor", "--data-dir", data_dir, "--keys-dir", keys_dir, env=ENV)
    assert result.returncode == 0 and "read-ahead memory" in result.stdout, result.stdout
