"""The quilt sampler: a new silhouette, its detail pieced from training sprites.

A code is z1 (the silhouette and overall hue) and a grid z2 whose deviation
from the grid prior's mean given z1 (`VAE.grid_centre`) carries the detail.
Each half fails alone as a sampler: a z1 drawn from a density fitted to the
training z1 (`mixture.MixtureSampler`) is a new silhouette, but its grid
drawn cell by cell from p(z2|z1) is confetti, and the grid's mean alone a
plain blob; a blend of two training codes (`blend.BlendSampler`) is drawn,
but mostly as one of its two parents.

This sampler takes the new silhouette and fills in the detail the way image
quilting fills a texture (Efros & Freeman 2001, "Image Quilting for Texture
Synthesis and Transfer"), in the grid instead of in pixels: z1 comes from the
fitted mixture; its grid, in `BLOCK` x `BLOCK` cell blocks in raster order,
gets the detail of a training sprite's block, moved by up to `SHIFT` cells,
chosen among the `POOL` training sprites (one per species) whose grid
centres lie nearest the new one. Each candidate is scored by how well its
own grid centre there matches the new z1's, `ALPHA` times as much by how
well its sprite's coverage there (the mean alpha of each cell's pixels, of
its code's render) matches the coverage of the new z1's plain silhouette
(the render of z1 with the grid at its centre), so that a block of body
lands on body and an edge on an edge, and `SEAM` times as much by how well
the cells next to it continue the blocks already placed; the block is drawn
among the `TOP` best, so one z1 gives many sprites. The detail is scaled by
`GAIN` about the new grid centre, as `VAE.full_length_detail` scales a
blend's, because the decoder draws a short deviation as blur. Outside the
new silhouette a cell takes the source's own grid instead (its own centre with
its detail), in the share `OUTSIDE` times how far the cell lies outside (one
minus its coverage): a source's detail over a centre not its own is drawn
there as a grey half-transparent smudge, its own grid as its clean outline
and background (bench/README.md, section 21). A sprite is so
pieced from a few training sprites' parts (two or three at these settings) over
a silhouette none of them has: `report.json`'s near-copy tests and the
two-sample tests say how often that reads as a copy or as not a sprite, and
bench/README.md (section 20) how each setting was chosen.

Sprites of chosen types (`types`) take z1 from the midpoint of two training
codes of different species that both have the types (the blend sampler's
pairs, `blend.BlendSampler.blends_of`) and quilt from sources of the types
only; restyling a sprite toward types is the blend sampler's (`toward`). So
it is a `blend.BlendSampler` too, storing the same codes, partners, types and
species; besides them it holds the fitted mixture over z1 and the codes'
renders' coverage per cell (`fit_renders`, which `samplers.fit_model` calls;
a sampler fitted without it, or an RGB model, quilts by the centres and seams
alone). All of it lives in the checkpoint and the SavedModel; the sources'
grid centres are computed from the codes when sampling (one pass of the
decoder's top over them), so they take no room there. It has no log-likelihood; the temperature scales the
mixture over z1, as for the ex-post sampler. A conditional model's grid
centres are taken without a type ("any type").
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae import conditioning
from vae.samplers import base
from vae.samplers import blend
from vae.samplers import mixture
from vae.samplers import prior

# Block side in grid cells, the shift of a source block, candidates per
# sample and how many of the best a block is drawn from, the coverage's and
# the seam's weights against the centres', and the detail's gain
# (bench/README.md, section 20).
BLOCK = 8
SHIFT = 1
POOL = 16
TOP = 3
ALPHA = 16.0
SEAM = 4.0
GAIN = 1.45
# The share of a cell outside the new silhouette that comes from its source's own
# grid (times one minus the cell's coverage; section 21).
OUTSIDE = 1.0
# Codes rendered at once by `fit_renders`.
_RENDER_BATCH = 128


class QuiltSampler(blend.BlendSampler):
  """The blend sampler's codes and types, a mixture over z1, and the quilting."""

  kind = "quilt"
  uses_validation = True

  def __init__(self, latent_dim, code_dim, components=16, name=None):
    super().__init__(code_dim, name=name)
    self.top_dim = latent_dim
    with self.name_scope:
      self.top = mixture.MixtureSampler(latent_dim, components, latents="top", name="top")
      # Each code's render's mean alpha per grid cell [N, g, g, 1]; [0, ...] until
      # `fit_renders`, and for a model without alpha.
      self.coverage = tf.Variable(tf.zeros([0, 1, 1, 1], tf.float16), trainable=False,
                                  shape=tf.TensorShape([None, None, None, 1]), name="coverage")

  def fit(self, train, val, step, groups=None, seed=0, types=None):
    """Stores the codes with their species `groups` and `types`, as the blend
    sampler does, and fits the mixture to their z1 (its size chosen on `val`'s);
    returns the mixture's fit."""
    super().fit(train, val, step, groups, seed, types)
    return self.top.fit(train[:, :self.top_dim], val[:, :self.top_dim], step, seed=seed)

  def fit_renders(self, model):
    """Stores the coverage of each stored code's render per grid cell (the mean
    alpha of its pixels), which the quilt matches to the new silhouette's; a
    model without alpha (RGB) stores none."""
    if model.channels != 4 or not model.grid_size:
      self.coverage.assign(tf.zeros([0, 1, 1, 1], tf.float16))
      return
    codes = tf.cast(self.codes, tf.float32)
    self.coverage.assign(tf.cast(tf.concat(
        [cover(model, codes[k:k + _RENDER_BATCH]) for k in range(0, self.size, _RENDER_BATCH)],
        0), tf.float16))

  @property
  def has_coverage(self):
    """Whether every stored code has its coverage (read eagerly, also while tracing)."""
    with tf.init_scope():
      return self.size > 0 and int(tf.shape(self.coverage)[0]) == self.size

  def sample_codes(self, model, n, temperature, seed, types=None):
    """n quilted codes; until fitted, the prior's. With `types` [T] multi-hot
    (a sampler that `holds_types`), z1 between two codes of the types and the
    blocks from sprites of the types."""
    if not model.grid_size:
      raise ValueError("the quilt sampler needs a model with a latent grid (grid_size > 0)")
    seed = tfp.random.sanitize_seed(seed)
    if types is not None:
      return self.quilted(model, n, temperature, seed, types=types)
    return tf.cond(tf.shape(self.codes)[0] > 0,
                   lambda: self.quilted(model, n, temperature, seed),
                   lambda: prior.PriorSampler().sample_codes(model, n, temperature, seed))

  # The condition of each code is the types asked for (zeros: "any type"), not
  # the blend's blended parents' types.
  sample_conditioned = base.Sampler.sample_conditioned

  def quilted(self, model, n, temperature, seed, block=BLOCK, gain=GAIN, alpha=ALPHA,
              types=None, own_grids=0.0, outside=OUTSIDE):
    """n codes quilted with blocks of `block` cells, the coverage weighted by
    `alpha`, the detail scaled by `gain` (the fitted sampler's draw;
    bench/blend_sweep.py tries other settings), of `types` where given.

    Each cell moves the share `own_grids` + `outside` x (1 - its coverage by
    the new silhouette), at most 1, of the way from the new centre plus the
    source's detail to the source's grid itself (its own centre included);
    without coverages (`alpha` 0, a sampler fitted without renders) the
    share is `own_grids` alone. A uniform share gives cleaner outlines,
    blurrier insides and more copies; the sampler's draw takes none, and
    `OUTSIDE` outside (bench/README.md, section 21)."""
    top_seed, pick_seed = tfp.random.split_seed(seed, n=2)
    eligible = None
    if types is None:
      z1 = self.top(temperature).sample(n, seed=top_seed)
    else:
      eligible = self._eligible(types)
      z1 = model.split_code(self.blends_of(n, top_seed, types)[0])[0]
    centre = model.grid_centre(z1, conditioning.as_batch(None, n, model.num_conditions))
    codes = tf.cast(self.codes, tf.float32)
    source_z1, source_z2 = model.split_code(codes)
    source_centre = model.grid_centre(
        source_z1, conditioning.as_batch(None, tf.shape(codes)[0], model.num_conditions))
    coverages = None
    if alpha and self.has_coverage:
      coverages = (cover(model, model.join_code(z1, centre)), tf.cast(self.coverage, tf.float32))
    outside = outside if coverages is not None else 0.0
    carries_grids = bool(own_grids or outside)  # the sources' grids pieced along with their detail
    pieces = source_z2 - source_centre
    if carries_grids:
      pieces = tf.concat([pieces, source_z2], -1)
    pieces = quilt(centre, source_centre, pieces, self.group_ids, pick_seed,
                   block=block, alpha=alpha, coverages=coverages, eligible=eligible,
                   seamed=model.grid_channels)
    grid = centre + gain * pieces[..., :model.grid_channels]
    if carries_grids:
      share = own_grids
      if outside:
        share = tf.minimum(own_grids + outside * (1.0 - coverages[0]), 1.0)  # [n, g, g, 1]
      grid += share * (pieces[..., model.grid_channels:] - grid)
    return model.join_code(z1, grid)

  def describe(self):
    return dict(kind="quilt", codes=self.size, components=self.top.components, block=BLOCK,
                pool=POOL, top=TOP, alpha=ALPHA if self.has_coverage else 0.0, seam=SEAM,
                gain=GAIN, outside=OUTSIDE if self.has_coverage else 0.0, latents="all",
                fitted_step=int(self.fitted_step.numpy()))

  def words(self, model):
    return (f"quilts: z1 from a {self.top.components}-component Gaussian mixture fitted to the training "
            f"codes, the grid's detail quilted from {BLOCK} x {BLOCK}-cell blocks of training "
            f"sprites' grids, scaled by {GAIN:g}, their own grids outside the silhouette")


def cover(model, codes):
  """The mean alpha of each grid cell's pixels of the codes' renders [B, g, g, 1]."""
  alpha = model.render(codes, conditioning.as_batch(None, tf.shape(codes)[0],
                                                   model.num_conditions))[..., 3:]
  cell = model.image_size // model.grid_size
  return tf.nn.avg_pool2d(alpha, cell, cell, "VALID")


def pool(centre, source_centre, group_ids, size=POOL, eligible=None):
  """For each new grid centre [n, g, g, c], the `size` source sprites [n, size] int32
  (one per species, the nearest of each) whose grid centres [N, g, g, c] lie
  nearest it, among the `eligible` [N] bool where given; fewer species than
  `size` repeat the nearest."""
  a = tf.reshape(centre, [tf.shape(centre)[0], -1])
  b = tf.reshape(source_centre, [tf.shape(source_centre)[0], -1])
  distance = (tf.reduce_sum(a**2, 1, keepdims=True) + tf.reduce_sum(b**2, 1)[None]
              - 2.0 * tf.matmul(a, b, transpose_b=True))  # [n, N]
  if eligible is not None:
    distance = tf.where(eligible[None], distance, tf.float32.max)
  species = tf.reduce_max(group_ids) + 1
  nearest_of = tf.math.unsorted_segment_min(tf.transpose(distance), group_ids, species)  # [S, n]
  own = tf.gather(tf.transpose(nearest_of), group_ids, axis=1)  # [n, N]
  distance = tf.where(distance <= own, distance, tf.float32.max)
  if eligible is not None:  # the species with an eligible sprite, at least one
    species = tf.maximum(tf.size(tf.unique(tf.boolean_mask(group_ids, eligible))[0]), 1)
  k = tf.minimum(size, species)
  _, found = tf.math.top_k(-distance, k=k)
  return tf.gather(found, tf.range(size) % k, axis=1)


def quilt(centre, source_centre, source_detail, group_ids, seed, *, block=BLOCK, shift=SHIFT,
          size=POOL, top=TOP, seam=SEAM, alpha=ALPHA, coverages=None, eligible=None,
          seamed=None):
  """The grid detail [n, g, g, c] pieced for new grid centres `centre` [n, g, g, c]
  from the sources' centres and details [N, g, g, c] (see the module docstring);
  `coverages`, where given, (the new silhouettes' [n, g, g, 1], the sources'
  [N, g, g, 1]) are matched with weight `alpha`; `eligible` [N] bool, where
  given, the sources a block may come from; `seamed`, where given, the number
  of the detail's leading channels the seams compare (the rest are pieced
  along, unscored).

  Every block of the result is one source's detail block, moved by at most
  `shift` cells (the source's grid extended at its border by its edge cells).
  """
  g = centre.shape[1]
  if g % block:
    raise ValueError(f"the quilt's block of {block} cells does not divide the grid of {g}")
  chosen = pool(centre, source_centre, group_ids, size, eligible)  # [n, P]
  pad = [[0, 0], [shift, shift], [shift, shift], [0, 0]]
  padded_detail = tf.pad(source_detail, pad, mode="SYMMETRIC")
  padded_centre = tf.pad(source_centre, pad, mode="SYMMETRIC")
  detail = tf.gather(padded_detail, chosen)  # [n, P, g + 2s, g + 2s, c]
  centres = tf.gather(padded_centre, chosen)
  if coverages is not None:
    new_cover = coverages[0]
    covers = tf.gather(tf.pad(coverages[1], pad, mode="SYMMETRIC"), chosen)
  n = tf.shape(centre)[0]
  seeds = tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int32),
                                                            num=(g // block)**2))
  rows = []
  for by in range(0, g, block):
    row = []
    for bx in range(0, g, block):
      costs, blocks = [], []
      for dy in range(-shift, shift + 1):
        for dx in range(-shift, shift + 1):
          y, x = by + dy + shift, bx + dx + shift  # in the padded grid
          piece = detail[:, :, y:y + block, x:x + block]  # [n, P, B, B, c]
          cost = tf.reduce_mean((centres[:, :, y:y + block, x:x + block]
                                 - centre[:, None, by:by + block, bx:bx + block])**2, [2, 3, 4])
          if coverages is not None:
            cost += alpha * tf.reduce_mean(
                (covers[:, :, y:y + block, x:x + block]
                 - new_cover[:, None, by:by + block, bx:bx + block])**2, [2, 3, 4])
          if bx > 0 and x > 0:  # the source's column left of the block against the one placed
            cost += seam * tf.reduce_mean(
                (detail[:, :, y:y + block, x - 1, :seamed] - row[-1][:, None, :, -1, :seamed])**2,
                [2, 3])
          if by > 0 and y > 0:
            above = rows[-1][:, -1, bx:bx + block, :seamed]  # [n, B, c]
            cost += seam * tf.reduce_mean(
                (detail[:, :, y - 1, x:x + block, :seamed] - above[:, None])**2, [2, 3])
          costs.append(cost)
          blocks.append(piece)
      costs = tf.concat(costs, 1)  # [n, P * (2s + 1)^2]
      blocks = tf.concat(blocks, 1)
      _, best = tf.math.top_k(-costs, k=top)
      pick = tf.random.stateless_uniform([n], seeds[len(rows) * (g // block) + len(row)],
                                         maxval=top, dtype=tf.int32)
      row.append(tf.gather(blocks, tf.gather(best, pick, batch_dims=1), batch_dims=1))
    rows.append(tf.concat(row, 2))
  return tf.concat(rows, 1)
