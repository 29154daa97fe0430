"""The photo sandbox (tipdrop/officer/sandbox.py): every file through a real, limited child.

Decompression bombs, damaged files and polyglots end in a PhotoError, never
a hang; what comes back is only a fresh JPEG of the pixels, without the
file's metadata or any other byte of it; and the child cannot write a file,
open one, or grow past its memory limit.
"""

import io
import os
import subprocess
import sys
import zlib

import pytest
from PIL import ExifTags, Image

from tipdrop.officer import sandbox
from tipdrop.officer.sandbox import (
    Limits,
    PhotoStoppedError,
    PhotoTooLargeError,
    PhotoUnreadableError,
    reencode,
)

CANARY = b"canary-7f3e1d"


def picture(fmt="JPEG", size=(64, 48), mode="RGB", **options):
    """A small real image: red left half, blue right half (so orientation shows)."""
    image = Image.new("RGB", size, "red")
    image.paste("blue", (size[0] // 2, 0, size[0], size[1]))
    if mode != "RGB":
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def png_bomb(side=20000):
    """A few kilobytes of PNG that decode to side x side pixels (400 megapixels by default)."""
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG")
    return out.getvalue()


def with_header_size(data, fmt, width, height):
    """A real small image whose header claims another size (how most bombs start)."""
    if fmt == "GIF":  # logical screen size, bytes 6-9, little-endian
        return data[:6] + width.to_bytes(2, "little") + height.to_bytes(2, "little") + data[10:]
    sof = data.index(b"\xff\xc0")  # JPEG baseline frame: length, precision, height, width
    return (data[:sof + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big")
            + data[sof + 9:])


def png_with_garbage_pixels():
    """A PNG whose chunks are well formed (right CRCs) but whose pixel data is not zlib."""
    data = picture("PNG")
    start = data.index(b"IDAT") - 4
    length = int.from_bytes(data[start:start + 4], "big")
    junk = os.urandom(length)
    chunk = length.to_bytes(4, "big") + b"IDAT" + junk + \
        zlib.crc32(junk, zlib.crc32(b"IDAT")).to_bytes(4, "big")
    return data[:start] + chunk + data[start + 12 + length:]


def gif_html_polyglot():
    """A valid GIF whose comment and trailing bytes are an HTML page with a script."""
    script = b"<html><body><script>document.title='" + CANARY + b"'</script></body></html>"
    return picture("GIF", mode="P", comment=script) + script


def decoded(jpeg):
    image = Image.open(io.BytesIO(jpeg))
    image.load()
    return image


@pytest.mark.parametrize("fmt, mode", [("JPEG", "RGB"), ("PNG", "RGBA"), ("GIF", "P"),
                                       ("WEBP", "RGB"), ("PNG", "L")])
def test_a_photo_comes_back_as_a_fresh_jpeg_of_the_same_picture(fmt, mode):
    jpeg = reencode(picture(fmt, mode=mode))
    image = decoded(jpeg)
    assert image.format == "JPEG" and image.size == (64, 48) and image.mode == "RGB"
    left, right = image.getpixel((4, 24)), image.getpixel((60, 24))
    if mode == "L":
        assert abs(left[0] - 76) < 8 and abs(right[0] - 29) < 8  # red and blue, in grey
    else:
        assert left[0] > 200 > left[2] and right[2] > 200 > right[0]  # red, then blue


def test_the_copy_carries_no_metadata_and_stands_upright():
    # Given a JPEG with GPS, a camera serial number, a comment, and "rotate 90°"
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.BodySerialNumber] = CANARY.decode()
    exif[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N"}
    original = picture("JPEG", size=(64, 48), exif=exif.tobytes(), comment=CANARY)
    # When it is redrawn
    jpeg = reencode(original)
    # Then nothing of the metadata is left, and it is turned as the camera meant
    assert CANARY not in jpeg and b"Exif" not in jpeg
    image = decoded(jpeg)
    assert image.size == (48, 64) and not image.getexif()
    assert image.getpixel((24, 4))[0] > 200  # the red half is now at the top


def test_a_polyglot_comes_back_only_as_pixels():
    jpeg = reencode(gif_html_polyglot())
    assert jpeg.startswith(b"\xff\xd8\xff")
    assert b"<script" not in jpeg and b"<html" not in jpeg and CANARY not in jpeg
    assert decoded(jpeg).size == (64, 48)


def test_a_large_photo_is_shown_at_most_max_side_pixels_wide():
    jpeg = reencode(picture("PNG", size=(900, 300)), Limits(max_side=300))
    assert decoded(jpeg).size == (300, 100)


@pytest.mark.parametrize("bomb", [
    pytest.param(png_bomb(), id="png-400-megapixels"),
    pytest.param(with_header_size(picture("GIF", mode="P"), "GIF", 65535, 65535),
                 id="gif-4-gigapixels"),
    pytest.param(with_header_size(picture("JPEG"), "JPEG", 60000, 60000),
                 id="jpeg-3.6-gigapixels"),
])
def test_a_decompression_bomb_is_refused_from_its_header(bomb):
    assert len(bomb) < 100_000
    with pytest.raises(PhotoTooLargeError):
        reencode(bomb)


def test_a_photo_just_over_the_pixel_limit_is_refused_and_one_under_is_shown():
    with pytest.raises(PhotoTooLargeError):
        reencode(picture("PNG", size=(101, 100)), Limits(max_pixels=10_000))
    assert decoded(reencode(picture("PNG", size=(100, 100)), Limits(max_pixels=10_000)))


@pytest.mark.parametrize("damaged", [
    pytest.param(png_with_garbage_pixels(), id="png-garbage-pixels"),
    pytest.param(picture("PNG")[:60], id="png-cut-short"),
    pytest.param(picture("JPEG")[:200], id="jpeg-cut-short"),
    pytest.param(b"\xff\xd8\xff\xe0" + os.urandom(4000), id="jpeg-magic-then-noise"),
    pytest.param(picture("GIF", mode="P")[:30], id="gif-cut-short"),
    pytest.param(b"%PDF-1.7\n" + b"0" * 100, id="not-an-image"),
    pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'><script>x</script></svg>", id="svg"),
    pytest.param(picture("BMP"), id="bmp-not-accepted"),
    pytest.param(picture("TIFF"), id="tiff-not-accepted"),
    pytest.param(b"", id="empty"),
])
def test_a_damaged_file_or_another_kind_is_unreadable(damaged):
    with pytest.raises(PhotoUnreadableError):
        reencode(damaged)


def test_a_child_that_takes_too_long_is_killed():
    with pytest.raises(PhotoStoppedError):
        reencode(picture("PNG", size=(2000, 1500)), Limits(wall_seconds=0.01))
    assert decoded(reencode(picture("PNG")))  # the next photo is shown as usual


def test_a_photo_that_needs_more_memory_than_allowed_is_stopped():
    # 6000 x 6000 RGBA is 144 MB decoded; the child may have 96 MB in all.
    with pytest.raises(PhotoStoppedError):
        reencode(picture("PNG", size=(6000, 6000), mode="RGBA"),
                 Limits(memory=96 * 1024 * 1024))


def test_a_file_larger_than_max_input_is_not_even_sent():
    with pytest.raises(PhotoTooLargeError):
        reencode(picture("PNG"), Limits(max_input=10))


def _confined(statement, tmp_path, before=""):
    """Run ``statement`` in a process confined as the child is (after ``before``, not
    confined); return (return code, output)."""
    code = ("import errno, socket, sys\nfrom tipdrop.officer import sandbox\n" + before
            + f"sandbox._confine({256 * 1024 * 1024}, 5)\n" + statement)
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    return done.returncode, done.stdout + done.stderr


def test_the_confined_child_cannot_write_to_a_file_even_one_already_open(tmp_path):
    target = tmp_path / "leak"
    returncode, output = _confined(
        "try:\n f.write(b'decrypted')\nexcept OSError as e: print(errno.errorcode[e.errno])",
        tmp_path, before=f"f = open({str(target)!r}, 'wb', buffering=0)\n")
    assert returncode == 0 and "EFBIG" in output, output
    assert target.read_bytes() == b""


def test_the_confined_child_cannot_open_a_file_or_socket(tmp_path):
    returncode, output = _confined("try:\n open('/etc/hostname', 'rb')\n"
                                   "except OSError as e: print('file', e.errno)\n"
                                   "try:\n socket.socket()\nexcept OSError as e: "
                                   "print('socket', e.errno)", tmp_path)
    assert returncode == 0, output
    assert "file 24" in output and "socket 24" in output  # EMFILE: no descriptor left


def test_the_confined_child_cannot_take_more_memory_than_its_limit(tmp_path):
    returncode, output = _confined("try:\n b = bytearray(512 * 1024 * 1024)\n"
                                   "except MemoryError: print('refused')", tmp_path)
    assert returncode == 0 and "refused" in output, output


def test_nothing_of_the_officers_environment_reaches_the_child(monkeypatch):
    monkeypatch.setenv("TIPDROP_PASSPHRASE", "never in the child")
    seen = {}

    def spy(args, **kwargs):
        seen.update(kwargs)
        return real(args, **kwargs)

    real = subprocess.Popen
    monkeypatch.setattr(sandbox.subprocess, "Popen", spy)
    reencode(picture("PNG"))
    assert seen["env"] in ({}, {"TMPDIR": os.environ.get("TMPDIR")})
    assert seen["stderr"] == subprocess.DEVNULL
