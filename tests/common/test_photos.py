"""Photo cleaning: identifying metadata goes, pixels stay byte-identical, damage raises."""

import io
import random
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, PngImagePlugin
from PIL.TiffImagePlugin import IFDRational

from tipdrop.common import photos
from tipdrop.common.photos import PhotoError, clean
from tipdrop.errors import InputError

# The test photos are malformed on purpose (a fake MPF block, damaged Exif): Pillow says so.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL")

GPS = ExifTags.IFD.GPSInfo
EXIF = ExifTags.IFD.Exif
ORIENTATION = 0x0112

# Every one of these strings identifies someone; none may survive cleaning.
SECRETS = {
    "make": b"AcmeCam",
    "model": b"AcmePhone X1",
    "serial": b"SN-4815162342",
    "lens serial": b"LENS-99887766",
    "owner": b"Aigerim Ownerova",
    "software": b"SecretEditor 9.1",
    "artist": b"Ivan Artistov",
    "copyright": b"(c) Copyright Holder",
    "unique id": b"UNIQUE-ID-ABCDEF",
    "maker note": b"MAKERNOTE-INTERNAL-SERIAL",
    "user comment": b"USER-COMMENT-TEXT",
    "exif thumbnail": b"UNCROPPED-EXIF-THUMBNAIL",
    "jfif thumbnail": b"JFIFTHUMB",
    "xmp": b"XMP-CREATOR-NAME",
    "extended xmp": b"EXTENDED-XMP-NAME",
    "iptc": b"IPTC-BYLINE-NAME",
    "comment": b"JPEG-COMMENT-TEXT",
    "icc": b"ICC-DEVICE-VENDOR",
    "trailer": b"SAMSUNG-TRAILER-OWNER",
    "gps text": b"GPS-PROCESSING-NOTE",
    "gps satellites": b"SATELLITE-NOTE",
}

DATE_TIME_ORIGINAL = "2024:05:01 21:14:03"
GPS_IFD = {
    0: b"\x02\x03\x00\x00",
    1: "N",
    2: (43.0, 14.0, 24.5),
    3: "E",
    4: (76.0, 53.0, 12.25),
    29: "2024:05:01",
}


def _noise(mode, size, seed=1):
    """An image of random pixels: any lossy re-encoding would change them."""
    channels = len(mode) if mode != "L" else 1
    return Image.frombytes(mode, size, random.Random(seed).randbytes(size[0] * size[1] * channels))


def _segment(marker, payload):
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _exif_tiff(with_thumbnail=True, orientation=6):
    """A phone-like Exif block (TIFF, no "Exif\\0\\0" header), with an IFD1 thumbnail."""
    exif = Image.Exif()
    exif[0x010F] = SECRETS["make"].decode()
    exif[0x0110] = SECRETS["model"].decode()
    exif[0x0131] = SECRETS["software"].decode()
    exif[0x013B] = SECRETS["artist"].decode()
    exif[0x8298] = SECRETS["copyright"].decode()
    exif[0x0132] = "2024:05:02 08:00:00"
    if orientation is not None:
        exif[ORIENTATION] = orientation
    exif[EXIF] = {
        0x9003: DATE_TIME_ORIGINAL,
        0x9011: "+05:00",
        0x9291: "123",
        0xA431: SECRETS["serial"].decode(),
        0xA435: SECRETS["lens serial"].decode(),
        0xA430: SECRETS["owner"].decode(),
        0xA420: SECRETS["unique id"].decode(),
        0x927C: SECRETS["maker note"],
        0x9286: b"ASCII\0\0\0" + SECRETS["user comment"],
    }
    # Free-text GPS tags: not needed for the position, and could hold anything.
    free_text = {8: SECRETS["gps satellites"].decode(), 27: b"ASCII\0\0\0" + SECRETS["gps text"]}
    exif[GPS] = GPS_IFD | free_text
    tiff = exif.tobytes()[6:]
    if not with_thumbnail:
        return tiff
    thumbnail = _jpeg(_noise("RGB", (8, 8), seed=2), comment=SECRETS["exif thumbnail"])
    return _add_thumbnail_ifd(tiff, thumbnail)


def _add_thumbnail_ifd(tiff, thumbnail):
    """Chain an IFD1 holding ``thumbnail`` after IFD0, as cameras do (Pillow cannot write IFD1)."""
    assert tiff[:2] == b"MM"
    (count,) = struct.unpack(">H", tiff[8:10])
    next_pointer = 10 + 12 * count
    ifd1 = len(tiff) + len(tiff) % 2
    data_offset = ifd1 + 2 + 2 * 12 + 4
    entries = struct.pack(">HHIIHHII", 0x0201, 4, 1, data_offset, 0x0202, 4, 1, len(thumbnail))
    tiff = tiff[:next_pointer] + struct.pack(">I", ifd1) + tiff[next_pointer + 4 :]
    return tiff.ljust(ifd1, b"\0") + struct.pack(">H", 2) + entries + b"\0\0\0\0" + thumbnail


def _jpeg(image, **options):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, **options)
    return buffer.getvalue()


# An IPTC IIM record 2:80 (By-line), as Photoshop stores it in APP13.
IPTC_BYLINE = b"\x1c\x02P\0\x10" + SECRETS["iptc"]


def _phone_jpeg(tiff=None, image=None, **options):
    """A JPEG carrying everything a phone or an editor may add, each with a secret in it."""
    jfif_with_thumbnail = b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x03\x01" + SECRETS["jfif thumbnail"]
    extra = b"".join(
        [
            _segment(0xE1, b"http://ns.adobe.com/xmp/extension/\0" + SECRETS["extended xmp"]),
            _segment(0xED, b"Photoshop 3.0\x008BIM\x04\x04\0\0\0\0\0\x14" + IPTC_BYLINE),
            _segment(0xE2, b"MPF\0" + SECRETS["make"]),
            _segment(0xE9, b"vendor block " + SECRETS["serial"]),
        ]
    )
    data = _jpeg(
        image or _noise("RGB", (48, 32)),
        exif=b"Exif\0\0" + (_exif_tiff() if tiff is None else tiff),
        xmp=b"<x:xmpmeta><dc:creator>" + SECRETS["xmp"] + b"</dc:creator></x:xmpmeta>",
        comment=SECRETS["comment"],
        icc_profile=b"\0" * 48 + SECRETS["icc"],
        extra=extra,
        **options,
    )
    if data[2:4] == b"\xff\xe0":  # Pillow's JFIF segment (not for CMYK): give it a thumbnail
        pillow_jfif_end = 4 + struct.unpack(">H", data[4:6])[0]
        data = data[:2] + _segment(0xE0, jfif_with_thumbnail) + data[pillow_jfif_end:]
    second_image = _jpeg(_noise("RGB", (8, 8), seed=3), exif=b"Exif\0\0" + _exif_tiff(False))
    return data + second_image + SECRETS["trailer"]


def _pixels(data):
    with Image.open(io.BytesIO(data)) as image:
        return image.mode, image.size, image.tobytes()


def _exif(data):
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        return exif, exif.get_ifd(EXIF), exif.get_ifd(GPS)


#: JPEG encodings a cleaner must copy byte for byte (also used by the browser tests).
JPEG_KINDS = [
    (_noise("RGB", (48, 32)), {}),
    (_noise("RGB", (48, 32)), {"progressive": True}),
    (_noise("RGB", (48, 32)), {"restart_marker_blocks": 1}),
    (_noise("L", (40, 24)), {}),
    (_noise("CMYK", (32, 16)), {}),
]
JPEG_KIND_IDS = ["baseline", "progressive", "restart-markers", "grey", "cmyk-adobe"]


@pytest.fixture(scope="module")
def phone_jpeg():
    data = _phone_jpeg()
    # Given a photo that really carries all of it (checked through Pillow, not just our bytes)
    exif, exif_ifd, gps = _exif(data)
    assert (exif[0x010F], exif_ifd[0xA431], gps[2]) == ("AcmeCam", "SN-4815162342", GPS_IFD[2])
    assert exif.get_ifd(ExifTags.IFD.IFD1)
    with Image.open(io.BytesIO(data)) as image:
        assert image.info["xmp"] and image.info["icc_profile"] and image.info["comment"]
    for secret in SECRETS.values():
        assert secret in data
    return data


# --- JPEG -----------------------------------------------------------------------


@pytest.mark.parametrize("keep", [False, True], ids=["default", "keep-location"])
def test_camera_serial_and_owner_are_removed_from_jpeg(phone_jpeg, keep):
    result = clean(phone_jpeg, "image/jpeg", keep_location_and_time=keep)

    assert (result.kind, result.cleaned) == ("jpeg", True)
    for name, secret in SECRETS.items():
        assert secret not in result.data, name
    exif, exif_ifd, _ = _exif(result.data)
    assert set(exif) <= {ORIENTATION, 0x0132, EXIF, GPS}
    assert set(exif_ifd) <= {0x9003, 0x9011, 0x9291}


def test_location_and_time_are_removed_by_default(phone_jpeg):
    result = clean(phone_jpeg, "image/jpeg", keep_location_and_time=False)

    exif, exif_ifd, gps = _exif(result.data)
    assert dict(exif) == {ORIENTATION: 6}
    assert exif_ifd == {} and gps == {}
    assert DATE_TIME_ORIGINAL.encode() not in result.data
    assert {"exif:GPSInfo", "exif:DateTimeOriginal", "exif:DateTime"} <= set(result.removed)


def test_location_and_time_are_kept_when_the_reporter_chooses(phone_jpeg):
    result = clean(phone_jpeg, "image/jpeg", keep_location_and_time=True)

    exif, exif_ifd, gps = _exif(result.data)
    assert gps == GPS_IFD
    assert exif_ifd == {0x9003: DATE_TIME_ORIGINAL, 0x9011: "+05:00", 0x9291: "123"}
    assert exif[0x0132] == "2024:05:02 08:00:00"
    assert exif[ORIENTATION] == 6
    assert not {"exif:GPSInfo", "exif:DateTimeOriginal"} & set(result.removed)
    assert {"exif:GPSSatellites", "exif:GPSProcessingMethod", "exif:Make"} <= set(result.removed)


@pytest.mark.parametrize("keep", [False, True], ids=["default", "keep-location"])
def test_orientation_is_kept_so_the_photo_shows_upright(phone_jpeg, keep):
    exif, _, _ = _exif(clean(phone_jpeg, None, keep_location_and_time=keep).data)

    assert exif[ORIENTATION] == 6


def test_exif_without_orientation_is_dropped_entirely(phone_jpeg):
    data = _phone_jpeg(tiff=_exif_tiff(orientation=None))

    result = clean(data, "image/jpeg", keep_location_and_time=False)

    assert b"Exif\0\0" not in result.data
    assert dict(_exif(result.data)[0]) == {}


def test_removed_lists_what_went_by_name_never_by_value(phone_jpeg):
    result = clean(phone_jpeg, "image/jpeg", keep_location_and_time=False)

    expected = {
        "exif:Make", "exif:Model", "exif:Software", "exif:Artist", "exif:Copyright",
        "exif:BodySerialNumber", "exif:LensSerialNumber", "exif:CameraOwnerName",
        "exif:ImageUniqueID", "exif:MakerNote", "exif:UserComment", "exif:GPSInfo",
        "thumbnail", "xmp", "iptc", "comment", "icc", "mpf", "app9", "trailer",
    }  # fmt: skip
    assert expected <= set(result.removed)
    assert len(result.removed) == len(set(result.removed))
    summary = " ".join(result.removed).encode()
    for secret in SECRETS.values():
        assert secret not in summary


def test_exif_thumbnail_is_removed_even_when_location_is_kept(phone_jpeg):
    result = clean(phone_jpeg, "image/jpeg", keep_location_and_time=True)

    exif, _, _ = _exif(result.data)
    assert exif.get_ifd(ExifTags.IFD.IFD1) == {}
    assert SECRETS["exif thumbnail"] not in result.data
    assert "thumbnail" in result.removed


def test_jfif_header_is_kept_without_its_thumbnail(phone_jpeg):
    result = clean(phone_jpeg, "image/jpeg", keep_location_and_time=False)

    assert result.data[2:20] == _segment(0xE0, b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00")


def test_data_after_the_end_of_the_image_is_dropped(phone_jpeg):
    # Given a phone's appended second image (with its own Exif) and a vendor trailer
    result = clean(phone_jpeg, "image/jpeg", keep_location_and_time=True)

    assert result.data.endswith(b"\xff\xd9")
    assert result.data.count(b"\xff\xd8") == 1
    assert "trailer" in result.removed


@pytest.mark.parametrize(
    "tiff",
    [b"XX\0*\0\0\0\x08" + SECRETS["owner"], b"MM\0*\0\0\xff\xff" + SECRETS["owner"]],
    ids=["not-tiff", "ifd-outside-block"],
)
def test_unreadable_exif_is_dropped_entirely(tiff):
    data = _phone_jpeg(tiff=tiff)

    result = clean(data, "image/jpeg", keep_location_and_time=True)

    assert "exif:unreadable" in result.removed
    assert b"Exif\0\0" not in result.data and SECRETS["owner"] not in result.data
    assert _pixels(result.data) == _pixels(data)


@pytest.mark.parametrize("image, options", JPEG_KINDS, ids=JPEG_KIND_IDS)
@pytest.mark.parametrize("keep", [False, True], ids=["default", "keep-location"])
def test_jpeg_pixels_are_identical_after_cleaning(image, options, keep):
    data = _phone_jpeg(image=image, **options)

    result = clean(data, "image/jpeg", keep_location_and_time=keep)

    assert _pixels(result.data) == _pixels(data)
    assert len(result.data) < len(data)


def test_adobe_segment_is_kept_because_cmyk_colours_depend_on_it():
    data = _jpeg(_noise("CMYK", (16, 16)))
    assert b"\xff\xee\x00\x0eAdobe" in data  # libjpeg writes it for CMYK

    result = clean(data, "image/jpeg", keep_location_and_time=False)

    assert b"\xff\xee\x00\x0eAdobe" in result.data
    assert _pixels(result.data) == _pixels(data)


def test_only_the_first_exif_block_is_read():
    second = _segment(0xE1, b"Exif\0\0" + _exif_tiff(with_thumbnail=False, orientation=3))
    data = _phone_jpeg()
    payload_at = data.index(b"Exif\0\0")
    first_end = payload_at - 2 + struct.unpack(">H", data[payload_at - 2 : payload_at])[0]
    data = data[:first_end] + second + data[first_end:]

    result = clean(data, "image/jpeg", keep_location_and_time=True)

    assert result.data.count(b"Exif\0\0") == 1
    assert "exif:duplicate" in result.removed
    assert _exif(result.data)[0][ORIENTATION] == 6


def test_a_damaged_count_cannot_drag_identifying_bytes_into_a_kept_time():
    # Given DateTimeOriginal whose length was damaged to run over the tags stored after it
    tiff = _exif_tiff(with_thumbnail=False)
    entry = tiff.index(b"\x90\x03\x00\x02")
    (value_at,) = struct.unpack(">I", tiff[entry + 8 : entry + 12])
    tiff = tiff[: entry + 4] + struct.pack(">I", len(tiff) - value_at) + tiff[entry + 8 :]
    spilled = Image.Exif()
    spilled.load(tiff)
    assert SECRETS["owner"].decode() in spilled.get_ifd(EXIF)[0x9003]

    result = clean(_phone_jpeg(tiff=tiff), "image/jpeg", keep_location_and_time=True)

    assert SECRETS["owner"] not in result.data and SECRETS["serial"] not in result.data
    _, exif_ifd, gps = _exif(result.data)
    assert 0x9003 not in exif_ifd and gps == GPS_IFD
    assert "exif:DateTimeOriginal" in result.removed


def test_a_damaged_offset_cannot_pass_text_through_as_gps_numbers():
    # Given GPSLongitude's offset damaged to point at the GPSSatellites text
    tiff = _exif_tiff(with_thumbnail=False)
    entry = tiff.index(b"\x00\x04\x00\x05\x00\x00\x00\x03")
    text_at = tiff.index(SECRETS["gps satellites"])
    tiff = tiff[: entry + 8] + struct.pack(">I", text_at) + tiff[entry + 12 :]

    result = clean(_phone_jpeg(tiff=tiff), "image/jpeg", keep_location_and_time=True)

    assert SECRETS["gps satellites"][:8] not in result.data
    gps = _exif(result.data)[2]
    assert gps[2] == GPS_IFD[2] and len(gps[4]) == 3  # kept, but not byte for byte


def test_an_unknown_altitude_does_not_cost_the_position():
    exif = Image.Exif()
    exif[GPS] = GPS_IFD | {6: IFDRational(0, 0)}  # some phones write 0/0 for "unknown"

    result = clean(_phone_jpeg(tiff=exif.tobytes()[6:]), "image/jpeg", keep_location_and_time=True)

    assert _exif(result.data)[2] == GPS_IFD
    assert "exif:GPSAltitude" in result.removed


def test_a_file_of_countless_tiny_segments_is_refused_quickly(monkeypatch, phone_jpeg, phone_png):
    monkeypatch.setattr(photos, "MAX_PARTS", 5)

    with pytest.raises(PhotoError, match="too many segments"):
        clean(phone_jpeg, "image/jpeg", keep_location_and_time=False)
    with pytest.raises(PhotoError, match="too many chunks"):
        clean(phone_png, "image/png", keep_location_and_time=False)


def test_cleaning_twice_changes_nothing_more(phone_jpeg):
    once = clean(phone_jpeg, "image/jpeg", keep_location_and_time=True)

    twice = clean(once.data, "image/jpeg", keep_location_and_time=True)

    assert twice.data == once.data
    assert twice.removed == ()


# --- PNG ------------------------------------------------------------------------


def _png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _insert_chunks_after_ihdr(png, *chunks):
    ihdr_end = 8 + 12 + 13
    return png[:ihdr_end] + b"".join(chunks) + png[ihdr_end:]


def _png(image, **options):
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


def _phone_png(image=None):
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", SECRETS["owner"].decode())
    info.add_text("Software", SECRETS["software"].decode(), zip=True)
    info.add_itxt("XML:com.adobe.xmp", SECRETS["xmp"].decode())
    data = _png(
        image or _noise("RGB", (40, 24)),
        pnginfo=info,
        exif=b"Exif\0\0" + _exif_tiff(),
        icc_profile=b"\0" * 48 + SECRETS["icc"],
        dpi=(72, 72),
    )
    data = _insert_chunks_after_ihdr(
        data,
        _png_chunk(b"tIME", b"\x07\xe8\x05\x01\x15\x0e\x03"),
        _png_chunk(b"prVt", SECRETS["serial"]),
    )
    return data + SECRETS["trailer"]


@pytest.fixture(scope="module")
def phone_png():
    data = _phone_png()
    with Image.open(io.BytesIO(data)) as image:
        assert image.info["Author"] and image.getexif()[0x010F] == "AcmeCam"
    return data


@pytest.mark.parametrize("keep", [False, True], ids=["default", "keep-location"])
def test_text_time_and_exif_are_removed_from_png(phone_png, keep):
    result = clean(phone_png, "image/png", keep_location_and_time=keep)

    assert (result.kind, result.cleaned) == ("png", True)
    for name, secret in SECRETS.items():
        assert secret not in result.data, name
    expected = {"png:tEXt", "png:zTXt", "png:iTXt", "png:tIME", "png:iCCP", "png:prVt"}
    expected |= {"exif:Make", "thumbnail", "trailer"}
    assert expected <= set(result.removed)
    with Image.open(io.BytesIO(result.data)) as image:
        assert not {"Author", "Software", "XML:com.adobe.xmp", "icc_profile"} & set(image.info)
        assert image.info["dpi"] == pytest.approx((72, 72), abs=0.01)  # pHYs is kept


def test_png_keeps_location_and_time_only_when_chosen(phone_png):
    default = clean(phone_png, "image/png", keep_location_and_time=False)
    chosen = clean(phone_png, "image/png", keep_location_and_time=True)

    exif, exif_ifd, gps = _exif(default.data)
    assert (dict(exif), exif_ifd, gps) == ({ORIENTATION: 6}, {}, {})
    exif, exif_ifd, gps = _exif(chosen.data)
    assert gps == GPS_IFD and exif_ifd[0x9003] == DATE_TIME_ORIGINAL and 0x010F not in exif


@pytest.mark.parametrize(
    "image, options",
    [
        (_noise("RGB", (40, 24)), {}),
        (_noise("RGBA", (16, 16)), {}),
        (_noise("L", (16, 16)).convert("P"), {"transparency": 3}),
        (_noise("RGB", (16, 16)), {"bits": 8, "optimize": True}),
    ],
    ids=["rgb", "rgba", "palette-trns", "optimized"],
)
def test_png_pixels_are_identical_after_cleaning(image, options):
    author = _png_chunk(b"tEXt", b"Author\0" + SECRETS["owner"])
    data = _insert_chunks_after_ihdr(_png(image, **options), author)

    result = clean(data, "image/png", keep_location_and_time=False)

    assert _pixels(result.data) == _pixels(data)
    assert result.removed == ("png:tEXt",)
    if "transparency" in options:
        with Image.open(io.BytesIO(result.data)) as cleaned:
            assert cleaned.info["transparency"] == 3


def test_animated_png_keeps_every_frame():
    frames = [_noise("RGB", (16, 16), seed=seed) for seed in range(3)]
    data = _png(frames[0], save_all=True, append_images=frames[1:], duration=100)

    result = clean(data, "image/png", keep_location_and_time=False)

    assert result.data == data
    with Image.open(io.BytesIO(result.data)) as image:
        assert image.n_frames == 3


# --- other files and content types ------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xd8",
        b"\x89PNG",
        b"\0\0\0\x18ftypmp42" + SECRETS["owner"],
        b"\0\0\0\x18ftypheic" + SECRETS["serial"],
        b"GIF89a" + SECRETS["make"],
        b"%PDF-1.7 " + SECRETS["artist"],
    ],
    ids=["empty", "jpeg-prefix-only", "png-prefix-only", "mp4", "heic", "gif", "pdf"],
)
def test_other_files_are_returned_unchanged(data):
    result = clean(data, "image/jpeg", keep_location_and_time=False)

    assert result == photos.CleanResult(data=data, kind="other", cleaned=False, removed=())


def test_format_is_told_by_its_bytes_not_by_the_claimed_content_type(phone_jpeg, phone_png):
    assert clean(phone_png, "image/jpeg", keep_location_and_time=False).kind == "png"
    assert clean(phone_jpeg, "video/mp4", keep_location_and_time=False).kind == "jpeg"
    assert clean(b"plain text", "image/png", keep_location_and_time=False).kind == "other"


# --- damage -----------------------------------------------------------------------


_SOUND_JPEG = _jpeg(_noise("RGB", (16, 16)), exif=b"Exif\0\0" + _exif_tiff(False))
_SOUND_PNG = _png(_noise("RGB", (8, 8)))
_GAMMA = _png_chunk(b"gAMA", b"\0\0\xb1\x8f")
DAMAGED = {
    "jpeg-soi-only": b"\xff\xd8\xff",
    "jpeg-cut-in-header": _SOUND_JPEG[:30],
    "jpeg-cut-in-scan": _SOUND_JPEG[: _SOUND_JPEG.rindex(b"\xff\xd9") - 10],
    "jpeg-no-eoi": _SOUND_JPEG[:-2],
    "jpeg-segment-too-long": _SOUND_JPEG[:4] + b"\xff\xff" + _SOUND_JPEG[6:],
    "jpeg-segment-length-1": _SOUND_JPEG[:4] + b"\x00\x01" + _SOUND_JPEG[6:],
    "jpeg-no-marker": _SOUND_JPEG[:20] + b"\x00" + _SOUND_JPEG[20:],
    "jpeg-second-soi": _SOUND_JPEG[:2] + b"\xff\xd8" + _SOUND_JPEG[2:],
    "jpeg-eoi-before-scan": _SOUND_JPEG[:2] + b"\xff\xd9",
    "png-signature-only": _SOUND_PNG[:8],
    "png-cut": _SOUND_PNG[:-20],
    "png-no-iend": _SOUND_PNG[:-12],
    "png-bad-crc": _SOUND_PNG[:29] + bytes([_SOUND_PNG[29] ^ 1]) + _SOUND_PNG[30:],
    "png-chunk-too-long": _SOUND_PNG[:8] + b"\x7f\xff\xff\xff" + _SOUND_PNG[12:],
    "png-ihdr-not-first": _SOUND_PNG[:8] + _GAMMA + _SOUND_PNG[8:],
    "png-bad-chunk-type": _SOUND_PNG.replace(b"IDAT", b"ID@T", 1),
}


@pytest.mark.parametrize("data", DAMAGED.values(), ids=DAMAGED.keys())
def test_damaged_photos_are_refused_not_sent_uncleaned(data):
    with pytest.raises(PhotoError):
        clean(data, "image/jpeg", keep_location_and_time=False)


def test_photo_error_says_the_photo_is_damaged():
    error = PhotoError("truncated")

    assert isinstance(error, InputError)
    assert error.message == (
        "This photo file is damaged and cannot be cleaned of identifying data: truncated"
    )


def test_oversized_photos_are_refused_but_other_files_are_not(monkeypatch, phone_jpeg):
    monkeypatch.setattr(photos, "MAX_BYTES", len(phone_jpeg) - 1)

    with pytest.raises(PhotoError, match="too large"):
        clean(phone_jpeg, "image/jpeg", keep_location_and_time=False)
    video = b"\0\0\0\x18ftypmp42".ljust(len(phone_jpeg) + 1, b"\0")
    assert clean(video, "video/mp4", keep_location_and_time=False).data == video


def test_data_must_be_bytes():
    with pytest.raises(TypeError):
        clean("\xff\xd8\xff", "image/jpeg", keep_location_and_time=False)


# --- any input: a PhotoError or a cleaned photo, nothing else ----------------------

SMALL_JPEG = _phone_jpeg(image=_noise("RGB", (8, 8)))
SMALL_PNG = _phone_png(image=_noise("RGB", (4, 4)))
PNG_WITH_IHDR_HEAD = photos.PNG_MAGIC + b"\0\0\0\x0dIHDR"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _clean_or_refuse(data, keep):
    try:
        result = clean(data, None, keep_location_and_time=keep)
    except PhotoError:
        return
    assert isinstance(result.data, bytes)
    assert all(isinstance(name, str) for name in result.removed)


@FUZZ
@given(
    prefix=st.sampled_from([b"", photos.JPEG_MAGIC, photos.PNG_MAGIC, PNG_WITH_IHDR_HEAD]),
    body=st.binary(max_size=400),
    keep=st.booleans(),
)
def test_random_bytes_never_raise_anything_but_photo_error(prefix, body, keep):
    _clean_or_refuse(prefix + body, keep)


@st.composite
def mutations(draw, original):
    """``original`` with a few bytes changed, inserted or deleted, or cut short."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        if action == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "set":
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0xD9, 0xDA, 0xE1]) | st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif len(data) > 1:
            del data[at]
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))) :]
    return bytes(data)


@FUZZ
@given(data=mutations(SMALL_JPEG), keep=st.booleans())
def test_damaged_jpeg_never_raises_anything_but_photo_error(data, keep):
    _clean_or_refuse(data, keep)


@FUZZ
@given(data=mutations(SMALL_PNG), keep=st.booleans())
def test_damaged_png_never_raises_anything_but_photo_error(data, keep):
    _clean_or_refuse(data, keep)
