"""Printing text that someone else wrote, so it cannot take over the terminal.

A report, a file name or a server's answer may carry escape sequences
(ESC ] 0 ; ... BEL retitles the window, ESC [ 2 J clears it, others can
hide lines) or bidirectional overrides that make text read differently from
what it is. Commands that print such text show these characters as
``\\uXXXX`` instead of sending them.
"""

import re

import click

_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(text):
    """``text`` with control characters and bidi overrides shown as \\uXXXX."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text))


def echo(text="", **kwargs):
    click.echo(safe(text), **kwargs)
