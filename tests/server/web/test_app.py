"""The app factory: what it refuses, what every response carries."""

import pytest

from tipdrop.common import sqlite
from tipdrop.crypto import kdf
from tipdrop.errors import KeyFileError, PrivateKeyInKeysDirError
from tipdrop.protocol import receipts
from tipdrop.server.web import create_app


def test_index_is_served_with_security_headers_and_no_cookie(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


def test_unknown_page_is_a_404_page_without_traceback(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert b"Traceback" not in response.data
    assert b'id="error"' in response.data


@pytest.mark.parametrize(
    "name,content",
    [
        ("demo.key", b"anything"),
        ("innocent.txt", b'{"tipdrop": "unit-private-key"}'),
        ("id_ed25519", b"-----BEGIN OPENSSH PRIVATE KEY-----\n"),
        ("tls.pem", b"-----BEGIN PRIVATE KEY-----\n"),
        ("sub/age.txt", b"AGE-SECRET-KEY-1XYZ"),
    ],
)
def test_server_refuses_to_start_with_private_key_material_in_keys_dir(
    tmp_path, keys_dir, name, content
):
    target = keys_dir / name
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(content)
    with pytest.raises(PrivateKeyInKeysDirError):
        create_app({"data_dir": tmp_path / "instance", "keys_dir": keys_dir})


def test_server_refuses_our_real_private_key_file_named_pub(tmp_path, keys_dir, cheap_private_file):
    (keys_dir / "other.pub").write_bytes(cheap_private_file)
    with pytest.raises(PrivateKeyInKeysDirError):
        create_app({"data_dir": tmp_path / "instance", "keys_dir": keys_dir})


def test_server_refuses_a_damaged_public_key(tmp_path, keys_dir):
    (keys_dir / "broken.pub").write_text("{not json")
    with pytest.raises(KeyFileError, match="broken.pub"):
        create_app({"data_dir": tmp_path / "instance", "keys_dir": keys_dir})


def test_database_connections_have_wal_full_sync_and_secure_delete(app):
    db = sqlite.connect(app.config["TIPDROP"].database_path)
    assert sqlite.pragma_report(db) == {
        "journal_mode": "wal",
        "synchronous": 2,
        "secure_delete": 1,
        "foreign_keys": 1,
    }


def test_data_dir_is_private(app):
    mode = app.config["TIPDROP"].data_dir.stat().st_mode & 0o777
    assert mode == 0o700


def test_operator_can_replace_the_categories(tmp_path, keys_dir):
    import json

    (keys_dir / "categories.json").write_text(json.dumps({"version": 1, "items": {
        "noise": {"en": "Noise at night", "ru": "Шум ночью", "kk": "Түнгі шу"}}}))
    app = create_app({"data_dir": tmp_path / "instance", "keys_dir": keys_dir})
    page = app.test_client().get("/submit?lang=ru").text
    assert "Шум ночью" in page and "theft" not in page


def test_categories_file_without_all_languages_is_refused(tmp_path, keys_dir):
    import json

    from tipdrop.errors import ConfigError

    (keys_dir / "categories.json").write_text(json.dumps({"items": {"noise": {"en": "Noise"}}}))
    with pytest.raises(ConfigError, match="no name in"):
        create_app({"data_dir": tmp_path / "instance", "keys_dir": keys_dir})


def test_region_routed_to_a_unit_without_a_key_is_refused(tmp_path, keys_dir):
    import json

    from tipdrop.errors import ConfigError

    (keys_dir / "routing.json").write_text(json.dumps({"version": 1, "regions": {"astana": "ghost"}}))
    with pytest.raises(ConfigError, match="ghost"):
        create_app({"data_dir": tmp_path / "instance", "keys_dir": keys_dir})


def test_behind_a_proxy_hsts_is_sent_for_https(tmp_path, keys_dir):
    app = create_app({"data_dir": tmp_path / "instance", "keys_dir": keys_dir, "proxies": 1})
    response = app.test_client().get("/", headers={"X-Forwarded-Proto": "https"})
    assert "max-age" in response.headers["Strict-Transport-Security"]
    direct = create_app({"data_dir": tmp_path / "i2", "keys_dir": keys_dir})
    forged = direct.test_client().get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forged.headers


def test_database_file_is_private(app):
    path = app.config["TIPDROP"].database_path
    assert path.stat().st_mode & 0o777 == 0o600


def test_data_dir_made_by_someone_else_is_made_private(tmp_path, keys_dir):
    data_dir = tmp_path / "wide"
    data_dir.mkdir(mode=0o755)
    create_app({"data_dir": data_dir, "keys_dir": keys_dir})
    assert data_dir.stat().st_mode & 0o777 == 0o700


def test_behind_a_proxy_forwarded_headers_count_only_from_this_machine(tmp_path, keys_dir):
    # Given a server that trusts one proxy and allows 2 checks an hour per client
    app = create_app({"data_dir": tmp_path / "instance", "keys_dir": keys_dir, "proxies": 1,
                      "checks_per_hour": 2, "receipt_params": kdf.TEST_PARAMS})
    client = app.test_client()

    def check(peer, forwarded):
        return client.post("/api/v1/check", json={"receipt": receipts.generate().formatted},
                           headers={"X-Forwarded-For": forwarded},
                           environ_base={"REMOTE_ADDR": peer}).status_code

    # When a client that reaches gunicorn directly claims a new address each time
    direct = [check("192.0.2.7", f"198.51.100.{n}") for n in range(4)]
    # Then its real address is what counts, and the claims are ignored
    assert direct == [404, 404, 429, 429]
    # And through the proxy on loopback, each forwarded client has its own count
    proxied = [check("127.0.0.1", f"203.0.113.{n}") for n in range(4)]
    assert proxied == [404, 404, 404, 404]
    # And a forwarded https claim from past the proxy does not switch HSTS on
    response = client.get("/", headers={"X-Forwarded-Proto": "https"},
                          environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert "Strict-Transport-Security" not in response.headers
