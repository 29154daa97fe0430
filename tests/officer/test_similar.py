"""Similar reports (tipdrop/officer/similar.py) on the real in-memory index (SQLite FTS5).

The tips are put into a real SearchIndex as the unlock puts them (the rows
decrypted.decrypted_tips yields); test_officer_app_suggestions.py shows them on the
tip page of a workspace opened from a bundle the server's code exported.
"""

import pytest

from tipdrop.officer.search import SearchIndex

RU = ("Каждый вечер у остановки Абая возле школы номер 12 продают наркотики, "
      "машина белая Лада с номером 123 ABC 02, водитель высокий, в чёрной куртке. "
      "Подростки подходят к машине, отдают деньги и быстро уходят во двор.")
#: The same report written again: words reordered and changed, ё typed as е, a sentence added.
RU_AGAIN = ("Пишу снова. Возле школы номер 12 у остановки Абая каждый вечер продают "
            "наркотики, белая машина Лада номер 123 ABC 02, водитель высокий в черной "
            "куртке. Подростки отдают деньги и уходят во двор.")
KK = ("Әр кеште Сәтпаев көшесіндегі дүкеннің артында екі жігіт есірткі сатады, "
      "олар қара көлікпен келеді, нөмірі 777 KZA 02. Жасөспірімдер оларға ақша береді.")
#: The same in Kazakh, typed on a keyboard without the Kazakh letters, a word left out.
KK_AGAIN = ("Ар кеште Сатпаев кошесиндеги дуканнин артында еки жигит есирткі сатады, "
            "олар кара копикпен келеди, номири 777 KZA 02. Жасоспиримдер акша береди.")
UNRELATED = [
    "Сосед сверху каждую ночь шумит, включает музыку, на замечания не реагирует.",
    "В парке у озера продают наркотики, видел закладки под скамейками у фонтана.",
    "Возле школы номер 5 водитель такси продаёт сигареты детям, машина серая.",
    "Көршілер түнде айқайлап, балаларды ұрып жатыр, көмектесіңіздер.",
    "У магазина на Розыбакиева ночью продают наркотики, подъезжает чёрный джип.",
]


def _row(n, text, region="almaty", category="drugs"):
    return {"id": f"{n:032x}", "status": "received", "category": category, "region": region,
            "received": "2026-12-01", "unread_followups": 0, "attachments": 0,
            "damaged": False, "language": "ru", "summary": text[:120], "answered": False,
            "texts": [text], "report_parts": 1}


@pytest.fixture
def index():
    made = SearchIndex()
    rows = [_row(1, RU), _row(2, KK)] + [_row(10 + i, t) for i, t in enumerate(UNRELATED)]
    # Filler of the same region and category, so the rare words are rare.
    rows += [_row(100 + i, f"Продают наркотики во дворе дома {i}, подъезд {i % 7}.")
             for i in range(60)]
    for row in rows:
        made._put(row)
    yield made
    made.close()


def ids(found):
    return [s.tip["id"] for s in found]


def test_a_russian_report_written_again_is_suggested_and_unrelated_ones_are_not(index):
    index._put(_row(3, RU_AGAIN))
    found = index.similar(f"{1:032x}")
    assert ids(found) == [f"{3:032x}"]
    assert found[0].score >= 75
    # And the other way round.
    assert ids(index.similar(f"{3:032x}")) == [f"{1:032x}"]


def test_a_kazakh_report_retyped_without_kazakh_letters_is_suggested(index):
    index._put(_row(4, KK_AGAIN))
    assert ids(index.similar(f"{2:032x}")) == [f"{4:032x}"]


@pytest.mark.parametrize("n", range(10, 10 + len(UNRELATED)))
def test_a_report_about_something_else_is_not_suggested(index, n):
    index._put(_row(3, RU_AGAIN))
    assert f"{n:032x}" not in ids(index.similar(f"{1:032x}"))
    assert index.similar(f"{n:032x}") == []


@pytest.mark.parametrize("region, category", [("astana", "drugs"), ("almaty", "theft")])
def test_only_tips_of_the_same_region_and_category_are_suggested(index, region, category):
    index._put(_row(3, RU_AGAIN, region=region, category=category))
    assert index.similar(f"{1:032x}") == []


def test_notes_and_replies_do_not_make_reports_alike(index):
    """Only the report's text is compared: the unit's own words repeat across tips."""
    reply = ("Спасибо за сообщение. Нам нужны дополнительные сведения: в какой день и в "
             "какое время это было и где именно? ") * 3
    index._put(_row(5, "На детской площадке сломали качели, нужна проверка.") | {
        "texts": ["На детской площадке сломали качели, нужна проверка.", reply]})
    index._put(_row(6, "Продают алкоголь ночью без лицензии на углу Жандосова.") | {
        "texts": ["Продают алкоголь ночью без лицензии на углу Жандосова.", reply]})
    assert index.similar(f"{5:032x}") == []


def test_a_tip_indexed_again_is_compared_with_its_new_text(index):
    index._put(_row(3, "Совсем другое: украли кошелёк в автобусе номер 92."))
    assert index.similar(f"{1:032x}") == []
    index._put(_row(3, RU_AGAIN))  # refresh() puts a tip again after a note or a reply
    assert ids(index.similar(f"{1:032x}")) == [f"{3:032x}"]


def test_an_unknown_or_empty_tip_has_no_suggestions(index):
    index._put(_row(7, "") | {"texts": [], "report_parts": 0})
    assert index.similar(f"{7:032x}") == []
    assert index.similar("f" * 32) == []
