"""The ex-post sampler: a density fitted to where the training codes went.

After training, the posterior of each training sprite is narrow (standard
deviations of a few hundredths against a unit prior), so the codes of the
training set fill a small, oddly shaped part of N(0, I); a prior sample
usually lands between them, where the decoder blends shapes. Ghosh et al.
(2020, "From Variational to Deterministic Autoencoders") fit a density to the
training codes after training and sample from it instead; a Gaussian mixture
with full covariances is their strongest simple choice.

`fit_mixture` runs EM in float64 NumPy on the training set's posterior means,
for each size in `component_grid`, and keeps the size with the best mean
log-likelihood of the validation sprites' codes (species never seen in
training), so the density generalises rather than memorises. `MixtureSampler`
holds the chosen mixture as TensorFlow variables of a fixed maximum size
(unused components get a logit of -1e9), so it lives in the checkpoint and in
the SavedModel like any weight: no pickle, no side file.
"""

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae import layers
from vae.samplers import base
from vae.samplers import prior

tfd = tfp.distributions

# Added to each covariance's diagonal (in units of the codes' overall
# variance): keeps a component that sits on few codes from collapsing.
RIDGE = 1e-3
EM_ITERATIONS = 50
# EM stops once the mean training log-likelihood gains less than this (nats).
EM_TOLERANCE = 1e-3
_UNUSED_LOGIT = -1e9


def _log_gaussians(x, means, chols):
  """log N(x_n; mu_k, L_k L_k^T), [N, K]."""
  n, d = x.shape
  out = np.empty((n, len(means)))
  for k, (mu, chol) in enumerate(zip(means, chols)):
    # One D x D inverse and a matmul: far cheaper than a solve per code.
    whitened = (x - mu) @ np.linalg.inv(chol).T  # rows L^-1 (x - mu)
    out[:, k] = (-0.5 * np.sum(whitened**2, axis=1) - np.sum(np.log(np.diag(chol)))
                 - 0.5 * d * math.log(2 * math.pi))
  return out


def _logsumexp(a, axis):
  top = np.max(a, axis=axis, keepdims=True)
  return np.squeeze(top, axis) + np.log(np.sum(np.exp(a - top), axis=axis))


def mixture_log_prob(x, weights, means, chols):
  """Log density of each row of x under the mixture, [N]."""
  return _logsumexp(np.log(weights)[None] + _log_gaussians(x, means, chols), 1)


def _em(x, k, rng, ridge):
  """One EM fit of k full-covariance Gaussians; returns (weights, means, chols)."""
  n, d = x.shape
  # k-means++ seeding keeps the start spread over the data.
  centres = [x[rng.integers(n)]]
  for _ in range(k - 1):
    gaps = np.min([np.sum((x - c)**2, axis=1) for c in centres], axis=0)
    centres.append(x[rng.choice(n, p=gaps / gaps.sum())])
  means = np.array(centres)
  cov = np.cov(x.T) + ridge * np.eye(d)
  chols = np.array([np.linalg.cholesky(cov)] * k)
  weights = np.full(k, 1.0 / k)
  previous = -np.inf
  for _ in range(EM_ITERATIONS):
    joint = np.log(weights)[None] + _log_gaussians(x, means, chols)
    log_norm = _logsumexp(joint, 1)
    if np.mean(log_norm) - previous < EM_TOLERANCE:
      break
    previous = np.mean(log_norm)
    resp = np.exp(joint - log_norm[:, None])  # [N, K]
    mass = resp.sum(0) + 1e-10
    weights = mass / n
    means = (resp.T @ x) / mass[:, None]
    for j in range(k):
      centred = x - means[j]
      cov_j = (resp[:, j, None] * centred).T @ centred / mass[j]
      chols[j] = np.linalg.cholesky(cov_j + ridge * np.eye(d))
  return weights, means, chols


def fit_mixture(train_codes, val_codes, component_grid=(1, 2, 4, 8), seed=0):
  """Fits Gaussian mixtures to `train_codes`, keeps the best on `val_codes`.

  Args:
    train_codes: posterior means of the training sprites [N, D].
    val_codes: posterior means of held-out sprites [M, D].
    component_grid: mixture sizes to try; sizes above N / (D + 1) (too few
      codes per full covariance) are skipped.
    seed: seed of the k-means++ starts.

  Returns:
    (weights [K], means [K, D], chols [K, D, D], scores) with scores a dict
    {K: mean validation log-likelihood} of every size tried.
  """
  x = np.asarray(train_codes, np.float64)
  v = np.asarray(val_codes, np.float64)
  if x.ndim != 2 or len(x) < 2:
    raise ValueError(f"need at least 2 training codes [N, D], got shape {x.shape}")
  ridge = RIDGE * float(np.mean(np.var(x, axis=0)))
  rng = np.random.default_rng(seed)
  best, scores = None, {}
  for k in component_grid:
    if k > 1 and k * (x.shape[1] + 1) > len(x):
      continue
    fit = _em(x, k, rng, ridge)
    scores[k] = float(np.mean(mixture_log_prob(v if len(v) else x, *fit)))
    if best is None or scores[k] > scores[best[0]]:
      best = (k, fit)
  return (*best[1], scores)


class MixtureSampler(base.Sampler):
  """A Gaussian mixture over the latents, held in variables.

  Until `assign` stores a fit it is one standard normal component: N(0, I),
  the prior of a model with the normal prior. Over the global latent
  (`latents` "top") the grid then comes from p(z2|z1); over the whole code
  ("all") the mixture keeps the grid cells' correlations, which the
  conditional prior, drawing every cell independently, paints as noise.
  """

  kind = "expost"
  uses_validation = True

  def __init__(self, latent_dim, max_components=16, latents="top", name=None):
    super().__init__(latents, name=name)
    layers.check_positive_int("expost_components", max_components)
    self.latent_dim = latent_dim
    self.max_components = max_components
    with self.name_scope:
      self.logits = tf.Variable(
          tf.concat([[0.0], tf.fill([max_components - 1], _UNUSED_LOGIT)], 0),
          trainable=False, name="logits")
      self.means = tf.Variable(tf.zeros([max_components, latent_dim]),
                               trainable=False, name="means")
      self.scale_tril = tf.Variable(
          tf.eye(latent_dim, batch_shape=[max_components]),
          trainable=False, name="scale_tril")

  @property
  def components(self):
    """How many of the slots the stored mixture uses."""
    return int(np.sum(self.logits.numpy() > _UNUSED_LOGIT / 2))

  def assign(self, weights, means, chols, step):
    """Stores a fitted mixture (from `fit_mixture`) at training step `step`."""
    k = len(weights)
    if k > self.max_components:
      raise ValueError(
          f"a mixture of {k} components does not fit {self.max_components} slots")
    logits = np.full(self.max_components, _UNUSED_LOGIT, np.float32)
    logits[:k] = np.log(weights)
    padded_means = np.zeros((self.max_components, self.latent_dim), np.float32)
    padded_means[:k] = means
    padded_chols = np.tile(np.eye(self.latent_dim, dtype=np.float32),
                           (self.max_components, 1, 1))
    padded_chols[:k] = chols
    self.logits.assign(logits)
    self.means.assign(padded_means)
    self.scale_tril.assign(padded_chols)
    self.fitted_step.assign(step)

  def __call__(self, temperature=1.0):
    """The mixture, with every component's covariance scaled by temperature^2."""
    return tfd.MixtureSameFamily(
        tfd.Categorical(logits=self.logits),
        tfd.MultivariateNormalTriL(
            self.means, self.scale_tril * tf.cast(temperature, tf.float32)),
        name="expost")

  def fit(self, train, val, step, groups=None, seed=0, types=None):
    """Fits mixtures of 1, 2, 4, ... components (up to the slots), keeps the best on `val`."""
    grid = tuple(k for k in (1, 2, 4, 8, 16) if k <= self.max_components)
    weights, means, chols, scores = fit_mixture(train, val, grid, seed=seed)
    self.assign(weights, means, chols, step)
    return dict(scores=scores, chosen=self.components)

  def sample_codes(self, model, n, temperature, seed, types=None):
    top_seed, grid_seed = tfp.random.split_seed(seed, n=2)
    drawn = self(temperature).sample(n, seed=top_seed)
    if self.latents == "all":
      return drawn
    return prior.codes_given_top(model, drawn, temperature, grid_seed, types)

  def describe(self):
    return dict(kind="mixture", components=self.components, latents=self.latents,
                fitted_step=int(self.fitted_step.numpy()))

  def words(self, model):
    if self.latents == "all":
      return "ex-post density of the whole code"
    return "ex-post density of the global latent" + prior.grid_words(model)
