"""What a viewer sees in a sprite: one silhouette, crisp edges, hard alpha.

Likelihoods and feature distances do not say whether a sample looks like a
sprite. Three plain measures of the rendered pixels do, each with the real
held-out sprites as the reference (`reference` below):

* `silhouette`: the opaque mask (alpha > 0.5; for RGB images, pixels that
  differ from the white background) is *one piece* when its largest
  8-connected component holds at least 90 % of the opaque pixels and the
  opaque area is between 3 % and 97 % of the canvas; reported as the share of
  one-piece images and the mean number of pieces of 4 px or more. A sprite
  is one creature: samples broken into islands are the classic VAE failure.
* `sharpness`: the mean Sobel gradient magnitude of the image composited on
  mid grey; as a ratio to the real sprites' figure, 1.0 is as crisp as they
  are, and a blurry model scores well below.
* `alpha_hardness`: the share of alpha values within 0.1 of 0 or 1. Sprites
  are cut out (about 0.93 of real alpha values are hard; resizing softens the
  rest), a blurry model paints wide half-transparent fringes.

These are taken on the model's render as it is: no closing, hole filling,
dropping of small pieces or alpha thresholding stands between the model and
the figures.
"""

import cv2
import numpy as np

from vae.evaluation import metrics

ONE_PIECE_SHARE = 0.9
MIN_AREA, MAX_AREA = 0.03, 0.97
MIN_PIECE_PIXELS = 4
HARD_ALPHA_MARGIN = 0.1
# RGB sprites are composited on white: a pixel this close to it is background.
_WHITE_TOLERANCE = 0.02


def opaque_masks(images):
  """Boolean masks [N, S, S]: alpha > 0.5, or not white for RGB images."""
  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[-1] not in (3, 4):
    raise ValueError(f"images must have shape [N, S, S, 3 or 4], got {images.shape}")
  if images.shape[-1] == 4:
    return images[..., 3] > 0.5
  return np.any(images < 1.0 - _WHITE_TOLERANCE, axis=-1)


def pieces(mask):
  """(pieces of MIN_PIECE_PIXELS or more, whether the mask is one piece)."""
  total = int(mask.sum())
  area = total / mask.size
  if total == 0:
    return 0, False
  count, _, stats, _ = cv2.connectedComponentsWithStats(
      mask.astype(np.uint8), connectivity=8)
  sizes = stats[1:count, cv2.CC_STAT_AREA]
  one = sizes.max() >= ONE_PIECE_SHARE * total and MIN_AREA <= area <= MAX_AREA
  return int((sizes >= MIN_PIECE_PIXELS).sum()), bool(one)


def silhouette(images):
  """{"one_piece": share of one-piece images, "pieces": mean piece count}."""
  counts, ones = zip(*(pieces(m) for m in opaque_masks(images))) if len(images) else ((), ())
  return dict(one_piece=float(np.mean(ones)) if ones else 0.0,
              pieces=float(np.mean(counts)) if counts else 0.0)


def edge_strength(images):
  """Mean Sobel gradient magnitude of the images composited on mid grey."""
  rgb = metrics.composite(images)
  total = 0.0
  for image in rgb:
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3)
    total += float(np.mean(np.sqrt(gx * gx + gy * gy)))
  return total / max(len(rgb), 1)


def alpha_hardness(images):
  """Share of alpha values within HARD_ALPHA_MARGIN of 0 or 1 (None for RGB)."""
  images = np.asarray(images, np.float32)
  if images.shape[-1] != 4:
    return None
  alpha = images[..., 3]
  hard = (alpha <= HARD_ALPHA_MARGIN) | (alpha >= 1.0 - HARD_ALPHA_MARGIN)
  return float(hard.mean())


def reference(real):
  """The real sprites' figures, the yardstick of `compare`."""
  return dict(silhouette=silhouette(real), edge_strength=edge_strength(real),
              alpha_hardness=alpha_hardness(real))


def compare(real, **rendered):
  """Silhouette, sharpness and alpha hardness of rendered sets against `real`.

  Args:
    real: held-out real sprites [N, S, S, C] in [0, 1].
    **rendered: named sets of rendered images, e.g. samples=..., reconstructions=...

  Returns:
    {"silhouette": {name: {...}, "real": {...}}, "sharpness": {name: ratio,
    "real_edge_strength": value}, "alpha_hardness": {name: share, "real": share}}.
  """
  ref = reference(real)
  out = dict(silhouette={}, sharpness={}, alpha_hardness={})
  for name, images in rendered.items():
    out["silhouette"][name] = silhouette(images)
    out["sharpness"][name] = edge_strength(images) / max(ref["edge_strength"], 1e-12)
    out["alpha_hardness"][name] = alpha_hardness(images)
  out["silhouette"]["real"] = ref["silhouette"]
  out["sharpness"]["real_edge_strength"] = ref["edge_strength"]
  out["alpha_hardness"]["real"] = ref["alpha_hardness"]
  return out
