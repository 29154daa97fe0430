"""Docs are checked: every command is documented and shows an example."""

import re
from pathlib import Path

import click
import pytest

from tipdrop.cli import register_commands

cli = register_commands()

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _commands(group, prefix="tipdrop"):
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from _commands(command, path)
        else:
            yield path, command


COMMANDS = list(_commands(cli))


@pytest.mark.parametrize("path,command", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_is_in_the_readme(path, command):
    assert f"`{path}" in README


@pytest.mark.parametrize("path,command", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_has_help_with_an_example(path, command):
    assert command.help and "Example:" in command.help
    assert f"Example: {path}" in command.help or "Example: TIPDROP_" in command.help


def test_readme_starts_with_the_two_commands():
    head = README[:1500]
    assert "make run" in head and "make test" in head


def test_every_doc_the_readme_links_exists():
    import re

    for target in re.findall(r"\]\(((?:docs|bench)/[^)#]+)", README):
        assert (ROOT / target).exists(), target


DESIGN = (ROOT / "docs" / "design.md").read_text()


def _invariants():
    """Each numbered item of design.md's invariants section, as (number, text)."""
    import re

    section = DESIGN.split("## 2. Security invariants", 1)[1].split("\n## ", 1)[0]
    items = re.split(r"\n(?=\d+\. \*\*)", "\n" + section)
    return [(int(item.split(".", 1)[0]), item) for item in items if re.match(r"\d+\. \*\*", item)]


INVARIANTS = _invariants()


def test_design_lists_the_ten_security_invariants_in_order():
    assert [number for number, _ in INVARIANTS] == list(range(1, 11))


@pytest.mark.parametrize("number,text", INVARIANTS, ids=[f"invariant-{n}" for n, _ in INVARIANTS])
def test_every_invariant_names_tests_that_exist(number, text):
    import re

    named = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", text)
    assert named, f"invariant {number} names no test"
    for path, function in named:
        source = ROOT / path
        assert source.is_file(), f"invariant {number}: {path} does not exist"
        assert re.search(rf"^def {function}\(", source.read_text(), re.M), (
            f"invariant {number}: {path} has no test {function}"
        )


def test_every_doc_links_the_design():
    for doc in ("README.md", "docs/threat-model.md", "docs/protocol.md", "docs/officer-guide.md",
                "docs/operations.md", "docs/integration.md", "docs/deploy.md"):
        assert "design.md" in (ROOT / doc).read_text(), doc


def _layout():
    return README.split("## Layout", 1)[1].split("\n## ", 1)[0]


MODULES = sorted(str(path.relative_to(ROOT / "tipdrop"))
                 for path in (ROOT / "tipdrop").rglob("*.py")
                 if path.name not in ("__init__.py", "__main__.py"))


@pytest.mark.parametrize("module", MODULES)
def test_every_module_is_in_the_readme_layout(module):
    import re

    # Listed by its file name, in the line of its folder or under it.
    assert re.search(rf"(?<![\w.]){re.escape(Path(module).name)}\b", _layout()), module


def test_code_and_docs_cite_the_repository_not_an_outside_brief():
    """The design is docs/design.md: no citation of the brief outside the repo ("DESIGN" and a section number)."""
    cited = []
    for folder in ("tipdrop", "tests", "docs", "deploy", "bench", "fuzz"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".md", ".html", ".js", ".conf", ".service", ".timer"}:
                text = path.read_text(errors="replace")
                cited += [f"{path.relative_to(ROOT)}: {m}" for m in re.findall(r"DESIGN \d[\d.]*", text)]
    assert not cited, cited
