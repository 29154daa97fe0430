"""Saving a decrypted attachment on the workstation: under a name that cannot do harm.

A file's name is the reporter's, so a stranger's: made into a file name it
must not escape the folder, hide its type or name a device (safe_name), and
saving must never replace evidence saved earlier (a name taken gets " (2)").
The plaintext gets its name only once the whole stream authenticated; until
then it is a ``.part`` file that is removed whatever happens.

The officer app's downloads do not carry the reporter's name at all
(download_name): a browser keeps every download's name in its history, on
the disk, outside the workspace, and a name like "IMG_Aigerim_2026.jpg"
names the reporter. Both the app and ``officer show --save-attachments``
take a file's extension only from checked_extension: a known type whose
bytes match, else ".bin", never the one the reporter chose.
"""

import os
import re
import secrets
import unicodedata

from tipdrop.crypto import stream
from tipdrop.errors import InputError
from tipdrop.officer.unsealing import stream_opener

#: What most file systems (ext4, APFS, NTFS, FAT) allow in one name: 255 bytes of UTF-8.
NAME_MAX_BYTES = 255
#: The end of a temporary file's name while it is being written (see save_attachment).
PARTIAL_SUFFIX = ".part"
#: Names Windows reserves for devices, with any extension (CON.txt is the console too).
_RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$)(\..*)?",
                       re.IGNORECASE)
_EXTENSION = re.compile(r"\.\w{1,16}")


def _cut(text, max_bytes):
    """The longest start of ``text`` of at most ``max_bytes`` UTF-8 bytes, whole characters only."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")


def safe_name(name, max_bytes=NAME_MAX_BYTES, suffix=""):
    """A file name made from a reporter's: it cannot escape a folder or hide its type.

    Letters and digits of every script stay (NFC); anything else (path
    separators, control, format and bidi characters, quotes, "*?<>|:")
    becomes "_". Leading dots (hidden files, "..") and trailing dots and
    spaces (dropped by Windows) go, a reserved device name is prefixed
    with "_", and the name is cut to ``max_bytes`` bytes of UTF-8 on a
    character boundary, keeping a short extension so the type stays visible.
    ``suffix`` (e.g. " (2)", for uniqueness) goes before the extension and
    counts towards ``max_bytes``.
    """
    base = unicodedata.normalize("NFC", str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^\w.\- ]", "_", base).strip(" .").lstrip("-")
    if _RESERVED.fullmatch(base):
        base = "_" + base
    base = base or "attachment"
    stem, extension = os.path.splitext(base)
    if not _EXTENSION.fullmatch(extension) or len(extension.encode("utf-8")) >= max_bytes // 2:
        stem, extension = base, ""
    room = max_bytes - len(extension.encode("utf-8")) - len(suffix.encode("utf-8"))
    stem = _cut(stem, room).rstrip(" .")
    return (stem or "attachment") + suffix + extension


def _ftyp(*brands):
    """An ISO media file (MP4, MOV, 3GP, M4A, HEIC): its "ftyp" box, with one of ``brands``."""
    return lambda head: head[4:8] == b"ftyp" and (not brands or head[8:12].startswith(brands))


def _riff(form):
    return lambda head: head[:4] == b"RIFF" and head[8:12] == form


def _starts(*magics):
    return lambda head: head.startswith(magics)


def _mpeg_audio(head):
    return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


#: The types a report's file may have (the submit form takes images, video, audio and PDF)
#: that a download names with their own extension, and how a file of that type begins.
CHECKED_TYPES = {
    "image/jpeg": (".jpg", _starts(b"\xff\xd8\xff")),
    "image/png": (".png", _starts(b"\x89PNG\r\n\x1a\n")),
    "image/gif": (".gif", _starts(b"GIF87a", b"GIF89a")),
    "image/webp": (".webp", _riff(b"WEBP")),
    "image/heic": (".heic", _ftyp(b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1")),
    "image/heif": (".heic", _ftyp(b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1")),
    "application/pdf": (".pdf", _starts(b"%PDF-")),
    "video/mp4": (".mp4", _ftyp()),
    "video/quicktime": (".mov", _ftyp(b"qt  ")),
    "video/3gpp": (".3gp", _ftyp(b"3g")),
    "video/webm": (".webm", _starts(b"\x1a\x45\xdf\xa3")),
    "audio/webm": (".webm", _starts(b"\x1a\x45\xdf\xa3")),
    "audio/mpeg": (".mp3", _mpeg_audio),
    "audio/mp4": (".m4a", _ftyp()),
    "audio/x-m4a": (".m4a", _ftyp()),
    "audio/ogg": (".ogg", _starts(b"OggS")),
    "audio/wav": (".wav", _riff(b"WAVE")),
    "audio/x-wav": (".wav", _riff(b"WAVE")),
    "audio/amr": (".amr", _starts(b"#!AMR")),
}
#: The extension of a file whose type is not one of those, or whose bytes are not of its type.
UNCHECKED_EXTENSION = ".bin"


#: How many first bytes of a file checked_extension needs to tell its type.
HEAD_BYTES = 16


def checked_extension(declared_type: str, head: bytes) -> str:
    """The extension a saved file gets: its type's own only if the type the report
    declares is one we know and the file's first bytes (``head``) are of that type.

    A type the bytes contradict (a program sent as "image/jpeg"), or any
    other type (.exe, .html, .desktop ...), gets ".bin", so no double click
    opens it with the program its name would choose.
    """
    kind = str(declared_type or "").split(";")[0].strip().lower()
    extension, matches = CHECKED_TYPES.get(kind, (UNCHECKED_EXTENSION, None))
    if matches is None or not matches(head):
        return UNCHECKED_EXTENSION
    return extension


def download_name(tip_id: str, part: str, declared_type: str, head: bytes) -> str:
    """The name the officer app gives a downloaded file: the tip's reference, the file's
    part and checked_extension.

    Nothing of the reporter's own file name: a browser writes the name into its
    download history on disk, outside the workspace (docs/threat-model.md).
    """
    return f"tip-{tip_id[:12]}-{part}{checked_extension(declared_type, head)}"


def _without_extension(name):
    """The reporter's file name made safe, without the extension it chose."""
    base = safe_name(name)
    stem, extension = os.path.splitext(base)
    return stem if _EXTENSION.fullmatch(extension) else base


def _claim_name(folder, prefix, name, tries=1000):
    """Create an empty file ``prefix + safe_name(name)`` that did not exist; return its path.

    Creating it exclusively reserves the name (the caller then replaces it
    atomically), which works on every file system, hard links or not.
    """
    for number in range(1, tries):
        suffix = "" if number == 1 else f" ({number})"
        room = NAME_MAX_BYTES - len(prefix.encode("utf-8"))
        target = folder / (prefix + safe_name(name, room, suffix))
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW,
                             0o600))
        except FileExistsError:
            continue
        return target
    raise InputError(f"{folder} already holds {tries - 1} files of this name")


def save_attachment(blobs, row, name, keyring, folder, declared_type=""):
    """Decrypt the attachment ``row`` (its stream under ``blobs``) into ``folder``, named after
    ``name`` (the reporter's file name) with checked_extension of ``declared_type`` (the
    report's type for it) and the file's first bytes; never overwrite a file.

    The plaintext goes to a temporary file first (``TIP-PART-random.part``)
    and gets its name only once the whole stream authenticated. A name already taken
    (saved before, or another tip's file) gets " (2)", " (3)", ...
    before its extension, so evidence saved earlier is never replaced.
    """
    folder.mkdir(parents=True, exist_ok=True)
    prefix = f"{row['tip_id'][:8]}-{row['part']}-"
    tmp = folder / f"{prefix}{secrets.token_hex(8)}{PARTIAL_SUFFIX}"
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
        with open(blobs / row["blob"], "rb") as src, os.fdopen(fd, "wb") as out:
            stream.decrypt_stream(src, out, stream_opener(src, keyring, row),
                                  kind="attachment", tip_id=row["tip_id"], part=row["part"])
        with open(tmp, "rb") as saved:
            extension = checked_extension(declared_type, saved.read(HEAD_BYTES))
        target = _claim_name(folder, prefix, _without_extension(name) + extension)
        try:
            os.replace(tmp, target)
        except OSError:
            target.unlink(missing_ok=True)
            raise
    finally:
        tmp.unlink(missing_ok=True)
    return target
