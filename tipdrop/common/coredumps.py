"""No tipdrop process leaves a core dump (docs/threat-model.md, "Core dumps").

A process that crashes (a C library meeting a hostile photo, a signal) may
have the kernel write its whole memory to a file: the working folder
("core"), or systemd-coredump's and apport's folders, kept for weeks. A
server worker's memory holds the plaintext of reports sealed on arrival
(the form without JavaScript, the JSON API) and of their files; the officer's
app and commands hold the unlocked unit key and decrypted reports; the
reference client holds the report it seals. A core dump would put all of
that on a disk, where no purge, lock or passphrase reaches.

The systemd units set ``LimitCORE=0``, but a server run otherwise (from a
shell where ``ulimit -c unlimited`` was typed to debug something, a
container, another supervisor) would not have it. So every tipdrop command,
and every server worker however it is started, sets its own core size limit
to 0 at start (``RLIMIT_CORE``; gunicorn's workers inherit it when they are
forked). The kernel then writes no core file, and systemd-coredump and
apport, which are given the limit, store none. Only the soft limit is
lowered: the hard one is left as it was, so nothing else of the system
changes; nothing in tipdrop raises the soft limit again.
"""

import resource


def forbid() -> None:
    """Set this process's core dump size limit to 0 (inherited by its children)."""
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
