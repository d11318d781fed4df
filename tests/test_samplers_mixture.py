"""Tests for vae/samplers/mixture.py: the mixture fit and the density in variables."""

import math
import os

import numpy as np
import tensorflow as tf

from vae.samplers import mixture
from vae import model as model_lib


def _clusters(n_per, centres, scale, seed):
  rng = np.random.default_rng(seed)
  return np.concatenate([c + scale * rng.standard_normal((n_per, len(c))) for c in centres])


class FitMixtureTest(tf.test.TestCase):

  CENTRES = np.array([[6.0, 0.0, 0.0], [-6.0, 0.0, 0.0], [0.0, 6.0, 0.0], [0.0, -6.0, 0.0]])

  def test_em_finds_four_separated_clusters_and_validation_picks_four(self):
    train = _clusters(200, self.CENTRES, 0.5, seed=0)
    val = _clusters(50, self.CENTRES, 0.5, seed=1)
    weights, means, chols, scores = mixture.fit_mixture(train, val, (1, 2, 4, 8))
    # Validation likelihood rises until the four clusters are separated;
    # eight components can only split clusters, which held-out codes punish
    # or leave level, so four (or the near-tie eight) must win over one and two.
    self.assertIn(len(weights), (4, 8))
    self.assertGreater(scores[4], scores[2] + 1.0)
    if len(weights) == 4:
      found = sorted(map(tuple, np.round(means)))
      self.assertEqual(found, sorted(map(tuple, self.CENTRES)))
      self.assertAllClose(weights, np.full(4, 0.25), atol=0.02)
      covariances = chols @ np.transpose(chols, (0, 2, 1))
      self.assertAllClose(covariances, np.tile(0.25 * np.eye(3), (4, 1, 1)), atol=0.08)

  def test_one_gaussian_is_kept_for_gaussian_codes(self):
    rng = np.random.default_rng(2)
    cov = np.array([[2.0, 0.9], [0.9, 1.0]])
    train = rng.multivariate_normal([1.0, -1.0], cov, 600)
    val = rng.multivariate_normal([1.0, -1.0], cov, 200)
    weights, means, chols, _ = mixture.fit_mixture(train, val, (1, 2, 4, 8))
    self.assertLessEqual(len(weights), 2)
    if len(weights) == 1:
      self.assertAllClose(chols[0] @ chols[0].T, cov, atol=0.25)

  def test_sizes_with_too_few_codes_per_covariance_are_skipped(self):
    train = _clusters(10, self.CENTRES[:2], 0.5, seed=3)  # 20 codes in 3-D
    *_, scores = mixture.fit_mixture(train, train, (1, 2, 4, 8))
    self.assertEqual(sorted(scores), [1, 2, 4])

  def test_too_few_codes_is_an_error_naming_the_shape(self):
    with self.assertRaisesRegex(ValueError, r"at least 2 training codes.*\(1, 3\)"):
      mixture.fit_mixture(np.zeros((1, 3)), np.zeros((1, 3)))


class MixtureSamplerTest(tf.test.TestCase):

  def _fitted(self, dim=3, slots=8):
    train = _clusters(150, FitMixtureTest.CENTRES[:, :dim], 0.7, seed=4)
    weights, means, chols, _ = mixture.fit_mixture(train, train, (1, 2, 4))
    density = mixture.MixtureSampler(dim, slots)
    density.assign(weights, means, chols, step=17)
    return density, (weights, means, chols)

  def test_density_matches_the_fit_and_is_normalised(self):
    density, fit = self._fitted()
    z = _clusters(20, FitMixtureTest.CENTRES, 1.0, seed=5)
    self.assertAllClose(density().log_prob(z.astype(np.float32)),
                        mixture.mixture_log_prob(z, *fit), rtol=1e-4, atol=1e-4)
    # Importance sampling from a broad Gaussian q: E_q[p(z) / q(z)] = 1 for a
    # normalised p. 200k draws give a standard error of about 0.01 here.
    n, scale = 200_000, 5.0
    q = np.random.default_rng(6).standard_normal((n, 3)) * scale
    log_q = -0.5 * np.sum((q / scale)**2, 1) - 3 * math.log(scale * math.sqrt(2 * math.pi))
    ratio = np.exp(density().log_prob(q.astype(np.float32)).numpy() - log_q)
    self.assertAllClose(ratio.mean(), 1.0, atol=4 * ratio.std() / math.sqrt(n))

  def test_unused_slots_are_never_sampled_and_temperature_shrinks_spread(self):
    density, (weights, means, _) = self._fitted()
    z = density().sample(4000, seed=(1, 2)).numpy()
    nearest = np.argmin(((z[:, None] - means[None])**2).sum(-1), axis=1)
    self.assertLen(np.unique(nearest), len(weights))
    cold = density(0.1).sample(4000, seed=(1, 2)).numpy()
    self.assertLess(np.min(((cold[:, None] - means[None])**2).sum(-1), 1).mean(),
                    0.05 * np.min(((z[:, None] - means[None])**2).sum(-1), 1).mean())

  def test_too_many_components_for_the_slots_is_an_error(self):
    density = mixture.MixtureSampler(2, 1)
    with self.assertRaisesRegex(ValueError, "2 components does not fit 1 slots"):
      density.assign(np.full(2, 0.5), np.zeros((2, 2)), np.tile(np.eye(2), (2, 1, 1)), 0)

  def test_fitted_density_survives_a_checkpoint_round_trip_in_the_model(self):
    args = dict(image_size=16, channels=4, widths=(4, 8), latent_dim=3,
                grid_size=8, grid_channels=2, sampler="expost", expost_components=8)
    model = model_lib.VAE(**args)
    density, fit = self._fitted()
    model.expost.assign(*fit, step=17)
    path = tf.train.Checkpoint(model=model).write(os.path.join(self.get_temp_dir(), "ckpt"))
    fresh = model_lib.VAE(**args)
    self.assertFalse(fresh.expost.fitted)
    tf.train.Checkpoint(model=fresh).read(path).assert_consumed()
    self.assertEqual(int(fresh.expost.fitted_step.numpy()), 17)
    z = tf.constant(_clusters(5, FitMixtureTest.CENTRES, 1.0, seed=7), tf.float32)
    self.assertAllEqual(fresh.expost().log_prob(z), density().log_prob(z))
    self.assertAllEqual(fresh.sample(4, seed=(3, 4)), model.sample(4, seed=(3, 4)))


if __name__ == "__main__":
  tf.test.main()
