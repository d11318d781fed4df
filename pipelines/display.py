"""Turning model-space images into pictures: composite, un-premultiply, tile, save.

The pipeline's RGBA is premultiplied (see `canvas`); image files and viewers
expect straight alpha. `to_display_uint8` is the inverse used for rendering
reconstructions, samples and contact sheets. `composite` puts premultiplied
colour over an opaque background: the one formula the 3-channel data
(`transforms.over_background`), the metrics' grey canvas and generate.py's
RGB files all use.
"""

import os

import cv2
import numpy as np


def composite(colour, alpha, background, opaque=1.0):
  """Premultiplied colour over an opaque background: colour + (1 - alpha / opaque) * background.

  Premultiplied colour already carries the alpha factor, so only the
  background is weighted. Plain arithmetic: NumPy arrays and TensorFlow
  tensors alike, in float; a caller that wants integers rounds.

  Args:
    colour: [..., 3] premultiplied colour, float.
    alpha: [..., 1] (or broadcastable) coverage, float; `opaque` is full cover.
    background: RGB colour in the units of `colour`, broadcastable to it.
    opaque: alpha of an opaque pixel: 1.0 for [0, 1] images, 255.0 for 8-bit.

  Returns:
    [..., 3] colour in the units of `colour`.
  """
  return colour + (1.0 - alpha / opaque) * background


def straight_colour(colour, alpha, opaque=1.0):
  """Premultiplied colour divided by its coverage, 0 where nothing covers.

  Args:
    colour: [..., 3] premultiplied colour, float.
    alpha: [..., 1] (or broadcastable) coverage, float; `opaque` is full cover.
    opaque: alpha of an opaque pixel: 1.0 for [0, 1] images, 255.0 for 8-bit.

  Returns:
    float32 straight colour in the units of `opaque` (not clipped).
  """
  colour, alpha = np.asarray(colour, np.float32), np.asarray(alpha, np.float32)
  # Floored at one 8-bit level, so a stray colour under zero alpha stays finite.
  covered = np.maximum(alpha, np.float32(opaque / 255.0))
  return np.where(alpha > 0, colour * np.float32(opaque) / covered, np.float32(0.0))


def unpremultiply(rgba: np.ndarray) -> np.ndarray:
  """Premultiplied RGBA uint8 -> straight RGBA uint8 (fully transparent -> 0, 0, 0, 0)."""
  straight = straight_colour(rgba[..., :3], rgba[..., 3:], opaque=255.0)
  out = rgba.copy()
  out[..., :3] = np.clip(np.round(straight), 0, 255).astype(np.uint8)
  return out


def to_display_uint8(batch_float01, channels: int) -> np.ndarray:
  """Model output -> pictures.

  Args:
    batch_float01: [N, H, W, C] floats in [0, 1] (values outside are clipped),
      premultiplied RGBA when `channels` is 4, RGB when 3.
    channels: 4 or 3.

  Returns:
    [N, H, W, C] uint8: straight-alpha RGBA, or RGB.
  """
  batch = np.asarray(batch_float01, dtype=np.float32)
  if batch.ndim != 4 or batch.shape[-1] != channels:
    raise ValueError(
        f"expected a batch [N, H, W, {channels}], got shape {batch.shape}")
  out = np.round(np.clip(batch, 0.0, 1.0) * 255.0).astype(np.uint8)
  if channels == 3:
    return out
  # A model can emit colour brighter than its coverage; clip to valid premultiplied.
  np.minimum(out[..., :3], out[..., 3:], out=out[..., :3])
  return unpremultiply(out)


def image_grid(images_uint8, ncols: int, scale: int = 1, pad: int = 1) -> np.ndarray:
  """Tiles [N, H, W, C] uint8 images into one image, row by row.

  Args:
    images_uint8: [N, H, W, C] uint8.
    ncols: Images per row.
    scale: Integer nearest-neighbour upscaling, so sprite pixels stay crisp.
    pad: Pixels between and around tiles (after scaling): transparent for
      RGBA, black for RGB.

  Returns:
    [rows * (H * scale + pad) + pad, ncols * (W * scale + pad) + pad, C] uint8.
  """
  images = np.asarray(images_uint8)
  if images.ndim != 4 or images.dtype != np.uint8:
    raise ValueError(f"expected uint8 [N, H, W, C], got {images.dtype} {images.shape}")
  if ncols < 1 or scale < 1 or pad < 0:
    raise ValueError(f"need ncols >= 1, scale >= 1, pad >= 0; got {ncols}, {scale}, {pad}")
  count, height, width, channels = images.shape
  images = images.repeat(scale, axis=1).repeat(scale, axis=2)
  height, width = height * scale, width * scale
  rows = max(1, -(-count // ncols))
  grid = np.zeros((rows * (height + pad) + pad, ncols * (width + pad) + pad, channels),
                  np.uint8)
  for i, image in enumerate(images):
    top = pad + (i // ncols) * (height + pad)
    left = pad + (i % ncols) * (width + pad)
    grid[top:top + height, left:left + width] = image
  return grid


def write_png(path, image_uint8) -> None:
  """Writes an RGBA, RGB or gray uint8 image as PNG (or the format its extension names),
  creating parent folders; the file is complete or absent."""
  image = np.asarray(image_uint8)
  if image.dtype != np.uint8 or image.ndim not in (2, 3):
    raise ValueError(f"expected a uint8 [H, W, C] image, got {image.dtype} {image.shape}")
  if image.ndim == 3:
    conversions = {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}
    if image.shape[2] not in conversions:
      raise ValueError(f"expected 3 or 4 channels, got shape {image.shape}")
    image = cv2.cvtColor(image, conversions[image.shape[2]])
  parent = os.path.dirname(os.fspath(path))
  if parent:
    os.makedirs(parent, exist_ok=True)
  # Encoded in memory and written by Python, so that a failed write (a full
  # disk) raises its OSError, which OpenCV's writer would not report; into a
  # temporary name first, so that a reader never finds half a file.
  path = os.fspath(path)
  ok, encoded = cv2.imencode(os.path.splitext(path)[1] or ".png", image)
  if not ok:
    raise ValueError(f"OpenCV cannot encode an image as {path}")
  temporary = f"{path}.tmp-{os.getpid()}"
  try:
    with open(temporary, "wb") as f:
      f.write(encoded.tobytes())
    os.replace(temporary, path)
  except OSError as error:
    if os.path.exists(temporary):
      os.remove(temporary)
    raise OSError(error.errno, error.strerror, path) from None
