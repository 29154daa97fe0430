"""The officer app's one piece of state: the workspace, and while unlocked, the keys and index.

Unlocking reads the unit key's passphrase from the page, proves it on the
newest key (Argon2id), and decrypts the workspace into an in-memory index
(tipdrop/officer/search.py). Locking, by the Lock button or after
``idle_seconds`` without a request, drops both: from then on nothing
decrypted is reachable until the passphrase is typed again. Python cannot
wipe memory it freed; dropping every reference is what it can do.

Every request and the idle watchdog run under :attr:`mutex`, one at a time
(tipdrop/officer/app/serve.py), so a lock never lands in the middle of a page.
"""

import secrets
import threading
import time
from pathlib import Path

from ...errors import InputError
from ..keyring import Keyring
from ..search import SearchIndex, require_fts5
from ..workspace import Workspace

#: Minutes without a request after which the app locks itself.
IDLE_MINUTES = 15
#: Searches remembered for their addresses (paging through results); older ones are forgotten.
MAX_SEARCHES = 32


class LockedError(InputError):
    """The officer app is locked: type the passphrase again to go on."""

    http_status = 403
    detail_is_message = False


class EmptyPassphraseError(InputError):
    """Type the passphrase of the unit key."""

    detail_is_message = False


class Desk:
    def __init__(self, workdir, key_path, urgent=(), idle_seconds=IDLE_MINUTES * 60,
                 clock=time.monotonic):
        require_fts5()
        self.workspace = Workspace(workdir)
        self.key_path = Path(key_path)
        Keyring.load(self.key_path)  # a missing or wrong --key is a start-up error
        self.urgent = tuple(urgent)
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.mutex = threading.RLock()
        self._keyring = None
        self._index = None
        self._last = 0.0
        self._searches = {}
        self.locked_for_idle = False

    @property
    def unlocked(self) -> bool:
        return self._keyring is not None

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            raise LockedError()
        return self._keyring

    def require_unlocked(self) -> None:
        """LockedError unless unlocked: checked before a request is acted on."""
        if self._keyring is None:
            raise LockedError()

    @property
    def index(self) -> SearchIndex:
        if self._index is None:
            raise LockedError()
        return self._index

    def unlock(self, passphrase: str) -> int:
        """Check the passphrase and build the index; return how many tips it holds."""
        if not passphrase:
            raise EmptyPassphraseError()
        with self.mutex:
            keyring = Keyring.load(self.key_path, passphrase)
            _ = keyring.signing_key  # WrongPassphraseError here, before anything is decrypted
            index = SearchIndex(self.urgent)
            try:
                count = index.build(self.workspace, keyring)
            except BaseException:
                index.close()
                raise
            self.lock()
            self._keyring, self._index = keyring, index
            self._last = self.clock()
            self.locked_for_idle = False
            return count

    def import_bundle(self, path) -> dict:
        """Open an export bundle into the workspace (as `tipdrop officer open`); index it anew."""
        with self.mutex:
            keyring = self.keyring
            counts = self.workspace.open_bundle(path, keyring)
            index = SearchIndex(self.urgent)
            try:
                index.build(self.workspace, keyring)
            except BaseException:
                index.close()
                raise
            self._index, old = index, self._index
            old.close()
            return counts

    def remember_search(self, words: str) -> str:
        """Keep what the officer searched for, in memory; return a random handle for the address.

        Search words are plaintext's shadows: in an address they would land in
        the browser's history on disk, so the address carries the handle only.
        """
        handle = secrets.token_urlsafe(12)
        with self.mutex:
            self._searches[handle] = words
            while len(self._searches) > MAX_SEARCHES:
                del self._searches[next(iter(self._searches))]
        return handle

    def recall_search(self, handle: str | None) -> str:
        return self._searches.get(handle or "", "")

    def lock(self) -> None:
        with self.mutex:
            self._searches = {}
            index, self._index, self._keyring = self._index, None, None
            if index is not None:
                index.close()

    def check_idle(self) -> bool:
        """Lock if no request came for ``idle_seconds``; True if this call locked it."""
        with self.mutex:
            if self.unlocked and self.clock() - self._last >= self.idle_seconds:
                self.lock()
                self.locked_for_idle = True
                return True
            return False

    def touch(self) -> None:
        """A request came: the idle time starts again (after :meth:`check_idle`)."""
        self._last = self.clock()

    def refresh(self, tip_id: str) -> None:
        """Index one tip again after the officer changed it."""
        self.index.refresh(self.workspace, self.keyring, tip_id)

    def close(self) -> None:
        self.lock()
        self.workspace.close()
