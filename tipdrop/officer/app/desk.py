"""The officer app's one piece of state: the workspace, and while unlocked, the keys and index.

Unlocking reads the unit key's passphrase from the page, proves it on the
newest key (Argon2id), and decrypts the workspace into an in-memory index
(tipdrop/officer/search.py). The app is unlocked, and the inbox usable, as
soon as every tip is decrypted and listed; the full-text index follows in
the index's own thread, and search says how far it is until then. Locking, by the Lock button or after
``idle_seconds`` without a request, drops both: from then on nothing
decrypted is reachable until the passphrase is typed again. Python cannot
wipe memory it freed; dropping every reference is what it can do.

Every request and the idle watchdog run under :attr:`mutex`, one at a time
(tipdrop/officer/app/serve.py), so a lock never lands in the middle of a page.
"""

import secrets
import sys
import threading
import time
from pathlib import Path

from tipdrop.errors import InputError, TipdropError
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.replytemplates import load_templates
from tipdrop.officer.search import SearchIndex, require_fts5
from tipdrop.officer.viewing import PhotoViews
from tipdrop.officer.workspace import Workspace

#: Minutes without a request after which the app locks itself.
IDLE_MINUTES = 15
#: The unit's target for a first answer to a report, in days (``--answer-days``).
ANSWER_DAYS = 3
#: Searches remembered for their addresses (paging through results); older ones are forgotten.
MAX_SEARCHES = 32
#: Tips whose pages hold text typed and not sent; past that, the longest untouched is forgotten.
MAX_DRAFTS = 200


class LockedError(InputError):
    """The officer app is locked: type the passphrase again to go on."""

    http_status = 403
    detail_is_message = False


class EmptyPassphraseError(InputError):
    """Type the passphrase of the unit key."""

    detail_is_message = False


class UnlockFailedError(TipdropError):
    """The workspace could not be decrypted. Try again; if it happens again, report it."""

    http_status = 500


class _Cancelled(Exception):
    """Lock was pressed while unlocking."""


class Unlocking:
    """An unlock in progress: how many tips are decrypted of how many, and how it ended."""

    def __init__(self, total: int):
        self.total = total
        self.done = 0
        self.error = None
        self.cancelled = False
        self.finished = threading.Event()


class Desk:
    def __init__(self, workdir, key_path, urgent=(), idle_seconds=IDLE_MINUTES * 60,
                 clock=time.monotonic, answer_days=ANSWER_DAYS):
        require_fts5()
        self.workspace = Workspace(workdir)
        self.key_path = Path(key_path)
        Keyring.load(self.key_path)  # a missing or wrong --key is a start-up error
        load_templates(self.workspace.dir)  # so is a bad reply templates file
        self.urgent = tuple(urgent)
        #: Reports waiting longer than this for a first answer are marked in the inbox.
        self.answer_days = answer_days
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.mutex = threading.RLock()
        self._keyring = None
        self._index = None
        self._last = 0.0
        self._searches = {}
        self._drafts = {}
        self._typed_search = None
        self._unlocking = None
        self.locked_for_idle = False
        #: Photos redrawn for the tip pages (viewing.py), forgotten at lock.
        self.photos = PhotoViews()
        #: The outbox file this session wrote last, and its count (exchange.write_outbox).
        self.last_outbox = None

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

    @property
    def unlocking(self) -> "Unlocking | None":
        """The unlock in progress (or ended in an error not yet shown), if any."""
        return self._unlocking

    def start_unlock(self, passphrase: str) -> "Unlocking":
        """Check the passphrase now; decrypt the workspace into the index in a thread.

        The page shows the progress (views.unlocking) and the app is unlocked
        once every tip is listed (the full-text index may still be filling:
        SearchIndex.words_ready). Lock cancels either.
        """
        if not passphrase:
            raise EmptyPassphraseError()
        with self.mutex:
            keyring = Keyring.load(self.key_path, passphrase)
            _ = keyring.signing_key  # WrongPassphraseError here, before anything is decrypted
            self.workspace.unlocked(keyring)  # the audit log names who unlocked (audit.py)
            self.lock()
            (total,) = self.workspace.db.execute("SELECT COUNT(*) FROM tips").fetchone()
            job = self._unlocking = Unlocking(total)
        threading.Thread(target=self._build, args=(job, keyring), name="unlock",
                         daemon=True).start()
        return job

    def _build(self, job, keyring):
        index = SearchIndex(self.urgent)

        def progress(done, _total):
            job.done = done
            if job.cancelled:
                raise _Cancelled()

        try:
            index.build(self.workspace, keyring, progress)
        except _Cancelled:
            index.close()
        except BaseException as e:  # shown on the page; a bug is one line, no traceback
            index.close()
            if not isinstance(e, TipdropError):
                print(f"officer app: internal error ({type(e).__name__})", file=sys.stderr)
                e = UnlockFailedError()
            job.error = e
        else:
            with self.mutex:
                if job.cancelled or self._unlocking is not job:
                    index.close()
                else:
                    self._keyring, self._index, self._unlocking = keyring, index, None
                    self._last = self.clock()
                    self.locked_for_idle = False
        finally:
            job.finished.set()

    def unlock(self, passphrase: str) -> int:
        """Unlock and wait for the whole index, full text included (scripts and tests);
        return how many tips it holds.

        Not from a request: the build publishes under :attr:`mutex`, which a
        request holds.
        """
        job = self.start_unlock(passphrase)
        job.finished.wait()
        if job.error:
            self._unlocking = None
            raise job.error
        index = self._index
        if index is not None:
            index.wait_for_words()
        return job.total

    def take_unlock_error(self) -> "TipdropError | None":
        """The error the last unlock ended in, once (the page shows it, then it is gone)."""
        with self.mutex:
            job = self._unlocking
            if job is not None and job.error is not None:
                self._unlocking = None
                return job.error
            return None

    def replace_index(self, index: SearchIndex, keyring: Keyring) -> bool:
        """Put ``index``, built with ``keyring`` after an import, in place of the current one.

        False (and ``index`` closed) if the app was locked meanwhile: a locked
        app holds no index, and the next unlock builds a whole new one.
        """
        with self.mutex:
            if self._keyring is not keyring:
                index.close()
                return False
            self._index, old = index, self._index
            if old is not None:
                old.close()
            return True

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

    def keep_draft(self, tip_id: str, draft: dict) -> None:
        """Keep what the officer typed on a tip's page and has not sent, in memory, for that tip.

        Without the page's script its boxes cannot travel in an address (the
        browser's history is on disk) nor be asked about, so every button of
        the tip's page sends them here first (views.keep_typed) and the page
        shows them again whenever that tip is shown, by whatever way the
        officer comes back. An empty ``draft`` forgets the tip's. Like
        searches, forgotten at lock.
        """
        with self.mutex:
            self._drafts.pop(tip_id, None)
            if draft:
                self._drafts[tip_id] = dict(draft)
            while len(self._drafts) > MAX_DRAFTS:
                del self._drafts[next(iter(self._drafts))]

    def recall_draft(self, tip_id: str) -> dict:
        """What is kept of ``tip_id``'s page: a reply goes to the reporter it was written for."""
        return dict(self._drafts.get(tip_id, {}))

    def keep_typed_search(self, form: dict | None) -> None:
        """Keep the inbox form's words and filters typed and not yet searched, in memory.

        The inbox's twin of :meth:`keep_draft` (inboxform.py): one form, so
        one slot; ``None`` forgets it (Show searched for them). Forgotten at lock.
        """
        with self.mutex:
            self._typed_search = dict(form) if form else None

    def typed_search(self) -> dict | None:
        """The inbox form as the officer left it, if it held what was not searched yet."""
        form = self._typed_search
        return dict(form) if form else None

    def lock(self) -> None:
        with self.mutex:
            if self._unlocking is not None:
                self._unlocking.cancelled = True
                self._unlocking = None
            self._searches = {}
            self._drafts = {}
            self.last_outbox = None
            self._typed_search = None
            self.photos.forget()
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
