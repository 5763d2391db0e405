"""Text that travels inside an image file: a PNG ``iTXt`` chunk, or XMP in a JPEG or WebP.

:func:`embed` adds a ``key: text`` pair to an image file's bytes and :func:`read` finds it
again; :func:`tst_core.photo.photo_writer` embeds the recipe (:mod:`tst_core.recipe`) in every
picture it writes.

* **PNG**: one compressed ``iTXt`` chunk (keyword ``key``) before ``IEND``.
* **JPEG**: XMP in ``APP1`` segments. One segment holds at most 65 502 bytes, so a longer
  text goes into *extended XMP* (the XMP specification, part 3, 1.1.3.1): the standard packet
  says ``xmpNote:HasExtendedXMP`` with the MD5 of the extended packet, which follows in chunks
  of its own ``APP1`` segments, each with that MD5, the full length and its offset. The text
  is deflated and base64-encoded into an attribute of the ``tst`` namespace.
* **WebP**: the same XMP packet in the ``XMP`` chunk Pillow writes.

Reading is bounded: chunks and segments are walked without decoding the image, and inflating
stops at :data:`MAX_TEXT` bytes.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import zlib
from pathlib import Path

#: the longest text read back (inflated)
MAX_TEXT = 64 << 20
#: the XMP namespace of tst's properties (a name, not a page)
NS = "https://tst.invalid/ns/1.0/"
_XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
_EXT_ID = b"http://ns.adobe.com/xmp/extension/\x00"
#: the most XMP one APP1 segment holds (65 535 − 2 length bytes − the 29-byte identifier)
_XMP_ROOM = 65504 - len(_XMP_ID)
#: the most extended XMP one APP1 segment holds (after the GUID, length and offset)
_EXT_ROOM = 65400


def _attribute(key: str) -> str:
    return key.split(":", 1)[-1]


def xmp_packet(key: str, text: str, *, note: str | None = None) -> bytes:
    """An XMP packet whose ``tst`` property ``key`` is ``text`` (deflated, base64); with
    ``note``, a standard packet that only points at extended XMP of that MD5."""
    if note is not None:
        body = f'xmlns:xmpNote="http://ns.adobe.com/xmp/note/" xmpNote:HasExtendedXMP="{note}"'
    else:
        value = base64.b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii")
        body = f'xmlns:tst="{NS}" tst:{_attribute(key)}="{value}"'
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" {body}/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def _from_xmp(packet: bytes, key: str) -> str | None:
    m = re.search(rb"tst:" + _attribute(key).encode() + rb'="([A-Za-z0-9+/=]*)"', packet)
    if m is None:
        return None
    try:
        return _inflate(base64.b64decode(m[1], validate=True))
    except ValueError:
        return None


def _inflate(data: bytes) -> str | None:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, MAX_TEXT + 1)
    except zlib.error:
        return None
    if len(out) > MAX_TEXT or not d.eof:
        return None
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None


# --- PNG -------------------------------------------------------------------------------------

_PNG = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png_with(png: bytes, key: str, text: str) -> bytes:
    end = png.rfind(b"IEND")
    if not png.startswith(_PNG) or end < 12:
        raise ValueError("not a PNG stream")
    itxt = key.encode("latin-1") + b"\x00\x01\x00\x00\x00" + zlib.compress(text.encode(), 9)
    return png[: end - 4] + _chunk(b"iTXt", itxt) + png[end - 4 :]


def _png_text(data: bytes, key: str) -> str | None:
    pos, wanted = len(_PNG), key.encode("latin-1") + b"\x00"
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"iTXt" and body.startswith(wanted):
            rest = body[len(wanted) :]
            compressed = rest[:1] == b"\x01"
            # compression flag, method, language tag\0, translated keyword\0, text
            parts = rest[2:].split(b"\x00", 2)
            if len(parts) < 3:
                return None
            payload = parts[2]
            if compressed:
                return _inflate(payload)
            return payload.decode("utf-8", errors="replace")
        if kind == b"IEND":
            return None
        pos += 12 + length
    return None


# --- JPEG ------------------------------------------------------------------------------------


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def _jpeg_segments(key: str, text: str) -> bytes:
    standard = xmp_packet(key, text)
    if len(standard) <= _XMP_ROOM:
        return _segment(0xE1, _XMP_ID + standard)
    extended = xmp_packet(key, text)
    guid = hashlib.md5(extended).hexdigest().upper().encode("ascii")
    out = _segment(0xE1, _XMP_ID + xmp_packet(key, "", note=guid.decode()))
    for offset in range(0, len(extended), _EXT_ROOM):
        part = extended[offset : offset + _EXT_ROOM]
        out += _segment(0xE1, _EXT_ID + guid + struct.pack(">II", len(extended), offset) + part)
    return out


def _jpeg_with(jpeg: bytes, key: str, text: str) -> bytes:
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG stream")
    pos = 2  # after the APP0/APP1 segments the encoder wrote (JFIF, EXIF)
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF and 0xE0 <= jpeg[pos + 1] <= 0xEF:
        (length,) = struct.unpack(">H", jpeg[pos + 2 : pos + 4])
        pos += 2 + length
    return jpeg[:pos] + _jpeg_segments(key, text) + jpeg[pos:]


def _jpeg_text(data: bytes, key: str) -> str | None:
    pos, standard = 2, None
    parts: dict[bytes, tuple[int, dict[int, bytes]]] = {}
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9):  # start of scan, end of image: no more metadata
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        body = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and body.startswith(_XMP_ID):
            standard = body[len(_XMP_ID) :]
        elif marker == 0xE1 and body.startswith(_EXT_ID) and len(body) >= len(_EXT_ID) + 40:
            head = body[len(_EXT_ID) :]
            guid, (total, offset) = head[:32], struct.unpack(">II", head[32:40])
            parts.setdefault(guid, (total, {}))[1][offset] = head[40:]
        pos += 2 + length
    if standard is None:
        return None
    found = _from_xmp(standard, key)
    if found is not None:
        return found
    note = re.search(rb'HasExtendedXMP="([0-9A-F]{32})"', standard)
    if note is None or note[1] not in parts:
        return None
    total, pieces = parts[note[1]]
    if total > 4 * MAX_TEXT:
        return None
    joined = b"".join(pieces[o] for o in sorted(pieces))
    if len(joined) != total or hashlib.md5(joined).hexdigest().upper().encode() != note[1]:
        return None
    return _from_xmp(joined, key)


# --- WebP ------------------------------------------------------------------------------------


def _webp_text(data: bytes, key: str) -> str | None:
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        if kind == b"XMP ":
            return _from_xmp(data[pos + 8 : pos + 8 + length], key)
        pos += 8 + length + (length & 1)
    return None


# --- both ways -------------------------------------------------------------------------------


def embed(data: bytes, fmt: str, key: str, text: str) -> bytes:
    """The image file ``data`` (Pillow format name ``fmt``) with ``key: text`` in it; a WebP
    is re-encoded by the caller instead (see :func:`webp_xmp`), other formats unchanged."""
    if fmt == "PNG":
        return _png_with(data, key, text)
    if fmt == "JPEG":
        return _jpeg_with(data, key, text)
    return data


def webp_xmp(key: str, text: str) -> bytes:
    """The XMP packet to hand Pillow's WebP writer (``xmp=``)."""
    return xmp_packet(key, text)


def read(path: str | Path, key: str, *, limit: int = 1 << 30) -> str | None:
    """The text stored under ``key`` in the image at ``path`` (PNG, JPEG, WebP), or ``None``.

    Only the file's first ``limit`` bytes are read.
    """
    with open(path, "rb") as f:
        data = f.read(limit)
    return read_bytes(data, key)


def read_bytes(data: bytes, key: str) -> str | None:
    """:func:`read` of a file's bytes."""
    if data.startswith(_PNG):
        return _png_text(data, key)
    if data[:2] == b"\xff\xd8":
        return _jpeg_text(data, key)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_text(data, key)
    return None
