"""`tipdrop doctor`'s checks: a clean deployment passes, each broken one is named with its fix.

Every test breaks one thing in an otherwise clean deployment. Time, free
disk space, file reading and HTTP are parameters of the checks, so no test
needs to break the machine itself.
"""

import json
import os
import sqlite3
import urllib.error
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path

import pytest
import sqlite_utils

from tipdrop.common import sqlite
from tipdrop.common.files import atomic_write
from tipdrop.crypto import keys
from tipdrop.server import doctor, nginxpages, store
from tipdrop.server.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
SHIPPED = DOCS.parent / "deploy" / "nginx" / "tipdrop.conf"
MIB = 1024 * 1024


@pytest.fixture
def deployment(tmp_path, public_key_file):
    """A clean server set-up: one unit key, routing, a private data folder, a database."""
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    (keys_dir / "test-unit.pub").write_bytes(public_key_file)
    (keys_dir / "routing.json").write_text(
        json.dumps({"version": 1, "regions": {"astana": "test-unit", "almaty": "test-unit"}}))
    data_dir = tmp_path / "instance"
    data_dir.mkdir(mode=0o700)
    data_dir.chmod(0o700)
    db = sqlite.connect(data_dir / "tipdrop.db")
    store.init(db)
    db.close()
    atomic_write(data_dir / "token-secret", os.urandom(32), mode=0o600)
    return Settings(data_dir=data_dir, keys_dir=keys_dir, max_upload_mb=1)


def only(findings):
    assert len(findings) == 1, findings
    return findings[0]


def test_a_clean_deployment_has_no_findings(deployment, tmp_path):
    results = doctor.diagnose(deployment, nginx_config=with_pages(tmp_path, DOCS / "nginx-tipdrop.conf"))
    assert [finding for _, found in results for finding in found] == []
    assert {name for name, _ in results} >= {
        "keys folder", "routing", "data folder", "database", "token secret", "clock",
        "disk space", "nginx config", "nginx refusal pages", "attachment files"}


def test_a_finding_reads_as_one_line_with_the_problem_and_its_fix():
    line = str(doctor.Finding("the thing is broken", "mend it"))
    assert line == "problem: the thing is broken -- fix: mend it"


# --- keys folder -------------------------------------------------------------------


@pytest.mark.parametrize("name,content", [
    ("test-unit.key", b"anything"),
    ("notes.txt", b'{"tipdrop": "unit-private-key"}'),
    ("sub/tls.pem", b"-----BEGIN PRIVATE KEY-----\n"),
])
def test_private_key_in_the_keys_folder_is_found(deployment, name, content):
    path = deployment.keys_dir / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    finding = only(doctor.check_keys_dir(deployment.keys_dir))
    assert str(path) in finding.problem and "private key" in finding.problem
    assert "move it off the server" in finding.fix


def test_our_private_key_file_named_pub_is_found(deployment, private_key_file):
    (deployment.keys_dir / "other.pub").write_bytes(private_key_file)
    assert "private key" in only(doctor.check_keys_dir(deployment.keys_dir)).problem


def test_unreadable_pub_is_found(deployment):
    target = deployment.keys_dir / "test-unit.pub"

    def read(path):
        if path == target:
            raise PermissionError(13, "Permission denied")
        return path.read_bytes()

    finding = only(doctor.check_keys_dir(deployment.keys_dir, read=read))
    assert "cannot be read (Permission denied)" in finding.problem
    assert f"chmod 644 {target}" in finding.fix


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_pub_with_mode_000_is_found(deployment):
    (deployment.keys_dir / "test-unit.pub").chmod(0)
    assert "cannot be read" in only(doctor.check_keys_dir(deployment.keys_dir)).problem


def test_dangling_link_in_the_keys_folder_is_found(deployment):
    (deployment.keys_dir / "gone.pub").symlink_to(deployment.keys_dir / "nowhere.pub")
    assert "cannot be read" in only(doctor.check_keys_dir(deployment.keys_dir)).problem


def test_damaged_pub_is_found(deployment):
    (deployment.keys_dir / "broken.pub").write_text("{not json")
    finding = only(doctor.check_keys_dir(deployment.keys_dir))
    assert "broken.pub is not a valid unit public key" in finding.problem


# --- routing -----------------------------------------------------------------------


def test_region_routed_to_a_unit_without_key_is_found(deployment):
    (deployment.keys_dir / "routing.json").write_text(json.dumps(
        {"version": 1, "regions": {"astana": "test-unit", "shymkent": "south"}}))
    finding = only(doctor.check_routing(deployment.keys_dir, deployment.routing_path))
    assert "routes shymkent to unit 'south', which has no public key" in finding.problem
    assert "copy south.pub" in finding.fix


def test_routed_unit_whose_key_was_removed_is_found(deployment):
    (deployment.keys_dir / "test-unit.pub").unlink()
    finding = only(doctor.check_routing(deployment.keys_dir, deployment.routing_path))
    assert "unit 'test-unit', which has no public key" in finding.problem


def test_broken_routing_file_is_found(deployment):
    deployment.routing_path.write_text("{")
    finding = only(doctor.check_routing(deployment.keys_dir, deployment.routing_path))
    assert "not valid JSON" in finding.problem
    assert "routing.json" in finding.fix


def test_keys_the_server_would_refuse_to_load_are_found(deployment):
    # Two keys of one unit made at the same time: the server cannot tell
    # which one new reports go to, and refuses to start.
    twin = keys.generate("test-unit", created="2024-05-01")
    (deployment.keys_dir / "test-unit-2.pub").write_bytes(twin.public.to_json())
    finding = only(doctor.check_routing(deployment.keys_dir, deployment.routing_path))
    assert finding.problem.startswith(f"the server would not load {deployment.keys_dir}")


# --- data folder -------------------------------------------------------------------


def test_data_folder_with_mode_0755_is_found(deployment):
    deployment.data_dir.chmod(0o755)
    finding = only(doctor.check_data_dir(deployment.data_dir))
    assert "mode 0755" in finding.problem
    assert finding.fix == f"chmod 700 {deployment.data_dir}"


def test_data_folder_owned_by_another_user_is_found(deployment):
    finding = only(doctor.check_data_dir(deployment.data_dir, uid=os.geteuid() + 4242))
    assert "not to" in finding.problem and "chown -R" in finding.fix


def test_missing_data_folder_is_found(tmp_path):
    finding = only(doctor.check_data_dir(tmp_path / "nowhere"))
    assert "does not exist" in finding.problem and "mkdir -m 700" in finding.fix


# --- database ----------------------------------------------------------------------


def connect_with(*pragmas):
    """A stand-in for sqlite.connect whose connections get ``pragmas`` instead."""

    def connect(path):
        conn = sqlite3.connect(str(path), isolation_level=None)
        for pragma in pragmas:
            conn.execute(pragma)
        return sqlite_utils.Database(conn)

    return connect


def test_database_not_in_wal_mode_is_found(deployment):
    connect = connect_with("PRAGMA journal_mode=DELETE", "PRAGMA synchronous=FULL",
                           "PRAGMA secure_delete=ON")
    finding = only(doctor.check_database(deployment.database_path, connect=connect))
    assert "journal mode 'delete', not WAL" in finding.problem
    assert "local disk" in finding.fix


def test_database_without_full_sync_and_secure_delete_is_found(deployment):
    connect = connect_with("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                           "PRAGMA secure_delete=OFF")
    problems = [f.problem for f in doctor.check_database(deployment.database_path, connect)]
    assert len(problems) == 2
    assert "synchronous=1, not FULL (2)" in problems[0]
    assert "secure_delete off" in problems[1]


def test_the_real_connection_has_the_right_pragmas(deployment):
    assert doctor.check_database(deployment.database_path) == []


def test_database_that_cannot_be_opened_is_found(deployment):
    deployment.database_path.unlink()
    deployment.database_path.write_bytes(b"this is not a database, just some bytes " * 100)
    finding = only(doctor.check_database(deployment.database_path))
    assert "cannot use the database" in finding.problem and "integrity_check" in finding.fix


def test_missing_database_is_found_and_not_created(deployment):
    deployment.database_path.unlink()
    finding = only(doctor.check_database(deployment.database_path))
    assert "does not exist" in finding.problem
    assert not deployment.database_path.exists()


# --- token secret ------------------------------------------------------------------


def test_missing_token_secret_is_found(deployment):
    (deployment.data_dir / "token-secret").unlink()
    finding = only(doctor.check_token_secret(deployment.data_dir))
    assert "is missing" in finding.problem and "/dev/urandom" in finding.fix


def test_short_token_secret_is_found(deployment):
    path = deployment.data_dir / "token-secret"
    path.write_bytes(b"0123456789")
    finding = only(doctor.check_token_secret(deployment.data_dir))
    assert "has 10 bytes; it needs at least 32" in finding.problem


def test_token_secret_readable_by_others_is_found(deployment):
    path = deployment.data_dir / "token-secret"
    path.chmod(0o644)
    finding = only(doctor.check_token_secret(deployment.data_dir))
    assert "mode 0644" in finding.problem and finding.fix == f"chmod 600 {path}"


# --- attachment files an older tipdrop left ------------------------------------------


def test_attachment_files_from_before_version_6_are_found(deployment):
    folder = deployment.attachments_dir
    assert doctor.check_legacy_attachments(folder) == []
    folder.mkdir(mode=0o700)
    (folder / ("a" * 32 + ".bin")).write_bytes(b"ciphertext")
    finding = only(dict(doctor.diagnose(deployment))["attachment files"])
    assert "1 attachment file(s)" in finding.problem and "restart the server" in finding.fix


# --- clock and disk ----------------------------------------------------------------


def test_clock_before_2025_is_found():
    long_ago = datetime(2001, 1, 1, tzinfo=UTC).timestamp()
    finding = only(doctor.check_clock(now=long_ago))
    assert "2001-01-01, before 2025" in finding.problem and "timedatectl" in finding.fix


def test_clock_in_2025_or_later_is_fine():
    assert doctor.check_clock(now=datetime(2025, 1, 1, tzinfo=UTC).timestamp()) == []
    assert doctor.check_clock() == []


def test_low_disk_space_is_found(deployment):
    # 2 workers x 4 slots x 200 MB, twice: 3200 MiB needed; 100 MiB free.
    finding = only(doctor.check_disk_space(deployment.data_dir, 200, 4, workers=2,
                                           free_bytes=lambda path: 100 * MIB))
    assert "100 MiB free" in finding.problem and "3200 MiB" in finding.problem
    assert "TIPDROP_MAX_UPLOAD_MB" in finding.fix


def test_enough_disk_space_is_fine(deployment):
    assert doctor.check_disk_space(deployment.data_dir, 200, 4, workers=2,
                                   free_bytes=lambda path: 3200 * MIB) == []


def test_read_ahead_memory_within_a_quarter_of_the_machine_is_fine():
    gib = lambda: 1024 * MIB  # noqa: E731
    assert doctor.check_read_ahead_memory(32, workers=2, total_memory=gib) == []
    assert doctor.check_read_ahead_memory(128, workers=2, total_memory=gib) == []
    assert doctor.check_read_ahead_memory(10**6, workers=2, total_memory=lambda: None) == []


def test_read_ahead_memory_over_a_quarter_of_the_machine_is_found():
    finding = only(doctor.check_read_ahead_memory(200, workers=2, total_memory=lambda: 1024 * MIB))
    assert finding.problem == (
        "2 worker(s) x TIPDROP_READ_AHEAD_MB=200 may hold 400 MiB of request bodies at once, "
        "more than a quarter of this machine's 1024 MiB of memory")
    assert finding.fix.startswith("lower TIPDROP_READ_AHEAD_MB to 128 or less")


def test_the_doctor_checks_read_ahead_memory_for_the_workers_given(deployment):
    results = dict(doctor.diagnose(deployment.replace(read_ahead_mb=10**9), workers=3))
    assert "3 worker(s) x TIPDROP_READ_AHEAD_MB=1000000000" in only(
        results["read-ahead memory"]).problem


# --- nginx ---------------------------------------------------------------------------


GOOD_LOCATION = """
    location / {
        proxy_pass http://127.0.0.1:8080;
        proxy_request_buffering off;
        proxy_http_version 1.1;
        proxy_temp_path /run/p;
        access_log off;
        error_log /dev/null;
        gzip off;
    }
"""


def nginx(tmp_path, body, name="tipdrop.conf"):
    path = tmp_path / name
    path.write_text(body)
    return path


def test_the_example_config_in_the_docs_passes():
    assert doctor.check_nginx_config(DOCS / "nginx-tipdrop.conf") == []


def test_nginx_config_without_proxy_request_buffering_off_is_found(tmp_path):
    path = nginx(tmp_path, """
server {
    client_body_temp_path /run/nginx-tipdrop;  # RAM
    proxy_temp_path /run/nginx-tipdrop-proxy;
    access_log off; error_log /dev/null; gzip off;
    location / {
        proxy_pass http://127.0.0.1:8080;
        proxy_http_version 1.1;
    }
}""")
    finding = only(doctor.check_nginx_config(path))
    assert f"{path}:7 (location /): request bodies are buffered" in finding.problem
    assert "'proxy_request_buffering off;'" in finding.fix


def test_nginx_buffering_on_in_one_of_two_locations_is_found(tmp_path):
    path = nginx(tmp_path, """
http {
  proxy_request_buffering off;
  proxy_http_version 1.1;
  client_body_temp_path "/run/nginx tipdrop";
  proxy_max_temp_file_size 0;
  access_log off;
  error_log /dev/null;
  gzip off;
  server {
    location / { proxy_pass http://app; }
    location /submit { proxy_request_buffering on; proxy_pass http://app; }
  }
}""")
    finding = only(doctor.check_nginx_config(path))
    assert "(location /submit)" in finding.problem


def test_nginx_http_1_0_to_the_app_is_found(tmp_path):
    path = nginx(tmp_path, "server { client_body_temp_path /run/t; access_log off; gzip off;"
                           " proxy_temp_path /run/p; error_log /dev/null; location / {"
                           " proxy_pass http://app; proxy_request_buffering off; } }")
    assert "proxy_http_version is not 1.1" in only(doctor.check_nginx_config(path)).problem


def test_nginx_without_client_body_temp_path_is_found(tmp_path):
    path = nginx(tmp_path, "server {" + GOOD_LOCATION + "}")
    finding = only(doctor.check_nginx_config(path))
    assert "client_body_temp_path is not set" in finding.problem and "tmpfs" in finding.fix


@pytest.mark.parametrize("logs", ["", "error_log /var/log/nginx/tipdrop.log crit;",
                                  "error_log /dev/null; error_log /var/log/nginx/e.log emerg;"])
def test_nginx_error_log_that_can_name_reporters_is_found(tmp_path, logs):
    path = nginx(tmp_path, "server { client_body_temp_path /run/t; access_log off;" + logs
                 + GOOD_LOCATION.replace("error_log /dev/null;", "") + "}")
    finding = only(doctor.check_nginx_config(path))
    assert "error_log is not /dev/null" in finding.problem and "client:" in finding.problem


def test_nginx_error_log_off_in_the_server_block_is_inherited(tmp_path):
    path = nginx(tmp_path, "server { client_body_temp_path /run/t; error_log /dev/null;"
                 + GOOD_LOCATION.replace("error_log /dev/null;", "") + "}")
    assert doctor.check_nginx_config(path) == []


@pytest.mark.parametrize("gzip", ["", "gzip on;"])
def test_nginx_that_may_compress_tipdrops_answers_is_found(tmp_path, gzip):
    # Debian's nginx.conf has gzip on (for HTML): unless the block says off,
    # the padded check answers are compressed back to sizes that tell (padded.py)
    path = nginx(tmp_path, "server { client_body_temp_path /run/t;" + gzip
                 + GOOD_LOCATION.replace("gzip off;", "") + "}")
    finding = only(doctor.check_nginx_config(path))
    assert "gzip is not off" in finding.problem and "'gzip off;'" in finding.fix


@pytest.mark.parametrize("module", ["brotli", "zstd"])
@pytest.mark.parametrize("where", ["server", "http"])
def test_nginx_brotli_or_zstd_compressing_tipdrops_answers_is_found(tmp_path, module, where):
    # ngx_brotli and the zstd module compress as gzip does, and reveal the
    # padded check answers' sizes as much; turned on for the site or for all
    server = "server { client_body_temp_path /run/t;" + GOOD_LOCATION + "}"
    if where == "server":
        conf = server.replace("server {", f"server {{ {module} on;", 1)
    else:
        conf = f"http {{ {module} on; {module}_types text/html; {server} }}"
    finding = only(doctor.check_nginx_config(nginx(tmp_path, conf)))
    assert f"{module} is on" in finding.problem and "by its size" in finding.problem
    assert f"'{module} off;'" in finding.fix
    # And off where tipdrop is proxied (the server block overriding http), it is fine
    fixed = (conf.replace(f"{module} on;", f"{module} off;") if where == "server" else
             conf.replace("client_body_temp_path", f"{module} off; client_body_temp_path"))
    assert doctor.check_nginx_config(nginx(tmp_path, fixed)) == []


@pytest.mark.parametrize("spool", ["", "proxy_max_temp_file_size 1024m;"])
def test_nginx_that_may_spool_answers_to_disk_is_found(tmp_path, spool):
    # A status page carries the police's replies, decrypted: an answer nginx
    # cannot hand a slow reader at once goes to proxy_temp_path, a disk by default.
    conf = GOOD_LOCATION.replace("proxy_temp_path /run/p;", spool)
    finding = only(doctor.check_nginx_config(nginx(tmp_path, "server { client_body_temp_path /run/t;"
                                                              + conf + "}")))
    assert "proxy_temp_path is not set" in finding.problem and "tmpfs" in finding.fix
    kept_in_ram = GOOD_LOCATION.replace("proxy_temp_path /run/p;", "proxy_max_temp_file_size 0;")
    assert doctor.check_nginx_config(
        nginx(tmp_path, "server { client_body_temp_path /run/t;" + kept_in_ram + "}")) == []


@pytest.mark.parametrize("tls, expected", [
    ("", ["ssl_session_tickets is not off", "ssl_protocols does not leave"]),
    ("ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; ssl_session_tickets off;",
     ["ssl_protocols does not leave"]),
    ("ssl_protocols TLSv1.2 TLSv1.3; ssl_session_tickets on;", ["ssl_session_tickets is not off"]),
    ("ssl_protocols TLSv1.2 TLSv1.3; ssl_session_tickets off;", []),
])
def test_nginx_tls_that_leaves_recorded_sessions_readable_is_found(tmp_path, tls, expected):
    # Debian's nginx.conf names TLS 1.0 and 1.1 and leaves session tickets on;
    # a report without JavaScript is plaintext inside that TLS.
    conf = f"server {{ listen 443 ssl; client_body_temp_path /run/t; {tls}" + GOOD_LOCATION + "}"
    problems = [f.problem for f in doctor.check_nginx_config(nginx(tmp_path, conf))]
    assert len(problems) == len(expected), problems
    for text, problem in zip(expected, problems, strict=True):
        assert text in problem
    # The onion service's block is plain HTTP on loopback: no TLS to judge.
    plain = "server { listen 127.0.0.1:8081; client_body_temp_path /run/t;" + GOOD_LOCATION + "}"
    assert doctor.check_nginx_config(nginx(tmp_path, plain)) == []


def test_nginx_access_log_on_is_found(tmp_path):
    path = nginx(tmp_path, "server { client_body_temp_path /run/t;"
                 + GOOD_LOCATION.replace("access_log off;", "access_log /var/log/a.log;") + "}")
    assert "access_log is not off" in only(doctor.check_nginx_config(path)).problem


def test_nginx_includes_are_followed(tmp_path):
    (tmp_path / "sites").mkdir()
    nginx(tmp_path / "sites", "server { client_body_temp_path /run/t;" + GOOD_LOCATION + "}",
          name="tipdrop")
    main = nginx(tmp_path, "http { include sites/*; }", name="nginx.conf")
    assert doctor.check_nginx_config(main) == []


def test_nginx_config_without_proxy_pass_is_found(tmp_path):
    path = nginx(tmp_path, "server { listen 80; root /var/www; }")
    assert "has no proxy_pass" in only(doctor.check_nginx_config(path)).problem


@pytest.mark.parametrize("body", ["server { location / { proxy_pass x; }", "}", 'a "b'])
def test_broken_nginx_config_is_found(tmp_path, body):
    assert "cannot read the nginx configuration" in only(
        doctor.check_nginx_config(nginx(tmp_path, body))).problem


def test_missing_nginx_config_is_found(tmp_path):
    assert "cannot read" in only(doctor.check_nginx_config(tmp_path / "nope.conf")).problem


# --- nginx's own refusals, in the reporter's language (docs/reverse-proxy.md) ----------


def with_pages(tmp_path, source=SHIPPED, edit=None, pages=True):
    """``source`` with its pages' folder in ``tmp_path`` (written unless not ``pages``), edited."""
    folder = tmp_path / "refusals"
    if pages:
        nginxpages.write_pages(folder)
    assert nginxpages.FOLDER in source.read_text()
    text = source.read_text().replace(nginxpages.FOLDER, str(folder))
    if edit is not None:
        edited, text = text, edit(text)
        assert text != edited, "the edit changed nothing"
    path = tmp_path / f"edited-{source.name}"
    path.write_text(text)
    return path


def _without(*lines):
    return lambda text: "\n".join(ln for ln in text.split("\n")
                                  if not ln.strip().startswith(lines))


@pytest.mark.parametrize("source", [SHIPPED, DOCS / "nginx-tipdrop.conf"], ids=lambda p: p.name)
def test_the_shipped_nginx_configs_show_tipdrops_pages_for_nginxs_own_refusals(tmp_path, source):
    assert doctor.check_nginx_refusals(with_pages(tmp_path, source)) == []


def test_a_config_without_the_error_page_lines_is_found_with_the_lines_to_add(tmp_path):
    path = with_pages(tmp_path, edit=_without("error_page 4"))
    findings = doctor.check_nginx_refusals(path)
    # One finding per server block for the refusals of a head, one for a body over the limit
    assert len(findings) == 4, findings
    head, body = findings[0], findings[1]
    assert head.problem.startswith(f"{path}:")
    assert ("(server): nginx answers 400, 414, 431 itself with its own English page, not "
            "tipdrop's refusal in the reporter's language") in head.problem
    for line in ("error_page 400 /.tipdrop-refused/400.$tipdrop_lang.$tipdrop_refusal_kind;",
                 "error_page 414 /.tipdrop-refused/414.$tipdrop_lang.$tipdrop_refusal_kind;",
                 "error_page 494 =431 /.tipdrop-refused/431.$tipdrop_lang.$tipdrop_refusal_kind;"):
        assert f"'{line}'" in head.fix and line in SHIPPED.read_text()
    assert "a body over client_max_body_size gets nginx's English 413" in body.problem
    assert "'error_page 413 /.tipdrop-refused/413.$tipdrop_lang.$tipdrop_refusal_kind;'" in body.fix


def test_a_location_with_error_pages_of_its_own_loses_the_server_blocks_413(tmp_path):
    path = with_pages(tmp_path, edit=lambda text: text.replace(
        "location / {", "location / {\n        error_page 502 /sorry.html;", 1))
    finding = only(doctor.check_nginx_refusals(path))
    assert "(location /): its own error_page lines replace the server block's" in finding.problem
    assert "413" in finding.problem and "error_page 413 " in finding.fix


def test_a_header_too_large_not_sent_as_431_is_found(tmp_path):
    path = with_pages(tmp_path, edit=lambda text: text.replace("error_page 494 =431", "error_page 494", 1))
    finding = only(doctor.check_nginx_refusals(path))
    assert "error_page 494 does not send it as 431" in finding.problem


def test_a_refusal_sent_to_another_page_is_found(tmp_path):
    path = with_pages(tmp_path, edit=lambda text: text.replace(
        "error_page 413 /.tipdrop-refused/413.", "error_page 413 /.tipdrop-refused/400.", 1))
    finding = only(doctor.check_nginx_refusals(path))
    assert "error_page 413 shows /.tipdrop-refused/400.$tipdrop_lang" in finding.problem


def test_missing_pages_are_found_with_the_command_that_writes_them(tmp_path):
    path = with_pages(tmp_path, pages=False)
    finding = only(doctor.check_nginx_refusals(path))
    assert "24 of the 24 pages nginx shows for its own refusals are missing" in finding.problem
    assert finding.fix == f"write them: tipdrop nginx-pages --out {tmp_path / 'refusals'}"


def test_pages_another_version_wrote_are_found(tmp_path):
    path = with_pages(tmp_path)
    (tmp_path / "refusals" / "413.kk.html").write_text("<p>an older page</p>")
    (tmp_path / "refusals" / "400.en.json").unlink()
    missing, older = doctor.check_nginx_refusals(path)
    assert "1 of the 24 pages" in missing.problem and "400.en.json" in missing.problem
    assert "1 of the pages" in older.problem and "413.kk.html" in older.problem
    assert "not the ones this tipdrop writes" in older.problem
    assert older.fix.startswith(f"write them again: tipdrop nginx-pages --out {tmp_path / 'refusals'}")


def test_a_refusal_location_that_gives_outsiders_nginxs_404_is_found(tmp_path):
    path = with_pages(tmp_path, edit=_without("error_page 404 = @tipdrop;"))
    findings = doctor.check_nginx_refusals(path)
    assert len(findings) == 2  # one per server block
    assert all("a request from outside for /.tipdrop-refused/... gets nginx's English 404"
               in f.problem and "'error_page 404 = @tipdrop;'" in f.fix for f in findings)


def test_a_refusal_location_anyone_can_read_is_found(tmp_path):
    path = with_pages(tmp_path, edit=_without("internal;"))
    findings = doctor.check_nginx_refusals(path)
    assert len(findings) == 2
    assert all("not internal" in f.problem and "'internal;'" in f.fix for f in findings)


def test_no_location_for_the_pages_is_found(tmp_path):
    path = with_pages(tmp_path, edit=lambda text: text.replace(
        "location ^~ /.tipdrop-refused/", "location ^~ /elsewhere/"))
    findings = doctor.check_nginx_refusals(path)
    assert len(findings) == 2
    assert all("no 'location ^~ /.tipdrop-refused/' serves the pages" in f.problem
               for f in findings)


def test_the_language_map_left_out_is_found(tmp_path):
    def drop_map(text):
        start = text.index('map "$arg_lang')
        return text[:start] + text[text.index("}", start) + 1:]

    finding = only(doctor.check_nginx_refusals(with_pages(tmp_path, edit=drop_map)))
    assert "$tipdrop_lang is used but never set, so nginx refuses the configuration" in finding.problem


def test_a_config_nginx_cannot_read_leaves_the_refusals_to_the_config_check(tmp_path):
    assert doctor.check_nginx_refusals(tmp_path / "nope.conf") == []


# --- the live proxy's header -------------------------------------------------------


def answer(status, **headers):
    message = Message()
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    calls = []

    def fetch(url):
        calls.append(url)
        return status, message

    fetch.calls = calls
    return fetch


def test_proxy_that_says_it_does_not_buffer_passes():
    fetch = answer(200, X_Tipdrop_Proxy_Buffering="off")
    assert doctor.check_proxy_header("https://tips.example.kz/", fetch=fetch) == []
    assert fetch.calls == ["https://tips.example.kz/healthz"]


def test_proxy_without_the_header_is_found():
    finding = only(doctor.check_proxy_header("https://tips.example.kz", fetch=answer(200)))
    assert "without 'X-Tipdrop-Proxy-Buffering: off'" in finding.problem
    assert "add_header X-Tipdrop-Proxy-Buffering off always;" in finding.fix


def test_unhealthy_service_behind_the_proxy_is_found():
    finding = only(doctor.check_proxy_header(
        "https://tips.example.kz", fetch=answer(503, X_Tipdrop_Proxy_Buffering="off")))
    assert "answered 503" in finding.problem


def test_unreachable_url_is_found():
    def fetch(url):
        raise urllib.error.URLError("connection refused")

    finding = only(doctor.check_proxy_header("https://tips.example.kz", fetch=fetch))
    assert "cannot reach https://tips.example.kz/healthz (connection refused)" in finding.problem


def test_nginx_variables_in_braces_are_not_blocks(tmp_path):
    path = nginx(tmp_path, "server { client_body_temp_path /run/t; set $x ${host}a;"
                 + GOOD_LOCATION + "}")
    assert doctor.check_nginx_config(path) == []


# --- with trusted proxies, reachable only through them (docs/reverse-proxy.md) ---------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "::1", "::ffff:127.0.0.1"])
def test_a_server_on_loopback_behind_trusted_proxies_is_fine(host):
    assert doctor.check_listening(1, [(host, 8080)]) == []


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "2001:db8::1"])
def test_a_server_reachable_past_its_trusted_proxy_is_found(host):
    finding = only(doctor.check_listening(1, [("127.0.0.1", 8081), (host, 8080)]))
    assert f"{host}:8080, which is not loopback" in finding.problem
    assert "escape the rate limits" in finding.problem
    assert "127.0.0.1 or a Unix socket" in finding.fix


def test_without_trusted_proxies_the_listening_address_is_not_a_finding():
    assert doctor.check_listening(0, [("0.0.0.0", 8080)]) == []


def test_a_server_on_unix_sockets_only_is_fine():
    assert doctor.check_listening(1, []) == []


@pytest.mark.parametrize("line,address", [
    ("0100007F:1F90", ("127.0.0.1", 8080)),
    ("00000000:0050", ("0.0.0.0", 80)),
    ("00000000000000000000000001000000:1F90", ("::1", 8080)),
    ("0000000000000000FFFF00000100007F:1F91", ("::ffff:127.0.0.1", 8081)),
])
def test_kernel_socket_addresses_are_read_in_host_order(line, address):
    import ipaddress

    from tipdrop.server import sockets

    host, port = sockets._address(line)
    assert (ipaddress.ip_address(host), port) == (ipaddress.ip_address(address[0]), address[1])


def test_a_runtime_folder_on_a_disk_is_found(deployment, tmp_path):
    from tipdrop.server.web.ratelimit import IN_MEMORY, filesystem_type

    disk = next(p for p in (tmp_path, Path(__file__).parent)
                if filesystem_type(p) not in IN_MEMORY)
    finding = only(doctor.check_runtime_dir(disk))
    assert "not in RAM" in finding.problem and "TIPDROP_RUNTIME_DIR" in finding.fix
    assert doctor.check_runtime_dir("/dev/shm") == []
