"""Export bundles picked in the officer app's page: streamed to the workspace, not a temp file.

A bundle is ciphertext only, but it is the officer's file: it goes to
``WORKDIR/incoming/`` (0600, a random name) as it arrives, is opened by the
same Workspace.open_bundle the CLI uses, and is deleted at the end of the
request whatever happened; werkzeug's default would spool it to the
system's temporary folder. Only the import address accepts a file, and only
it may be larger than a form.
"""

import os
import secrets

from flask import Request, current_app, g

from tipdrop.errors import InputError

IMPORT_PATH = "/import"


class NotABundleUploadError(InputError):
    """Only an export bundle can be sent here, with the import form."""

    http_status = 400
    detail_is_message = False


class BundleRequest(Request):
    @property  # type: ignore[misc]  # werkzeug's is a plain attribute; this one depends on the path
    def max_content_length(self):
        if self.path == IMPORT_PATH:
            return None  # bundles carry files: the workstation's disk is the limit
        return current_app.config["MAX_CONTENT_LENGTH"]

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None):
        if self.path != IMPORT_PATH:
            raise NotABundleUploadError()
        folder = current_app.config["INCOMING_DIR"]
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / f"{secrets.token_hex(8)}.tdx"
        g.setdefault("incoming", []).append(path)
        return open(path, "w+b", opener=_private)


def _private(path, flags):
    return os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_NOFOLLOW, 0o600)


def uploaded_path(storage):
    """Where the picked file was written (the stream _get_file_stream made)."""
    if storage is None or not storage.filename:
        raise NotABundleUploadError()
    storage.stream.flush()
    return storage.stream.name


def claim_upload(storage):
    """The picked file's copy, now the caller's to remove: it outlives the request.

    The officer app opens a bundle in a thread of its own (transfers.py),
    which removes the copy when it is done, imported or not.
    """
    path = uploaded_path(storage)
    storage.stream.close()
    g.incoming = [p for p in g.get("incoming", []) if str(p) != path]
    return path


def remove_incoming(_error=None):
    """After every request: the uploaded copies go, imported or not."""
    for path in g.pop("incoming", []):
        path.unlink(missing_ok=True)


def remove_leftovers(folder):
    """At start: copies a stopped app was still opening (ciphertext, but the officer's) go."""
    for path in folder.glob("*.tdx") if folder.is_dir() else ():
        path.unlink(missing_ok=True)
