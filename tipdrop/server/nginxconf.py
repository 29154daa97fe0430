"""Just enough of nginx's configuration syntax for ``tipdrop doctor`` to read.

nginx's configuration is a tree of directives: ``name args... ;`` or
``name args... { children }``, with ``#`` comments and quoted strings.
:func:`parse` turns a file (following ``include``) into :class:`Directive`
nodes; :func:`effective` says which value of a directive is in force in a
block, since http-level and server-level settings are inherited by the
locations inside them unless a location sets its own.
"""

import glob
from dataclasses import dataclass, field
from pathlib import Path

from tipdrop.errors import ConfigError

#: Deeper include chains than this are taken for a loop.
_MAX_INCLUDE_DEPTH = 8
#: Where nginx looks for relative includes on Debian and most builds.
_PREFIX = Path("/etc/nginx")


@dataclass
class Directive:
    name: str
    args: list
    file: str
    line: int
    #: The block's directives, or None for a simple ``name args;``.
    children: list | None = None
    parent: "Directive | None" = field(default=None, repr=False)

    @property
    def where(self):
        return f"{self.file}:{self.line}"

    def walk(self):
        """This directive and every one below it, depth first."""
        yield self
        for child in self.children or ():
            yield from child.walk()


def _tokens(text, file):
    """(token, line, quoted) triples; ``{``, ``}`` and ``;`` are tokens of their own."""
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "{};":
            yield c, line, False
            i += 1
        elif c in "\"'":
            start_line, i, word = line, i + 1, []
            while i < n and text[i] != c:
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                if text[i] == "\n":
                    line += 1
                word.append(text[i])
                i += 1
            if i >= n:
                raise ConfigError(f"{file}:{start_line}: unterminated quoted string")
            i += 1
            yield "".join(word), start_line, True
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in "{};":
                if text[i] == "$" and text[i + 1:i + 2] == "{":  # ${name}: a variable
                    i = text.find("}", i) + 1 or n
                else:
                    i += 1
            yield text[start:i], line, False


def parse(path, _depth=0, _base=None):
    """The directives of the nginx configuration file ``path``, includes expanded.

    A relative ``include`` is looked up in the folder of the file given
    first, then in /etc/nginx (nginx's own rule is its configuration prefix).
    Raises ConfigError if a file cannot be read or its braces do not match.
    """
    path = Path(path)
    _base = _base or path.parent
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    root = Directive("", [], str(path), 0, [])
    stack, words = [root], []
    for token, line, quoted in _tokens(text, path):
        if quoted or token not in "{};":
            words.append((token, line))
            continue
        if token == "}":
            if words or len(stack) == 1:
                raise ConfigError(f"{path}:{line}: unexpected '}}'")
            stack.pop()
            continue
        if not words:
            raise ConfigError(f"{path}:{line}: unexpected '{token}'")
        (name, first_line), args = words[0], [w for w, _ in words[1:]]
        words = []
        directive = Directive(name, args, str(path), first_line,
                              [] if token == "{" else None, stack[-1])
        if name == "include" and token == ";":
            for child in _include(path, args, _depth, _base):
                child.parent = stack[-1]
                stack[-1].children.append(child)
            continue
        stack[-1].children.append(directive)
        if token == "{":
            stack.append(directive)
    if words or len(stack) != 1:
        raise ConfigError(f"{path}: a block is not closed (missing '}}' or ';')")
    return root


def _include(path, args, depth, base):
    """The directives of the files an ``include`` names."""
    if depth >= _MAX_INCLUDE_DEPTH:
        raise ConfigError(f"{path}: includes nest too deeply (a loop?)")
    found = []
    for pattern in args:
        folders = [Path("/")] if Path(pattern).is_absolute() else [base, _PREFIX]
        names = next((n for n in (sorted(glob.glob(str(f / pattern))) for f in folders) if n), [])
        for name in names:
            found.extend(parse(name, depth + 1, base).children)
    return found


def effective(directive, name):
    """The value of ``name`` in force inside ``directive``'s block: its own, else inherited.

    Returns the Directive that sets it, or None if nothing does (nginx's
    default applies).
    """
    block = directive if directive.children is not None else directive.parent
    while block is not None:
        for child in block.children or ():
            if child.name == name:
                return child
        block = block.parent
    return None
