"""Evaluation metrics for generated and reconstructed sprites.

Pure functions over numpy arrays (TensorFlow tensors are converted). Sample
quality is measured in a feature space (see `vae/evaluation/features.py`):

* `frechet_distance`: Heusel et al. 2017, "GANs Trained by a Two Time-Scale
  Update Rule Converge to a Local Nash Equilibrium".
* `kernel_distance`: Binkowski et al. 2018, "Demystifying MMD GANs".
* `prdc`: Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
  Generative Models", after Kynkaanniemi et al. 2019, "Improved Precision and
  Recall Metric for Assessing Generative Models".

Copying is measured in pixel space (`memorization`), reconstructions by
`psnr` and `ssim` (Wang et al. 2004), and the latent code by `active_units`
(Burda et al. 2016, "Importance Weighted Autoencoders").
"""

import numpy as np
import tensorflow as tf

from pipelines import display

# Mid grey sits as far from black outlines as from white bodies, so neither a
# dark nor a light sprite melts into the canvas, and a wrong alpha shows as a
# grey halo whatever the colour around it.
BACKGROUND = (0.5, 0.5, 0.5)

# One perfectly reconstructed image would make the mean PSNR infinite and hide
# all the others, so per-image MSE is floored here: PSNR is capped at 100 dB.
_MIN_MSE = 1e-10


def composite(images, background=BACKGROUND):
  """Flattens sprites onto an opaque background colour.

  Args:
    images: float array [N, S, S, C] in [0, 1]; C = 4 is premultiplied RGBA
      (transparent pixels are exactly 0), C = 3 is RGB and is returned as is.
    background: RGB colour in [0, 1].

  Returns:
    float32 array [N, S, S, 3].
  """
  images = np.asarray(images, dtype=np.float32)
  if images.ndim != 4 or images.shape[-1] not in (3, 4):
    raise ValueError(
        f"images must have shape [N, S, S, 3 or 4], got {images.shape}")
  if images.shape[-1] == 3:
    return images
  return display.composite(images[..., :3], images[..., 3:], np.asarray(background, np.float32))


def _as_vectors(x, name):
  x = np.asarray(x)
  if x.ndim != 2:
    raise ValueError(f"{name} must have shape [N, D], got {x.shape}")
  return x


def _block_sq_distances(a, b):
  # float64 because near-copies are the case of interest: in float32 the
  # |a|^2 + |b|^2 - 2ab expansion over 12,288 pixel values errs by ~5% on a
  # distance of 0.1 between two sprites that differ by 1e-3 per value.
  a = a.astype(np.float64)
  b = b.astype(np.float64)
  sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
  return np.maximum(sq, 0.0)


def pairwise_distances(a, b, chunk_size=512):
  """Euclidean distances between rows of `a` [N, D] and of `b` [M, D].

  Computed over blocks of `chunk_size` rows of each, so that the memory held
  beyond the [N, M] float64 result is O(chunk_size * D) even for 12,288-value
  pixel vectors.
  """
  a, b = _as_vectors(a, "a"), _as_vectors(b, "b")
  out = np.empty((len(a), len(b)), np.float64)
  for i in range(0, len(a), chunk_size):
    for j in range(0, len(b), chunk_size):
      out[i:i + chunk_size, j:j + chunk_size] = _block_sq_distances(
          a[i:i + chunk_size], b[j:j + chunk_size])
  return np.sqrt(out)


def two_nearest(queries, references, chunk_size=512):
  """Distances to each query's nearest and second-nearest reference rows, and the nearest's index.

  Returns:
    (nearest [N] float64, second [N] float64 (inf with one reference), indices [N] int64).
  """
  queries = _as_vectors(queries, "queries")
  references = _as_vectors(references, "references")
  first = np.full(len(queries), np.inf)
  second = np.full(len(queries), np.inf)
  index = np.zeros(len(queries), np.int64)
  for i in range(0, len(queries), chunk_size):
    rows = slice(i, i + chunk_size)
    for j in range(0, len(references), chunk_size):
      sq = _block_sq_distances(queries[rows], references[j:j + chunk_size])
      order = np.argsort(sq, axis=1)[:, :2]
      low = sq[np.arange(len(sq)), order[:, 0]]
      low2 = sq[np.arange(len(sq)), order[:, 1]] if sq.shape[1] > 1 else np.full(len(sq), np.inf)
      # Merge this block's two smallest with the running two.
      stacked = np.stack([first[rows], second[rows], low, low2], axis=1)
      ids = np.stack([index[rows], index[rows], order[:, 0] + j, order[:, 0] + j], axis=1)
      best = np.argsort(stacked, axis=1)
      first[rows] = stacked[np.arange(len(best)), best[:, 0]]
      second[rows] = stacked[np.arange(len(best)), best[:, 1]]
      index[rows] = ids[np.arange(len(best)), best[:, 0]]
  return np.sqrt(first), np.sqrt(second), index


def two_nearest_groups(queries, references, groups, chunk_size=512):
  """Like `two_nearest`, the second distance to the nearest reference of another group.

  groups [M] name each reference row's group (a species): a reference's twin
  in its own group (its shiny or another form, the same silhouette) is then
  never the second-nearest, which would make a copy of either look new.

  Returns:
    (nearest [N] float64, nearest of another group [N] float64 (inf with one
    group), indices [N] int64 of the nearest).
  """
  queries = _as_vectors(queries, "queries")
  references = _as_vectors(references, "references")
  groups = np.asarray(groups)
  if groups.shape != (len(references),):
    raise ValueError(f"groups must name each of the {len(references)} references, "
                     f"got shape {groups.shape}")
  _, group_of = np.unique(groups, return_inverse=True)
  order = np.argsort(group_of, kind="stable")
  starts = np.flatnonzero(np.r_[True, np.diff(group_of[order]) != 0])
  first = np.empty(len(queries))
  second = np.empty(len(queries))
  index = np.empty(len(queries), np.int64)
  for i in range(0, len(queries), chunk_size):
    sq = _block_sq_distances(queries[i:i + chunk_size], references[order])
    per_group = np.minimum.reduceat(sq, starts, axis=1)  # [n, groups]
    two = np.sort(per_group, axis=1)[:, :2]
    first[i:i + chunk_size] = two[:, 0]
    second[i:i + chunk_size] = two[:, 1] if two.shape[1] > 1 else np.inf
    index[i:i + chunk_size] = order[np.argmin(sq, axis=1)]
  return np.sqrt(first), np.sqrt(second), index


def nearest_neighbour(queries, references, chunk_size=512):
  """Distance to, and index of, each query's nearest reference row.

  Works through blocks of references (see `two_nearest`), so the full
  [N, M] matrix is never held.

  Returns:
    (distances [N] float64, indices [N] int64).
  """
  nearest, _, index = two_nearest(queries, references, chunk_size)
  return nearest, index


def frechet_distance(feats_a, feats_b):
  """Frechet distance between Gaussians fitted to two feature sets.

  Heusel et al. 2017: ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).
  Here it is computed in the random-network space of `vae/evaluation/features.py`, NOT
  in Inception-v3's: the number is comparable across runs of this project,
  never with published ImageNet FIDs. 0 means equal means and covariances.

  Args:
    feats_a: [N, D] features; feats_b: [M, D] features.

  Returns:
    The distance as a float >= 0.
  """
  a = _as_vectors(feats_a, "feats_a").astype(np.float64)
  b = _as_vectors(feats_b, "feats_b").astype(np.float64)
  mu_a, mu_b = a.mean(0), b.mean(0)
  cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  # Tr (S_a S_b)^(1/2) = Tr (S_a^(1/2) S_b S_a^(1/2))^(1/2): the second matrix
  # is symmetric PSD, so eigh gives real eigenvalues with no scipy sqrtm.
  w, v = np.linalg.eigh(cov_a)
  root_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
  inner = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
  tr_root = np.sqrt(np.clip(inner, 0.0, None)).sum()
  fd = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b)
  return float(max(fd - 2.0 * tr_root, 0.0))


def kernel_distance(feats_a, feats_b, subsets=100, subset_size=1000, seed=0):
  """Kernel Inception Distance (KID) in the project's feature space.

  Binkowski et al. 2018: the unbiased estimate of MMD^2 under the cubic
  polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets
  of `subset_size` drawn without replacement from each set. Unlike FD it is
  unbiased for independent sets, so equal distributions give a mean near 0
  (it can go negative). The same rows passed as both sets are not
  independent: rows drawn into both subsets pull the estimate below 0.

  Args:
    feats_a: [N, D] features; feats_b: [M, D] features.
    subsets: number of subsets averaged.
    subset_size: rows per subset, lowered to min(N, M) when the sets are
      smaller.
    seed: seed of the subset draws.

  Returns:
    (mean, std) of MMD^2 over the subsets, as floats.
  """
  a = _as_vectors(feats_a, "feats_a").astype(np.float64)
  b = _as_vectors(feats_b, "feats_b").astype(np.float64)
  m = min(subset_size, len(a), len(b))
  if m < 2:
    raise ValueError(f"kernel_distance needs >= 2 rows per set, got {m}")
  d = a.shape[1]
  rng = np.random.default_rng(seed)
  estimates = []
  for _ in range(subsets):
    x = a[rng.choice(len(a), m, replace=False)]
    y = b[rng.choice(len(b), m, replace=False)]
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    # Unbiased: the diagonals k(x_i, x_i) are left out of the within-set sums.
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy))
    estimates.append(within / (m * (m - 1)) - 2.0 * k_xy.mean())
  return float(np.mean(estimates)), float(np.std(estimates))


def _kth_neighbour_radii(feats, k):
  # Column 0 of each sorted row is the point itself (distance 0).
  distances = pairwise_distances(feats, feats)
  return np.partition(distances, k, axis=1)[:, k]


def prdc(real_feats, fake_feats, k=5):
  """Precision, recall, density and coverage of fake against real features.

  Each point gets a ball reaching its k-th nearest neighbour in its own set.
  Following the authors' code, "inside" is strictly closer than the radius.

  * precision (Kynkaanniemi et al. 2019): fraction of fakes inside some real
    ball: fidelity, 1 when no sample falls off the real manifold.
  * recall (same): fraction of reals inside some fake ball: diversity.
  * density (Naeem et al. 2020): real balls containing each fake, averaged
    and divided by k; 1 on average when fakes follow the real distribution,
    above 1 when they crowd where reals are dense. Robust to real outliers.
  * coverage (same): fraction of real balls holding at least one fake.

  Args:
    real_feats: [N, D]; fake_feats: [M, D].
    k: the neighbour that sets a ball's radius.

  Returns:
    dict of floats with keys precision, recall, density, coverage.
  """
  real = _as_vectors(real_feats, "real_feats")
  fake = _as_vectors(fake_feats, "fake_feats")
  if not 1 <= k < min(len(real), len(fake)):
    raise ValueError(f"k must be in [1, min(N, M) - 1], got {k}")
  real_radii = _kth_neighbour_radii(real, k)
  fake_radii = _kth_neighbour_radii(fake, k)
  real_fake = pairwise_distances(real, fake)
  inside_real = real_fake < real_radii[:, None]
  return dict(
      precision=float(inside_real.any(0).mean()),
      recall=float((real_fake < fake_radii[None, :]).any(1).mean()),
      density=float(inside_real.sum(0).mean() / k),
      coverage=float((real_fake.min(1) < real_radii).mean()))


def _rms_vectors(x, name):
  """Images become composited pixel vectors, feature rows stay as they are."""
  x = np.asarray(x)
  if x.ndim == 4:
    x = composite(x).reshape(len(x), -1)
  return _as_vectors(x, name)


def memorization(samples, train, heldout, quantile=0.05, chunk_size=512, train_groups=None):
  """How many samples are near-copies of a training sprite.

  Distances are root-mean-square differences, L2 / sqrt(number of values):
  on images (composited on `BACKGROUND`) the typical per-pixel colour error
  in [0, 1] units; feature rows [N, D] are accepted too.

  A copy of a training sprite is much nearer to that one sprite than to any
  other; a sample that is merely plain or blurry sits about as near to many
  sprites at once (a hub), however near that is. So the test is the ratio of
  the distances to the nearest and the second-nearest training sprite (Lowe's
  ratio test), not the distance itself: a sample is a near-copy when its
  ratio is below the `quantile` of the same ratio for held-out sprites, which
  are new by construction. A model whose samples are as new as held-out
  sprites gets a fraction near `quantile`, a copying model a fraction near 1.
  (A training sprite with a near-twin in the training set, such as a form
  that differs by a few pixels, gives its copies a ratio near 1: the test
  cannot tell which of the two was copied, and misses them; with
  `train_groups` the second-nearest is the nearest of another group, so a
  twin within a species no longer hides a copy.)

  Args:
    samples: generated [N, S, S, C] images or [N, D] features.
    train: training set in the same space as `samples`, at least 2 rows.
    heldout: held-out set in the same space.
    quantile: which quantile of held-out ratios is the threshold.
    chunk_size: rows per block of the distance computation.
    train_groups: optional [len(train)] group (species) of each training row;
      see above.

  Returns:
    dict with near_copy_fraction, threshold (of the ratio),
    sample_median_distance, heldout_median_distance (to the nearest training
    sprite; floats), and nearest_index [N] int64, nearest_distance [N]
    float64 and nearest_ratio [N] float64 of each sample.
  """
  samples = _rms_vectors(samples, "samples")
  train = _rms_vectors(train, "train")
  heldout = _rms_vectors(heldout, "heldout")
  if not samples.shape[1] == train.shape[1] == heldout.shape[1]:
    raise ValueError(
        "samples, train and heldout must have the same size, got "
        f"{samples.shape}, {train.shape}, {heldout.shape}")
  if len(train) < 2:
    raise ValueError(f"train must hold at least 2 rows for the ratio test, got {len(train)}")
  scale = np.sqrt(samples.shape[1])
  if train_groups is None:
    nearest = lambda queries: two_nearest(queries, train, chunk_size)
  else:
    nearest = lambda queries: two_nearest_groups(queries, train, train_groups, chunk_size)
  sample_dist, sample_second, index = nearest(samples)
  heldout_dist, heldout_second, _ = nearest(heldout)
  sample_ratio = sample_dist / np.maximum(sample_second, 1e-12)
  heldout_ratio = heldout_dist / np.maximum(heldout_second, 1e-12)
  threshold = float(np.quantile(heldout_ratio, quantile))
  return dict(
      near_copy_fraction=float((sample_ratio < threshold).mean()),
      threshold=threshold,
      sample_median_distance=float(np.median(sample_dist / scale)),
      heldout_median_distance=float(np.median(heldout_dist / scale)),
      nearest_index=index,
      nearest_distance=sample_dist / scale,
      nearest_ratio=sample_ratio)


def _composited_pair(a, b):
  a, b = composite(a), composite(b)
  if a.shape != b.shape:
    raise ValueError(f"a and b must have the same shape, got {a.shape}, "
                     f"{b.shape}")
  return a, b


def psnr(a, b, max_val=1.0):
  """Peak signal-to-noise ratio in dB, 10 log10(max_val^2 / MSE).

  Computed per image on colour composited on `BACKGROUND`, then averaged
  over images. Identical images give the cap of 100 dB (see `_MIN_MSE`).
  """
  a, b = _composited_pair(a, b)
  mse = ((a.astype(np.float64) - b) ** 2).mean(axis=(1, 2, 3))
  return float(np.mean(10.0 * np.log10(max_val**2 / np.maximum(mse, _MIN_MSE))))


def ssim(a, b, max_val=1.0):
  """Structural similarity (Wang et al. 2004), mean over images.

  On colour composited on `BACKGROUND`, with the paper's 11x11 Gaussian window
  of sigma 1.5 (tf.image.ssim), shrunk to the image for sprites under 11 px.
  Identical images give 1.
  """
  a, b = _composited_pair(a, b)
  window = min(11, a.shape[1])
  return float(tf.reduce_mean(tf.image.ssim(
      tf.constant(a), tf.constant(b), max_val, filter_size=window)))


def active_units(posterior_means, threshold=0.01):
  """Number of active latent units (Burda et al. 2016, Section 5.2).

  Unit d is active when Cov_x(E_q[z_d | x]) > threshold: its posterior mean
  moves with the input. A collapsed unit's mean stays at the prior's.

  Args:
    posterior_means: [N, D] encoder means over a data set.
    threshold: the paper's 0.01.

  Returns:
    The count, an int.
  """
  means = _as_vectors(posterior_means, "posterior_means")
  return int((np.var(means.astype(np.float64), axis=0) > threshold).sum())
