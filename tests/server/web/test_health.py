"""/healthz: ok when storage and keys are, 503 with the broken part when not; never about tips."""

import pytest

from tipdrop.common import sqlite


def test_healthy_instance_answers_200_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "storage": "ok", "keys": "ok"}


def test_health_says_nothing_about_tips_not_even_a_count(client, submit):
    before = client.get("/healthz").get_data()
    assert submit().status_code == 203
    assert client.get("/healthz").get_data() == before


def test_health_sets_no_cookie_and_is_not_cached(client):
    response = client.get("/healthz")
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_missing_database_fails_storage(app, client):
    path = app.config["TIPDROP"].database_path
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "fail", "storage": "fail", "keys": "ok"}


def test_connection_without_secure_delete_fails_storage(client, monkeypatch):
    # As if someone changed a pragma (some SQLite builds also default to off).
    changed = tuple(p.replace("secure_delete=ON", "secure_delete=OFF") for p in sqlite.PRAGMAS)
    monkeypatch.setattr(sqlite, "PRAGMAS", changed)
    assert client.get("/healthz").get_json()["storage"] == "fail"


@pytest.mark.parametrize("breakage", ["private key", "routed unit without key"])
def test_broken_keys_folder_fails_keys(client, keys_dir, breakage):
    if breakage == "private key":
        (keys_dir / "demo.key").write_bytes(b"anything")
    else:
        (keys_dir / "demo.pub").unlink()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "fail", "storage": "ok", "keys": "fail"}


def test_what_is_wrong_goes_to_the_log_not_the_answer(client, keys_dir, caplog):
    (keys_dir / "demo.key").write_bytes(b"anything")
    response = client.get("/healthz")
    assert "demo.key" not in response.get_data(as_text=True)
    assert "demo.key" in caplog.text
