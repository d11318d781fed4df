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
# Frames x width x height of a whole animation read with frames="all": 2**26
# pixels are 256 MiB as RGBA, about 7000 frames of a 96 px sprite. A 2 MB GIF
# of 2000 full-screen frames would otherwise expand to gigabytes.
MAX_ANIMATION_PIXELS = 2**26


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


def frame_count(data: bytes, info: ImageInfo) -> int:
  """Frames (or pages) in an image file, counted from its structure, decoding nothing.

  GIF: image descriptors; TIFF: directories; PNG: the APNG frame count; WebP:
  ANMF chunks; 1 for anything else. A file truncated mid-way counts the
  frames before the cut.
  """
  counters = {"gif": _gif_frames, "tiff": _tiff_frames, "png": _png_frames, "webp": _webp_frames}
  try:
    return max(1, counters.get(info.format, lambda _: 1)(data))
  except (struct.error, IndexError):
    return 1


def check_animation_size(data: bytes, info: ImageInfo) -> int:
  """The frame count, if all frames together stay within `MAX_ANIMATION_PIXELS`.

  Raises:
    SkipFile: naming the frames, size and cap, when they do not.
  """
  count = frame_count(data, info)
  if count * info.width * info.height > MAX_ANIMATION_PIXELS:
    raise SkipFile(
        f"too many pixels with frames=all: {count} frames of {info.width}x{info.height} "
        f"exceed the cap of {MAX_ANIMATION_PIXELS} pixels (frames=first reads one)")
  return count


def _gif_frames(data):
  pos = 13
  if data[10] & 0x80:  # Global colour table.
    pos += 3 * 2 ** ((data[10] & 0x07) + 1)
  count = 0
  while pos < len(data):
    block = data[pos]
    if block == 0x3B:  # Trailer.
      break
    if block == 0x21:  # Extension: label, then data sub-blocks.
      pos += 2
    elif block == 0x2C:  # Image descriptor, its colour table, LZW code size, sub-blocks.
      count += 1
      flags = data[pos + 9]
      pos += 10 + (3 * 2 ** ((flags & 0x07) + 1) if flags & 0x80 else 0) + 1
    else:
      break
    while data[pos]:  # Sub-blocks end with a zero length.
      pos += data[pos] + 1
    pos += 1
  return count


def _tiff_frames(data):
  order = "<" if data[:2] == b"II" else ">"
  offset, = struct.unpack(order + "I", data[4:8])
  seen = set()
  while offset and offset not in seen and offset + 2 <= len(data):
    seen.add(offset)
    entries, = struct.unpack(order + "H", data[offset:offset + 2])
    offset, = struct.unpack(order + "I", data[offset + 2 + 12 * entries:offset + 6 + 12 * entries])
  return len(seen)


def _png_frames(data):
  actl = data.find(b"acTL", 12)
  idat = data.find(b"IDAT", 12)
  if actl < 0 or (0 <= idat < actl):  # acTL must come before the image data.
    return 1
  return struct.unpack(">I", data[actl + 4:actl + 8])[0]


def _webp_frames(data):
  pos, count = 12, 0
  while pos + 8 <= len(data):
    size, = struct.unpack("<I", data[pos + 4:pos + 8])
    count += data[pos:pos + 4] == b"ANMF"
    pos += 8 + size + (size & 1)  # Chunks are padded to an even size.
  return count


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
