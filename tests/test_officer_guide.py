"""The officer guide shows only commands and options that exist."""

import re
import shlex
from pathlib import Path

import click
import pytest

from tipdrop.cli import register_commands

cli = register_commands()

GUIDE = (Path(__file__).resolve().parent.parent / "docs" / "officer-guide.md").read_text()
BLOCKS = "\n".join(re.findall(r"```sh\n(.*?)```", GUIDE, re.S))
# Command lines in shell blocks, and commands quoted inline (`tipdrop ...`).
LINES = sorted(set(
    re.findall(r"^\s*(tipdrop .+)$", BLOCKS, re.M) + re.findall(r"`(tipdrop [^`]+)`", GUIDE)
))


def _resolve(words):
    """The click command a guide line names, and the words after its name."""
    command, rest = cli, words[1:]
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    return command, rest


def test_the_guide_shows_the_officer_commands():
    named = {" ".join(shlex.split(line)[:3]) for line in LINES}
    for command in ("tipdrop officer open", "tipdrop officer list", "tipdrop officer show",
                    "tipdrop officer note", "tipdrop officer reply", "tipdrop officer outbox"):
        assert command in named


@pytest.mark.parametrize("line", LINES)
def test_every_command_and_option_in_the_guide_exists(line):
    command, rest = _resolve(shlex.split(line.replace("…", "X")))
    assert not isinstance(command, click.Group), f"{line!r} names no command"
    options = {opt: param for param in command.params for opt in param.opts}
    for word, value in zip(rest, rest[1:] + [None], strict=False):
        if word.startswith("--"):
            assert word in options, f"{word} is not an option of {line!r}"
            if isinstance(options[word].type, click.Choice):
                assert value in options[word].type.choices, f"{word} {value} in {line!r}"
