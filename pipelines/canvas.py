"""Puts a sprite on a square canvas at the training size, in premultiplied alpha.

Resizing straight RGBA averages the colour hidden under transparent pixels
(usually black) into the sprite's outline: dark halos. Premultiplied colour,
rgb * alpha, weights every pixel's colour by its coverage, so transparent
pixels add nothing to an average (Porter & Duff 1984, "Compositing Digital
Images"). The output stays premultiplied: the model trains on it, and a fully
transparent pixel is exactly (0, 0, 0, 0) whatever colour the file hid there.

Two scale modes:
  fit:  crop to the visible pixels, centre on a square with a small margin,
        resize. Every sprite fills the frame.
  keep: centre the visible pixels on a fixed 96 x 96 canvas (the box Black/
        White sprites are drawn for), then resize. A Pichu stays smaller than
        a Wailord. The few sprites wider than 96 px are shrunk to fit it.
"""

import cv2
import numpy as np

from pipelines.errors import SkipFile

REFERENCE_CANVAS = 96


def premultiply(rgba: np.ndarray) -> np.ndarray:
  """Straight RGBA uint8 -> premultiplied RGBA float32 in [0, 255]."""
  image = rgba.astype(np.float32)
  image[..., :3] *= image[..., 3:] / 255.0
  return image


def place(rgba: np.ndarray, size: int, scale: str = "fit") -> np.ndarray:
  """Crops, centres and resizes one straight-alpha RGBA sprite.

  Args:
    rgba: [H, W, 4] uint8, straight alpha.
    size: Side of the square output, in pixels.
    scale: "fit" or "keep" (see the module docstring).

  Returns:
    [size, size, 4] uint8, premultiplied alpha: rgb <= alpha everywhere.

  Raises:
    SkipFile: the image has no visible pixel.
  """
  visible = rgba[..., 3] > 0
  rows = np.flatnonzero(visible.any(axis=1))
  cols = np.flatnonzero(visible.any(axis=0))
  if rows.size == 0:
    raise SkipFile("fully transparent: no visible pixel")
  crop = premultiply(rgba[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
  side = max(crop.shape[:2])
  if scale == "fit":
    margin = max(1, size // 32)  # 2 px at 64: the outline never touches the edge.
    inner = _resize(_centre(crop, side), size - 2 * margin)
    image = np.pad(inner, ((margin, margin), (margin, margin), (0, 0)))
  elif scale == "keep":
    if side > REFERENCE_CANVAS:
      factor = REFERENCE_CANVAS / side
      height, width = (max(1, round(n * factor)) for n in crop.shape[:2])
      crop = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
    image = _resize(_centre(crop, REFERENCE_CANVAS), size)
  else:
    raise ValueError(f"scale must be fit or keep, got {scale!r}")
  return quantise(image)


def quantise(image: np.ndarray) -> np.ndarray:
  """Premultiplied float [0, 255] -> uint8, keeping rgb <= alpha after rounding."""
  out = np.clip(np.round(image), 0, 255).astype(np.uint8)
  # Rounding is monotonic, so this only mends float error in the resampler.
  np.minimum(out[..., :3], out[..., 3:], out=out[..., :3])
  return out


def _centre(image, side):
  """Pads [h, w, 4] with transparent pixels to [side, side, 4], image centred."""
  top = (side - image.shape[0]) // 2
  left = (side - image.shape[1]) // 2
  return np.pad(image, ((top, side - image.shape[0] - top),
                        (left, side - image.shape[1] - left), (0, 0)))


def _resize(square, side):
  # INTER_AREA averages whole source pixels when shrinking (no aliasing);
  # bilinear when enlarging. Both only take convex combinations of premultiplied
  # pixels, so rgb <= alpha survives resampling.
  if side == square.shape[0]:
    return square
  shrinking = side < square.shape[0]
  return cv2.resize(square, (side, side),
                    interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
