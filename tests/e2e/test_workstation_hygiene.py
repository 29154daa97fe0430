"""What a reporter wrote reaches the officer's disk and terminal harmlessly, through the real CLI.

Saved attachment names are cut by UTF-8 bytes (not characters) to fit the
file system's 255-byte limit, keep no path, hidden-file dot or device name,
never overwrite a file saved before, and one file that cannot be saved is
reported while the others are saved.
Every character that can steer or disguise a terminal (controls, bidi and
invisible format characters, line and paragraph separators) is shown as
\\uXXXX by `officer show` and `officer list`.
"""

import unicodedata

import pytest

from tests.protocol.test_bundles import Server
from tipdrop.crypto import kdf, keys

pytestmark = pytest.mark.e2e
PASS = "hygiene pass"
CHINESE = "监控录像显示嫌疑人在晚上十点离开商店" * 5  # 90 characters, 270 bytes of UTF-8
#: Controls, format (bidi, invisible) characters, line and paragraph separators, surrogates.
UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}
HOSTILE = "\u200fRLM \u2028LS \u2029PS \u200bZWSP \u202eRLO \u2066LRI \u061cALM \x1b[2J \x85NEL \ufeff"


@pytest.fixture
def officer(tmp_path):
    """A server's folders with one officer key file, and a way to bring tips to the workspace."""
    demo, astana = keys.generate("demo"), keys.generate("astana-police")
    server = Server(tmp_path / "server", demo, astana)
    key_file = tmp_path / "demo.key"
    key_file.write_bytes(keys.private_to_file(demo, PASS, kdf.TEST_PARAMS))
    env = {"TIPDROP_PASSPHRASE": PASS, "TIPDROP_WORKDIR": str(tmp_path / "cases"),
           "TIPDROP_KEY": str(key_file)}

    def bring(description, files):
        tip, _ = server.submit("almaty", description, files=files)
        bundle = tmp_path / f"{tip['id']}.tdx"
        server.export("demo", bundle)
        return tip["id"], bundle

    yield env, bring
    server.db.close()


def test_long_names_in_any_script_are_saved_within_255_bytes(officer, run_cli, tmp_path):
    env, bring = officer
    files = [(CHINESE + ".jpg", b"frame one"), ("x" * 250 + ".png", b"frame two"),
             ("../../.bashrc", b"not a dotfile"), ("CON", b"not a device"),
             ("Ж" * 200, b"cyrillic")]
    tip_id, bundle = bring("Shoplifting caught on camera.", files)
    assert run_cli("officer", "open", bundle, env=env).returncode == 0

    shown = run_cli("officer", "show", tip_id[:8], "--save-attachments", tmp_path / "saved",
                    env=env)

    assert shown.returncode == 0, shown.stderr
    saved = sorted((tmp_path / "saved").iterdir())
    assert sorted(p.read_bytes() for p in saved) == sorted(data for _, data in files)
    for path in saved:
        assert len(path.name.encode("utf-8")) <= 255
        assert not path.name.startswith(".")
        assert path.name.startswith(f"{tip_id[:8]}-a")
    names = {p.read_bytes(): p.name for p in saved}
    # The reporter's stem stays; the extension is the checked one (saving.checked_extension):
    # these files are declared application/octet-stream, so ".bin" whatever their names say.
    assert names[b"frame one"].endswith(".bin") and "监控录像" in names[b"frame one"]
    assert names[b"frame two"].endswith("x.bin")
    assert names[b"not a dotfile"].endswith("-bashrc.bin")
    assert names[b"not a device"].endswith("-_CON.bin")


def test_saved_files_get_a_checked_extension_never_the_senders(officer, run_cli, tmp_path):
    env, bring = officer
    pdf = b"%PDF-1.4\na statement\n%%EOF\n"
    files = [("x\u202etxt.exe", b"MZ a program", "application/x-msdos-program"),
             ("page.html", b"<script>alert(1)</script>", "text/html"),
             ("launcher.desktop", b"[Desktop Entry]", "application/x-desktop"),
             ("fake.jpg", b"MZ not a photo", "image/jpeg"),
             ("statement.pdf", pdf, "application/pdf")]
    tip_id, bundle = bring("Files of every kind.", files)
    assert run_cli("officer", "open", bundle, env=env).returncode == 0

    shown = run_cli("officer", "show", tip_id, "--save-attachments", tmp_path / "saved", env=env)

    assert shown.returncode == 0, shown.stderr
    names = {p.read_bytes(): p.name for p in (tmp_path / "saved").iterdir()}
    # The same rule as the officer app's downloads (saving.checked_extension): the
    # extension of a known type whose bytes match, else .bin; the sender's stem stays.
    assert names[b"MZ a program"] == f"{tip_id[:8]}-a1-x_txt.bin"
    assert names[b"<script>alert(1)</script>"] == f"{tip_id[:8]}-a2-page.bin"
    assert names[b"[Desktop Entry]"] == f"{tip_id[:8]}-a3-launcher.bin"
    assert names[b"MZ not a photo"] == f"{tip_id[:8]}-a4-fake.bin"
    assert names[pdf] == f"{tip_id[:8]}-a5-statement.pdf"


def test_one_file_that_cannot_be_saved_does_not_stop_the_others(officer, run_cli, tmp_path):
    env, bring = officer
    tip_id, bundle = bring("Two photos.", [("first.jpg", b"first"), ("second.jpg", b"second")])
    assert run_cli("officer", "open", bundle, env=env).returncode == 0
    # Given the workspace's copy of the first file damaged on the disk
    import sqlite3

    with sqlite3.connect(tmp_path / "cases" / "workspace.db") as db:
        (blob,) = db.execute("SELECT blob FROM attachments WHERE part = 'a1'").fetchone()
    damaged = tmp_path / "cases" / "attachments" / blob
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 1
    damaged.write_bytes(bytes(data))

    shown = run_cli("officer", "show", tip_id, "--save-attachments", tmp_path / "saved", env=env)

    assert shown.returncode == 2
    assert shown.stderr.strip().splitlines() == [
        "error: 1 of 2 attachments could not be saved (see above); the others were"]
    assert "attachment a1: first.jpg" in shown.stdout and "NOT SAVED" in shown.stdout
    assert [p.name for p in (tmp_path / "saved").iterdir()] == [f"{tip_id[:8]}-a2-second.bin"]
    assert (tmp_path / "saved" / f"{tip_id[:8]}-a2-second.bin").read_bytes() == b"second"
    assert "Traceback" not in shown.stdout + shown.stderr


def test_saving_again_never_overwrites_a_file(officer, run_cli, tmp_path):
    env, bring = officer
    tip_id, bundle = bring("A photo.", [(CHINESE + ".jpg", b"the photo")])
    assert run_cli("officer", "open", bundle, env=env).returncode == 0
    saved = tmp_path / "saved"
    for _ in range(2):
        shown = run_cli("officer", "show", tip_id, "--save-attachments", saved, env=env)
        assert shown.returncode == 0, shown.stderr
    first, second = sorted(saved.iterdir(), key=lambda p: len(p.name))
    assert second.name.endswith(" (2).bin") and first.name.endswith(".bin")
    assert first.read_bytes() == second.read_bytes() == b"the photo"
    assert len(second.name.encode("utf-8")) <= 255


def _raw_unsafe(text):
    return sorted({f"U+{ord(c):04X}" for c in text
                   if unicodedata.category(c) in UNSAFE_CATEGORIES and c != "\n"})


def test_no_control_bidi_or_separator_character_reaches_the_terminal(officer, run_cli, tmp_path):
    env, bring = officer
    tip_id, bundle = bring(f"Seen at the gate. {HOSTILE}",
                           [(f"photo{HOSTILE}.jpg", b"jpeg"), ("name\nfake line.txt", b"x")])
    assert run_cli("officer", "open", bundle, env=env).returncode == 0

    shown = run_cli("officer", "show", tip_id, "--save-attachments", tmp_path / "saved", env=env)
    listed = run_cli("officer", "list", env=env)

    assert shown.returncode == 0 and listed.returncode == 0, shown.stderr
    for output in (shown.stdout, listed.stdout, shown.stderr):
        assert _raw_unsafe(output) == []
    for escaped in ("\\u200f", "\\u2028", "\\u2029", "\\u200b", "\\u202e", "\\u2066",
                    "\\u061c", "\\u001b", "\\u0085", "\\ufeff"):
        assert escaped in shown.stdout
    # A line break inside a file name cannot fake a line of output.
    assert "attachment a2: name\\u000afake line.txt" in shown.stdout
    for saved in (tmp_path / "saved").iterdir():
        assert _raw_unsafe(saved.name) == []
