"""Which files of a tip are shown as photos, and the re-encoded copies the officer app shows.

A file counts as a photo when the report says so (a cleaned photo, an
``image/`` type or an image's extension); one whose sealed stream is longer
than a photo of Limits.max_input bytes can be is refused before any of it is
decrypted; any other is decrypted into memory (never past max_input) and redrawn by the sandboxed child (sandbox.py). Anything else is only
offered for saving. The copies live in the app's memory for the unlocked
session (:class:`PhotoViews`, dropped at Lock), within a byte budget, so a
page reload does not decode a photo again; a photo that could not be shown
is remembered too, so a bomb is not decoded again on every visit.
"""

import io
from collections import OrderedDict
from dataclasses import dataclass

from tipdrop.crypto import stream
from tipdrop.errors import TipdropError
from tipdrop.officer.sandbox import LIMITS, Limits, PhotoTooLargeError, reencode

#: Extensions of names that say "image" when the type does not.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jfif", ".png", ".gif", ".webp")
#: Bytes of re-encoded photos kept in memory; the oldest go first.
BUDGET = 96 * 1024 * 1024
#: Photos (shown or refused) remembered at most.
MAX_VIEWS = 256
#: The audit action for a photo shown in the app (the CLI's is "save-attachment").
VIEWED = "view-attachment"


def is_photo(entry: dict) -> bool:
    """Whether an attachment of Workspace.show is shown as a photo (if it decodes as one)."""
    if entry.get("damaged"):
        return False
    kind = str(entry.get("type") or "").lower()
    name = str(entry.get("name") or "").lower()
    return bool(entry.get("photo")) or kind.startswith("image/") or name.endswith(
        IMAGE_EXTENSIONS)


@dataclass(frozen=True)
class View:
    """One photo as the tip page shows it: a fresh JPEG, or why there is none."""

    image: bytes | None = None
    error: TipdropError | None = None

    @property
    def message(self) -> str:
        """The error's sentence, in English (the page translates it)."""
        return (type(self.error).__doc__ or "").strip().splitlines()[0] if self.error else ""


class _Capped(io.BytesIO):
    """Decrypted bytes in memory, at most ``limit`` of them: one more is PhotoTooLargeError."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def write(self, data, /) -> int:
        if self.tell() + len(data) > self.limit:
            raise PhotoTooLargeError()
        return super().write(data)


class PhotoViews:
    """The photos shown in this unlocked session, in memory only."""

    def __init__(self, limits: Limits = LIMITS, budget: int = BUDGET):
        self.limits = limits
        self.budget = budget
        self._views: OrderedDict[tuple[str, str], View] = OrderedDict()

    def view(self, workspace, keyring, tip_id: str, part: str) -> View:
        """The photo ``part`` of ``tip_id``, redrawn (once per session) or refused."""
        key = (tip_id, part)
        if key in self._views:
            self._views.move_to_end(key)
            return self._views[key]
        plain = _Capped(self.limits.max_input)
        try:
            # The stream's length on disk bounds its plaintext: a longer one is
            # refused before a byte is decrypted (a "photo" may be 16 GiB).
            if workspace.attachment_length(tip_id, part) > stream.ciphertext_length(
                    self.limits.max_input):
                raise PhotoTooLargeError()
            workspace.read_attachment(tip_id, part, keyring, plain)
            view = View(image=reencode(plain.getvalue(), self.limits))
        except TipdropError as e:  # refused by the sandbox, or a stream that does not open
            view = View(error=e)
        finally:
            plain.close()  # the decrypted bytes go now, not with the next collection
        self._keep(key, view)
        return view

    def _keep(self, key, view):
        self._views[key] = view
        while len(self._views) > MAX_VIEWS or (len(self._views) > 1 and sum(
                len(v.image or b"") for v in self._views.values()) > self.budget):
            self._views.popitem(last=False)

    def shown(self, workspace, keyring, tip_id: str, part: str) -> bytes | None:
        """The JPEG to send to the browser, recorded in the audit log as viewed; None if none."""
        view = self.view(workspace, keyring, tip_id, part)
        if view.image is None:
            return None
        workspace.audit.record(keyring, VIEWED, tip_id, part=part)
        return view.image

    def forget(self) -> None:
        self._views.clear()
