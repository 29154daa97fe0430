"""Every reporter-facing sentence exists in Kazakh and Russian."""

import re

import pytest

from tipdrop.protocol.routing import LANGUAGES, Routing, _load_names
from tipdrop.server.web import catalog, i18n


def test_every_message_is_translated_into_kazakh_and_russian():
    assert catalog.problems() == []


def test_every_error_message_is_in_the_template():
    ids = {m.id for m in catalog.build_template()}
    missing = [text for text in i18n.error_messages() if text not in ids]
    assert missing == []


def test_the_officer_apps_pages_are_in_the_template():
    # The catalogs are shared by the server's pages and the officer app
    # (tipdrop/translations): extraction must read both zones.
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog.build_template()}
    assert {"Add the note", "Write the outbox", "Passphrase of the unit key"} <= ids


def test_every_region_and_category_has_a_name_in_each_language():
    routing = Routing({"astana": "demo"})
    regions = _load_names("regions.json")
    assert len(regions) == 20  # 17 regions and the cities Astana, Almaty, Shymkent
    assert all(names[lang] for names in regions.values() for lang in LANGUAGES)
    for choice in routing.categories:
        assert all(choice.names[lang] for lang in LANGUAGES)


@pytest.mark.parametrize("lang", ["kk", "ru"])
@pytest.mark.parametrize("path", ["/", "/submit", "/check", "/privacy"])
def test_pages_show_no_english_sentence_in_another_language(client, lang, path):
    english = client.get(f"{path}?lang=en").text
    other = client.get(f"{path}?lang={lang}").text
    sentences = set(re.findall(r">\s*([A-Z][a-z][^<>]{12,})<", english))
    assert sentences
    leftovers = [s for s in sentences if s in other]
    assert leftovers == []


@pytest.mark.parametrize("lang,word", [("kk", "Қабылданды"), ("ru", "Получено"), ("en", "Received")])
def test_status_label_is_translated(app, lang, word):
    with app.test_request_context(f"/?lang={lang}"):
        assert i18n.status_label("received") == word


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_error_pages_are_in_the_reporters_language(client, lang):
    english = client.get("/no-such-page?lang=en")
    other = client.get(f"/no-such-page?lang={lang}")
    assert other.status_code == 404
    message = re.search(r'id="error"[^>]*>([^<]+)<', english.text).group(1)
    assert message not in other.text


def test_the_template_holds_the_officer_apps_pages_as_well_as_the_servers():
    # One set of catalogs for all of tipdrop (tipdrop/translations/): both apps' strings.
    locations = {path for m in catalog.build_template() for path, _ in m.locations}
    assert any(p.startswith("tipdrop/officer/app/templates/") for p in locations)
    assert any(p.startswith("tipdrop/officer/app/") and p.endswith(".py") for p in locations)
    assert any(p.startswith("tipdrop/server/web/templates/") for p in locations)
