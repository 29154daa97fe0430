"""/privacy explains every column the server stores, in each language.

The drift test reads the schema of a real database made by store.init, not
store.SCHEMA: a column added to the database but not to the page fails it.
"""

import re

import pytest

from tipdrop.common import sqlite
from tipdrop.server import store
from tipdrop.server.web import catalog, privacy

LANGS = ("kk", "ru", "en")


@pytest.fixture(scope="module")
def real_columns(tmp_path_factory):
    """{(table, column)} of a fresh database made the way the server makes it."""
    db = sqlite.connect(tmp_path_factory.mktemp("db") / "tipdrop.db")
    store.init(db)
    tables = [row[0] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    columns = {(table, row[1]) for table in tables
               for row in db.execute(f"PRAGMA table_info([{table}])")}
    db.close()
    assert len(tables) >= 5 and len(columns) > 30
    return columns


@pytest.mark.parametrize("lang", LANGS)
def test_every_real_column_is_explained_on_the_page(client, real_columns, lang):
    page = client.get(f"/privacy?lang={lang}")
    assert page.status_code == 200
    assert f'<html lang="{lang}">' in page.text
    unexplained = []
    for table, column in sorted(real_columns):
        if lang == "en":
            match = re.search(rf'data-column="{table}\.{column}"><dt><code>{column}</code></dt>'
                              r"<dd>([^<]+)</dd>", page.text)
        else:
            match = re.search(rf'<li data-column="{table}\.{column}">([^<]+)</li>', page.text)
        if not match or not match.group(1).strip():
            unexplained.append(f"{table}.{column}")
    assert unexplained == []


def test_schema_lists_exactly_the_real_columns(real_columns):
    described = {(table, column) for table, columns in store.SCHEMA.items()
                 for column in columns}
    assert real_columns - described == set(), "columns with no reason in store.SCHEMA"
    assert described - real_columns == set(), "store.SCHEMA names columns that do not exist"


def test_every_table_is_described_in_a_reporters_words():
    assert set(store.SCHEMA) <= set(privacy.TABLES)


def test_every_reason_is_in_the_translation_template():
    # Reasons must be wrapped in N_() in tipdrop/store, or pybabel never sees them.
    ids = {message.id for message in catalog.build_template()}
    reasons = {reason for columns in store.SCHEMA.values() for _, reason in columns.values()}
    texts = reasons | {text for pair in privacy.TABLES.values() for text in pair}
    assert sorted(texts - ids) == []


def test_page_names_what_is_never_stored(client):
    text = client.get("/privacy?lang=en").text
    for phrase in ("name or phone number", "IP address", "user agent", "Cookies",
                   "exact time"):
        assert phrase in text


def test_page_says_who_can_read_what(client):
    text = client.get("/privacy?lang=en").text
    assert "Only encrypted data" in text
    assert "private key" in text
    assert "receipt code" in text


def test_page_states_the_configured_retention(app_config):
    from tipdrop.server.web import create_app

    client = create_app(app_config | {"retention_days": 30}).test_client()
    text = client.get("/privacy?lang=en").text
    assert 'data-retention-days="30"' in text
    assert "deleted 30 days later" in text


@pytest.mark.parametrize("lang", LANGS)
def test_page_states_how_long_a_deleted_report_survives_in_backups(app_config, lang):
    from tipdrop.server.web import create_app

    client = create_app(app_config | {"backup_days": 20}).test_client()
    text = client.get(f"/privacy?lang={lang}").text
    assert 'data-backup-days="20"' in text
    # TIPDROP_BACKUP_DAYS + 1: the daily prune deletes a backup the first run after it is 20 days old.
    assert re.search(r'data-backup-days="20">[^<]*\b21\b', text)
    if lang == "en":
        assert "for up to 21 days more" in text


@pytest.mark.parametrize("path", ["/", "/submit", "/check", "/no-such-page"])
def test_every_page_links_to_privacy_in_its_language(client, path):
    assert 'href="/privacy?lang=kk"' in client.get(f"{path}?lang=kk").text


def test_submit_note_links_to_privacy(client):
    text = client.get("/submit?lang=en").text
    note = re.search(r"Fields marked \*.*?</p>", text, re.S).group(0)
    assert 'href="/privacy?lang=en"' in note


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_kazakh_and_russian_pages_show_no_english_database_names(client, real_columns, lang):
    text = client.get(f"/privacy?lang={lang}").text
    assert "<code>" not in text
    shown = re.sub(r"<[^>]+>", " ", text)  # the text a reader sees, without attributes
    for table, column in real_columns:
        if "_" in column or column in ("locator", "verifier", "blob", "body", "info"):
            assert not re.search(rf"\b{column}\b", shown), f"{table}.{column} shown in {lang}"
