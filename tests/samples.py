"""Sample inputs several test suites share."""

import io

from PIL import Image


def photo_with_metadata(make="CanaryMake", color=(30, 120, 200), tags=()):
    """A small JPEG whose Exif names a camera make and a GPS position (Almaty).

    ``tags``: more (tag number, value) pairs for IFD0, e.g. Model or Orientation.
    """
    image = Image.new("RGB", (64, 48), color)
    exif = Image.Exif()
    exif[0x010F] = make
    for tag, value in tags:
        exif[tag] = value
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (43.0, 15.0, 0.0)
    gps[3], gps[4] = "E", (76.0, 54.0, 0.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()
