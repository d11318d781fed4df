"""Picture grids that show what a trained model does, for `evaluate.py` and the training previews.

Each function returns one uint8 image (straight-alpha RGBA for 4-channel
data, so PNGs keep the transparency; RGB otherwise), upscaled by nearest
neighbour so that every sprite pixel stays a crisp square.

* `reconstruction_grid`: held-out sprites, each above its reconstruction.
* `interpolation_grid`: paths between the posterior means of two held-out
  sprites, along great circles (slerp; Shoemake 1985, "Animating Rotation
  with Quaternion Curves", proposed for generative models by White 2016,
  "Sampling Generative Networks"). A straight line between two codes passes
  near the origin, where a Gaussian's mass is not (its samples lie near a
  sphere), and decodes to washed-out in-betweens.
* `traversal_grid`: one latent dimension at a time swept around a sprite's
  code, for the dimensions that carry the most information.
* `nearest_neighbour_grid`: samples above their nearest training sprite.
* `samples_vs_real_grid`: samples beside real held-out sprites, same layout.
* `pixel_art`: images quantised to a small palette with a hard alpha edge,
  the way sprites are drawn.
"""

import os

import cv2
import numpy as np

import pipelines

# Offsets of a traversal, in units of the prior's standard deviation (1 for
# the standard normal): +-3 reaches the edge of where the prior has mass.
TRAVERSAL_SPAN = 3.0


def display_scale(image_size):
  """Nearest-neighbour upscaling that makes each sprite about 128 px wide."""
  return max(1, 128 // image_size)


def grid(images, ncols, channels, scale=None):
  """Float images [N, S, S, C] in [0, 1] as one upscaled uint8 grid (`scale` default: `display_scale`)."""
  images = np.asarray(images, np.float32)
  return pipelines.image_grid(pipelines.to_display_uint8(images, channels),
                              ncols=ncols, scale=scale or display_scale(images.shape[1]))


def preview_grid(model, images, z, scale=2, types=None, z_types=None):
  """The training loop's picture of an epoch: `images`, their reconstructions, `render(z)`, a row each.

  Args:
    model: a `vae.model.VAE`.
    images: float [N, S, S, C] in [0, 1] (held-out sprites).
    z: latent codes [N, latent_dim] to render as samples.
    scale: nearest-neighbour upscaling, so pixels stay crisp.
    types, z_types: the conditions [N, T] of `images` and of `z`, for a
      conditional model (None: zeros).
  """
  rows = [np.asarray(images), np.asarray(model.reconstruct(images, types)),
          np.asarray(model.render(z, z_types))]
  return grid(np.concatenate(rows), len(images), model.channels, scale=scale)


def paired_rows(top, bottom, ncols):
  """Interleaves rows of `ncols` images: a row of `top`, the same row of `bottom`.

  Args:
    top, bottom: arrays [N, ...] of the same shape; N a multiple of ncols.
    ncols: images per row.

  Returns:
    [2N, ...], to be shown `ncols` to a row, each `top[i]` above `bottom[i]`.
  """
  top, bottom = np.asarray(top), np.asarray(bottom)
  if top.shape != bottom.shape or len(top) % ncols:
    raise ValueError(f"top and bottom must have the same shape [k * {ncols}, ...], "
                     f"got {top.shape} and {bottom.shape}")
  rows = len(top) // ncols
  pairs = np.stack([top.reshape(rows, ncols, *top.shape[1:]),
                    bottom.reshape(rows, ncols, *top.shape[1:])], axis=1)
  return pairs.reshape(-1, *top.shape[1:])


def reconstruction_grid(model, images, ncols=8):
  """Each of `images` [N, S, S, C] above `model.reconstruct` of it."""
  images = np.asarray(images, np.float32)
  count = len(images) - len(images) % ncols
  if count == 0:
    ncols = count = len(images)
  images = images[:count]
  recon = np.asarray(model.reconstruct(images))
  return grid(paired_rows(images, recon, ncols), ncols, model.channels)


def slerp(a, b, t):
  """Spherical interpolation from a to b.

  Args:
    a, b: latent codes [..., D].
    t: fractions [T] in [0, 1].

  Returns:
    [T, ..., D]: at t the point a fraction t along the great circle from a
    to b, its norm interpolated linearly between |a| and |b|. Falls back to
    a straight line where a and b point the same way (angle ~ 0).
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  t = np.asarray(t, np.float64).reshape((-1,) + (1,) * a.ndim)
  norm_a = np.linalg.norm(a, axis=-1, keepdims=True)
  norm_b = np.linalg.norm(b, axis=-1, keepdims=True)
  unit_a = a / np.maximum(norm_a, 1e-12)
  unit_b = b / np.maximum(norm_b, 1e-12)
  cos = np.clip((unit_a * unit_b).sum(-1, keepdims=True), -1.0, 1.0)
  angle = np.arccos(cos)
  sin = np.sin(angle)
  straight = sin < 1e-6
  safe_sin = np.where(straight, 1.0, sin)
  weight_a = np.where(straight, 1.0 - t, np.sin((1.0 - t) * angle) / safe_sin)
  weight_b = np.where(straight, t, np.sin(t * angle) / safe_sin)
  direction = weight_a * unit_a + weight_b * unit_b
  direction /= np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-12)
  return (direction * ((1.0 - t) * norm_a + t * norm_b)).astype(np.float32)


def interpolation_grid(model, starts, ends, steps=8):
  """One row per pair: start sprite, `steps` decodings along slerp, end sprite.

  Args:
    model: a `vae.model.VAE`.
    starts, ends: held-out sprites [P, S, S, C]; row p joins starts[p] to ends[p].
    steps: decoded points from t = 0 to t = 1 inclusive; the first and last
      are the reconstructions of the two ends.
  """
  starts, ends = np.asarray(starts, np.float32), np.asarray(ends, np.float32)
  code_a = np.asarray(model.encode(starts).mean())
  code_b = np.asarray(model.encode(ends).mean())
  path = slerp(code_a, code_b, np.linspace(0.0, 1.0, steps))  # [T, P, D]
  decoded = np.asarray(model.render(path.transpose(1, 0, 2).reshape(-1, model.code_dim)))
  decoded = decoded.reshape(len(starts), steps, *decoded.shape[1:])
  rows = np.concatenate([starts[:, None], decoded, ends[:, None]], axis=1)
  return grid(rows.reshape(-1, *rows.shape[2:]), steps + 2, model.channels)


def most_informative(kl_per_dim, count):
  """Indices of the `count` dimensions with the largest mean KL, largest first."""
  kl_per_dim = np.asarray(kl_per_dim)
  return np.argsort(-kl_per_dim, kind="stable")[:min(count, len(kl_per_dim))]


def traversal_grid(model, image, dims, steps=9, span=TRAVERSAL_SPAN):
  """One row per dimension in `dims`: the sprite, then its code with z_d moved.

  Row d decodes the posterior mean of `image` with z_d + offset for `steps`
  offsets evenly spaced in [-span, span], so the middle column (offset 0) is
  the reconstruction.

  Args:
    model: a `vae.model.VAE`.
    image: one held-out sprite [S, S, C].
    dims: latent dimensions to sweep, one row each.
    steps: columns of decodings per row.
    span: largest offset, in prior standard deviations.
  """
  image = np.asarray(image, np.float32)[None]
  code = np.asarray(model.encode(image).mean())[0]
  codes = np.tile(code, (len(dims), steps, 1))
  offsets = np.linspace(-span, span, steps, dtype=np.float32)
  for row, dim in enumerate(dims):
    codes[row, :, dim] += offsets
  decoded = np.asarray(model.render(codes.reshape(-1, model.code_dim)))
  decoded = decoded.reshape(len(dims), steps, *image.shape[1:])
  originals = np.repeat(image[None], len(dims), axis=0)
  rows = np.concatenate([originals, decoded], axis=1)
  return grid(rows.reshape(-1, *image.shape[1:]), steps + 1, model.channels)


def nearest_neighbour_grid(samples, train, nearest_index, closeness,
                           channels, count=16, ncols=8):
  """The `count` samples most like a copy, each above its nearest training sprite.

  Those are shown because they are where copying would be: if even these
  differ from their neighbours, no sample is a copy.

  Args:
    samples: [N, S, S, C] generated images.
    train: [M, S, S, C] training images.
    nearest_index: [N], from `metrics.memorization`.
    closeness: [N], lower is more like a copy: `nearest_ratio` (or
      `nearest_distance`) from `metrics.memorization`.
    channels: 3 or 4.
    count: samples shown (a multiple of ncols, lowered to fit N).
    ncols: pairs per row.
  """
  count = min(count, len(samples))
  ncols = min(ncols, count)
  count -= count % ncols
  order = np.argsort(np.asarray(closeness), kind="stable")[:count]
  shown = np.asarray(samples)[order]
  neighbours = np.asarray(train)[np.asarray(nearest_index)[order]]
  return grid(paired_rows(shown, neighbours, ncols), ncols, channels)


def samples_vs_real_grid(samples, real, channels, rows=8, ncols=4, scale=None):
  """`rows` x `ncols` samples on the left, as many held-out sprites on the right.

  The two halves are laid out alike (and separated by an empty column), so
  the eye compares a sheet of samples with a sheet of real sprites.
  """
  count = rows * ncols
  samples = np.asarray(samples, np.float32)[:count]
  real = np.asarray(real, np.float32)[spread(count, len(real))]
  count = min(len(samples), len(real))
  rows = count // ncols
  samples, real = samples[:rows * ncols], real[:rows * ncols]
  gap = np.zeros((rows, 1, *samples.shape[1:]), np.float32)
  if channels == 3:
    gap[:] = 1.0  # the RGB canvas is white
  sheet = np.concatenate([samples.reshape(rows, ncols, *samples.shape[1:]), gap,
                          real.reshape(rows, ncols, *real.shape[1:])], axis=1)
  return grid(sheet.reshape(-1, *samples.shape[1:]), 2 * ncols + 1, channels, scale=scale)


def pixel_art(images, channels, colours=16, alpha_threshold=0.5, seed=0):
  """Quantises each image to its own palette, with a hard alpha edge.

  Real sprites are drawn in a handful of colours (16 per sprite in the
  games' palettes) and every pixel is either drawn or empty. Here each
  image's drawn pixels (alpha >= `alpha_threshold`) get their straight
  colour clustered by k-means into at most `colours` colours (OpenCV,
  k-means++ seeding, seeded), and every other pixel becomes fully
  transparent.

  Args:
    images: float [N, S, S, C] in [0, 1]; C = 4 premultiplied RGBA, C = 3 RGB
      (no alpha: every pixel is drawn).
    channels: 3 or 4.
    colours: palette size per image.
    alpha_threshold: alpha at and above which a pixel is drawn.
    seed: seed of OpenCV's k-means.

  Returns:
    float32 [N, S, S, C] in the same layout, alpha in {0, 1}.
  """
  images = np.asarray(images, np.float32)
  out = np.zeros_like(images)
  criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1e-3)
  for i, image in enumerate(images):
    if channels == 4:
      alpha = image[..., 3]
      drawn = alpha >= alpha_threshold
      # Un-premultiply: the palette is of the colours as drawn, not as faded.
      rgb = np.clip(pipelines.straight_colour(image[..., :3], alpha[..., None]), 0.0, 1.0)
    else:
      drawn = np.ones(image.shape[:2], bool)
      rgb = image
    pixels = np.ascontiguousarray(rgb[drawn], np.float32)
    if len(pixels) == 0:
      continue
    if len(np.unique(pixels, axis=0)) > colours:
      cv2.setRNGSeed(seed + i)
      _, labels, palette = cv2.kmeans(pixels, colours, None, criteria, 3,
                                      cv2.KMEANS_PP_CENTERS)
      pixels = np.clip(palette[labels.ravel()], 0.0, 1.0)
    out[i, ..., :3][drawn] = pixels
    if channels == 4:
      out[i, ..., 3][drawn] = 1.0
  return out


def spread(count, total):
  """`count` indices spread evenly over range(total), for a varied selection."""
  return np.unique(np.linspace(0, total - 1, min(count, total)).round().astype(int))


# The sheet of each judged type (`report["types"]`): generated for the type
# beside training sprites of it, named type_fire.png and so on.
TYPE_SHEET_PREFIX = "type_"


def write_pictures(directory, model, result, *, with_pixel_art=False, seed=0):
  """Writes the evaluation's pictures as PNGs into `directory`.

  Files: reconstructions.png, samples.png, samples_vs_real.png,
  interpolations.png, traversals.png, nearest_neighbors.png, a type sheet
  for each judged type (`TYPE_SHEET_PREFIX`) and, with `with_pixel_art`,
  samples_pixel_art.png (the samples of samples.png, quantised).

  Args:
    directory: output folder.
    model: the evaluated `vae.model.VAE`.
    result: a `vae.evaluation.report.Evaluation`.
    with_pixel_art: also write samples_pixel_art.png.
    seed: seed of the palette k-means.

  Returns:
    {file name: path written}.
  """
  images, channels = result.images, model.channels
  shown = images[spread(16, len(images))]
  ends = images[spread(12, len(images))]
  pairs = len(ends) // 2
  samples = result.samples[:64]
  pictures = {
      "reconstructions.png": reconstruction_grid(model, shown),
      "samples.png": grid(samples, 8, channels),
      "samples_vs_real.png": samples_vs_real_grid(result.samples, images, channels),
      "interpolations.png": interpolation_grid(model, ends[:pairs], ends[pairs:2 * pairs]),
      "traversals.png": traversal_grid(
          model, shown[0], most_informative(result.report["kl_per_dim"], 8)),
      "nearest_neighbors.png": nearest_neighbour_grid(
          result.samples, result.train, result.nearest_index,
          result.nearest_distance if result.nearest_ratio is None else result.nearest_ratio,
          channels),
  }
  for name, generated in (result.samples_by_type or {}).items():
    # Two rows at the sprites' own size: seventeen larger sheets would double report.html.
    pictures[f"{TYPE_SHEET_PREFIX}{name.lower()}.png"] = samples_vs_real_grid(
        generated, result.real_by_type[name], channels, rows=2, scale=1)
  if with_pixel_art:
    pictures["samples_pixel_art.png"] = grid(pixel_art(samples, channels, seed=seed), 8, channels)
  written = {}
  for name, picture in pictures.items():
    written[name] = os.path.join(directory, name)
    pipelines.write_png(written[name], picture)
  return written
