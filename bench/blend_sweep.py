"""How the blend sampler's settings change its samples, on one run's weights.

  python bench/blend_sweep.py [--ckpt pretrained] [--samples 500] [--realism]
                              [--probes] [--sheets DIR]

For each setting it draws `--samples` blends of the training codes (posterior
means, each with one of its nearest codes of another species; seeded) and
reports the share of pixel-space near-copies (`realism.pixel_copies`) and of
silhouette near-copies (`realism.shape_copies`, which a recolouring does not
fool), the sample sharpness, alpha hardness and one-piece share of
`vae/evaluation/appearance.py`, on the test split, and with `--realism` the
two-sample tests of `vae/evaluation/realism.py`. The settings: the range of
t, which neighbours serve as partners, how many parents a blend has, and
whether the blended grid's detail is rescaled to its parents' length about
the grid prior's mean (what the blend sampler does). Quicker than a whole
evaluate.py run, for choosing the settings.

With `--probes` it also measures samplers that were tried and not kept
(bench/README.md, sections 15 to 18):

* fusions: z1 blended, the grid taken from one parent on one side of a soft
  straight cut at a random angle and from the other on the other side (each
  parent's detail about its own grid centre, moved to the blended z1's);
* balanced blends: the default blend, each pair's t chosen from 0.2..0.8 so
  that the decoded sprite is as far (32 px composites) from one parent
  sprite as from the other;
* z1 lengthened: the default blend with z1 scaled by a factor too (the grid's
  detail kept about the grid centre of the new z1), as the detail is scaled
  back to its parents' length (section 16);
* aligned blends: each pair's sprites warped halfway towards each other and
  encoded again before the default blend (section 17);
* swapped: z1 (silhouette and hue) of one parent, the grid's detail of the
  other about the new z1's grid centre (section 18).

With `--quilts` it measures the quilt sampler (`vae/samplers/quilt.py`,
section 20): z1 from a mixture fitted to the training codes' z1 (its size
chosen on the validation split's), the grid's detail quilted from blocks of
8 or 4 cells of training sprites' grids, with or without matching their
coverage to the new silhouette's, scaled by a gain, or moved towards the
sources' own grids, everywhere or outside the new silhouette (section 21);
the sampler's own setting is the first row.

`--only NAME ...` keeps the rows whose names contain one of the NAMEs.

`--sheets DIR` writes the first 48 samples of each setting as one PNG there.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

import pipelines  # pylint: disable=wrong-import-position
from vae import pictures  # pylint: disable=wrong-import-position
from vae.samplers import blend  # pylint: disable=wrong-import-position
from vae.samplers import quilt  # pylint: disable=wrong-import-position
from vae.evaluation import appearance, metrics, realism  # pylint: disable=wrong-import-position
from vae.evaluation import report as report_lib  # pylint: disable=wrong-import-position
from vae.rundir import load  # pylint: disable=wrong-import-position

# (name, partners from, to (nearest first), t low, t high, rescale the detail,
#  parents): with more than two parents, the first code and `parents - 1` of its
#  partners (different ones), in equal shares; t then does not apply.
SETTINGS = (
    ("the previous blend", 0, 32, 0.35, 0.65, False, 2),
    ("t = 0.5", 0, 32, 0.5, 0.5, False, 2),
    ("t in [0.45, 0.55]", 0, 32, 0.45, 0.55, False, 2),
    ("full-length detail", 0, 32, 0.35, 0.65, True, 2),
    ("t = 0.5, full-length detail (the default)", 0, 32, 0.5, 0.5, True, 2),
    ("t in [0.45, 0.55], full-length detail", 0, 32, 0.45, 0.55, True, 2),
    ("partners 16th to 64th nearest", 16, 64, 0.35, 0.65, False, 2),
    ("partners 8 nearest", 0, 8, 0.35, 0.65, False, 2),
    ("t = 0.5, full length, partners 32nd to 96th", 32, 96, 0.5, 0.5, True, 2),
    ("3 parents, full-length detail", 0, 32, 0, 0, True, 3),
    ("3 parents", 0, 32, 0, 0, False, 3),
    ("4 parents, full-length detail", 0, 32, 0, 0, True, 4),
)


def blends(model, codes, partners, setting, count, seed=0):
  """`count` blended codes of one setting of `SETTINGS`, seeded."""
  _, first, last, low, high, rescale, parents = setting
  rng = np.random.default_rng(seed)
  i = rng.integers(len(codes), size=count)
  if parents == 2:
    weights = rng.uniform(low, high, size=(count, 1))
    weights = np.concatenate([1 - weights, weights], 1)
  else:
    weights = np.full((count, parents), 1.0 / parents)
  columns = np.stack([rng.choice(np.arange(first, last), size=parents - 1, replace=False)
                      for _ in range(count)])
  chosen = np.concatenate([i[:, None], partners[i[:, None], columns]], 1)  # [count, parents]
  mixed = np.einsum("nk,nkd->nd", weights, codes[chosen]).astype(np.float32)
  if not rescale:
    return mixed
  return model.full_length_detail(tf.constant(mixed), tf.constant(weights, tf.float32)).numpy()


# (name, partners from, to, width of the cut in grid cells): fusions (`--probes`).
FUSIONS = (
    ("fusion, cut 1 cell wide", 0, 32, 1.0),
    ("fusion, cut 2 cells wide", 0, 32, 2.0),
    ("fusion, cut 1 cell wide, partners 32nd to 96th", 32, 96, 1.0),
)
# The shares of the way tried for each pair of a balanced blend (`--probes`).
BALANCED_T = np.linspace(0.2, 0.8, 13)
# (name, factor on the default blend's z1) (`--probes`): sqrt(2) is z1's midpoint
# scaled back to its parents' length, as `VAE.full_length_detail` scales the grid's.
LENGTHENED = (
    ("z1 lengthened by sqrt(2) too", np.sqrt(2.0)),
    ("z1 lengthened by 1.2 too", 1.2),
)


def pairs(codes, partners, first, last, count, rng):
  """`count` (code index, partner index) pairs, the partner among columns [first, last)."""
  i = rng.integers(len(codes), size=count)
  return i, partners[i, rng.integers(first, last, size=count)]


def fusions(model, codes, partners, setting, count, seed=0):
  """`count` fused codes of one setting of `FUSIONS`, seeded: z1 blended by the
  share of the grid each parent gives, the grid's detail from one parent on
  one side of a soft straight cut through the grid's middle quarter."""
  _, first, last, width = setting
  rng = np.random.default_rng(seed)
  i, j = pairs(codes, partners, first, last, count, rng)
  g = model.grid_size
  y, x = np.mgrid[0:g, 0:g] - (g - 1) / 2
  angle = rng.uniform(0, 2 * np.pi, size=(count, 1, 1))
  offset = rng.uniform(-g / 8, g / 8, size=(count, 1, 1))
  across = np.cos(angle) * x + np.sin(angle) * y - offset
  share = tf.constant((1 / (1 + np.exp(across / width)))[..., None], tf.float32)  # of parent i
  z1a, z2a = model.split_code(tf.constant(codes[i]))
  z1b, z2b = model.split_code(tf.constant(codes[j]))
  area = tf.reduce_mean(share, [1, 2, 3])[:, None]
  z1 = z1b + area * (z1a - z1b)
  detail = (share * (z2a - model.grid_centre(z1a))
            + (1 - share) * (z2b - model.grid_centre(z1b)))
  detail /= tf.sqrt(share**2 + (1 - share)**2)
  return model.join_code(z1, model.grid_centre(z1) + detail).numpy()


def balanced(model, codes, partners, train, count, seed=0):
  """`count` default blends (t = 0.5 replaced per pair), each at the t of
  `BALANCED_T` whose render is most nearly as far from one parent sprite as
  from the other (32 px composites); returns the renders and the t chosen."""
  rng = np.random.default_rng(seed)
  i, j = pairs(codes, partners, 0, 32, count, rng)
  flat = lambda images: realism.composites(images, realism.COPY_SIZE).reshape(len(images), -1)
  parent_i, parent_j = flat(train[i]), flat(train[j])
  renders, imbalance = [], []
  for t in BALANCED_T:
    share = np.full((count, 1), t, np.float32)
    mixed = codes[i] + share * (codes[j] - codes[i])
    mixed = model.full_length_detail(tf.constant(mixed), tf.constant(np.concatenate(
        [1 - share, share], 1))).numpy()
    images = render(model, mixed)
    sample = flat(images)
    renders.append(images)
    imbalance.append(np.abs(np.log(np.linalg.norm(sample - parent_i, axis=1)
                                   / np.linalg.norm(sample - parent_j, axis=1))))
  best = np.argmin(imbalance, 0)
  return np.stack(renders)[best, np.arange(count)], BALANCED_T[best]


def lengthened(model, codes, factor):
  """`codes` with z1 times `factor`, the grid's detail kept about its centre given z1."""
  z1, z2 = model.split_code(tf.constant(codes))
  longer = z1 * factor
  return model.join_code(longer, model.grid_centre(longer) + z2 - model.grid_centre(z1)).numpy()


def _silhouette_map(a, b):
  """The flow [S, S, 2] of the affine map taking sprite a's silhouette (its alpha's
  centroid and covariance) onto sprite b's: a point p of a goes to p + flow[p]."""
  size = a.shape[0]
  yx = np.stack(np.mgrid[0:size, 0:size][::-1], -1).astype(np.float64)  # [S, S, (x, y)]

  def moments(sprite):
    weight = sprite[..., 3:] / (sprite[..., 3].sum() + 1e-6)
    mean = (weight * yx).sum((0, 1))
    centred = yx - mean
    return mean, np.einsum("hwi,hwj->ij", weight * centred, centred)

  def root(covariance):
    values, vectors = np.linalg.eigh(covariance)
    return vectors @ np.diag(np.sqrt(np.maximum(values, 1e-6))) @ vectors.T

  (mean_a, cov_a), (mean_b, cov_b) = moments(a), moments(b)
  linear = root(cov_b) @ np.linalg.inv(root(cov_a))
  linear = (linear + linear.T) / 2  # no rotation: a stretch about the centroid
  return (mean_b + (yx - mean_a) @ linear.T - yx).astype(np.float32)


def _dense_flow(a, b):
  """Farneback's flow [S, S, 2] from sprite a to sprite b, on their grey composites."""
  grey = lambda sprite: np.clip(metrics.composite(sprite[None])[0] @ [0.299, 0.587, 0.114]
                                * 255, 0, 255).astype(np.uint8)
  return cv2.calcOpticalFlowFarneback(grey(a), grey(b), None, 0.5, 3, 11, 5, 5, 1.1, 0)


def _warp(sprite, flow, share):
  """The sprite [S, S, C] sampled at x + share * flow(x)."""
  size = sprite.shape[0]
  x, y = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
  return np.clip(cv2.remap(sprite, x + share * flow[..., 0], y + share * flow[..., 1],
                           cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), 0, 1)


def aligned(model, codes, partners, train, align, count, seed=0):
  """`count` default blends of the same pairs, each pair's sprites first warped halfway
  towards each other by `align`'s flow (`_silhouette_map` or `_dense_flow`) and encoded again."""
  rng = np.random.default_rng(seed)
  i, j = pairs(codes, partners, 0, 32, count, rng)
  flows = [align(train[a], train[b]) for a, b in zip(i, j)]
  first = np.stack([_warp(train[a], flow, -0.5) for a, flow in zip(i, flows)])
  second = np.stack([_warp(train[b], flow, 0.5) for b, flow in zip(j, flows)])
  mixed = (encode(model, first) + encode(model, second)) / 2
  return model.full_length_detail(tf.constant(mixed), tf.fill([count, 2], 0.5)).numpy()


# (name, the flow that aligns a pair's sprites) (`--probes`).
ALIGNED = (
    ("aligned blend, affine by silhouette", _silhouette_map),
    ("aligned blend, dense flow", _dense_flow),
)


def swapped(model, codes, partners, count, seed=0):
  """`count` codes of the default's pairs: the first parent's z1, the second's grid detail
  (its deviation from its own grid centre) about the grid centre of that z1."""
  i, j = pairs(codes, partners, 0, 32, count, np.random.default_rng(seed))
  z1, z2 = model.split_code(tf.constant(codes))
  detail = z2 - model.grid_centre(z1)
  z1 = tf.gather(z1, i)
  return model.join_code(z1, model.grid_centre(z1) + tf.gather(detail, j)).numpy()


# (name, block side in cells, gain on the detail, weight of the coverage, share of
# the sources' own grids everywhere and outside the new silhouette) (`--quilts`;
# `QuiltSampler.quilted`). The rows without "outside" are the sampler before section 21.
QUILTS = (
    ("quilt, blocks of 8, coverage 16, gain 1.45, own grids outside (the sampler)",
     8, 1.45, 16.0, 0.0, 1.0),
    ("quilt, blocks of 8, coverage 16, gain 1.45, own grids half outside", 8, 1.45, 16.0, 0.0, 0.5),
    ("quilt, blocks of 8, coverage 16, gain 1.45", 8, 1.45, 16.0, 0.0, 0.0),
    ("quilt, blocks of 8, coverage 32, gain 1.45", 8, 1.45, 32.0, 0.0, 0.0),
    ("quilt, blocks of 8, coverage 16, gain 1.15", 8, 1.15, 16.0, 0.0, 0.0),
    ("quilt, blocks of 8, coverage 16, gain 1.3", 8, 1.3, 16.0, 0.0, 0.0),
    ("quilt, blocks of 8, coverage 4, gain 1.45", 8, 1.45, 4.0, 0.0, 0.0),
    ("quilt, blocks of 8, no coverage, gain 1.3", 8, 1.3, 0.0, 0.0, 0.0),
    ("quilt, blocks of 8, no coverage, gain 1", 8, 1.0, 0.0, 0.0, 0.0),
    ("quilt, blocks of 4, coverage 16, gain 1.45", 4, 1.45, 16.0, 0.0, 0.0),
    ("quilt, the sources' own grids halfway", 8, 1.45, 16.0, 0.5, 0.0),
    ("quilt, the sources' own grids", 8, 1.45, 16.0, 1.0, 0.0),
)


def quilt_sampler(model, data, codes, train_groups):
  """A `quilt.QuiltSampler` fitted to `codes`, its mixture's size chosen on the
  codes of `data`'s validation split."""
  val = data.array("val").astype(np.float32) / 255.0
  sampler = quilt.QuiltSampler(model.latent_dim, model.code_dim)
  sampler.fit(codes, encode(model, val), step=0, groups=train_groups)
  sampler.fit_renders(model)
  return sampler


def encode(model, images):
  """Posterior means [N, code_dim] of images [N, S, S, C], 128 at a time."""
  return np.concatenate([model.encode(tf.constant(images[k:k + 128])).mean().numpy()
                         for k in range(0, len(images), 128)])


def render(model, codes):
  return np.concatenate([model.render(tf.constant(codes[k:k + 100])).numpy()
                         for k in range(0, len(codes), 100)])


def sheet(samples, path):
  """The first 48 samples on grey, 8 to a row, at twice their size."""
  pipelines.write_png(path, pictures.grid(metrics.composite(samples[:48]), ncols=8,
                                          channels=3, scale=2))


def header(width, with_realism):
  """The column names of `measures`' lines, the first column `width` wide."""
  return (f"{'setting':{width}s} {'pixel copies':>12s} {'shape copies':>12s} {'sharpness':>9s} "
          f"{'hardness':>8s} {'one piece':>9s}" +
          ("  convnet  log-loss  linear" if with_realism else ""))


def measures(name, width, samples, train, heldout, groups, with_realism):
  """One line of the sweep's measures of `samples` against the held-out sprites;
  `groups` (of the training sprites, of the held-out ones) are the species."""
  copies = realism.pixel_copies(samples, train, heldout)["near_copy_fraction"]
  shapes = realism.shape_copies(samples, train, heldout, groups[0])["near_copy_fraction"]
  looks = appearance.compare(heldout, samples=samples)
  line = (f"{name:{width}s} {copies:12.3f} {shapes:12.3f} {looks['sharpness']['samples']:9.3f} "
          f"{looks['alpha_hardness']['samples']:8.3f} "
          f"{looks['silhouette']['samples']['one_piece']:9.3f}")
  if with_realism:
    conv = realism.two_sample_test(heldout, samples, groups[1], kind="conv")
    linear = realism.two_sample_test(heldout, samples, groups[1], kind="linear")
    line += f"  {conv['accuracy']:7.3f}  {conv['log_loss']:8.3f}  {linear['accuracy']:6.3f}"
  return line


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--ckpt", default="pretrained")
  parser.add_argument("--samples", type=int, default=500)
  parser.add_argument("--realism", action="store_true",
                      help="also the convnet and linear two-sample tests (about 30 s a setting)")
  parser.add_argument("--probes", action="store_true",
                      help="also the samplers tried and not kept: fusions, balanced, lengthened, "
                      "aligned, swapped")
  parser.add_argument("--quilts", action="store_true",
                      help="also the quilt sampler's settings (section 20)")
  parser.add_argument("--sheets", default="", help="a folder for a PNG of each setting's samples")
  parser.add_argument("--only", nargs="+", default=[], metavar="NAME",
                      help="only the rows whose names contain one of these")
  args = parser.parse_args()
  model, config, _, _ = load.load_model(args.ckpt)
  data = report_lib.load_data(config)
  images, train, heldout, (train_groups, heldout_groups) = report_lib.load_split(
      config, "test", data=data)
  codes = encode(model, train)
  partners = blend.partners(codes, train_groups, k=96)
  print(f"{args.ckpt}: {len(codes)} training codes, {args.samples} samples per setting, "
        f"{len(images)} test sprites")
  print(header(58, args.realism))
  rows = [(setting[0], lambda setting=setting: render(
      model, blends(model, codes, partners, setting, args.samples))) for setting in SETTINGS]
  if args.probes:
    rows += [(setting[0], lambda setting=setting: render(
        model, fusions(model, codes, partners, setting, args.samples))) for setting in FUSIONS]
    rows.append(("balanced t (not kept)",
                 lambda: balanced(model, codes, partners, train, args.samples)[0]))
    default = next(setting for setting in SETTINGS if "(the default)" in setting[0])
    rows += [(name, lambda factor=factor: render(model, lengthened(
        model, blends(model, codes, partners, default, args.samples), factor)))
             for name, factor in LENGTHENED]
    rows += [(name, lambda align=align: render(
        model, aligned(model, codes, partners, train, align, args.samples)))
             for name, align in ALIGNED]
    rows.append(("swapped: z1 of one, detail of the other",
                 lambda: render(model, swapped(model, codes, partners, args.samples))))
  if args.quilts:
    sampler = quilt_sampler(model, data, codes, train_groups)
    rows += [(name, lambda block=block, gain=gain, alpha=alpha, own=own, outside=outside: render(
        model, sampler.quilted(model, args.samples, 1.0, tf.constant([0, 0]), block=block,
                               gain=gain, alpha=alpha, own_grids=own,
                               outside=outside).numpy()))
             for name, block, gain, alpha, own, outside in QUILTS]
  if args.only:
    rows = [row for row in rows if any(part in row[0] for part in args.only)]
  for number, (name, draw) in enumerate(rows):
    samples = draw()
    print(measures(name, 58, samples, train, heldout, (train_groups, heldout_groups),
                   args.realism), flush=True)
    if args.sheets:
      sheet(samples, os.path.join(args.sheets, f"{number:02d}.png"))
  return 0


if __name__ == "__main__":
  sys.exit(main())
