"""Checks a file's header before it is decoded.

A decoder given a 100000 x 100000 PNG allocates 40 GB before it fails, and
libjpeg happily returns the top half of a truncated JPEG. So each file is
first identified by its magic bytes, its dimensions are read from the header
and capped, and files whose end marker is missing are rejected as truncated.
Everything here works on the raw bytes; nothing is decoded.
"""

import dataclasses
import os
import struct

from pipelines.errors import SkipFile

MAX_SIDE = 4096  # Pixels per side; sprites are ~100 px, photos rarely exceed this.
MAX_PIXELS = MAX_SIDE * MAX_SIDE
MAX_FILE_BYTES = 64 * 2**20


@dataclasses.dataclass(frozen=True)
class ImageInfo:
  """What the header says: format name ("png", "gif", ...) and size in pixels."""
  format: str
  width: int
  height: int


def read_bytes(path) -> bytes:
  """Reads a whole file, refusing empty, oversized and unreadable ones.

  Raises:
    SkipFile: with the reason the file cannot be used.
  """
  try:
    size = os.stat(path).st_size
    if size == 0:
      raise SkipFile("empty file (0 bytes)")
    if size > MAX_FILE_BYTES:
      raise SkipFile(f"file too large: {size} bytes, over the {MAX_FILE_BYTES} byte cap")
    with open(path, "rb") as f:
      return f.read()
  except OSError as error:
    raise SkipFile(f"unreadable: {error.strerror or error}") from None


def probe(data: bytes) -> ImageInfo:
  """Identifies an image from its bytes and checks its size and completeness.

  Raises:
    SkipFile: not a supported image, truncated, or too large to decode.
  """
  for magic, parse in _PARSERS:
    if data.startswith(magic):
      try:
        info = parse(data)
      except (struct.error, IndexError):
        raise SkipFile("truncated: the file ends inside its header") from None
      break
  else:
    raise SkipFile(f"not an image: unrecognised content starting {data[:8]!r}")
  if info.width <= 0 or info.height <= 0:
    raise SkipFile(f"invalid {info.format}: header gives {info.width}x{info.height} pixels")
  if max(info.width, info.height) > MAX_SIDE or info.width * info.height > MAX_PIXELS:
    raise SkipFile(
        f"too large: {info.width}x{info.height} pixels, over the "
        f"{MAX_SIDE}x{MAX_SIDE} cap")
  return info


def _png(data):
  width, height = struct.unpack(">II", data[16:24])
  end = data.rfind(b"IEND", 33)
  if end < 0 or end + 8 > len(data):  # The chunk type, then its 4-byte CRC.
    raise SkipFile("truncated: PNG has no complete IEND chunk")
  return ImageInfo("png", width, height)


def _gif(data):
  width, height = struct.unpack("<HH", data[6:10])
  if not data.rstrip(b"\0").endswith(b";"):
    raise SkipFile("truncated: GIF has no trailer byte")
  return ImageInfo("gif", width, height)


def _jpeg(data):
  pos = 2
  while True:
    while data[pos] != 0xFF:  # Skip fill bytes between segments.
      pos += 1
    marker = data[pos + 1]
    if marker in (0xFF, 0x01) or 0xD0 <= marker <= 0xD7:
      pos += 1 if marker == 0xFF else 2
      continue
    length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
    # SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC), carry the size.
    if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
      height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
      break
    pos += 2 + length
  if data.rfind(b"\xff\xd9", pos) < 0:
    raise SkipFile("truncated: JPEG has no end-of-image marker")
  return ImageInfo("jpeg", width, height)


def _bmp(data):
  declared, = struct.unpack("<I", data[2:6])
  if declared > len(data):  # Some writers leave it 0; only a larger size is proof.
    raise SkipFile(f"truncated: BMP declares {declared} bytes, file has {len(data)}")
  header_size, = struct.unpack("<I", data[14:18])
  if header_size == 12:  # OS/2 BITMAPCOREHEADER
    width, height = struct.unpack("<HH", data[18:22])
  else:
    width, height = struct.unpack("<ii", data[18:26])
  return ImageInfo("bmp", width, abs(height))


def _webp(data):
  if data[8:12] != b"WEBP":
    raise SkipFile("not an image: RIFF file that is not WebP")
  riff_size, = struct.unpack("<I", data[4:8])
  if riff_size + 8 > len(data):
    raise SkipFile(f"truncated: WebP declares {riff_size + 8} bytes, file has {len(data)}")
  chunk = data[12:16]
  if chunk == b"VP8 ":
    width, height = (v & 0x3FFF for v in struct.unpack("<HH", data[26:30]))
  elif chunk == b"VP8L":
    bits, = struct.unpack("<I", data[21:25])
    width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
  elif chunk == b"VP8X":
    width = int.from_bytes(data[24:27], "little") + 1
    height = int.from_bytes(data[27:30], "little") + 1
  else:
    raise SkipFile(f"not an image: unknown WebP chunk {chunk!r}")
  return ImageInfo("webp", width, height)


def _tiff(data):
  order = "<" if data[:2] == b"II" else ">"
  offset, = struct.unpack(order + "I", data[4:8])
  count, = struct.unpack(order + "H", data[offset:offset + 2])
  size = {}
  for i in range(count):
    entry = data[offset + 2 + 12 * i:offset + 14 + 12 * i]
    tag, kind = struct.unpack(order + "HH", entry[:4])
    if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4).
      size[tag], = struct.unpack(order + ("H" if kind == 3 else "I"), entry[8:10 if kind == 3 else 12])
  if len(size) < 2:
    raise SkipFile("invalid tiff: no ImageWidth/ImageLength in the first directory")
  return ImageInfo("tiff", size[256], size[257])


_PARSERS = (
    (b"\x89PNG\r\n\x1a\n", _png),
    (b"GIF87a", _gif),
    (b"GIF89a", _gif),
    (b"\xff\xd8\xff", _jpeg),
    (b"BM", _bmp),
    (b"RIFF", _webp),
    (b"II*\0", _tiff),
    (b"MM\0*", _tiff),
)
