"""Photos shown in the officer app: decoded and drawn again in a separate, limited process.

A photo is a stranger's file, and an image decoder is a large body of C
(libjpeg, libpng, libwebp, giflib-like code in Pillow) that has had
memory-safety bugs; a file can also be made to exhaust memory ("decompression
bombs": a few kilobytes that expand to gigapixels) or CPU. So the officer
app never hands the reporter's bytes to the browser, and never decodes them
in its own process, which holds the unlocked keys:

- the decrypted bytes go to a child process (``python -I -m
  tipdrop.officer.sandbox``) through its stdin, and the new image comes back
  through its stdout: nothing is written to a file, temporary or not;
- the child limits itself before it reads a byte (``resource.setrlimit``):
  address space (:attr:`Limits.memory`), CPU seconds, no file writes at all
  (``RLIMIT_FSIZE`` 0: every write to a file fails), no core dump (it would
  hold decrypted bytes), no new process (``RLIMIT_NPROC``; root ignores it),
  and no new file descriptor once its imports are done;
- it accepts only JPEG, PNG, GIF and WebP (Pillow's other decoders are never
  used), refuses more than :attr:`Limits.max_pixels` pixels from the header,
  before any pixel is decoded, turns the photo upright by its Exif
  orientation, scales it to at most :attr:`Limits.max_side` pixels a side,
  and writes a fresh baseline JPEG from its pixels alone: no metadata (not
  even the comment Pillow would carry over), no trailing bytes, nothing of
  the original file but its pixels;
- the parent kills it after :attr:`Limits.wall_seconds`, reads at most
  :attr:`Limits.max_output` bytes of its answer, and accepts only a JPEG.

A damaged file, a bomb, a polyglot (a file that is an image and something
else at once) or a decoder crash ends in a :class:`PhotoError` whose
docstring is the message the tip page shows; the app goes on serving.

What the child is not: a container. It runs as the officer's user, with the
network; code running in it after an exploited decoder bug could read the
officer's files (not the unlocked keys: they are in the parent's memory,
which a child may not read under the usual ``ptrace`` rules). The threat
model (docs/threat-model.md) says so.
"""

import io
import os
import selectors
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from tipdrop.errors import InputError

#: What the child writes first: the outcome, one line.
OK, TOO_LARGE, UNREADABLE, NO_MEMORY = b"ok", b"too-large", b"unreadable", b"memory"
#: The formats decoded, by Pillow's names; the magic bytes that let a file in.
FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
JPEG_MAGIC = b"\xff\xd8\xff"
_MAGIC = (JPEG_MAGIC, b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")
#: The re-encoded image's quality: high, without chroma subsampling, so text stays legible.
JPEG_QUALITY = 90


class PhotoError(InputError):
    """This photo could not be shown."""

    detail_is_message = False


class PhotoTooLargeError(PhotoError):
    """This photo is too large to show safely (it may be made to exhaust memory). It was not shown: save it only to examine it on a computer with no network."""


class PhotoUnreadableError(PhotoError):
    """This file could not be read as a photo: it is damaged or not a JPEG, PNG, GIF or WebP image. It was not shown."""


class PhotoStoppedError(PhotoError):
    """Showing this photo took too long or needed too much memory, so it was stopped. It was not shown."""


@dataclass(frozen=True)
class Limits:
    """What one photo may cost; the defaults show any phone photo up to 50 megapixels."""

    #: The child's address space, bytes (the interpreter and Pillow take about 30 MB).
    memory: int = 768 * 1024 * 1024
    #: The child's CPU time, seconds (SIGXCPU ends it).
    cpu_seconds: int = 10
    #: The parent's patience, seconds: then the child is killed, whatever it does.
    wall_seconds: float = 20.0
    #: Pixels a photo may have, read from its header before anything is decoded.
    max_pixels: int = 50_000_000
    #: The longest side of the image shown (the original is still there to save).
    max_side: int = 4096
    #: Bytes of a file sent to the child at most.
    max_input: int = 64 * 1024 * 1024
    #: Bytes of the child's answer accepted at most.
    max_output: int = 32 * 1024 * 1024


LIMITS = Limits()


def looks_like_image(head: bytes) -> bool:
    """Whether a file's first bytes are those of a format the child decodes."""
    return head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def reencode(data: bytes, limits: Limits = LIMITS) -> bytes:
    """A fresh JPEG drawn from the image ``data``, made in a limited child process.

    Raises PhotoTooLargeError, PhotoUnreadableError or PhotoStoppedError.
    """
    if len(data) > limits.max_input:
        raise PhotoTooLargeError()
    if not looks_like_image(data[:16]):
        raise PhotoUnreadableError()
    args = [str(n) for n in (limits.memory, limits.cpu_seconds, limits.max_pixels,
                             limits.max_side)]
    # -I: no PYTHON* variables, no user site, not the current folder on the
    # path. Of the environment only TMPDIR (the app's, should anything look
    # for one: it could not write there): nothing of the officer's (TIPDROP_*).
    env = {"TMPDIR": os.environ["TMPDIR"]} if os.environ.get("TMPDIR") else {}
    child = subprocess.Popen([sys.executable, "-I", "-m", __name__, *args],  # noqa: S603
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env=env, close_fds=True)
    try:
        answer = _talk(child, data, limits)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    return _judge(child.returncode, answer)


def _talk(child, data, limits):
    """Feed ``data`` to the child and read its answer, within the time and size limits."""
    feeder = threading.Thread(target=_feed, args=(child.stdin, data), name="photo-feed",
                              daemon=True)
    feeder.start()
    deadline = time.monotonic() + limits.wall_seconds
    chunks, size = [], 0
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PhotoStoppedError()
                if not selector.select(left):
                    continue
                chunk = os.read(child.stdout.fileno(), 1 << 16)
                if not chunk:
                    break
                size += len(chunk)
                if size > limits.max_output + 64:
                    raise PhotoStoppedError()
                chunks.append(chunk)
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise PhotoStoppedError() from None
    finally:
        if child.poll() is None:
            child.kill()  # ends the feeder too: its write fails
        feeder.join()
    return b"".join(chunks)


def _feed(pipe, data):
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError):
        pass  # the child ended early (refused, crashed or killed): its answer says why
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def _judge(returncode, answer):
    outcome, _, image = answer.partition(b"\n")
    if returncode != 0 or outcome == NO_MEMORY:
        raise PhotoStoppedError()  # killed (time, CPU, memory) or crashed in the decoder
    if outcome == TOO_LARGE:
        raise PhotoTooLargeError()
    if outcome == OK and image.startswith(JPEG_MAGIC):
        return image
    raise PhotoUnreadableError()


# --- the child ---------------------------------------------------------------------------


def _limit(which, value):
    import resource

    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY and value > hard:
        value = hard
    resource.setrlimit(which, (value, value))


def _confine(memory, cpu_seconds):
    """Limit this process before a byte of the photo is read; return Pillow's modules.

    After it, this process cannot write to any file (EFBIG), open a file
    or socket, fork (unless root), dump core, or take more than ``memory`` bytes
    of address space or ``cpu_seconds`` of CPU time (SIGXCPU).
    """
    import resource

    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_FSIZE, 0)
    _limit(resource.RLIMIT_NPROC, 0)
    _limit(resource.RLIMIT_CPU, cpu_seconds)
    _limit(resource.RLIMIT_AS, memory)
    from PIL import (  # noqa: F401  (every module loaded while files can still be opened)
        ExifTags,
        GifImagePlugin,
        Image,
        ImageOps,
        JpegImagePlugin,
        PngImagePlugin,
        TiffImagePlugin,
        WebPImagePlugin,
    )

    Image.preinit()
    _limit(resource.RLIMIT_NOFILE, 3)  # stdin, stdout, stderr: no other descriptor
    return Image, ImageOps


def _child(argv):
    """Read an image on stdin, write the outcome line and a fresh JPEG on stdout."""
    import warnings

    memory, cpu_seconds, max_pixels, max_side = (int(a) for a in argv)
    Image, ImageOps = _confine(memory, cpu_seconds)  # noqa: N806 (modules)
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    out = sys.stdout.buffer
    data = sys.stdin.buffer.read()
    try:
        image = _redraw(Image, ImageOps, data, max_pixels, max_side)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        out.write(TOO_LARGE + b"\n")
    except MemoryError:
        out.write(NO_MEMORY + b"\n")
    except Exception:  # any decoder error: damaged, truncated, not what it claims
        out.write(UNREADABLE + b"\n")
    else:
        out.write(OK + b"\n" + image)
    out.flush()


def _redraw(Image, ImageOps, data, max_pixels, max_side):  # noqa: N803 (modules)
    with Image.open(io.BytesIO(data), formats=FORMATS) as source:
        width, height = source.size
        if width * height > max_pixels:
            raise Image.DecompressionBombError(f"{width}x{height}")
        if source.format == "JPEG":
            source.draft("RGB", (max_side, max_side))  # libjpeg scales down while decoding
        source.load()
        image = ImageOps.exif_transpose(source)
    image.thumbnail((max_side, max_side))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, "white")
        image.paste(rgba, mask=rgba.getchannel("A"))
    elif image.mode != "RGB":
        image = image.convert("RGB")
    # Only the pixels go on: an image carries its file's comment and other
    # bits in .info, and Pillow would write the comment into the new JPEG.
    fresh = Image.frombytes("RGB", image.size, image.tobytes())
    out = io.BytesIO()
    fresh.save(out, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    return out.getvalue()


if __name__ == "__main__":
    _child(sys.argv[1:])
