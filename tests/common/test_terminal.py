"""terminal.safe and safe_name: a stranger's text shown and saved without surprises."""

import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tipdrop.common import terminal
from tipdrop.officer.saving import safe_name

UNSAFE = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def _every_unsafe_character():
    return [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in UNSAFE]


def test_every_control_format_and_separator_character_is_escaped():
    for char in _every_unsafe_character():
        shown = terminal.inline(f"a{char}b")
        assert char not in shown and shown.startswith("a\\") and shown.endswith("b"), hex(ord(char))


@pytest.mark.parametrize("char, escaped", [
    ("\u200f", "\\u200f"), ("\u2028", "\\u2028"), ("\u200b", "\\u200b"), ("\x1b", "\\u001b"),
    ("\U000e0001", "\\U000e0001"), ("\ud800", "\\ud800"), ("\t", "\\u0009"),
])
def test_escapes_are_visible_and_name_the_code_point(char, escaped):
    assert terminal.safe(char) == escaped


def test_line_feeds_are_kept_in_text_and_escaped_inside_a_line():
    assert terminal.safe("one\ntwo") == "one\ntwo"
    assert terminal.inline("one\ntwo") == "one\\u000atwo"


def test_letters_of_every_script_and_emoji_pass_unchanged():
    text = "Қазақша, по-русски, 中文, עברית, العربية, 👍🏽, e\u0301"
    assert terminal.safe(text) == text


@given(st.text())
def test_safe_text_can_always_be_encoded_and_holds_nothing_unsafe(text):
    shown = terminal.inline(text)
    shown.encode("utf-8")
    assert not any(unicodedata.category(c) in UNSAFE for c in shown)


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd"), ("..\\..\\boot.ini", "boot.ini"), (".bashrc", "bashrc"),
    ("...", "attachment"), ("", "attachment"), ("CON", "_CON"), ("lpt1.txt", "_lpt1.txt"),
    ("report. ", "report"), ("a\u202egpj.exe", "a_gpj.exe"), ("x:y*z?.jpg", "x_y_z_.jpg"),
    ("Фото 1.jpg", "Фото 1.jpg"),
])
def test_saved_names_keep_no_path_dot_or_device_name(name, expected):
    assert safe_name(name) == expected


@given(name=st.text(), room=st.integers(20, 255))
def test_saved_names_fit_their_bytes_on_a_character_boundary(name, room):
    safe = safe_name(name, room)
    assert 0 < len(safe.encode("utf-8")) <= room
    assert not safe.startswith(".") and "/" not in safe and "\\" not in safe
    assert not any(unicodedata.category(c) in UNSAFE for c in safe)


def test_a_long_name_keeps_its_extension():
    name = safe_name("监" * 90 + ".jpg", 100)
    assert name.endswith(".jpg") and len(name.encode("utf-8")) <= 100


@given(name=st.text(st.characters(exclude_characters="/\\")), room=st.integers(30, 255),
       number=st.integers(2, 999))
def test_a_uniqueness_suffix_stays_within_the_bytes_before_the_extension(name, room, number):
    safe = safe_name("x" + name + ".jpg", room, f" ({number})")
    assert len(safe.encode("utf-8")) <= room
    assert safe.endswith(f" ({number}).jpg")
