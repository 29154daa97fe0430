"""Remove identifying metadata from photos, in memory, before they are encrypted.

Metadata in photos identifies people, yet is also evidence: let the reporter
choose. A phone photo names the device (make, model, serial numbers), often
its owner, the editing software, and carries thumbnails that can show the
uncropped original; XMP and IPTC blocks can hold names. The GPS position and
the capture time, on the other hand, help officers verify a report. So by
default everything identifying goes, GPS and time included; if the reporter
ticks "keep photo location and time", only GPS and the capture date/time stay.
Orientation always stays when present: it is needed to show the photo upright
and identifies nobody.

Cleaning is lossless: JPEG and PNG files are taken apart into their segments
or chunks and put back together without the metadata; the compressed pixels
are copied byte for byte, never decoded or re-encoded (re-encoding would lose
detail that may be evidence). Pillow is used only to parse and write the Exif
block, never to open the image.

The rule throughout is an allowlist: what is not known to be needed for
display (or chosen by the reporter) is dropped. A file that cannot be walked
safely raises :class:`PhotoError`, and the caller refuses the upload rather
than send a photo that was not cleaned. Anything that is not a JPEG or PNG is
returned unchanged; the form warns that such files go as they are.
"""

import numbers
import re
import zlib
from dataclasses import dataclass
from fractions import Fraction

from PIL import ExifTags, Image, TiffTags

from tipdrop.errors import InputError

#: Cleaning works in memory; the caller caps uploads lower than this anyway.
MAX_BYTES = 64 * 1024 * 1024
#: JPEG segments or PNG chunks walked at most. Real photos have tens to a few
#: thousand; a file of millions of tiny segments would only waste CPU time.
MAX_PARTS = 100_000

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class PhotoError(InputError):
    """This photo file is damaged and cannot be cleaned of identifying data."""

    detail_is_message = False


@dataclass(frozen=True)
class CleanResult:
    """A cleaned photo, and what was removed from it.

    ``removed`` holds short names ("exif:Make", "xmp", "thumbnail",
    "png:tEXt" ...) for the summary shown to the reporter; never values.
    """

    data: bytes
    kind: str
    cleaned: bool
    removed: tuple[str, ...] = ()


def clean(data, content_type, keep_location_and_time):
    """Return ``data`` without identifying metadata; see the module docstring.

    The format is told by the file's first bytes: ``content_type`` is what the
    client claimed, and is deliberately not used, because it is easy to get
    wrong or to fake. Raises :class:`PhotoError` if a JPEG or PNG is damaged
    or larger than :data:`MAX_BYTES`.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("data must be bytes")
    data = bytes(data)
    removed = []
    if data.startswith(JPEG_MAGIC):
        kind, cleaner = "jpeg", _clean_jpeg
    elif data.startswith(PNG_MAGIC):
        kind, cleaner = "png", _clean_png
    else:
        return CleanResult(data=data, kind="other", cleaned=False)
    if len(data) > MAX_BYTES:
        raise PhotoError("too large")
    cleaned = cleaner(data, bool(keep_location_and_time), removed)
    removed = tuple(dict.fromkeys(removed))
    return CleanResult(data=cleaned, kind=kind, cleaned=True, removed=removed)


# --- Exif (JPEG APP1 and PNG eXIf) -------------------------------------------

_ORIENTATION = 0x0112
_GPS = ExifTags.IFD.GPSInfo
#: Offsets to other IFDs: structure, not content, so not worth naming.
_POINTERS = {ExifTags.IFD.Exif, _GPS, ExifTags.IFD.Interop}
_DATE = re.compile(r"\d{4}:\d\d:\d\d", re.ASCII)
_DATE_TIME = re.compile(r"\d{4}:\d\d:\d\d \d\d:\d\d:\d\d", re.ASCII)
#: Time tags kept by choice (DateTime in IFD0, the rest in the Exif IFD), with
#: the only form their text may take: a damaged count can otherwise drag the
#: bytes that follow (a serial number, say) into a kept value.
_TIME_TAGS = {
    0x0132: _DATE_TIME,  # DateTime
    0x9003: _DATE_TIME,  # DateTimeOriginal
    0x9011: re.compile(r"[+-]\d\d:\d\d", re.ASCII),  # OffsetTimeOriginal
    0x9291: re.compile(r"\d{1,9}", re.ASCII),  # SubSecTimeOriginal
}
#: What fits in a JPEG APP1 segment after "Exif\0\0"; PNG eXIf is held to the same.
_MAX_EXIF = 0xFFFF - 2 - 6
_GPS_DATE_STAMP = 29
#: The other fixed-size GPS texts are one-letter codes: "N", "E", "K", "2" ...
_GPS_CODE = re.compile(r"[0-9A-Z]")


def _clean_exif(tiff, keep, removed):
    """Return a new TIFF block with only Orientation (and GPS and time if ``keep``), or None.

    The new block is built from scratch, so nothing the allowlist does not
    name can survive: MakerNote, serial numbers, owner, software, the IFD1
    thumbnail all stay behind. Pillow raises many kinds of errors on damaged
    TIFF data (struct.error, SyntaxError, ValueError, TypeError ...); any of
    them means the whole block is dropped. Pillow's warnings about damaged
    tags name only tag numbers and sizes, never values.
    """
    try:
        ifd0, exif_ifd, gps, has_thumbnail = _read_exif(tiff)
        kept = Image.Exif()
        orientation = ifd0.get(_ORIENTATION)
        if isinstance(orientation, int) and 1 <= orientation <= 8:
            kept[_ORIENTATION] = orientation
        kept_time, kept_gps = {}, {}
        if keep:
            kept.update(_valid_times(ifd0, [0x0132]))
            kept_time = _valid_times(exif_ifd, [0x9003, 0x9011, 0x9291])
            kept_gps = {tag: _rounded(v) for tag, v in gps.items() if _is_gps_value(tag, v)}
        if kept_time:
            kept[ExifTags.IFD.Exif] = kept_time
        if kept_gps:
            kept[_GPS] = kept_gps
        new = kept.tobytes()[len(b"Exif\0\0") :] if len(kept) else None
    except Exception:
        ifd0 = None
    if not ifd0:
        # Damaged: Pillow raised, or skipped (with a warning) all it could not read.
        removed.append("exif:unreadable")
        return None
    removed.extend(_tag_names(ifd0, kept, ExifTags.TAGS))
    removed.extend(_tag_names(exif_ifd, kept_time, ExifTags.TAGS))
    if gps and not kept_gps:
        removed.append("exif:GPSInfo")
    elif kept_gps:
        removed.extend(_tag_names(gps, kept_gps, ExifTags.GPSTAGS))
    if has_thumbnail:
        removed.append("thumbnail")
    return new


def _read_exif(tiff):
    """Parse with Pillow: IFD0, the Exif IFD and the GPS IFD as dicts, and whether IFD1 exists."""
    source = Image.Exif()
    source.load(tiff)
    ifd0 = {tag: source[tag] for tag in list(source)}
    exif_ifd = dict(source.get_ifd(ExifTags.IFD.Exif))
    gps = dict(source.get_ifd(_GPS))
    return ifd0, exif_ifd, gps, bool(source.get_ifd(ExifTags.IFD.IFD1))


def _valid_times(ifd, tags):
    return {
        tag: ifd[tag]
        for tag in tags
        if isinstance(ifd.get(tag), str) and _TIME_TAGS[tag].fullmatch(ifd[tag])
    }


def _is_gps_value(tag, value):
    """True if ``tag`` is a standard GPS tag and ``value`` has its standard type, size and form.

    Free-text tags (GPSSatellites, GPSMapDatum, GPSProcessingMethod,
    GPSAreaInformation) fail: they could carry anything, and the position does
    not need them. Pillow's table of GPS tags holds the types and sizes.
    """
    if tag not in ExifTags.GPSTAGS:
        return False
    info = TiffTags.lookup(tag, _GPS)
    if info.type == TiffTags.ASCII and info.length:
        pattern = _DATE if tag == _GPS_DATE_STAMP else _GPS_CODE
        return isinstance(value, str) and bool(pattern.fullmatch(value))
    if info.type == TiffTags.BYTE:
        return isinstance(value, bytes) and len(value) == info.length
    if info.type == TiffTags.SHORT:
        return isinstance(value, int)
    if info.type == TiffTags.RATIONAL:
        values = value if isinstance(value, tuple) else (value,)
        return len(values) == info.length and all(
            isinstance(v, numbers.Rational) and v.denominator for v in values
        )
    return False


def _rounded(value):
    """Rationals with denominators of at most a million.

    A damaged offset could otherwise pass any 8 bytes (say, text from a
    serial number) through as a numerator/denominator pair. Phones write
    denominators like 1, 100 or 10000, which stay exact; the worst rounding,
    a millionth of a degree, is about 10 cm: far below GPS accuracy.
    """
    if isinstance(value, tuple):
        return tuple(_rounded(v) for v in value)
    if isinstance(value, numbers.Rational):
        return Fraction(value.numerator, value.denominator).limit_denominator(10**6)
    return value


def _tag_names(source, kept, names):
    return [
        "exif:" + names.get(tag, f"0x{tag:04X}")
        for tag in source
        if tag not in kept and tag not in _POINTERS
    ]


# --- JPEG --------------------------------------------------------------------

_SOI, _EOI, _SOS, _COM = 0xD8, 0xD9, 0xDA, 0xFE
_APP0, _APP1, _APP2, _APP13, _APP14 = 0xE0, 0xE1, 0xE2, 0xED, 0xEE
#: Markers without a length: TEM and the restart markers RST0-7.
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
#: Segments a decoder needs: frame headers SOF0-15 (0xC4, 0xC8 and 0xCC are
#: not frames), DHT, DAC, DQT, DNL, DRI, DHP, EXP. SOS is handled on its own.
_DECODING = {*range(0xC0, 0xD0), 0xDB, 0xDC, 0xDD, 0xDE, 0xDF} - {0xC8}
#: Names for the summary, by marker and payload prefix; others are "appN" or "jpeg:0xNN".
_JPEG_NAMES = (
    (_APP0, b"JFXX\0", "thumbnail"),
    (_APP1, b"http://ns.adobe.com/xap/1.0/\0", "xmp"),
    (_APP1, b"http://ns.adobe.com/xmp/extension/\0", "xmp"),
    (_APP2, b"ICC_PROFILE\0", "icc"),
    (_APP2, b"MPF\0", "mpf"),
    (_APP13, b"Photoshop 3.0\0", "iptc"),
    (_COM, b"", "comment"),
)
_JFIF_LENGTH = 14  # "JFIF\0", version, units, X and Y density, thumbnail width and height
_ADOBE_LENGTH = 12  # "Adobe", version, flags0, flags1, colour transform

_FILL = re.compile(rb"\xff+")
#: The end of entropy-coded data: 0xFF followed by anything but a stuffed zero,
#: a restart marker or more fill bytes.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _clean_jpeg(data, keep, removed):
    """Copy the segments a decoder needs, up to and including EOI.

    Entropy-coded data after each SOS is copied unchanged (lossless). Bytes
    after EOI are dropped: phones append a second JPEG (MPF depth maps, gain
    maps) with its own Exif, vendor trailers, even a motion-photo video.
    """
    out = [data[:2]]
    pos, seen_scan, seen_exif = 2, False, False
    for _ in range(MAX_PARTS):
        marker, pos = _next_marker(data, pos)
        if marker == _EOI:
            if not seen_scan:
                raise PhotoError("no image data")
            out.append(b"\xff\xd9")
            if pos < len(data):
                removed.append("trailer")
            return b"".join(out)
        if marker in _STANDALONE:
            out.append(bytes((0xFF, marker)))
            continue
        if marker < 0xC0 or marker == _SOI:
            raise PhotoError("unexpected marker")
        if pos + 2 > len(data):
            raise PhotoError("truncated")
        end = pos + int.from_bytes(data[pos : pos + 2], "big")
        if end < pos + 2 or end > len(data):
            raise PhotoError("bad segment length")
        payload = data[pos + 2 : end]
        if marker == _SOS:
            seen_scan = True
            scan_end = _SCAN_END.search(data, end)
            if scan_end is None:
                raise PhotoError("truncated")
            out.append(data[pos - 2 : scan_end.start()])
            pos = scan_end.start()
            continue
        is_exif = marker == _APP1 and payload.startswith(b"Exif\0\0")
        if is_exif and seen_exif:
            # Readers use the first Exif block; parsing more would only cost time.
            removed.append("exif:duplicate")
            segment = None
        else:
            segment = _clean_segment(marker, payload, keep, removed)
        seen_exif = seen_exif or is_exif
        if segment is not None:
            out.append(segment)
        pos = end
    raise PhotoError("too many segments")


def _next_marker(data, pos):
    """Return the marker at ``pos`` (after any 0xFF fill bytes) and the position after it."""
    fill = _FILL.match(data, pos)
    if fill is None:
        raise PhotoError("truncated" if pos >= len(data) else "expected a marker")
    if fill.end() >= len(data):
        raise PhotoError("truncated")
    return data[fill.end()], fill.end() + 1


def _clean_segment(marker, payload, keep, removed):
    """Return the segment to write for ``marker`` (cleaned), or None to drop it."""
    if marker in _DECODING:
        return _segment(marker, payload)
    if marker == _APP0 and payload.startswith(b"JFIF\0") and len(payload) >= _JFIF_LENGTH:
        if payload[12] or payload[13]:
            removed.append("thumbnail")
        return _segment(_APP0, payload[:12] + b"\0\0")
    if marker == _APP1 and payload.startswith(b"Exif\0\0"):
        tiff = _clean_exif(payload[6:], keep, removed)
        if tiff is None:
            return None
        if len(tiff) > _MAX_EXIF:
            removed.append("exif:too-large")
            return None
        return _segment(_APP1, b"Exif\0\0" + tiff)
    if marker == _APP14 and payload.startswith(b"Adobe") and len(payload) >= _ADOBE_LENGTH:
        # Tells the decoder whether the colours are RGB, YCbCr, CMYK or YCCK.
        return _segment(_APP14, payload[:_ADOBE_LENGTH])
    # Everything else goes, including APP2 ICC profiles: they can name the
    # device or vendor. Colours may shift slightly for a photo that relied on
    # a wide-gamut profile; the pixel values themselves are unchanged.
    removed.append(_jpeg_name(marker, payload))
    return None


def _jpeg_name(marker, payload):
    for known, prefix, name in _JPEG_NAMES:
        if marker == known and payload.startswith(prefix):
            return name
    if 0xE0 <= marker <= 0xEF:
        return f"app{marker - 0xE0}"
    return f"jpeg:0x{marker:02X}"


def _segment(marker, payload):
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


# --- PNG ---------------------------------------------------------------------

#: Chunks that affect how the image is shown and carry no text: the critical
#: ones, transparency, colour (gamma, chromaticities, sRGB, the PNG 3rd
#: edition HDR chunks cICP, mDCV, cLLI), significant bits, pixel size,
#: background, and APNG animation. iCCP is dropped for the same reason as a
#: JPEG's ICC profile; unknown critical chunks, which no decoder could show
#: anyway, are dropped too.
_PNG_KEEP = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND",
    b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"cICP", b"mDCV", b"cLLI", b"sBIT", b"pHYs", b"bKGD",
    b"acTL", b"fcTL", b"fdAT",
}  # fmt: skip


def _clean_png(data, keep, removed):
    """Copy the chunks on the keep list, up to and including IEND; drop the rest.

    eXIf is rebuilt like a JPEG's Exif, so the reporter's choice means the
    same for both formats. Bytes after IEND are dropped.
    """
    out = [PNG_MAGIC]
    pos, seen_exif = len(PNG_MAGIC), False
    for _ in range(MAX_PARTS):
        if pos + 12 > len(data):
            raise PhotoError("truncated")
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise PhotoError("bad chunk length")
        if not kind.isalpha():
            raise PhotoError("bad chunk type")
        if (pos == len(PNG_MAGIC)) != (kind == b"IHDR"):
            raise PhotoError("IHDR is not the first chunk")
        body = data[pos + 8 : end - 4]
        if kind in _PNG_KEEP:
            if zlib.crc32(body, zlib.crc32(kind)) != int.from_bytes(data[end - 4 : end], "big"):
                raise PhotoError("bad chunk checksum")
            out.append(data[pos:end])
        elif kind == b"eXIf" and not seen_exif and len(body) <= _MAX_EXIF:
            seen_exif = True
            tiff = _clean_exif(body, keep, removed)
            if tiff is not None:
                out.append(_chunk(kind, tiff))
        elif kind == b"eXIf":
            removed.append("exif:duplicate" if seen_exif else "exif:too-large")
        else:
            removed.append("png:" + kind.decode("ascii"))
        pos = end
        if kind == b"IEND":
            if pos < len(data):
                removed.append("trailer")
            return b"".join(out)
    raise PhotoError("too many chunks")


def _chunk(kind, body):
    crc = zlib.crc32(body, zlib.crc32(kind))
    return len(body).to_bytes(4, "big") + kind + body + crc.to_bytes(4, "big")
