"""The workstation's side of the officer API: pull exports, push replies, online.

Standard library only (http.client, ssl), so the workstation needs nothing
beyond tipdrop itself. Every request is signed with the unit's key
(officer_auth.py); the server holds no password for us to send. Plain
http:// is refused unless the server is this very computer: over a network,
the export and the replies travel only over TLS checked against the
system's trusted certificates.

What comes back is handled exactly like the files of the offline
exchange: the export is saved to a private file in the workspace and opened
with Workspace.open_bundle (all or nothing); queued replies, and the
acknowledgement of what was opened, are marked sent only after the server
confirmed it stored them.
"""

import json
import os
import tempfile
import time
from contextlib import contextmanager
from urllib.parse import urlencode

from tipdrop.common.remote import (
    ServerAnswerError,
    ServerRefusedError,
    ServerURL,
    check_server_url,
    connect,
    network_step,
    refusal,
)
from tipdrop.protocol import officer_auth

API = "/officer/v1"
#: Seconds one network step may wait for the server (a stalled download ends here).
TIMEOUT = 120
COPY_CHUNK = 1024 * 1024
#: The most of an error or count answer the workstation reads: a real one is a
#: few hundred bytes of JSON; a hostile server's endless body is cut here.
MAX_ANSWER = 64 * 1024
#: The default cap on a downloaded export (``officer pull --max-mb``,
#: TIPDROP_PULL_MAX_MB): a hostile server cannot fill the workstation's disk.
DEFAULT_MAX_DOWNLOAD_MB = 4096
#: The whole download, however the server trickles it, ends after this many seconds.
DOWNLOAD_DEADLINE = 4 * 3600


class OfficerClient:
    """Signed requests to one server's officer API on behalf of one unit key."""

    def __init__(self, server, unit_key, timeout=TIMEOUT,
                 max_download=DEFAULT_MAX_DOWNLOAD_MB * 1024 * 1024,
                 deadline=DOWNLOAD_DEADLINE):
        self.server = server if isinstance(server, ServerURL) else check_server_url(server)
        self._key = unit_key
        self._timeout = timeout
        self._max_download = max_download
        self._deadline = deadline

    def download_export(self, out, since_start=False, progress=lambda done, expected: None):
        """Write the server's export bundle to the binary file ``out``; return its size.

        ``progress(bytes so far, bytes announced or None)`` is called after
        each piece (the officer app's progress bar; it may raise to stop).
        An answer longer than the client's ``max_download``, or one still
        coming after its ``deadline``, is an error (the caller removes what
        was written: downloaded_export).
        """
        query = urlencode({"since_start": int(bool(since_start))})
        ends = time.monotonic() + self._deadline
        conn, response = self._send("GET", f"/export?{query}", b"", {})
        try:
            expected, total = response.length, 0
            if expected is not None and expected > self._max_download:
                raise self._too_large()
            progress(0, expected)
            while True:
                chunk = self._network(response.read1, COPY_CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if total > self._max_download:
                    raise self._too_large()
                out.write(chunk)
                progress(total, expected)
                if time.monotonic() > ends:
                    raise ServerAnswerError(
                        f"the export was still arriving after {self._deadline // 60} minutes; "
                        "pull again later")
        finally:
            conn.close()
        if expected is not None and total != expected:
            raise ServerAnswerError(f"the connection closed after {total} of {expected} bytes")
        return total

    def _too_large(self):
        mb = self._max_download // (1024 * 1024)
        return ServerAnswerError(f"the export is larger than {mb} MB "
                                 "(allow more with --max-mb or TIPDROP_PULL_MAX_MB)")

    def _read_answer(self, response):
        """The whole of a short answer (an error, counts), at most MAX_ANSWER bytes."""
        parts, total = [], 0
        while total <= MAX_ANSWER:
            chunk = self._network(response.read1, MAX_ANSWER + 1 - total)
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)
            total += len(chunk)
        raise ServerAnswerError(f"the server answered HTTP {response.status} with more than "
                                 f"{MAX_ANSWER // 1024} KiB; that is not an officer API answer")

    def send_replies(self, data):
        """POST a signed reply bundle; return the server's counts."""
        return self._post_counts("/replies", data, "replies", "the replies")

    def send_ack(self, data):
        """POST a signed export acknowledgement; return the server's counts."""
        return self._post_counts("/acks", data, "tips", "the acknowledgement")

    def _post_counts(self, path, data, count, what):
        """POST a signed JSON document; the answer must be counts, ``count`` among them."""
        conn, response = self._send("POST", path, bytes(data),
                                    {"Content-Type": "application/json"})
        try:
            raw = self._read_answer(response)
        finally:
            conn.close()
        try:
            counts = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            counts = None
        if not isinstance(counts, dict) or not isinstance(counts.get(count), int):
            raise ServerAnswerError(f"the server did not confirm {what}")
        return counts

    def _send(self, method, path, body, headers):
        target = self.server.base + API + path
        signed = officer_auth.sign_request(self._key, method, target, body)
        conn = connect(self.server, self._timeout)
        try:
            # English, like the rest of the CLI (the server's default is Russian).
            self._network(conn.request, method, target, body=body or None,
                          headers={**signed, **headers, "Accept-Language": "en"})
            response = self._network(conn.getresponse)
            if response.status not in (200, 201):
                raise refusal(response.status, self._read_answer(response),
                              {k.lower(): v for k, v in response.getheaders()})
        except BaseException:
            conn.close()
            raise
        return conn, response

    def _network(self, call, *args, **kwargs):
        return network_step(self.server, call, *args, **kwargs)


@contextmanager
def downloaded_export(workspace, client, since_start=False,
                      progress=lambda done, expected: None):
    """The unit's export, downloaded to a private file in the workspace folder; its path.

    Ciphertext only, and removed when the block ends, opened or not. The
    officer app opens it in a step of its own, with its own progress.
    """
    fd, tmp = tempfile.mkstemp(dir=workspace.dir, prefix=".pull-", suffix=".tdx")
    try:
        with os.fdopen(fd, "wb") as f:
            client.download_export(f, since_start=since_start, progress=progress)
        yield tmp
    finally:
        os.unlink(tmp)


def pull(workspace, client, keyring, since_start=False):
    """Download the unit's export into the workspace and open it; return counts.

    The bundle is imported whole, or not at all, exactly like ``tipdrop
    officer open``.
    """
    with downloaded_export(workspace, client, since_start=since_start) as path:
        return workspace.open_bundle(path, keyring)


def push(workspace, client, keyring):
    """Send every queued reply and forward in one signed bundle; mark them sent once stored.

    The replies of a tip the server left out (``refused``: their numbers do
    not follow the server's, docs/protocol.md section 11) stay in the
    outbox, and their tips are named (``refused``).
    """
    data, rows = workspace.pending_bundle(keyring)
    counts = client.send_replies(data)
    refused = counts.get("refused")
    refused = set(refused) if isinstance(refused, dict) else set()  # the server's word
    kept = [r for r in rows if "forward" not in r and r["tip_id"] in refused]
    workspace.mark_sent([r for r in rows if r not in kept])
    forwarded = sum(1 for r in rows if "forward" in r)
    return {"sent": len(rows) - forwarded - len(kept),
            "already_imported": counts.get("already_imported", 0), "forwards": forwarded,
            "refused": sorted({r["tip_id"] for r in kept})}


#: Answers that refuse the acknowledgement itself, not the request: sending it again
#: would be refused again (400 AckItemsError, SignatureError ...; 403 another unit's;
#: 413 too large).
ACK_REFUSALS = (400, 403, 413)


def acknowledge(workspace, client, keyring):
    """Tell the server, signed, what the workspace holds of the exports it opened.

    Returns the server's counts, or None when there was nothing to
    acknowledge. Marked acknowledged only once the server recorded it. One
    the server refuses is set aside (Workspace.set_aside_ack) and returned
    as ``{"refused": reason, "exports": numbers}``: it must never block the
    next pull. Any other failure (the network, a 401, a 5xx) leaves it
    pending for next time and is raised.
    """
    if not workspace.ack_pending():
        return None
    data, numbers = workspace.pending_ack(keyring)
    try:
        counts = client.send_ack(data)
    except ServerRefusedError as e:
        if e.status not in ACK_REFUSALS:
            raise
        workspace.set_aside_ack(numbers, e.message)
        return {"refused": e.message, "exports": sorted(numbers)}
    workspace.mark_acked(numbers)
    return counts
