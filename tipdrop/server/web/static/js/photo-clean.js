// Remove identifying metadata from JPEG and PNG photos on the reporter's device.
//
// A port of tipdrop/common/photos.py, for when the browser encrypts and the server never
// sees the photo: the same rules, the same limits, the same output bytes.
// - Lossless: the file is taken apart into JPEG segments or PNG chunks and put
//   back together; compressed pixels are copied byte for byte, never re-encoded
//   (re-encoding would lose detail that may be evidence).
// - An allowlist: what is not needed for display, or chosen by the reporter, goes.
//   Orientation always stays; GPS and the capture date/time stay only if the
//   reporter ticks "keep location and time".
// - A file that cannot be walked safely throws an Error with code "photo-damaged":
//   the caller refuses it rather than send a photo that was not cleaned.
// The Exif reader follows Pillow's rules (which tags it reads and skips), so the
// server and this script keep and name the same things; the new Exif block is
// laid out as Pillow writes it. Plain script, no dependencies (CSP script-src
// 'self'); tests/browser/test_js_photo_clean.py checks it against photos.py.
globalThis.TipdropPhotos = (() => {
  "use strict";

  const MAX_BYTES = 64 * 1024 * 1024; // cleaning works in memory
  const MAX_PARTS = 100000; // real photos have tens to a few thousand segments
  const JPEG_MAGIC = [0xff, 0xd8, 0xff];
  const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

  function damaged(detail) {
    const error = new Error(
      `This photo file is damaged and cannot be cleaned of identifying data: ${detail}`);
    error.code = "photo-damaged";
    return error;
  }

  const startsWith = (data, prefix, at = 0) =>
    data.length >= at + prefix.length && prefix.every((b, i) => data[at + i] === b);
  const ascii = (text) => Uint8Array.from(text, (c) => c.charCodeAt(0));
  const latin1 = (data) => Array.from(data, (b) => String.fromCharCode(b)).join("");

  function concat(parts) {
    const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
    let at = 0;
    for (const part of parts) { out.set(part, at); at += part.length; }
    return out;
  }

  function isPhoto(bytes) {
    if (!(bytes instanceof Uint8Array)) return false;
    return startsWith(bytes, JPEG_MAGIC) || startsWith(bytes, PNG_MAGIC);
  }

  // Returns {data, kind: "jpeg"|"png", removed: short names, never values}.
  // The format is told by the first bytes, never by a file name or type.
  function clean(bytes, keepLocation) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("bytes must be a Uint8Array");
    if (!isPhoto(bytes)) {
      const error = new Error("not a JPEG or PNG photo");
      error.code = "not-a-photo";
      throw error;
    }
    if (bytes.length > MAX_BYTES) throw damaged("too large");
    const removed = [];
    const kind = startsWith(bytes, JPEG_MAGIC) ? "jpeg" : "png";
    const data = (kind === "jpeg" ? cleanJpeg : cleanPng)(bytes, Boolean(keepLocation), removed);
    return { data, kind, removed: [...new Set(removed)] };
  }

  // --- Exif (JPEG APP1 and PNG eXIf) ----------------------------------------

  const ORIENTATION = 0x0112, DATE_TIME = 0x0132, EXIF_IFD = 0x8769, GPS_IFD = 0x8825;
  // Offsets to other IFDs: structure, not content, so not worth naming.
  const POINTERS = new Set([EXIF_IFD, GPS_IFD, 0xa005]);
  const DATE_TIME_FORM = /^\d{4}:\d\d:\d\d \d\d:\d\d:\d\d$/;
  // Time tags kept by choice, with the only form their text may take: a damaged
  // count could otherwise drag the bytes that follow (a serial number) into a kept
  // value.
  const TIME_TAGS = new Map([
    [DATE_TIME, DATE_TIME_FORM], // in IFD0; the rest are in the Exif IFD
    [0x9003, DATE_TIME_FORM], // DateTimeOriginal
    [0x9011, /^[+-]\d\d:\d\d$/], // OffsetTimeOriginal
    [0x9291, /^\d{1,9}$/], // SubSecTimeOriginal
  ]);
  const EXIF = ascii("Exif\0\0"); // before the TIFF block in a JPEG's APP1
  const MAX_EXIF = 0xffff - 2 - 6; // what fits in APP1 after "Exif\0\0"
  // TIFF field types Pillow reads: unit size and the kind of value it makes.
  const TYPES = {
    1: [1, "bytes"], 2: [1, "text"], 3: [2, "int"], 4: [4, "int"], 5: [8, "rational"],
    6: [1, "int"], 7: [1, "bytes"], 8: [2, "int"], 9: [4, "int"], 10: [8, "rational"],
    11: [4, "float"], 12: [8, "float"], 13: [4, "int"], 16: [8, "int"],
  };
  // The standard GPS tags (number = index) with their type and count, as in Pillow.
  // Free text (type 2 without a count, or 7) fails the checks: it could carry anything.
  const GPS_TAGS = [
    ["VersionID", 1, 4], ["LatitudeRef", 2, 2], ["Latitude", 5, 3], ["LongitudeRef", 2, 2],
    ["Longitude", 5, 3], ["AltitudeRef", 1, 1], ["Altitude", 5, 1], ["TimeStamp", 5, 3],
    ["Satellites", 2, 0], ["Status", 2, 2], ["MeasureMode", 2, 2], ["DOP", 5, 1],
    ["SpeedRef", 2, 2], ["Speed", 5, 1], ["TrackRef", 2, 2], ["Track", 5, 1],
    ["ImgDirectionRef", 2, 2], ["ImgDirection", 5, 1], ["MapDatum", 2, 0],
    ["DestLatitudeRef", 2, 2], ["DestLatitude", 5, 3], ["DestLongitudeRef", 2, 2],
    ["DestLongitude", 5, 3], ["DestBearingRef", 2, 2], ["DestBearing", 5, 1],
    ["DestDistanceRef", 2, 2], ["DestDistance", 5, 1], ["ProcessingMethod", 7, 0],
    ["AreaInformation", 7, 0], ["DateStamp", 2, 11], ["Differential", 3, 1],
    ["HPositioningError", 5, 1],
  ];
  const GPS_DATE_STAMP = 29;
  // Names for the summary, as Pillow's ExifTags.TAGS has them: the tags phones and
  // editors write. Others are named by number ("exif:0x1234"), where the server
  // would give Pillow's name.
  const TAG_NAMES = new Map(`
    0100 ImageWidth 0101 ImageLength 0102 BitsPerSample 0103 Compression
    0106 PhotometricInterpretation 010E ImageDescription 010F Make 0110 Model 0112 Orientation
    0115 SamplesPerPixel 011A XResolution
    011B YResolution 0128 ResolutionUnit 0131 Software 0132 DateTime 013B Artist 013C HostComputer
    013E WhitePoint 013F PrimaryChromaticities 0211 YCbCrCoefficients 0212 YCbCrSubSampling
    0213 YCbCrPositioning 0214 ReferenceBlackWhite 02BC XMLPacket 4746 Rating 4749 RatingPercent
    8298 Copyright 829A ExposureTime 829D FNumber 83BB IPTCNAA 8822 ExposureProgram
    8824 SpectralSensitivity 8825 GPSInfo 8827 ISOSpeedRatings 8830 SensitivityType
    8832 RecommendedExposureIndex 9000 ExifVersion 9003 DateTimeOriginal 9004 DateTimeDigitized
    9010 OffsetTime 9011 OffsetTimeOriginal 9012 OffsetTimeDigitized 9101 ComponentsConfiguration
    9102 CompressedBitsPerPixel 9201 ShutterSpeedValue 9202 ApertureValue 9203 BrightnessValue
    9204 ExposureBiasValue 9205 MaxApertureValue 9206 SubjectDistance 9207 MeteringMode
    9208 LightSource 9209 Flash 920A FocalLength 9214 SubjectLocation 927C MakerNote
    9286 UserComment
    9290 SubsecTime 9291 SubsecTimeOriginal 9292 SubsecTimeDigitized 9C9B XPTitle 9C9C XPComment
    9C9D XPAuthor 9C9E XPKeywords 9C9F XPSubject A000 FlashPixVersion A001 ColorSpace
    A002 ExifImageWidth A003 ExifImageHeight A20E FocalPlaneXResolution A20F FocalPlaneYResolution
    A210 FocalPlaneResolutionUnit A215 ExposureIndex A217 SensingMethod A300 FileSource
    A301 SceneType A302 CFAPattern A401 CustomRendered A402 ExposureMode A403 WhiteBalance
    A404 DigitalZoomRatio A405 FocalLengthIn35mmFilm A406 SceneCaptureType A407 GainControl
    A408 Contrast A409 Saturation A40A Sharpness A40C SubjectDistanceRange A420 ImageUniqueID
    A430 CameraOwnerName A431 BodySerialNumber A432 LensSpecification A433 LensMake A434 LensModel
    A435 LensSerialNumber A460 CompositeImage A461 CompositeImageCount
    A462 CompositeImageExposureTimes C4A5 PrintImageMatching
  `.trim().split(/\s+/).reduce((pairs, word, i, words) =>
    (i % 2 ? pairs : [...pairs, [parseInt(word, 16), words[i + 1]]]), []));

  class Unreadable extends Error {}

  // Returns a new TIFF block with only Orientation (and GPS and time if `keep`), or
  // null. Built from scratch, so nothing the allowlist does not name can survive:
  // MakerNote, serial numbers, owner, software, the IFD1 thumbnail all stay behind.
  function cleanExif(tiff, keep, removed) {
    let source, kept, out;
    try {
      source = readExif(tiff);
      kept = { ifd0: new Map(), exif: new Map(), gps: new Map() };
      const orientation = scalar(source.ifd0.get(ORIENTATION), "int");
      if (orientation >= 1 && orientation <= 8) kept.ifd0.set(ORIENTATION, [3, u16(orientation)]);
      if (keep) {
        keepTimes(source.ifd0, [DATE_TIME], kept.ifd0);
        keepTimes(source.exif, [0x9003, 0x9011, 0x9291], kept.exif);
        for (const [tag, value] of source.gps) {
          const field = gpsField(tag, value);
          if (field) kept.gps.set(tag, field);
        }
      }
      out = kept.ifd0.size || kept.exif.size || kept.gps.size ? writeTiff(kept) : null;
    } catch (error) {
      if (!(error instanceof Unreadable)) throw error;
      source = null;
    }
    if (!source || !source.ifd0.size) {
      // Damaged: nothing readable, or a kept value Pillow could not write back.
      removed.push("exif:unreadable");
      return null;
    }
    const named = (ifd, keptIfd) =>
      [...ifd.keys()].filter((tag) => !keptIfd.has(tag) && !POINTERS.has(tag));
    const name = (tag) =>
      TAG_NAMES.get(tag) || `0x${tag.toString(16).toUpperCase().padStart(4, "0")}`;
    for (const tag of named(source.ifd0, kept.ifd0)) removed.push(`exif:${name(tag)}`);
    for (const tag of named(source.exif, kept.exif)) removed.push(`exif:${name(tag)}`);
    if (source.gps.size && !kept.gps.size) removed.push("exif:GPSInfo");
    for (const tag of kept.gps.size ? named(source.gps, kept.gps) : []) {
      removed.push(`exif:${tag < GPS_TAGS.length ? "GPS" + GPS_TAGS[tag][0] : name(tag)}`);
    }
    if (source.thumbnail) removed.push("thumbnail");
    return out;
  }

  // The first value of a tag (the one Pillow hands over for the single-valued tags
  // read here), or undefined if the tag is missing or its values are not of `kind`.
  const scalar = (field, kind) => (field && field.kind === kind ? field.values[0] : undefined);

  function keepTimes(ifd, tags, into) {
    for (const tag of tags) {
      const text = scalar(ifd.get(tag), "text");
      if (text !== undefined && TIME_TAGS.get(tag).test(text)) {
        into.set(tag, [2, ascii(text + "\0")]);
      }
    }
  }

  // [type, bytes] to write if `tag` is a standard GPS tag and the value has its
  // standard type, size and form; else null. Free text fails: the position does not
  // need it.
  function gpsField(tag, field) {
    if (tag >= GPS_TAGS.length) return null;
    const [, type, count] = GPS_TAGS[tag];
    if (type === 2 && count) {
      const text = scalar(field, "text");
      const form = tag === GPS_DATE_STAMP ? /^\d{4}:\d\d:\d\d$/ : /^[0-9A-Z]$/;
      return text !== undefined && form.test(text) ? [2, ascii(text + "\0")] : null;
    }
    if (type === 1) {
      const fits = field.kind === "bytes" && field.values[0].length === count;
      return fits ? [1, field.values[0]] : null;
    }
    if (type === 3) return field.kind === "int" ? [3, u16(field.values[0])] : null;
    if (type !== 5 || !(field.kind === "rational" || field.kind === "int")) return null;
    const values = count === 1 ? field.values.slice(0, 1) : field.values;
    const pairs = values.map((v) => (field.kind === "int" ? [v, 1] : v));
    if (pairs.length !== count || pairs.some(([, d]) => d === 0)) return null;
    return [5, concat(pairs.map(([n, d]) => concat(rounded(n, d).map(u32))))];
  }

  // A rational with a denominator of at most a million (Python's limit_denominator).
  // A damaged offset could otherwise pass any 8 bytes (text from a serial number)
  // through as a numerator/denominator pair; the worst rounding is ~10 cm.
  function rounded(numerator, denominator) {
    let n = BigInt(numerator), d = BigInt(denominator);
    if (d < 0n) { n = -n; d = -d; }
    if (n < 0n) throw new Unreadable("negative rational"); // as Pillow fails to write it
    const max = 1000000n;
    const gcd = (a, b) => (b ? gcd(b, a % b) : a);
    const g = gcd(n, d) || 1n;
    n /= g; d /= g;
    if (d <= max) return [Number(n), Number(d)];
    let [p0, q0, p1, q1] = [0n, 1n, 1n, 0n];
    for (let [a, b] = [n, d]; ;) {
      const whole = a / b, q2 = q0 + whole * q1;
      if (q2 > max) break;
      [p0, q0, p1, q1] = [p1, q1, p0 + whole * p1, q2];
      [a, b] = [b, a - whole * b];
    }
    const k = (max - q0) / q1;
    const [p2, q2] = [p0 + k * p1, q0 + k * q1];
    // The nearer to n/d of p1/q1 and p2/q2 (p1/q1 on a tie), compared without division.
    const p1Nearer = abs(p1 * d - n * q1) * q2 <= abs(p2 * d - n * q2) * q1;
    return (p1Nearer ? [p1, q1] : [p2, q2]).map(Number);
  }
  const abs = (x) => (x < 0n ? -x : x);

  // Parses like Pillow's Exif.load(): IFD0, the Exif and GPS IFDs as Maps of
  // tag -> {kind, values}, and whether an IFD1 (thumbnail) exists.
  function readExif(tiff) {
    for (let i = 0; i < 2 && startsWith(tiff, EXIF); i++) tiff = tiff.subarray(6); // as Pillow
    if (tiff.length < 8) throw new Unreadable("short");
    // The byte order, then 42 either way round. Like Pillow, read BigTIFF's "MM\0+" as
    // classic TIFF and give up on "II+\0" (no camera writes BigTIFF in Exif).
    const order = (tiff[0] << 8) | tiff[1], magic = (tiff[2] << 8) | tiff[3];
    const magics = { 0x4d4d: [0x002a, 0x2a00, 0x002b], 0x4949: [0x2a00, 0x002a] }[order];
    if (!magics || !magics.includes(magic)) throw new Unreadable("not TIFF");
    const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
    const little = order === 0x4949;
    const first = view.getUint32(4, little);
    const ifd0 = readIfd(view, little, first);
    const sub = (pointer) => {
      const offset = scalar(ifd0.tags.get(pointer), "int");
      if (offset < 0) throw new Unreadable("negative offset");
      return offset === undefined ? new Map() : readIfd(view, little, offset).tags;
    };
    // Like Pillow, a cut IFD0 leaves the header's offset as its "next": IFD0 is read
    // again as IFD1 and reported as a thumbnail. Only the summary is affected.
    const next = ifd0.next === null ? first : ifd0.next;
    const thumbnail = next !== 0 && readIfd(view, little, next).tags.size > 0;
    return { ifd0: ifd0.tags, exif: sub(EXIF_IFD), gps: sub(GPS_IFD), thumbnail };
  }

  // One IFD, skipping what Pillow skips: repeated tags, unknown types, empty
  // values, more value bytes than the block holds. A cut table or value ends the
  // IFD: the tags read so far are all there is.
  function readIfd(view, little, at) {
    const tags = new Map(), size = view.byteLength;
    if (at + 2 > size) return { tags, next: null };
    const count = view.getUint16(at, little);
    let total = 0;
    for (let i = 0; i < count; i++) {
      const entry = at + 2 + 12 * i;
      if (entry + 12 > size) return { tags, next: null };
      const tag = view.getUint16(entry, little), type = view.getUint16(entry + 2, little);
      const n = view.getUint32(entry + 4, little);
      if (tags.has(tag) || !TYPES[type]) continue;
      const [unit, kind] = TYPES[type];
      const length = n * unit;
      let start = entry + 8;
      if (length > 4) {
        start = view.getUint32(entry + 8, little);
        total += length;
        if (total > size) continue;
      }
      if (start + length > size) return { tags, next: null }; // Pillow stops at a cut value
      if (length === 0) continue;
      tags.set(tag, { kind, values: readValues(view, little, type, kind, start, n) });
    }
    const after = at + 2 + 12 * count;
    return { tags, next: after + 4 <= size ? view.getUint32(after, little) : null };
  }

  function readValues(view, little, type, kind, start, n) {
    const bytes = new Uint8Array(view.buffer, view.byteOffset + start, n * TYPES[type][0]);
    if (kind === "bytes") return [bytes.slice()];
    if (kind === "text") return [latin1(bytes[n - 1] === 0 ? bytes.subarray(0, n - 1) : bytes)];
    const read = {
      3: (at) => view.getUint16(at, little), 4: (at) => view.getUint32(at, little),
      6: (at) => view.getInt8(at), 8: (at) => view.getInt16(at, little),
      9: (at) => view.getInt32(at, little), 11: (at) => view.getFloat32(at, little),
      12: (at) => view.getFloat64(at, little), 13: (at) => view.getUint32(at, little),
      16: (at) => Number(view.getBigUint64(at, little)),
      5: (at) => [view.getUint32(at, little), view.getUint32(at + 4, little)],
      10: (at) => [view.getInt32(at, little), view.getInt32(at + 4, little)],
    }[type];
    return Array.from({ length: n }, (_, i) => read(start + i * TYPES[type][0]));
  }

  const u16 = (v) => {
    if (!(v >= 0 && v <= 0xffff)) throw new Unreadable("not a SHORT"); // Pillow fails too
    return Uint8Array.of(v >> 8, v & 0xff);
  };
  const u32 = (v) => {
    if (!(v >= 0 && v <= 0xffffffff)) throw new Unreadable("not a LONG");
    return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  };

  // Big-endian TIFF laid out as Pillow's Exif.tobytes() does it, so the server and
  // the browser give the same bytes: tags in ascending order, values over 4 bytes
  // (and the Exif and GPS IFDs) after the table, each padded to an even length.
  function writeTiff(kept) {
    const ifd0 = new Map(kept.ifd0);
    if (kept.exif.size) ifd0.set(EXIF_IFD, kept.exif);
    if (kept.gps.size) ifd0.set(GPS_IFD, kept.gps);
    return concat([ascii("MM\0*"), u32(8), writeIfd(ifd0, 8)]);
  }

  function writeIfd(fields, offset) {
    const tags = [...fields.keys()].sort((a, b) => a - b);
    const table = [u16(tags.length)], extra = [];
    let end = offset + 2 + 12 * tags.length + 4;
    for (const tag of tags) {
      const field = fields.get(tag);
      const [type, data] = field instanceof Map ? [4, writeIfd(field, end)] : field;
      const count = field instanceof Map ? 1 : data.length / ({ 3: 2, 5: 8 }[type] || 1);
      table.push(u16(tag), u16(type), u32(count));
      if (data.length <= 4) {
        table.push(data, new Uint8Array(4 - data.length));
      } else {
        table.push(u32(end));
        extra.push(data, new Uint8Array(data.length % 2));
        end += data.length + (data.length % 2);
      }
    }
    return concat([...table, new Uint8Array(4), ...extra]);
  }

  // --- JPEG -------------------------------------------------------------------

  const SOI = 0xd8, EOI = 0xd9, SOS = 0xda, COM = 0xfe, APP0 = 0xe0, APP1 = 0xe1, APP14 = 0xee;
  // Markers without a length: TEM and the restart markers RST0-7.
  const isStandalone = (m) => m === 0x01 || (m >= 0xd0 && m <= 0xd7);
  // Segments a decoder needs: frame headers SOF0-15 (0xC4 DHT and 0xCC DAC too;
  // 0xC8 is reserved), DQT, DNL, DRI, DHP, EXP. SOS is handled on its own.
  const isDecoding = (m) => (m >= 0xc0 && m <= 0xcf && m !== 0xc8) || (m >= 0xdb && m <= 0xdf);
  // Names for the summary, by marker and payload prefix; others are "appN" or "jpeg:0xNN".
  const JPEG_NAMES = [
    [APP0, "JFXX\0", "thumbnail"], [APP1, "http://ns.adobe.com/xap/1.0/\0", "xmp"],
    [APP1, "http://ns.adobe.com/xmp/extension/\0", "xmp"], [0xe2, "ICC_PROFILE\0", "icc"],
    [0xe2, "MPF\0", "mpf"], [0xed, "Photoshop 3.0\0", "iptc"], [COM, "", "comment"],
  ].map(([marker, prefix, name]) => [marker, ascii(prefix), name]);
  const JFIF_LENGTH = 14; // "JFIF\0", version, units, X and Y density, thumbnail size
  const ADOBE_LENGTH = 12; // "Adobe", version, flags0, flags1, colour transform

  // Copies the segments a decoder needs, up to and including EOI. Entropy-coded
  // data after each SOS is copied unchanged. Bytes after EOI are dropped: phones
  // append a second JPEG with its own Exif, vendor trailers, even a video.
  function cleanJpeg(data, keep, removed) {
    const out = [data.subarray(0, 2)];
    let pos = 2, seenScan = false, seenExif = false;
    for (let part = 0; part < MAX_PARTS; part++) {
      const start = pos;
      while (pos < data.length && data[pos] === 0xff) pos++; // the 0xFF before a marker, and fill
      if (pos === start) {
        throw damaged(pos >= data.length ? "truncated" : "expected a marker");
      }
      if (pos >= data.length) throw damaged("truncated");
      const marker = data[pos++];
      if (marker === EOI) {
        if (!seenScan) throw damaged("no image data");
        if (pos < data.length) removed.push("trailer");
        out.push(Uint8Array.of(0xff, EOI));
        return concat(out);
      }
      if (isStandalone(marker)) { out.push(Uint8Array.of(0xff, marker)); continue; }
      if (marker < 0xc0 || marker === SOI) throw damaged("unexpected marker");
      if (pos + 2 > data.length) throw damaged("truncated");
      const end = pos + ((data[pos] << 8) | data[pos + 1]);
      if (end < pos + 2 || end > data.length) throw damaged("bad segment length");
      if (marker === SOS) {
        seenScan = true;
        const scanEnd = findScanEnd(data, end);
        out.push(data.subarray(pos - 2, scanEnd));
        pos = scanEnd;
        continue;
      }
      const payload = data.subarray(pos + 2, end);
      const isExif = marker === APP1 && startsWith(payload, EXIF);
      if (isExif && seenExif) {
        removed.push("exif:duplicate"); // readers use the first Exif block
      } else {
        const cleaned = cleanSegment(marker, payload, keep, removed);
        if (cleaned) out.push(cleaned);
      }
      seenExif = seenExif || isExif;
      pos = end;
    }
    throw damaged("too many segments");
  }

  // The end of entropy-coded data: 0xFF followed by anything but a stuffed zero,
  // a restart marker or more fill bytes.
  function findScanEnd(data, from) {
    for (let i = from; i + 1 < data.length; i++) {
      const next = data[i + 1];
      if (data[i] === 0xff && next !== 0 && next !== 0xff && !(next >= 0xd0 && next <= 0xd7)) {
        return i;
      }
    }
    throw damaged("truncated");
  }

  // The segment to write for `marker` (cleaned), or null to drop it.
  function cleanSegment(marker, payload, keep, removed) {
    if (isDecoding(marker)) return segment(marker, payload);
    if (marker === APP0 && startsWith(payload, ascii("JFIF\0")) && payload.length >= JFIF_LENGTH) {
      if (payload[12] || payload[13]) removed.push("thumbnail");
      return segment(APP0, concat([payload.subarray(0, 12), new Uint8Array(2)]));
    }
    if (marker === APP1 && startsWith(payload, EXIF)) {
      const tiff = cleanExif(payload.subarray(6), keep, removed);
      if (!tiff) return null;
      if (tiff.length > MAX_EXIF) { removed.push("exif:too-large"); return null; }
      return segment(APP1, concat([EXIF, tiff]));
    }
    if (marker === APP14 && startsWith(payload, ascii("Adobe")) && payload.length >= ADOBE_LENGTH) {
      // Tells the decoder whether the colours are RGB, YCbCr, CMYK or YCCK.
      return segment(APP14, payload.subarray(0, ADOBE_LENGTH));
    }
    // Everything else goes, including APP2 ICC profiles: they can name the device
    // or vendor. Colours may shift slightly for a photo that relied on a wide-gamut
    // profile; the pixel values themselves are unchanged.
    const known = JPEG_NAMES.find(([m, prefix]) => m === marker && startsWith(payload, prefix));
    if (known) removed.push(known[2]);
    else if (marker >= 0xe0 && marker <= 0xef) removed.push(`app${marker - 0xe0}`);
    else removed.push(`jpeg:0x${marker.toString(16).toUpperCase()}`);
    return null;
  }

  const segment = (marker, payload) =>
    concat([Uint8Array.of(0xff, marker), u16(payload.length + 2), payload]);

  // --- PNG --------------------------------------------------------------------

  // Chunks that affect how the image is shown and carry no text: the critical ones,
  // transparency, colour (gamma, chromaticities, sRGB, the HDR chunks cICP, mDCV,
  // cLLI), significant bits, pixel size, background, and APNG animation. iCCP goes
  // for the same reason as a JPEG's ICC profile; unknown critical chunks too.
  const PNG_KEEP = new Set([
    "IHDR", "PLTE", "IDAT", "IEND", "tRNS", "gAMA", "cHRM", "sRGB", "cICP", "mDCV", "cLLI",
    "sBIT", "pHYs", "bKGD", "acTL", "fcTL", "fdAT",
  ]);

  // Copies the chunks on the keep list, up to and including IEND. eXIf is rebuilt
  // like a JPEG's Exif, so the reporter's choice means the same for both formats.
  function cleanPng(data, keep, removed) {
    const out = [data.subarray(0, PNG_MAGIC.length)];
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let pos = PNG_MAGIC.length, seenExif = false;
    for (let part = 0; part < MAX_PARTS; part++) {
      if (pos + 12 > data.length) throw damaged("truncated");
      const end = pos + 12 + view.getUint32(pos);
      const kind = latin1(data.subarray(pos + 4, pos + 8));
      if (end > data.length) throw damaged("bad chunk length");
      if (!/^[A-Za-z]{4}$/.test(kind)) throw damaged("bad chunk type");
      if ((pos === PNG_MAGIC.length) !== (kind === "IHDR")) {
        throw damaged("IHDR is not the first chunk");
      }
      const body = data.subarray(pos + 8, end - 4);
      if (PNG_KEEP.has(kind)) {
        if (crc32(data.subarray(pos + 4, end - 4)) !== view.getUint32(end - 4)) {
          throw damaged("bad chunk checksum");
        }
        out.push(data.subarray(pos, end));
      } else if (kind === "eXIf" && !seenExif && body.length <= MAX_EXIF) {
        seenExif = true;
        const tiff = cleanExif(body, keep, removed);
        if (tiff) out.push(chunk(kind, tiff));
      } else {
        const exifName = seenExif ? "exif:duplicate" : "exif:too-large";
        removed.push(kind === "eXIf" ? exifName : `png:${kind}`);
      }
      pos = end;
      if (kind === "IEND") {
        if (pos < data.length) removed.push("trailer");
        return concat(out);
      }
    }
    throw damaged("too many chunks");
  }

  function chunk(kind, body) {
    const typed = concat([ascii(kind), body]);
    return concat([u32(body.length), typed, u32(crc32(typed))]);
  }

  const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
    for (let k = 0; k < 8; k++) n = n & 1 ? 0xedb88320 ^ (n >>> 1) : n >>> 1;
    return n >>> 0;
  });

  function crc32(bytes) {
    let crc = 0xffffffff;
    for (const b of bytes) crc = CRC_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
    return (crc ^ 0xffffffff) >>> 0;
  }

  return Object.freeze({ isPhoto, clean });
})();
