"""photo-clean.js in a real Chromium: the browser cleans photos as the server would.

The script is loaded from the real server under its CSP; every result is checked
here in Python, with Pillow and against tipdrop.common.photos.clean on the same bytes.
The test photos come from tests/common/test_photos.py.
"""

import base64
import random

import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from tests.browser.conftest import collect_errors
from tests.common.test_photos import (
    DAMAGED,
    DATE_TIME_ORIGINAL,
    EXIF,
    GPS,
    GPS_IFD,
    JPEG_KIND_IDS,
    JPEG_KINDS,
    ORIENTATION,
    SECRETS,
    SMALL_JPEG,
    SMALL_PNG,
    _exif,
    _exif_tiff,
    _insert_chunks_after_ihdr,
    _jpeg,
    _noise,
    _phone_jpeg,
    _phone_png,
    _pixels,
    _png,
    _png_chunk,
)  # fmt: skip
from tests.serving import start_server
from tipdrop.common import photos

# The test photos are malformed on purpose (a fake MPF block, damaged Exif): Pillow says so.
pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::UserWarning:PIL")]

# Cleans each [base64, keepLocation] pair; errors come back as {error: code}.
CLEAN = """(photos) => photos.map(([encoded, keep]) => {
  const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
  try {
    const result = TipdropPhotos.clean(bytes, keep);
    let text = "";
    for (let i = 0; i < result.data.length; i += 0x8000) {
      text += String.fromCharCode(...result.data.subarray(i, i + 0x8000));
    }
    return {data: btoa(text), kind: result.kind, removed: result.removed};
  } catch (error) {
    return {error: error.code || error.name, message: error.message};
  }
})"""

PHONE_JPEG = _phone_jpeg()
PHONE_PNG = _phone_png()


@pytest.fixture(scope="module")
def page(browser, tmp_path_factory):
    """One page of the real server with photo-clean.js loaded, and its console errors."""
    server = start_server(tmp_path_factory.mktemp("photo-clean"))
    context = browser.new_context()
    try:
        page = context.new_page()
        page.console_errors = collect_errors(page)
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.add_script_tag(url="/static/js/photo-clean.js")
        yield page
    finally:
        context.close()
        server.stop()


def clean_all(page, cases):
    """Clean each (bytes, keep) in the browser; results with ``data`` as bytes."""
    results = page.evaluate(CLEAN, [[base64.b64encode(d).decode(), k] for d, k in cases])
    for result in results:
        if "data" in result:
            result["data"] = base64.b64decode(result["data"])
    return results


def clean_in_browser(page, data, keep):
    return clean_all(page, [(data, keep)])[0]


def _scans(jpeg):
    """The entropy-coded image data: from the first SOS to EOI (with any tables between scans)."""
    pos = 2
    while jpeg[pos + 1] != 0xDA:
        pos += 2 + int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
    return jpeg[pos : jpeg.index(b"\xff\xd9", pos) + 2]


def _little_endian(tiff):
    """The same Exif block written in Intel byte order, as many cameras do."""
    exif = Image.Exif()
    exif.load(tiff)
    exif.endian = "<"
    return exif.tobytes()[6:]


def _gps_needing_rounding():
    """GPS values with odd types and huge denominators, an unknown altitude and Orientation 3."""
    exif = Image.Exif()
    exif[ORIENTATION] = 3
    exif[GPS] = GPS_IFD | {
        6: IFDRational(0, 0),  # "unknown" on some phones: dropped, the position stays
        11: IFDRational(7, 3),
        31: IFDRational(123456789, 1000003),  # rounded to a denominator under a million
    }
    return exif.tobytes()[6:]


# --- what goes and what stays -------------------------------------------------------

REMOVED_BY_DEFAULT = {
    "jpeg": {
        "exif:Make", "exif:Model", "exif:Software", "exif:Artist", "exif:Copyright",
        "exif:BodySerialNumber", "exif:LensSerialNumber", "exif:CameraOwnerName",
        "exif:ImageUniqueID", "exif:MakerNote", "exif:UserComment", "exif:GPSInfo",
        "exif:DateTimeOriginal", "exif:DateTime", "thumbnail", "xmp", "iptc", "comment", "icc",
        "mpf", "app9", "trailer",
    },
    "png": {
        "png:tEXt", "png:zTXt", "png:iTXt", "png:tIME", "png:iCCP", "png:prVt", "exif:Make",
        "exif:GPSInfo", "exif:DateTimeOriginal", "thumbnail", "trailer",
    },
}  # fmt: skip
PHONE = {"jpeg": PHONE_JPEG, "png": PHONE_PNG}


@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_identifying_metadata_location_and_time_are_removed_by_default(page, kind):
    # Given a phone photo that really carries a serial number, GPS, time, thumbnail, XMP ...
    data = PHONE[kind]
    exif, exif_ifd, gps = _exif(data)
    assert (exif[0x010F], exif_ifd[0xA431], gps[2]) == ("AcmeCam", "SN-4815162342", GPS_IFD[2])
    planted = [secret for secret in SECRETS.values() if secret in data]
    assert {SECRETS["make"], SECRETS["serial"], SECRETS["xmp"], SECRETS["trailer"]} <= set(planted)

    # When the browser cleans it without the reporter's choice
    result = clean_in_browser(page, data, keep=False)

    # Then nothing of it survives but Orientation, and the summary names what went
    assert result["kind"] == kind
    for secret in planted:
        assert secret not in result["data"], secret
    assert DATE_TIME_ORIGINAL.encode() not in result["data"]
    exif, exif_ifd, gps = _exif(result["data"])
    assert (dict(exif), exif_ifd, gps) == ({ORIENTATION: 6}, {}, {})
    assert REMOVED_BY_DEFAULT[kind] <= set(result["removed"])
    assert len(result["removed"]) == len(set(result["removed"]))


@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_location_and_time_are_kept_when_the_reporter_chooses(page, kind):
    result = clean_in_browser(page, PHONE[kind], keep=True)

    exif, exif_ifd, gps = _exif(result["data"])
    assert gps == GPS_IFD
    assert exif_ifd == {0x9003: DATE_TIME_ORIGINAL, 0x9011: "+05:00", 0x9291: "123"}
    assert set(exif) == {ORIENTATION, 0x0132, EXIF, GPS}
    assert (exif[ORIENTATION], exif[0x0132]) == (6, "2024:05:02 08:00:00")
    assert exif.get_ifd(ExifTags.IFD.IFD1) == {}  # no thumbnail
    for secret in SECRETS.values():
        assert secret not in result["data"]
    assert {"exif:Make", "exif:BodySerialNumber", "exif:GPSSatellites", "thumbnail"} <= set(
        result["removed"]
    )
    assert not {"exif:GPSInfo", "exif:DateTimeOriginal"} & set(result["removed"])


def test_exif_without_anything_to_keep_is_dropped_entirely(page):
    data = _phone_jpeg(tiff=_exif_tiff(orientation=None))

    result = clean_in_browser(page, data, keep=False)

    assert b"Exif\0\0" not in result["data"]
    assert dict(_exif(result["data"])[0]) == {}


# --- lossless -------------------------------------------------------------------------


@pytest.mark.parametrize("image, options", JPEG_KINDS, ids=JPEG_KIND_IDS)
@pytest.mark.parametrize("keep", [False, True], ids=["default", "keep-location"])
def test_jpeg_pixels_and_scan_bytes_are_unchanged(page, image, options, keep):
    data = _phone_jpeg(image=image, **options)

    result = clean_in_browser(page, data, keep)

    assert _scans(result["data"]) == _scans(data)
    assert _pixels(result["data"]) == _pixels(data)
    assert len(result["data"]) < len(data)


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
def test_png_loses_only_its_text_chunk(page, image, options):
    original = _png(image, **options)
    author = _png_chunk(b"tEXt", b"Author\0" + SECRETS["owner"])

    result = clean_in_browser(page, _insert_chunks_after_ihdr(original, author), keep=False)

    assert result["data"] == original
    assert result["removed"] == ["png:tEXt"]
    assert _pixels(result["data"]) == _pixels(original)


# --- the same as the server -----------------------------------------------------------

SAME_AS_SERVER = {
    "phone-jpeg": PHONE_JPEG,
    "phone-png": PHONE_PNG,
    "little-endian-exif": _phone_jpeg(tiff=_little_endian(_exif_tiff(with_thumbnail=False))),
    "gps-needing-rounding": _phone_jpeg(tiff=_gps_needing_rounding()),
    "no-orientation": _phone_jpeg(tiff=_exif_tiff(orientation=None)),
    "not-tiff": _phone_jpeg(tiff=b"XX\0*\0\0\0\x08" + SECRETS["owner"]),
    "ifd-outside-block": _phone_jpeg(tiff=b"MM\0*\0\0\xff\xff" + SECRETS["owner"]),
    "cmyk-adobe": _jpeg(_noise("CMYK", (16, 16))),
    "animated-png": _png(_noise("RGB", (8, 8)), save_all=True, duration=100,
                         append_images=[_noise("RGB", (8, 8), seed=s) for s in (2, 3)]),
}  # fmt: skip


@pytest.mark.parametrize("keep", [False, True], ids=["default", "keep-location"])
def test_browser_gives_the_servers_bytes_and_summary(page, keep):
    names = list(SAME_AS_SERVER)

    results = clean_all(page, [(SAME_AS_SERVER[name], keep) for name in names])

    for name, result in zip(names, results, strict=False):
        expected = photos.clean(SAME_AS_SERVER[name], None, keep_location_and_time=keep)
        assert (result["data"], result["kind"]) == (expected.data, expected.kind), name
        assert set(result["removed"]) == set(expected.removed), name


def _mutated(rng, original, start=0, end=None):
    """``original`` with a few bytes in [start, end) changed, and sometimes cut short."""
    data = bytearray(original)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(start, end or len(data))
        data[at] = rng.choice([0x00, 0x01, 0x03, 0x05, 0x0A, 0xFF, 0xD9, 0xDA, rng.randrange(256)])
    if end is None and rng.random() < 0.2:
        del data[rng.randrange(len(data)) :]
    return bytes(data)


def _named_alike(removed):
    """Names as a set, Exif tags by Pillow's name where the script names them by number."""
    return {
        "exif:" + ExifTags.TAGS.get(int(n[7:], 16), n[5:]) if n.startswith("exif:0x") else n
        for n in removed
    }


def test_damaged_photos_are_refused_or_cleaned_exactly_as_the_server_does(page):
    # Given a few hundred photos damaged at random, many of them in the Exif block
    rng = random.Random(20261128)
    exif_at = PHONE_JPEG.index(b"Exif\0\0") + 6
    exif_end = exif_at - 8 + int.from_bytes(PHONE_JPEG[exif_at - 8 : exif_at - 6], "big")
    cases = [(_mutated(rng, SMALL_JPEG), rng.random() < 0.5) for _ in range(200)]
    cases += [(_mutated(rng, SMALL_PNG), rng.random() < 0.5) for _ in range(200)]
    cases += [(_mutated(rng, PHONE_JPEG, exif_at, exif_end), True) for _ in range(200)]
    # and a TEM marker (no length) in the scan, and just before EOI: both end the scan
    eoi = SMALL_JPEG.index(_scans(SMALL_JPEG)) + len(_scans(SMALL_JPEG)) - 2
    cases += [(SMALL_JPEG[:at] + b"\xff\x01" + SMALL_JPEG[at:], False) for at in (eoi - 5, eoi)]

    # When the browser cleans each
    results = clean_all(page, cases)

    # Then it refuses what the server refuses, and otherwise gives the same bytes and summary
    outcomes = {"refused": 0, "cleaned": 0}
    for case, ((data, keep), result) in enumerate(zip(cases, results, strict=False)):
        try:
            expected = photos.clean(data, None, keep_location_and_time=keep)
        except photos.PhotoError:
            assert result.get("error") == "photo-damaged", case
            outcomes["refused"] += 1
            continue
        if expected.kind == "other":
            assert result.get("error") == "not-a-photo", case
            continue
        assert result.get("data") == expected.data, case
        assert _named_alike(result["removed"]) == _named_alike(expected.removed), case
        outcomes["cleaned"] += 1
    assert min(outcomes.values()) > 50  # both paths were really exercised


# --- refused ----------------------------------------------------------------------------


@pytest.mark.parametrize("data", DAMAGED.values(), ids=DAMAGED.keys())
def test_damaged_photos_are_refused_not_sent_uncleaned(page, data):
    result = clean_in_browser(page, data, keep=False)

    assert result["error"] == "photo-damaged"
    assert result["message"].startswith("This photo file is damaged")


@pytest.mark.parametrize(
    "kind, part",
    [("jpeg", b"\xff\xfe\x00\x02"), ("png", _png_chunk(b"prVt", b""))],
    ids=["jpeg-segments", "png-chunks"],
)
def test_a_file_of_countless_tiny_parts_is_refused(page, kind, part):
    # Given a photo with more empty comments (or chunks) than the limit of parts walked
    photo = PHONE[kind]
    at = 2 if kind == "jpeg" else 8 + 12 + 13
    data = photo[:at] + part * photos.MAX_PARTS + photo[at:]
    with pytest.raises(photos.PhotoError, match="too many"):
        photos.clean(data, None, keep_location_and_time=False)

    result = clean_in_browser(page, data, keep=False)

    assert result["error"] == "photo-damaged"
    assert "too many" in result["message"]


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xd8", b"\x89PNG", b"%PDF-1.7 " + SECRETS["artist"], b"GIF89a" + SECRETS["make"],
     b"\0\0\0\x18ftypheic" + SECRETS["serial"]],
    ids=["empty", "jpeg-prefix-only", "png-prefix-only", "pdf", "gif", "heic"],
)  # fmt: skip
def test_other_files_are_not_photos(page, data):
    encoded = base64.b64encode(data).decode()
    is_photo = page.evaluate(
        "(b) => TipdropPhotos.isPhoto(Uint8Array.from(atob(b), (c) => c.charCodeAt(0)))", encoded
    )

    assert is_photo is False
    assert photos.clean(data, None, keep_location_and_time=False).kind == "other"
    assert clean_in_browser(page, data, keep=False)["error"] == "not-a-photo"


def test_jpeg_and_png_are_photos(page):
    checks = page.evaluate(
        """(photos) => photos.map((b) =>
             TipdropPhotos.isPhoto(Uint8Array.from(atob(b), (c) => c.charCodeAt(0))))""",
        [base64.b64encode(SMALL_JPEG).decode(), base64.b64encode(SMALL_PNG).decode()],
    )

    assert checks == [True, True]


def test_script_runs_under_the_pages_csp_without_errors(page):
    shape = page.evaluate(
        """() => [Object.isFrozen(TipdropPhotos), Object.keys(TipdropPhotos).sort(),
                  String(TipdropPhotos.isPhoto("not bytes"))]"""
    )

    assert shape == [True, ["clean", "isPhoto"], "false"]
    assert page.console_errors == []
