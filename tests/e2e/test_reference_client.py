"""The reference client through the real CLI against a real gunicorn.

`tipdrop submit` seals on this computer → the server holds only ciphertext
→ export → officer open/show (report, files, cleaned photo) → officer reply
→ outbox → import-replies → `tipdrop check` verifies and decrypts the reply.
"""

import io
import json
import os
import sqlite3

import pytest
from PIL import Image

from tests.e2e.conftest import assert_clean_error
from tests.samples import photo_with_metadata
from tests.serving import start_server
from tipdrop.crypto import keys

pytestmark = pytest.mark.e2e

CANARY = "CANARY-7f3a91 the inspector takes bribes at window 4"


def _server_files(server):
    """Every byte the server wrote: database (and its WAL), attachments, log."""
    paths = [p for p in server.data_dir.rglob("*") if p.is_file()] + [server.log_path]
    return {p: p.read_bytes() for p in paths}


@pytest.fixture
def setup(tmp_path):
    """(server, pinned, officer): a server with its defaults (devices make their receipts on
    locators it hands out), its unit key pinned in a file, the workstation's environment."""
    server = start_server(tmp_path)
    pinned = tmp_path / "demo.pub"
    pinned.write_bytes((server.keys_dir / "demo.pub").read_bytes())
    officer = {"TIPDROP_PASSPHRASE": "officer pass", "TIPDROP_KEY": str(server.key_file),
               "TIPDROP_WORKDIR": str(tmp_path / "cases")}
    yield server, pinned, officer
    server.stop()


def test_report_sealed_by_the_reference_client_makes_the_full_loop(setup, run_cli, tmp_path):
    server, pinned, officer = setup
    url = f"http://127.0.0.1:{server.port}"
    (tmp_path / "report.txt").write_text(CANARY + "\nЦОН №2, окно 4.\n", encoding="utf-8")
    evidence = os.urandom(300_000)
    (tmp_path / "evidence.bin").write_bytes(evidence)
    photo = photo_with_metadata()
    (tmp_path / "IMG_0001.jpg").write_bytes(photo)
    (tmp_path / "details.txt").write_text("# where it happened\nwhere: ЦОН №2\n", encoding="utf-8")

    # When the reporter submits with the reference client, pinning the unit key
    sent = run_cli("submit", "--server", url, "--region", "almaty", "--category", "corruption",
                   "--text-file", tmp_path / "report.txt", "--details-file", tmp_path / "details.txt",
                   "--attach", tmp_path / "evidence.bin", "--attach", tmp_path / "IMG_0001.jpg",
                   "--unit-key", pinned)
    assert sent.returncode == 0, sent.stderr
    receipt = next(line.split(": ", 1)[1] for line in sent.stdout.splitlines()
                   if line.startswith("receipt: "))
    assert "cannot be recovered" in sent.stdout and "(pinned)" in sent.stdout
    assert "IMG_0001.jpg: photo cleaned" in sent.stdout

    # Then the server holds neither the text nor the file, and knows it was sealed on the device
    for path, data in _server_files(server).items():
        assert CANARY.encode() not in data, path
        assert evidence[:64] not in data and evidence[150_000:150_064] not in data, path
        assert b"CanaryMake" not in data, path
    with sqlite3.connect(server.data_dir / "tipdrop.db") as db:
        assert db.execute("SELECT encrypted_on FROM tips").fetchall() == [("device",)]

    # When the operator exports and the officer opens and shows it on the workstation
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e.tdx", env=server.env(), check=True)
    run_cli("officer", "open", tmp_path / "e.tdx", env=officer, check=True)
    [tip] = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    shown = run_cli("officer", "show", tip["id"], "--save-attachments", tmp_path / "saved",
                    env=officer, check=True)

    # Then the report, its files and the cleaned photo are all there
    assert CANARY in shown.stdout and "encrypted on: device" in shown.stdout
    assert "ЦОН №2" in shown.stdout and "photo cleaned" in shown.stdout
    saved = {p.name.split("-", 2)[2]: p.read_bytes() for p in (tmp_path / "saved").iterdir()}
    assert saved["evidence.bin"] == evidence
    cleaned = Image.open(io.BytesIO(saved["IMG_0001.jpg"]))
    assert b"CanaryMake" not in saved["IMG_0001.jpg"] and not cleaned.getexif().get_ifd(0x8825)
    assert cleaned.tobytes() == Image.open(io.BytesIO(photo)).tobytes()

    # When the officer replies and the reply bundle reaches the server
    run_cli("officer", "reply", tip["id"], "--status", "need-info", "--message",
            "В какой день это было?", env=officer, check=True)
    run_cli("officer", "outbox", "--out", tmp_path / "replies.json", env=officer, check=True)
    run_cli("import-replies", tmp_path / "replies.json", env=server.env(), check=True)

    # Then the reporter's check verifies the pinned unit's signature and decrypts the reply here
    checked = run_cli("check", "--server", url, "--unit-key", pinned, input=receipt + "\n")
    assert checked.returncode == 0, checked.stderr
    assert "status: need-info" in checked.stdout
    assert "reply 1" in checked.stdout and "(pinned)" in checked.stdout
    assert "В какой день это было?" in checked.stdout
    assert receipt not in checked.stdout + checked.stderr

    # And a reply that only verifies against another key is never shown as genuine
    other = tmp_path / "other.pub"
    other.write_bytes(keys.generate("demo").public.to_json())
    doubted = run_cli("check", "--server", url, "--unit-key", other, input=receipt + "\n")
    assert doubted.returncode == 0, doubted.stderr
    assert "NOT VERIFIED" in doubted.stdout and "В какой день" not in doubted.stdout


def test_a_server_offering_another_key_than_the_pinned_one_gets_nothing(setup, run_cli, tmp_path):
    server, _, _ = setup
    other = tmp_path / "other.pub"
    other.write_bytes(keys.generate("demo").public.to_json())
    (tmp_path / "report.txt").write_text(CANARY, encoding="utf-8")
    result = run_cli("submit", "--server", f"http://127.0.0.1:{server.port}", "--region", "almaty",
                     "--category", "corruption", "--text-file", tmp_path / "report.txt",
                     "--unit-key", other)
    assert_clean_error(result, "pinned")
    with sqlite3.connect(server.data_dir / "tipdrop.db") as db:
        assert db.execute("SELECT count(*) FROM tips").fetchone() == (0,)


def test_the_receipt_is_never_taken_from_the_command_line(run_cli):
    result = run_cli("check", "--server", "http://127.0.0.1:9", "XXXX-XXXX")
    assert_clean_error(result)


FOLLOWUP_CANARY = "CANARY-c0ffee the same car came back, plate 017"


def test_a_follow_up_sealed_by_the_reference_client_reaches_only_the_officer(
        setup, run_cli, tmp_path):
    server, pinned, officer = setup
    url = f"http://127.0.0.1:{server.port}"
    (tmp_path / "report.txt").write_text("A car parks at the school every night.",
                                         encoding="utf-8")
    sent = run_cli("submit", "--server", url, "--region", "almaty", "--category", "corruption",
                   "--text-file", tmp_path / "report.txt", "--unit-key", pinned, check=True)
    receipt = next(line.split(": ", 1)[1] for line in sent.stdout.splitlines()
                   if line.startswith("receipt: "))

    # When the reporter adds two follow-ups with the reference client, the receipt on stdin
    (tmp_path / "more.txt").write_text(FOLLOWUP_CANARY + "\nНомер 017.\n", encoding="utf-8")
    first = run_cli("followup", "--server", url, "--text-file", tmp_path / "more.txt",
                    "--unit-key", pinned, input=receipt + "\n")
    assert first.returncode == 0, first.stderr
    assert "follow-up 1 added" in first.stdout and "(pinned)" in first.stdout
    (tmp_path / "again.txt").write_text("And on Sunday too.", encoding="utf-8")
    second = run_cli("followup", "--server", url, "--text-file", tmp_path / "again.txt",
                     input=receipt + "\n")
    assert second.returncode == 0, second.stderr
    assert "follow-up 2 added" in second.stdout and "not pinned" in second.stdout
    assert receipt not in first.stdout + first.stderr + second.stdout + second.stderr

    # Then the server never held the text, and knows where it was sealed
    for path, data in _server_files(server).items():
        assert FOLLOWUP_CANARY.encode() not in data, path
        assert "Номер 017".encode() not in data, path
    with sqlite3.connect(server.data_dir / "tipdrop.db") as db:
        assert db.execute("SELECT seq, encrypted_on FROM followups ORDER BY seq").fetchall() == [
            (1, "device"), (2, "device")]

    # When the operator exports and the officer opens and shows the report
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e.tdx", env=server.env(), check=True)
    opened = run_cli("officer", "open", tmp_path / "e.tdx", env=officer, check=True)
    assert "2 follow-ups" in opened.stdout and "DAMAGED" not in opened.stdout
    [tip] = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    shown = run_cli("officer", "show", tip["id"], env=officer, check=True)

    # Then both follow-ups are there, in order
    assert FOLLOWUP_CANARY in shown.stdout and "Номер 017." in shown.stdout
    assert shown.stdout.index(FOLLOWUP_CANARY) < shown.stdout.index("And on Sunday too.")


def test_a_follow_up_is_never_sealed_to_a_key_other_than_the_pinned_one(setup, run_cli, tmp_path):
    server, pinned, _ = setup
    url = f"http://127.0.0.1:{server.port}"
    (tmp_path / "report.txt").write_text("A report.", encoding="utf-8")
    sent = run_cli("submit", "--server", url, "--region", "almaty", "--category", "corruption",
                   "--text-file", tmp_path / "report.txt", "--unit-key", pinned, check=True)
    receipt = sent.stdout.split("receipt: ", 1)[1].split()[0]
    other = tmp_path / "other.pub"
    other.write_bytes(keys.generate("demo").public.to_json())
    (tmp_path / "more.txt").write_text(FOLLOWUP_CANARY, encoding="utf-8")
    result = run_cli("followup", "--server", url, "--text-file", tmp_path / "more.txt",
                     "--unit-key", other, input=receipt + "\n")
    assert_clean_error(result, "pinned")
    with sqlite3.connect(server.data_dir / "tipdrop.db") as db:
        assert db.execute("SELECT count(*) FROM followups").fetchone() == (0,)


def test_reference_client_seals_the_categorys_answers_for_the_officer(setup, run_cli, tmp_path):
    server, pinned, officer = setup
    url = f"http://127.0.0.1:{server.port}"
    (tmp_path / "report.txt").write_text("Взятку берут у окна 4.\n", encoding="utf-8")
    base = ["submit", "--server", url, "--region", "almaty", "--category", "corruption",
            "--text-file", tmp_path / "report.txt", "--unit-key", pinned, "--language", "ru"]

    # An answer the category's question does not allow is refused here, and nothing is sent
    refused = run_cli(*base, "--details-file", "-", input="answer where: bank\n")
    assert_clean_error(refused)
    refused = run_cli(*base, "--details-file", "-", input="answer plate: 123\n")
    assert_clean_error(refused, "asks no question plate")
    with sqlite3.connect(server.data_dir / "tipdrop.db") as db:
        assert db.execute("SELECT count(*) FROM tips").fetchone() == (0,)

    sent = run_cli(*base, "--details-file", "-", input="what: взятка\nanswer where: akimat\n")
    assert sent.returncode == 0, sent.stderr
    run_cli("export", "--unit", "demo", "--out", tmp_path / "e.tdx", env=server.env(), check=True)
    run_cli("officer", "open", tmp_path / "e.tdx", env=officer, check=True)
    [tip] = json.loads(run_cli("officer", "list", "--json", env=officer, check=True).stdout)
    shown = run_cli("officer", "show", tip["id"], env=officer, check=True).stdout
    assert "  Где работает должностное лицо?: Акимат или другой госорган [akimat]" in shown


@pytest.mark.parametrize("option,value", [("--what", "взятка"), ("--where", "ЦОН №2"),
                                          ("--when", "вчера"), ("--contact", "+7 701 000"),
                                          ("--answer", "where=akimat")])
def test_report_details_on_the_command_line_are_refused_and_nothing_is_sent(
        setup, run_cli, tmp_path, option, value):
    """The shell history and /proc/PID/cmdline (ps, for every user) would keep them."""
    server, pinned, _ = setup
    (tmp_path / "report.txt").write_text("Взятку берут у окна 4.\n", encoding="utf-8")
    refused = run_cli("submit", "--server", f"http://127.0.0.1:{server.port}", "--region",
                      "almaty", "--category", "corruption", "--text-file", tmp_path / "report.txt",
                      "--unit-key", pinned, option, value)
    assert_clean_error(refused, "--details-file")
    assert value not in refused.stderr
    with sqlite3.connect(server.data_dir / "tipdrop.db") as db:
        assert db.execute("SELECT count(*) FROM tips").fetchone() == (0,)


@pytest.mark.parametrize("details,why", [
    ("where ЦОН №2\n".encode(), "line 1: expected NAME: VALUE"),
    ("\nname: Айгуль\n".encode(), "line 2: expected NAME: VALUE"),
    ("when: вчера\nwhen: сегодня\n".encode(), "when given twice"),
    (b"what: \xff\n", "not UTF-8"),
])
def test_a_details_file_that_cannot_be_read_is_refused_in_one_line(
        setup, run_cli, tmp_path, details, why):
    server, pinned, _ = setup
    (tmp_path / "report.txt").write_text("Взятку берут у окна 4.\n", encoding="utf-8")
    (tmp_path / "details.txt").write_bytes(details)
    refused = run_cli("submit", "--server", f"http://127.0.0.1:{server.port}", "--region",
                      "almaty", "--category", "corruption", "--text-file", tmp_path / "report.txt",
                      "--details-file", tmp_path / "details.txt", "--unit-key", pinned)
    assert_clean_error(refused, why)
