"""Printing text that someone else wrote, so it cannot take over the terminal.

A report, a file name or a server's answer may carry escape sequences
(ESC ] 0 ; ... BEL retitles the window, ESC [ 2 J clears it, others can
hide lines), bidirectional controls that make text read differently from
what it is (U+202E, U+2067, U+200F, U+061C), invisible characters that make
two different names look alike (U+200B, U+2060, U+FEFF), or line and
paragraph separators (U+2028, U+2029) that some terminals break lines on.
Commands that print such text show every character of the Unicode
categories Cc (controls), Cf (format: all bidi and invisible controls),
Zl, Zp (separators) and Cs (lone surrogates, which cannot even be encoded)
as a visible ``\\uXXXX`` (``\\UXXXXXXXX`` above U+FFFF) instead of sending it.
Only the line feed is kept where text is meant to have lines (a report's
description); :func:`inline` escapes it too, for text inside one line.
"""

import unicodedata

import click

#: Categories never sent to the terminal as they are.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _escape(char):
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def safe(text, keep_newlines=True):
    """``text`` with every unsafe character shown as \\uXXXX (line feeds kept if asked)."""
    text = str(text)
    if text.isprintable() and text.isascii():  # the common case, quickly
        return text
    return "".join(
        _escape(c) if unicodedata.category(c) in UNSAFE_CATEGORIES
        and not (keep_newlines and c == "\n") else c
        for c in text)


def inline(text):
    """``text`` made safe to show inside one line: line feeds are escaped too."""
    return safe(text, keep_newlines=False)


def echo(text="", **kwargs):
    click.echo(safe(text), **kwargs)
