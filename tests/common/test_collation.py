"""Regions and categories in each language's own alphabetical order, not code-point order."""

import pytest

from tipdrop.common import collation
from tipdrop.protocol.routing import Routing, in_order


def _sorted(names, lang):
    return sorted(names, key=lambda name: collation.sort_key(name, lang))


def test_kazakh_letters_sort_next_to_their_neighbours_not_after_ya():
    # Code points put Қ (U+049A) and Ұ (U+04B0) after Я (U+042F).
    names = ["Ұлытау облысы", "Қостанай облысы", "Шымкент", "Ақтөбе облысы", "Алматы", "Ақмола облысы",
             "Түркістан облысы", "Жетісу облысы", "Абай облысы"]
    assert sorted(names) != _sorted(names, "kk")
    assert _sorted(names, "kk") == ["Абай облысы", "Ақмола облысы", "Ақтөбе облысы", "Алматы",
                                    "Жетісу облысы", "Қостанай облысы", "Түркістан облысы",
                                    "Ұлытау облысы", "Шымкент"]


def test_kazakh_alphabet_order_of_the_letters_themselves():
    letters = list("ЯІЫҮҰҺӨҢҚҒӘ")
    assert "".join(_sorted(letters, "kk")) == "ӘҒҚҢӨҰҮҺЫІЯ"


def test_russian_order_files_yo_with_ye_and_ignores_case():
    assert _sorted(["ёж", "Ель", "еда", "Жук", "яма", "Абай"], "ru") == [
        "Абай", "еда", "ёж", "Ель", "Жук", "яма"]


def test_a_word_break_sorts_before_any_letter():
    assert _sorted(["Жол-көлік оқиғасы", "Жолаушы", "Жол жүру ережесі"], "kk") == [
        "Жол жүру ережесі", "Жол-көлік оқиғасы", "Жолаушы"]


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_shipped_regions_are_offered_in_the_languages_order(lang):
    routing = Routing({code: "demo" for code in
                       ("astana", "almaty", "shymkent", "aktobe", "akmola", "kostanay", "ulytau",
                        "west-kazakhstan", "east-kazakhstan", "turkistan")})
    names = [r.name(lang) for r in in_order(routing.regions, lang)]
    expected = {
        "kk": ["Ақмола облысы", "Ақтөбе облысы", "Алматы", "Астана",
               "Батыс Қазақстан облысы", "Қостанай облысы", "Түркістан облысы",
               "Ұлытау облысы", "Шығыс Қазақстан облысы", "Шымкент"],
        "ru": ["Акмолинская область", "Актюбинская область", "Алматы", "Астана",
               "Восточно-Казахстанская область", "Западно-Казахстанская область",
               "Костанайская область", "Туркестанская область", "Улытауская область", "Шымкент"],
        "en": ["Akmola Region", "Aktobe Region", "Almaty", "Astana", "East Kazakhstan Region",
               "Kostanay Region", "Shymkent", "Turkistan Region", "Ulytau Region",
               "West Kazakhstan Region"],
    }[lang]
    assert names == expected


def test_russian_region_names_follow_one_style():
    # "<adjective> область" for every oblast, as most of them have always been named.
    routing = Routing({"astana": "demo"})
    oblasts = [r.name("ru") for r in routing.all_regions if r.code not in ("astana", "almaty", "shymkent")]
    assert all(name.endswith("ская область") for name in oblasts), oblasts
    assert not any(ch in "".join(oblasts) for ch in "ӘҒҚҢӨҰҮҺІ")
