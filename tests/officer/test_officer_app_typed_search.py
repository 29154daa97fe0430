"""Words typed in the inbox's search box and not searched for survive the inbox's other controls.

The app of tests/officer/test_officer_app.py, through Flask's test client:
the inbox's controls (the languages, Inbox, Exchange, Write the outbox, the
status counts, the pages) are buttons of its search form, which carries
the page's address in ``from_inbox``; the app keeps what differs from the
search shown, in memory only, and the inbox gives it back until Show or Lock
(tipdrop/officer/app/inboxform.py). The browser side: tests/browser/
test_officer_app_typed_search_browser.py.
"""

import re
from urllib.parse import unquote

from tests.officer.test_officer_app import (  # noqa: F401 (fixtures)
    PASSPHRASE,
    app,
    clock,
    desk,
    get,
    post,
    search,
    tip_ids,
    unit,
    unlock,
    unlocked,
    workdir,
)

WORDS = "велосипед"


def _box(page):
    """The search box's value and whether the page says it is not searched yet."""
    text = page.get_data(as_text=True)
    value = re.search(r'<input autocomplete="off" type="search" id="q" name="q" value="([^"]*)"',
                      text).group(1)
    return value, 'id="typed-search"' in text


def test_unsearched_words_come_back_after_the_language_and_the_header(app):  # noqa: F811
    client = unlocked(app)
    # Given words typed in the box of the inbox of received tips, and the language pressed
    answer = post(client, "/language", {"from_inbox": "/inbox?status=received", "q": WORDS,
                                        "status": "received", "lang": "ru"})
    # Then the same inbox comes back, in Russian, with the words in its box, not in an address
    assert answer.status_code == 303 and answer.location == "/inbox?status=received"
    page = get(client, answer.location)
    assert _box(page) == (WORDS, True) and 'lang="ru"' in page.get_data(as_text=True)
    assert len(tip_ids(page)) == 4  # nothing was searched for them
    # And so after Exchange, and back by the Inbox link: the box holds them wherever it is shown
    assert post(client, "/leave?to=/exchange", {"from_inbox": "/inbox?status=received",
                                                "q": WORDS, "status": "received"}).location \
        == "/exchange"
    assert _box(get(client, "/inbox")) == (WORDS, True)
    # A changed filter is kept with them: the select shows it as the officer left it
    post(client, "/leave?to=/inbox", {"from_inbox": "/inbox?", "q": WORDS, "status": "closed"})
    page = get(client, "/inbox").get_data(as_text=True)
    assert '<option value="closed" selected>' in page
    assert WORDS not in unquote(" ".join(re.findall(r'(?:href|formaction|action)="([^"]*)"',
                                                    page)))


def test_show_searches_for_the_kept_words_and_then_nothing_is_left_unsearched(app):  # noqa: F811
    client = unlocked(app)
    post(client, "/leave?to=/inbox", {"from_inbox": "/inbox?", "q": WORDS})
    page = search(client, WORDS)
    assert len(tip_ids(page)) == 1 and _box(page) == (WORDS, False)
    assert app.extensions["officer_desk"].typed_search() is None


def test_a_control_pressed_with_the_search_shown_keeps_nothing(app):  # noqa: F811
    client = unlocked(app)
    answer = post(client, "/search", {"q": WORDS, "status": "received"})
    shown = answer.location
    # The box and filters as the results page shows them: no typed, unsearched word
    post(client, "/leave?to=/inbox", {"from_inbox": shown, "q": f" {WORDS} ",
                                      "status": "received"})
    assert app.extensions["officer_desk"].typed_search() is None
    assert _box(get(client, "/inbox")) == ("", False)
    # Emptying a box that held kept words forgets them too
    post(client, "/leave?to=/inbox", {"from_inbox": "/inbox?", "q": "нож"})
    post(client, "/leave?to=/inbox", {"from_inbox": "/inbox?", "q": ""})
    assert _box(get(client, "/inbox")) == ("", False)


def test_lock_forgets_the_typed_words(app):  # noqa: F811
    client = unlocked(app)
    post(client, "/leave?to=/inbox", {"from_inbox": "/inbox?", "q": WORDS})
    assert _box(get(client, "/inbox")) == (WORDS, True)
    post(client, "/lock")
    unlock(client)
    assert _box(get(client, "/inbox")) == ("", False)


def test_the_language_goes_back_only_to_a_page_of_this_app(app):  # noqa: F811
    client = unlocked(app)
    for elsewhere in ("//evil.example/inbox", "/\\evil.example", "https://evil.example/"):
        answer = post(client, "/language", {"from_inbox": elsewhere, "q": WORDS, "lang": "kk"})
        assert answer.status_code == 303 and answer.location == "/"


def test_the_inbox_controls_are_buttons_of_its_form_and_enter_searches(app):  # noqa: F811
    client = unlocked(app)
    page = get(client, "/inbox?status=received").get_data(as_text=True)
    form = 'form="search-form"'
    for control in ('id="inbox"', 'id="exchange"', 'id="write-outbox"', 'name="lang" value="kk"',
                    'data-status="closed"'):
        button = re.search(rf"<button[^>]*{re.escape(control)}[^>]*>", page).group(0)
        assert form in button and "formaction=" in button, button
    assert '<input type="hidden" name="from_inbox" value="/inbox?status=received">' in page
    # Enter in the box presses the form's first button in the page: one that searches (no
    # formaction), before the header's languages
    first = re.search(rf"<button[^>]*{form}[^>]*>", page).group(0)
    assert 'id="enter"' in first and "formaction" not in first
    # Lock is not a button of the form: it forgets, it carries nothing
    assert form not in re.search(r'<button id="lock">', page).group(0)
