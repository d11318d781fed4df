"""Image files for the pipeline tests, generated on the fly in a temp folder.

OpenCV writes most fixtures. It cannot write palette or gray+alpha PNGs, so
`raw_png` assembles those chunk by chunk (PNG spec, ISO/IEC 15948).
"""

import os
import struct
import zlib

import cv2
import numpy as np

# A 1x1 red GIF with a 2-colour global table, written by hand so that its
# background-colour index (byte 11) can be set out of range.
ONE_PIXEL_GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\x00\x00\x00\x00\x00"
                 b"!\xf9\x04\x00\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00"
                 b"\x02\x02D\x01\x00;")


def sprite(height=20, width=30, colour=(200, 40, 10), box=(4, 6, 12, 20), hidden=(0, 0, 0)):
  """Straight RGBA uint8: an opaque `colour` rectangle on transparent pixels.

  Args:
    box: (top, left, bottom, right) of the opaque rectangle.
    hidden: RGB stored under the transparent pixels (invisible, but a naive
      resize would blend it in).
  """
  image = np.zeros((height, width, 4), np.uint8)
  image[..., :3] = hidden
  top, left, bottom, right = box
  image[top:bottom, left:right] = (*colour, 255)
  return image


def write_image(path, rgba, params=()):
  """Writes straight RGBA (or RGB / gray) with OpenCV; the format comes from the extension.

  Args:
    params: OpenCV imwrite flags, e.g. (cv2.IMWRITE_WEBP_QUALITY, 101).
  """
  image = np.asarray(rgba)
  if image.ndim == 3:
    image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR)
  if not cv2.imwrite(str(path), image, list(params)):
    raise OSError(f"could not write fixture {path}")
  return str(path)


def write_animated_gif(path, frames_rgba):
  """Writes straight-RGBA frames as an animated GIF (OpenCV's own encoder)."""
  animation = cv2.Animation()
  animation.frames = [cv2.cvtColor(f, cv2.COLOR_RGBA2BGRA) for f in frames_rgba]
  animation.durations = [100] * len(frames_rgba)
  if not cv2.imwriteanimation(str(path), animation):
    raise OSError(f"could not write fixture {path}")
  return str(path)


def raw_png(path, width, height, colour_type, bit_depth, pixels: bytes, plte=None, trns=None,
            end=True):
  """Assembles a PNG from raw scanline bytes (filter type 0 on every row)."""
  def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
  row = len(pixels) // height
  scanlines = b"".join(b"\0" + pixels[i * row:(i + 1) * row] for i in range(height))
  data = b"\x89PNG\r\n\x1a\n" + chunk(
      b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))
  if plte:
    data += chunk(b"PLTE", plte)
  if trns:
    data += chunk(b"tRNS", trns)
  data += chunk(b"IDAT", zlib.compress(scanlines))
  if end:
    data += chunk(b"IEND", b"")
  with open(path, "wb") as f:
    f.write(data)
  return str(path)


def sprite_folder(root, names, size=24):
  """Writes one small PNG sprite per relative name; colours vary with the name."""
  for i, name in enumerate(names):
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    colour = (40 + 37 * i % 200, 200 - 13 * i % 180, 90 + 29 * i % 160)
    box = (2 + i % 5, 3 + i % 4, size - 2 - i % 3, size - 4)
    write_image(path, sprite(size, size, colour, box))
  return root
