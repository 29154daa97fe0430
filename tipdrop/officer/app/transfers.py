"""The officer app's exchanges: bundles opened, pulled, replies pushed, beside the requests.

Opening a large bundle or waiting for the network takes longer than a page
should, so each exchange runs in a thread of its own (a :class:`Transfer`)
while the page shows its progress (exchange.py). The work itself is the
library's, as the CLI does it: Workspace.open_bundle, and client.py's
downloaded_export, push and acknowledge.

Only one request touches the workspace at a time (desk.py). A transfer
keeps that rule in two ways:

- its long workspace step (opening a bundle and indexing it again) runs
  *busy*: started under the desk's mutex, so no request is in the middle
  of its work, and every request that comes meanwhile waits for the step
  to end (exchange.wait_for_transfer) -- except the progress page, Lock
  and the language, which touch no workspace;
- its short workspace calls (what push and acknowledge read and mark) run
  under the mutex one by one (:class:`Guarded`), and the network waits
  between them do not hold anything.

Lock, and the idle lock, stop a transfer at its next step: a locked app
opens, indexes and pulls nothing. The automatic pull (:meth:`Courier.set_auto_pull`)
runs only while the app is unlocked; it is not the officer's activity, so
the idle lock still comes (docs/officer-guide.md).
"""

import os
import secrets
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from tipdrop.errors import InputError, TipdropError
from tipdrop.officer import client as officer_client
from tipdrop.officer.app.desk import LockedError
from tipdrop.officer.search import SearchIndex

#: Seconds a network step may stay silent: shorter than the CLI's, a page waits for it.
TIMEOUT = 30
#: The automatic pull's choices, in minutes (off by default).
AUTO_PULL_MINUTES = (5, 10, 15, 30, 60)
#: A bundle that touches fewer tips than this share of those indexed is indexed tip by
#: tip; a larger one (the first import of a year) builds the whole index anew, batched.
REBUILD_SHARE = 0.5
#: The most a request waits for a busy step before it gives up, in seconds.
MAX_WAIT = 600


class ExchangeRunningError(InputError):
    """Another exchange is running: wait until it ends, then try again."""

    http_status = 409
    detail_is_message = False


class NoServerError(InputError):
    """No server is set: start the app with --server or TIPDROP_SERVER to exchange online."""

    detail_is_message = False


class StillBusyError(InputError):
    """The app is still opening reports, so nothing was done. Go back and send it again."""

    http_status = 503
    detail_is_message = False


class ExchangeFailedError(TipdropError):
    """The exchange failed. Try again; if it happens again, report it."""

    http_status = 500


class ExchangeStoppedError(InputError):
    """Stopped: nothing of this exchange was imported."""

    detail_is_message = False


class _Stopped(Exception):
    """Stop or Lock was pressed, or the app locked itself: the transfer ends here."""


class Transfer:
    """One exchange: what it is, which step it is at, how far, and how it ended."""

    def __init__(self, kind: str, keyring, background: bool = False):
        self.id = secrets.token_urlsafe(8)
        self.kind = kind  # "import", "pull", "push" or "ack"
        self.keyring = keyring
        self.background = background
        self.step = "start"  # then "download", "open", "index" or "send"
        self.done = 0
        self.total: int | None = None
        self.result: dict | None = None
        self.error: TipdropError | None = None
        self.stop_asked = False
        #: While False, Stop is ignored: the bundle is in, the index must follow it.
        self.stoppable = True
        self.busy = False
        self.finished = threading.Event()
        self.quiet = threading.Event()  # set while not busy: waiting requests go on
        self.quiet.set()

    def at_step(self, step: str, total: int | None = None) -> None:
        self.step, self.done, self.total = step, 0, total

    @property
    def fraction(self) -> float | None:
        """How far the current step is, 0..1; None when its size is unknown."""
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


class Guarded:
    """The workspace for a transfer's thread: each method call runs under the desk's mutex."""

    def __init__(self, workspace, mutex):
        self._workspace, self._mutex = workspace, mutex

    def __getattr__(self, name):
        found = getattr(self._workspace, name)
        if not callable(found):
            return found

        def call(*args, **kwargs):
            with self._mutex:
                return found(*args, **kwargs)

        return call


class Courier:
    """The app's transfers: the one running, the last one's outcome, and the automatic pull."""

    def __init__(self, desk, server_url=None, timeout: float = TIMEOUT, minute: float = 60.0):
        self.desk = desk
        self.server_url = server_url
        self.timeout = timeout
        self.minute = minute  # seconds in a minute of the automatic pull (tests shorten it)
        self.current: Transfer | None = None
        self.last: Transfer | None = None
        self.auto_minutes: int | None = None
        #: The last automatic pull: its local time of day and its transfer.
        self.last_auto: tuple[str, Transfer] | None = None
        self._news = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._timer: threading.Thread | None = None

    # --- starting ---------------------------------------------------------------------

    def start_import(self, path) -> Transfer:
        """Open the export bundle at ``path`` (the picked file's copy; removed at the end)."""
        try:
            transfer = self._start("import")
        except BaseException:
            Path(path).unlink(missing_ok=True)
            raise
        self._spawn(transfer, self._import, Path(path))
        return transfer

    def start_pull(self, since_start: bool = False) -> Transfer:
        transfer = self._start("pull", online=True)
        self._spawn(transfer, self._pull, since_start)
        return transfer

    def start_push(self) -> Transfer:
        transfer = self._start("push", online=True)
        self._spawn(transfer, self._push)
        return transfer

    def start_ack(self) -> Transfer:
        transfer = self._start("ack", online=True)
        self._spawn(transfer, self._ack)
        return transfer

    def _start(self, kind, online=False, background=False) -> Transfer:
        with self.desk.mutex:
            keyring = self.desk.keyring  # LockedError when locked: a locked app exchanges nothing
            if online and self.server_url is None:
                raise NoServerError()
            if self.current is not None:
                raise ExchangeRunningError()
            transfer = self.current = Transfer(kind, keyring, background=background)
        return transfer

    def _spawn(self, transfer, work, *args) -> None:
        threading.Thread(target=self._run, args=(transfer, work, *args), name=transfer.kind,
                         daemon=True).start()

    def _run(self, transfer, work, *args) -> None:
        try:
            transfer.result = work(transfer, *args)
        except _Stopped:
            # Before the bundle was in: nothing imported. After: only a lock stops it.
            transfer.error = ExchangeStoppedError() if transfer.stoppable else LockedError()
        except TipdropError as e:
            transfer.error = e
        except BaseException as e:  # shown on the page; a bug is one line, no traceback
            print(f"officer app: internal error ({type(e).__name__})", file=sys.stderr)
            transfer.error = ExchangeFailedError()
        finally:
            transfer.keyring = None  # the keys stay with the desk only
            with self._lock:
                if transfer.background:
                    self.last_auto = (time.strftime("%H:%M"), transfer)
                else:
                    self.last = transfer
                if self.current is transfer:
                    self.current = None
            transfer.finished.set()

    def stop(self) -> None:
        """Stop the running transfer at its next step (until its bundle is in)."""
        transfer = self.current
        if transfer is not None:
            transfer.stop_asked = True

    # --- the work -----------------------------------------------------------------------

    def _check(self, transfer) -> None:
        """Raise _Stopped if the app locked since the transfer began, or Stop was pressed."""
        if transfer.stop_asked and transfer.stoppable:
            raise _Stopped()
        try:
            if self.desk.keyring is not transfer.keyring:
                raise _Stopped()
        except LockedError:
            raise _Stopped() from None

    def _progress(self, transfer):
        """A progress callback for Workspace.open_bundle (bytes read since the last call)."""
        def advance(n):
            transfer.done += n
            self._check(transfer)
        return advance

    @contextmanager
    def _busy(self, transfer):
        """The workspace is this transfer's until the block ends (see the module's docstring)."""
        with self.desk.mutex:  # no request is in the middle of its work now
            self._check(transfer)
            transfer.busy = True
            transfer.quiet.clear()
        try:
            yield
        finally:
            transfer.busy = False
            transfer.quiet.set()

    def _open(self, transfer, path) -> dict:
        """Open the bundle at ``path`` into the workspace, then index what it brought.

        Only the tips the bundle added or changed are decrypted into the
        index (SearchIndex.refresh_many): an automatic pull of a few
        follow-ups costs their work, not the whole workspace's again, and
        requests wait for that much only (bench/officer_year.py). A bundle
        touching as many tips as the index holds, or a workspace holding tips
        the index does not (opened by the CLI beside the app), builds a new
        index instead.
        """
        workspace = self.desk.workspace
        transfer.at_step("open", os.path.getsize(path))
        with self._busy(transfer):
            counts, touched = workspace.open_bundle_touching(path, transfer.keyring,
                                                             progress=self._progress(transfer))
            transfer.stoppable = False
            if counts["already_opened"] or not touched:
                return counts
            index = self.desk.index
            new = set(touched) - index.tips_held(touched)
            counts["urgent"] = sum(workspace.tip_row(tip_id)["category"] in self.desk.urgent
                                   for tip_id in new)
            held = index.counts()["all"]
            # Tips the index does not know besides the new ones (opened meanwhile by
            # `tipdrop officer open` beside the app): the whole index is built again.
            (total,) = workspace.db.execute("SELECT COUNT(*) FROM tips").fetchone()
            if len(touched) < REBUILD_SHARE * held and total == held + len(new):
                transfer.at_step("index", len(touched))
                self._check(transfer)
                index.refresh_many(workspace, transfer.keyring, sorted(touched),
                                   self._indexed(transfer))
                return counts
            transfer.at_step("index", total)
            index = SearchIndex(self.desk.urgent)
            try:
                index.build(workspace, transfer.keyring, self._indexed(transfer))
                index.wait_for_words()  # the old index serves until the new one is whole
            except BaseException:
                index.close()
                raise
            # Still busy: no request has touched the old index since this one was built.
            if not self.desk.replace_index(index, transfer.keyring):
                raise _Stopped()
        return counts

    def _indexed(self, transfer):
        def at(done, _total):
            transfer.done = done
            self._check(transfer)
        return at

    def _import(self, transfer, path) -> dict:
        try:
            return self._open(transfer, path)
        finally:
            path.unlink(missing_ok=True)

    def _client(self, transfer):
        return officer_client.OfficerClient(self.server_url, transfer.keyring.signing_key,
                                            timeout=self.timeout)

    def _pull(self, transfer, since_start) -> dict:
        def downloaded(done, expected):
            transfer.done, transfer.total = done, expected
            self._check(transfer)

        transfer.at_step("download")
        with officer_client.downloaded_export(self.desk.workspace, self._client(transfer),
                                              since_start=since_start,
                                              progress=downloaded) as path:
            counts = self._open(transfer, path)
        if transfer.background and counts.get("urgent"):
            with self._lock:
                self._news += counts["urgent"]
        return counts

    def _push(self, transfer) -> dict:
        transfer.at_step("send")
        return officer_client.push(Guarded(self.desk.workspace, self.desk.mutex),
                                   self._client(transfer), transfer.keyring)

    def _ack(self, transfer) -> dict:
        transfer.at_step("send")
        held = officer_client.acknowledge(Guarded(self.desk.workspace, self.desk.mutex),
                                          self._client(transfer), transfer.keyring)
        return held if held is not None else {"nothing": True}

    # --- requests that come while a transfer is busy --------------------------------------

    def wait_while_busy(self) -> None:
        """Let a request wait for the busy step to end, without holding the desk's mutex.

        The request holds the mutex once (serve.Serialised); it lets go of it
        while it waits, so the transfer can put its new index in place.
        """
        transfer = self.current
        if transfer is None or not transfer.busy:
            return
        try:
            self.desk.mutex.release()
            held = True
        except RuntimeError:  # not served through serve.Serialised (Flask's test client)
            held = False
        try:
            ended = transfer.quiet.wait(MAX_WAIT)
        finally:
            if held:
                self.desk.mutex.acquire()
        if not ended:
            raise StillBusyError()

    # --- the automatic pull -------------------------------------------------------------

    def set_auto_pull(self, minutes: int | None) -> None:
        """Pull every ``minutes`` while unlocked (None: never); the first one after that time."""
        if minutes is not None and minutes not in AUTO_PULL_MINUTES:
            raise InputError("choose one of the offered intervals")
        if minutes is not None and self.server_url is None:
            raise NoServerError()
        self.auto_minutes = minutes
        self._wake.set()
        if minutes is not None and self._timer is None:
            self._timer = threading.Thread(target=self._auto_loop, name="auto-pull", daemon=True)
            self._timer.start()

    def _auto_loop(self) -> None:
        while not self._closed:
            self._wake.clear()
            minutes = self.auto_minutes
            if minutes is None:
                self._wake.wait()
                continue
            if self._wake.wait(minutes * self.minute):
                continue  # the setting changed (or the app stops): wait anew
            self.auto_pull_now()

    def auto_pull_now(self) -> Transfer | None:
        """One automatic pull, if the app is unlocked and nothing else runs; else None."""
        if self.server_url is None:
            return None
        with self.desk.mutex:
            if not self.desk.unlocked or self.current is not None:
                return None  # a locked app does not pull
            transfer = self._start("pull", background=True)
        self._spawn(transfer, self._pull, False)
        return transfer

    def take_news(self) -> int:
        """New urgent reports the automatic pull brought since last asked (then 0)."""
        with self._lock:
            news, self._news = self._news, 0
        return news

    def close(self) -> None:
        self._closed = True
        self._wake.set()
