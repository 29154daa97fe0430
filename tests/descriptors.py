"""The file descriptors the test process holds, for the check that no test module leaks them.

A descriptor left open by every test (an app's lock file, a client's
socket) adds up over a session: past 1024 select() fails with "filedescriptor
out of range in select()", in whichever test happens to come next, so the
culprit is far from the failure. tests/conftest.py checks after each module
instead, and names what was left open.
"""

import collections
import gc
import os

#: New descriptors a test module may leave open: what a session fixture it was
#: the first to use holds (Playwright's driver and Chromium, a few pipes), what a
#: library opens once for the process. A leak of one per test passes it quickly.
MODULE_TOLERANCE = 32
#: Past this many in all, a run fails whatever each module added: select()
#: fails at 1024, and an e2e test opens a few hundred sockets of its own.
MOST = 512

_FD_DIR = "/proc/self/fd"


def open_descriptors() -> dict[int, str]:
    """Each descriptor this process holds and what it is open on, once the garbage is collected."""
    gc.collect()  # what only a reference cycle keeps open is not a leak
    held = {}
    for name in os.listdir(_FD_DIR):
        try:
            held[int(name)] = os.readlink(f"{_FD_DIR}/{name}")
        except OSError:
            continue  # the listing's own descriptor, closed already
    return held


def describe(targets, most=5) -> str:
    """What ``targets`` are open on, the most common kinds first, for a failure message."""
    kinds = collections.Counter(_kind(target) for target in targets)
    examples = {}
    for target in targets:
        examples.setdefault(_kind(target), target)
    return "; ".join(f"{count} x {kind} (e.g. {examples[kind]})"
                     for kind, count in kinds.most_common(most))


def _kind(target):
    """``socket``, ``pipe`` or the file's name: what groups one leak's descriptors together."""
    if ":[" in target:
        return target.split(":[", 1)[0]
    return os.path.basename(target.removesuffix(" (deleted)"))


def left_open(before: dict[int, str], after: dict[int, str]) -> list[str]:
    """The targets of the descriptors in ``after`` that were not open in ``before``."""
    return [target for fd, target in after.items() if before.get(fd) != target]
