"""One-time pages: the receipt page and the status page, reached by a sealed link.

A page that shows a receipt code, or what only its code unlocks, must never be
the answer to a POST: Chromium keeps a POST's body (the report, the code) in
its session files for Reload and for restoring tabs after a restart. So those
POSTs answer with a 303 redirect to a link made here (POST-redirect-GET), and
the browser keeps only the link. The link carries the payload sealed under a
random key (tipdrop.crypto.pagelink); the key is a small file in the server's
folder in RAM (``TIPDROP_RUNTIME_DIR``, the folder the workers share their
rate-limit counts in, ratelimit.py), never on a disk, so no file's times say
when a report arrived (docs/threat-model.md, "Times"); it is deleted when the
page has served its purpose or its time is up. A link whose key is gone opens nothing, whoever
finds it in the browser's history or session files later.

- the receipt page lives until the reporter confirms they saved the code (or
  RECEIPT_MINUTES pass), so Reload and the language links show it again;
- the status page opens once (STATUS_MINUTES to follow the redirect): Back,
  Reload and session restore find it closed, and the code must be typed again.
"""

import base64
import json
import os
import re
import secrets
import threading
import time
from pathlib import Path

from tipdrop.common.files import atomic_write
from tipdrop.crypto import pagelink
from tipdrop.errors import CryptoError, InputError
from tipdrop.server.web.limits import BusyError

FOLDER = "page-keys"
RECEIPT_MINUTES = 30
STATUS_MINUTES = 10
_ID = re.compile(r"^[0-9a-f]{32}$")
_EXPIRY_LEN = 8
#: What a key being closed is renamed to end with (PageLinks.close).
_CLOSING = ".closing"
#: Live page keys at most (a key takes a page of RAM, about 4 KiB): past it a
#: new link is refused busy (503), so a flood of checks cannot grow the
#: folder without bound. Counted at each sweep and by this process since (the
#: keys it made, less those it closed), so the folder may hold a little more
#: (what the other workers made since).
MAX_LIVE = 20_000
#: Seconds between two sweeps of one process. A sweep reads every key: run
#: for every link made, a flood's cost grew with the square of its size
#: (0.5 s of CPU per check or report at 10,000 live keys).
SWEEP_SECONDS = 10


class PageClosedError(InputError):
    """This page is shown only once and is now closed. To see your report, enter your receipt code again."""

    http_status = 410
    detail_is_message = False


class ReceiptPageClosedError(InputError):
    """This page has closed: a receipt code is shown only until you confirm that you saved it, or for 30 minutes."""

    http_status = 410
    detail_is_message = False


def _erase(path):
    """Overwrite a key file with zeros, then delete it."""
    try:
        with open(path, "r+b") as f:
            f.write(bytes(pagelink.KEY_LEN + _EXPIRY_LEN))
            f.flush()
            os.fsync(f.fileno())
        path.unlink()
    except FileNotFoundError:
        pass  # another sweep took it


def _no_room():
    """503 busy, before the work the link is for: the request's count is taken back."""
    error = BusyError()
    error.refused_before_work = True
    return error


class PageLinks:
    def __init__(self, runtime_folder, clock=time.time, monotonic=time.monotonic):
        self.folder = Path(runtime_folder) / FOLDER
        self.folder.mkdir(mode=0o700, exist_ok=True)
        self.clock = clock
        self.monotonic = monotonic
        self._sweeping = threading.Lock()
        self._swept_at = float("-inf")
        self._live = 0

    def reserve(self, minutes):
        """Write the key of a link that will open for ``minutes``; return (link id, key).

        Called before the work the link is about (storing a report): if the
        folder in RAM cannot take the key (full, removed), the request is
        refused with 503 before anything is stored, and :meth:`seal` after
        the commit needs no disk, so a stored report never loses its receipt.
        """
        link_id = secrets.token_hex(16)
        key = pagelink.new_key()
        expires = int(self.clock()) + minutes * 60
        try:
            self.folder.mkdir(mode=0o700, exist_ok=True)
            self._sweep_when_due()
            if self._live >= MAX_LIVE:
                raise _no_room()
            atomic_write(self.folder / link_id, key + expires.to_bytes(_EXPIRY_LEN, "big"))
        except OSError:
            raise _no_room() from None
        self._live += 1
        return link_id, key

    def _sweep_when_due(self):
        """Sweep at most every SWEEP_SECONDS, one thread at a time; count what is left."""
        if self.monotonic() - self._swept_at < SWEEP_SECONDS:
            return
        if not self._sweeping.acquire(blocking=False):
            return  # another thread of this process is sweeping now
        try:
            self._live = self.sweep()
            self._swept_at = self.monotonic()
        finally:
            self._sweeping.release()

    @staticmethod
    def seal(reserved, purpose, payload):
        """The link that opens ``payload`` (a dict) with a key from :meth:`reserve`."""
        link_id, key = reserved
        sealed = pagelink.seal(json.dumps(payload).encode(), key, purpose=purpose, link_id=link_id)
        return f"{link_id}.{base64.urlsafe_b64encode(sealed).decode().rstrip('=')}"

    def create(self, purpose, payload, minutes):
        """Seal ``payload`` (a dict) into a new link that opens for ``minutes``."""
        return self.seal(self.reserve(minutes), purpose, payload)

    def read(self, link, purpose, closed=PageClosedError):
        """The payload of a link that is still open; ``closed`` is raised otherwise."""
        link_id, sealed = self._split(link, closed)
        key = self._key(link_id, closed)
        try:
            return json.loads(pagelink.open_(sealed, key, purpose=purpose, link_id=link_id))
        except (CryptoError, ValueError):
            raise closed() from None

    def take(self, link, purpose, closed=PageClosedError):
        """Read a link and close it; of two requests racing for it, one gets it."""
        return self.take_for_work(link, purpose, closed)[0]

    def take_for_work(self, link, purpose, closed=PageClosedError):
        """Take a link (:meth:`take`) before the work it is for.

        Returns the payload and a function that opens the link again, with
        its key and time unchanged: for work that is refused before it
        starts (a busy server), so Reload can try again. The link is closed
        *before* the work, never after it: otherwise every request racing
        for one link would do the work the link is for (a status page's
        Argon2 run) and one would win only at the end, so one counted check
        could buy as many Argon2 runs as requests sent at once.
        """
        link_id, _ = self._split(link, closed)
        path = self.folder / link_id
        try:
            kept = path.read_bytes()
        except FileNotFoundError:
            raise closed() from None
        payload = self.read(link, purpose, closed)
        if not self.close(link):
            raise closed()

        def reopen():
            try:
                atomic_write(path, kept)
            except OSError:
                return  # the folder in RAM is full or gone: the link stays closed
            self._live += 1
        return payload, reopen

    def close(self, link):
        """Delete a link's key (overwritten first); True if this call deleted it.

        The key is first renamed out of the link's name, which only one
        caller can do: a request reading the link meanwhile finds the whole
        key or none, never the zeros it is being overwritten with. Those
        zeros read as a key whose time was up, and the reader closed the link
        itself, so of two requests racing for a status page neither got it
        (about one race in ten on a disk, three in 2,000 on tmpfs).
        """
        link_id = link.split(".", 1)[0]
        if not _ID.match(link_id):
            return False
        path = self.folder / link_id
        closing = self.folder / f"{link_id}.{secrets.token_hex(4)}{_CLOSING}"
        try:
            os.rename(path, closing)
        except FileNotFoundError:
            return False
        _erase(closing)
        # One fewer live, as counted since the last sweep: otherwise keys
        # reserved and released again (refused requests) filled the count.
        self._live = max(0, self._live - 1)
        return True

    def sweep(self):
        """Delete the keys of links whose time is up; return how many are left.

        A key left half-closed (a worker killed in :meth:`close`) goes too.
        """
        now, live = self.clock(), 0
        for path in self.folder.iterdir():
            if _ID.match(path.name):
                if self._expired(path, now):
                    self.close(path.name)
                else:
                    live += 1
            elif path.name.endswith(_CLOSING) and _ID.match(path.name.split(".", 1)[0]):
                _erase(path)
        return live

    def _split(self, link, closed):
        link_id, _, text = (link or "").partition(".")
        if not _ID.match(link_id) or not text or len(text) > 2048:
            raise closed()
        try:
            return link_id, base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except ValueError:
            raise closed() from None

    def _key(self, link_id, closed):
        path = self.folder / link_id
        if self._expired(path, self.clock()):
            self.close(link_id)
            raise closed()
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise closed() from None
        return data[:pagelink.KEY_LEN]

    @staticmethod
    def _expired(path, now):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return True
        if len(data) != pagelink.KEY_LEN + _EXPIRY_LEN:
            return True
        return int.from_bytes(data[pagelink.KEY_LEN:], "big") <= now
