"""The anti-flood puzzle in a real Chromium: past the limit, the page solves it and the report goes through.

The server allows one submit an hour and asks for a real puzzle (BITS bits
of SHA-256 work, solved with the page's WebCrypto). The hour's submit is
spent first, as a flood behind the same onion address would spend it. Then
a reporter's page, with its script, gets a puzzle, solves it, shows that it
works on it (in the page's language, read out by the status line) and sends
the report: sealed on the device and sent in resumable pieces (only the
request that begins the upload carries the solution), or by the server when
the page cannot seal. A browser without WebCrypto, or without JavaScript, gets the 429 page
in its language. The solver finds the same nonces as tipdrop/crypto/puzzle.py
(tests/vectors/puzzle.json), and axe-core finds nothing while it works.
"""

import json
import re
import secrets
from pathlib import Path

import pytest

from tests.browser.conftest import choose_category, collect_errors
from tests.browser.test_shared_device_browser import AXE, AXE_VIOLATIONS, LOCALES
from tests.clear_errors import ERROR_PARAGRAPH, known_messages
from tests.serving import start_server
from tests.stored import tip_count
from tipdrop.server.web import create_app

pytestmark = pytest.mark.e2e

BITS = 12
SIZE = 2_600_000  # three pieces of 1 MiB once sealed
#: The request that begins an upload (not its pieces, not its finish).
BEGIN = re.compile(r"/api/v1/uploads\?")
VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "puzzle.json")
                     .read_text(encoding="utf-8"))
REPORT = {"region": "astana", "category": "theft", "description": "spent the hour's submit"}
#: Tells the test every text the status line takes and every value of the puzzle's
#: bar, from before any script of the page runs (through an exposed function, so
#: what the submit page showed outlives it).
WATCH = """
new MutationObserver(() => {
  const status = document.getElementById("form-status");
  const box = document.getElementById("puzzle");
  if (status && status.textContent) window.__seen("status", status.textContent);
  if (box && !box.hidden) window.__seen("puzzle", String(box.querySelector("progress").value));
}).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
"""
NO_WEBCRYPTO = "Object.defineProperty(Crypto.prototype, 'subtle', { get: () => undefined });"


@pytest.fixture
def limited(tmp_path):
    server = start_server(tmp_path, extra_env={"TIPDROP_SUBMITS_PER_HOUR": "1",
                                               "TIPDROP_PUZZLE_BITS": str(BITS)})
    status, _, _ = server.request("POST", "/api/v1/tips", json.dumps(REPORT).encode(),
                                  {"Content-Type": "application/json"})
    assert status == 201
    yield server
    server.stop()


def _tips(server):
    return tip_count(server.data_dir)


def _texts(server, lang):
    """The submit page's puzzle sentences in ``lang``, as the page carries them."""
    app = create_app({"data_dir": server.data_dir, "keys_dir": server.keys_dir})
    with app.test_client() as client:
        page = client.get(f"/submit?lang={lang}").text
    found = {name: re.search(rf'data-msg-{name}="([^"]+)"', page).group(1)
             for name in ("puzzle", "puzzle-done")}
    return {name: text.replace("&#39;", "'") for name, text in found.items()}


def _fill(page, base, lang, description):
    page.goto(f"{base}/submit?lang={lang}")
    choose_category(page, "theft")
    page.select_option("#region", "almaty")
    page.fill("#description", description)


def _solutions_sent(page):
    sent = []
    page.on("request", lambda r: sent.append((r.method, r.url, r.headers.get(
        "tipdrop-puzzle-solution"))))
    return sent


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_past_the_limit_the_page_solves_the_puzzle_and_the_resumable_upload_goes_through(
        browser, limited, lang, tmp_path):
    """Only the request that begins the upload carries a solution; its pieces, and the
    upload resumed after a cut connection, need none (docs/protocol.md section 21)."""
    base = f"http://127.0.0.1:{limited.port}"
    (tmp_path / "clip.bin").write_bytes(secrets.token_bytes(SIZE))
    context = browser.new_context(locale=LOCALES[lang])
    page = context.new_page()
    errors = collect_errors(page)
    sent = _solutions_sent(page)
    stored = _tips(limited)
    cut = []

    def piece(route):
        if "/pieces/1" in route.request.url and not cut:
            cut.append(route.request.url)  # the connection drops as piece 1 leaves
            route.abort("connectionreset")
            return
        route.continue_()

    page.route(re.compile(r".*/api/v1/uploads/pieces/.*"), piece)
    # When the reporter sends a report with a file while the hour's submit is spent
    _fill(page, base, lang, f"puzzle {lang}")
    page.set_input_files("#files", [str(tmp_path / "clip.bin")])
    assert page.get_attribute("#protection", "data-encrypted-on") == "device"
    page.click("#report-form button[type=submit]")
    # Then the page solves the puzzle and reaches the receipt page, sealed on the device
    page.wait_for_url(re.compile(r"/receipt/"), timeout=90_000)
    assert page.get_attribute(".protection", "data-encrypted-on") == "device"
    # And exactly one report arrived, through the uploads API
    assert _tips(limited) == stored + 1
    assert cut
    begins = [s for method, url, s in sent if method == "POST" and BEGIN.search(url)]
    # The first begin met the limit; the second carried the solution; the one
    # after the cut connection resumed the admitted upload without any
    assert len(begins) == 3 and begins[0] is None and begins[2] is None
    assert re.fullmatch(r"[A-Za-z0-9_-]{79}\.[0-9a-f]{16}", begins[1])
    others = [(method, url) for method, url, s in sent if s and not BEGIN.search(url)]
    assert others == []
    pieces = [url for method, url, _ in sent if method == "PUT"]
    assert len(pieces) == 4  # three pieces, piece 1 twice
    assert not any(method == "POST" and "/sealed-tips" in url for method, url, _ in sent)
    assert errors == [] or all("ERR_CONNECTION_RESET" in e or "429" in e for e in errors), errors
    context.close()


def test_while_it_works_the_page_says_so_and_shows_its_progress(browser, limited):
    """The status line (role=status, aria-live) says in the page's language that the device works, then that it is done; the bar shows meanwhile."""
    base = f"http://127.0.0.1:{limited.port}"
    texts = _texts(limited, "kk")
    context = browser.new_context(locale="kk-KZ")
    seen = []
    context.expose_function("__seen", lambda kind, value: seen.append((kind, value)))
    context.add_init_script(WATCH)
    page = context.new_page()
    _fill(page, base, "kk", "progress")
    page.click("#report-form button[type=submit]")
    assert page.get_attribute("#form-status", "aria-live") == "polite"
    page.wait_for_url(re.compile(r"/receipt/"), timeout=60_000)
    statuses = [value for kind, value in seen if kind == "status"]
    assert texts["puzzle"] in statuses and texts["puzzle-done"] in statuses
    assert statuses.index(texts["puzzle"]) < statuses.index(texts["puzzle-done"])
    assert ("puzzle", "0") in seen
    context.close()


def test_a_page_that_cannot_seal_solves_it_too_and_the_server_seals(browser, limited):
    base = f"http://127.0.0.1:{limited.port}"
    context = browser.new_context(locale="ru-RU")
    # Without the sealing script the page keeps the server path; puzzle.js still runs
    context.route(re.compile(r"/assets/js/tipdrop-crypto\."), lambda route: route.abort())
    page = context.new_page()
    sent = _solutions_sent(page)
    stored = _tips(limited)
    _fill(page, base, "ru", "server path past the limit")
    assert page.get_attribute("#protection", "data-encrypted-on") == "server"
    page.click("#report-form button[type=submit]")
    page.wait_for_url(re.compile(r"/receipt/"), timeout=60_000)
    assert page.get_attribute(".protection", "data-encrypted-on") == "server"
    assert page.inner_text("#receipt").strip()
    assert _tips(limited) == stored + 1
    assert [s for method, url, s in sent if method == "POST" and "/submit" in url][0]
    context.close()


@pytest.mark.parametrize(("case", "lang"), [("no WebCrypto", "kk"), ("no JavaScript", "ru")])
def test_without_webcrypto_or_javascript_the_reporter_gets_the_429_page(browser, limited, case,
                                                                        lang):
    base = f"http://127.0.0.1:{limited.port}"
    context = browser.new_context(locale=LOCALES[lang],
                                  java_script_enabled=case == "no WebCrypto")
    if case == "no WebCrypto":
        context.add_init_script(NO_WEBCRYPTO)
    page = context.new_page()
    errors = collect_errors(page)
    stored = _tips(limited)
    _fill(page, base, lang, "no puzzle here")
    with page.expect_navigation():
        page.click("#report-form button[type=submit]")
    assert page.evaluate("document.documentElement.lang") == lang
    html = page.content().encode()
    message = ERROR_PARAGRAPH.search(html).group(1).decode()
    assert message in known_messages(lang)
    assert _tips(limited) == stored
    assert [e for e in errors if "429" not in e] == []
    context.close()


def test_the_page_solves_the_vectors_as_the_python_solver_does(browser, limited):
    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{limited.port}/submit")
    for vector in VECTORS["vectors"]:
        puzzle = {"algorithm": "tipdrop/v1/puzzle", "challenge": vector["challenge"],
                  "difficulty": vector["difficulty"], "expires_in": 600}
        assert page.evaluate("(p) => TipdropPuzzle.solve(p)", puzzle) == vector["solution"]
    page.close()


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_the_page_has_no_axe_violation_while_it_solves(browser, limited, lang):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test` installs axe-core from npm")
    base = f"http://127.0.0.1:{limited.port}"
    context = browser.new_context(locale=LOCALES[lang], bypass_csp=True,
                                  viewport={"width": 320, "height": 640})
    page = context.new_page()
    # A puzzle the page is still at while it is checked (never sent to the server): at 22
    # bits the first nonce that solves this challenge is 7,062,226 (crypto.puzzle.solve)
    hard = {"algorithm": "tipdrop/v1/puzzle", "challenge": VECTORS["vectors"][0]["challenge"],
            "difficulty": 22, "expires_in": 600}
    context.route(BEGIN, lambda route: route.fulfill(
        status=429, content_type="application/json",
        body=json.dumps({"error": "RateLimitedError", "message": "limit", "puzzle": hard})))
    _fill(page, base, lang, "axe while solving")
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#puzzle:not([hidden])", timeout=60_000)
    page.wait_for_function("document.querySelector('#puzzle progress').value > 0", timeout=60_000)
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(AXE_VIOLATIONS)
    if page.evaluate("document.documentElement.scrollWidth > window.innerWidth"):
        found.append("wider than the 320 px screen")
    assert found == []
    assert page.inner_text("#form-status") == _texts(limited, lang)["puzzle"]
    context.close()
