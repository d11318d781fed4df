"""Tests for vae/priors.py."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae import priors

tfd = tfp.distributions


def _posterior(batch=4, dim=3, seed=(1, 2)):
  loc_seed, scale_seed = tfp.random.split_seed(seed)
  loc = tf.random.stateless_normal([batch, dim], seed=loc_seed)
  scale = tf.random.stateless_uniform([batch, dim], minval=0.2, maxval=1.5,
                                      seed=scale_seed)
  return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)


def _trained_looking_mixture(dim=3, components=5):
  """A MixturePrior whose variables are moved off their initial values."""
  prior = priors.MixturePrior(dim, components)
  prior.logits.assign(tf.random.stateless_normal([components], seed=(3, 4)))
  prior.means.assign(
      2.0 * tf.random.stateless_normal([components, dim], seed=(5, 6)))
  prior.raw_scales.assign(
      tf.random.stateless_normal([components, dim], seed=(7, 8)))
  return prior


class StandardNormalPriorTest(tf.test.TestCase):

  def test_is_unit_normal_scaled_by_temperature(self):
    prior = priors.StandardNormalPrior(5)
    self.assertEqual(prior().event_shape, [5])
    self.assertEqual(prior().batch_shape, [])
    self.assertAllClose(prior(0.5).stddev(), 0.5 * tf.ones([5]))
    self.assertEmpty(prior.variables)

  def test_analytic_kl_per_dimension_matches_monte_carlo(self):
    posterior, prior = _posterior(), priors.StandardNormalPrior(3)()
    n = 20000
    z = posterior.sample(n, seed=(9, 10))
    samples = (posterior.distribution.log_prob(z)
               - prior.distribution.log_prob(z))  # [n, B, D]
    mc_mean = tf.reduce_mean(samples, axis=0)
    standard_error = tf.math.reduce_std(samples, axis=0) / np.sqrt(n)
    analytic = priors.rate_per_dim(posterior, prior, z=None)
    # The Monte Carlo mean is within 4 standard errors of the truth with
    # probability 0.99994 per entry (12 entries here), while the posterior
    # locations of order 1 make any error in the KL formula many standard
    # errors large.
    self.assertAllLessEqual(tf.abs(analytic - mc_mean) - 4 * standard_error,
                            0.0)


class MixturePriorTest(tf.test.TestCase):

  def test_shapes_and_named_variables(self):
    prior = priors.make_prior("mog", 6, components=4)
    dist = prior()
    self.assertEqual(dist.event_shape, [6])
    self.assertEqual(dist.batch_shape, [])
    self.assertEqual(dist.sample(3, seed=(1, 1)).shape, [3, 6])
    self.assertEqual(sorted(v.name for v in prior.trainable_variables),
                     ["prior/logits:0", "prior/means:0", "prior/raw_scales:0"])

  def test_initial_components_have_variance_three_quarters(self):
    # Means spread with variance 1/4 plus components of variance 3/4 make a
    # unit-variance mixture per dimension, like N(0, I).
    dist = priors.MixturePrior(4, 8)()
    self.assertAllClose(dist.components_distribution.variance(),
                        tf.fill([8, 4], 0.75), rtol=1e-5)

  def test_zero_temperature_samples_are_component_means(self):
    prior = _trained_looking_mixture()
    samples = prior(0.0).sample(20, seed=(2, 3))
    distance = tf.reduce_min(
        tf.norm(samples[:, None, :] - prior.means[None], axis=-1), axis=1)
    self.assertAllClose(distance, tf.zeros([20]))

  def test_rate_per_dim_sums_to_monte_carlo_rate(self):
    posterior, prior = _posterior(), _trained_looking_mixture()()
    z = posterior.sample(seed=(4, 5))
    self.assertAllClose(
        tf.reduce_sum(priors.rate_per_dim(posterior, prior, z), axis=-1),
        posterior.log_prob(z) - prior.log_prob(z), rtol=1e-5, atol=1e-4)

  def test_rate_per_dim_terms_are_chain_rule_conditionals(self):
    # Check against marginals built independently: the mixture of the same
    # components restricted to the first d dimensions.
    module = _trained_looking_mixture()
    posterior, prior = _posterior(), module()
    z = posterior.sample(seed=(6, 7))
    scales = prior.components_distribution.distribution.scale

    def log_marginal(d):
      if d == 0:
        return tf.zeros([4])
      marginal = tfd.MixtureSameFamily(
          tfd.Categorical(logits=module.logits),
          tfd.Independent(tfd.Normal(module.means[:, :d], scales[:, :d]), 1))
      return marginal.log_prob(z[:, :d])

    terms = priors.rate_per_dim(posterior, prior, z)
    for d in range(3):
      log_q = posterior.distribution.log_prob(z)[:, d]
      self.assertAllClose(
          terms[:, d], log_q - (log_marginal(d + 1) - log_marginal(d)),
          rtol=1e-5, atol=1e-4, msg=f"dimension {d}")

  def test_rate_per_dim_terms_average_to_non_negative_kls(self):
    # Each term estimates an expected conditional KL, which is >= 0; a sign
    # error or misplaced shift would show as a clearly negative average.
    posterior, prior = _posterior(), _trained_looking_mixture()()
    n = 4000
    z = posterior.sample(n, seed=(8, 9))  # [n, B, D]
    terms = priors.rate_per_dim(
        tfd.Independent(tfd.Normal(
            tf.tile(posterior.distribution.loc, [n, 1]),
            tf.tile(posterior.distribution.scale, [n, 1])), 1),
        prior, tf.reshape(z, [-1, 3]))
    terms = tf.reshape(terms, [n, 4, 3])
    mean = tf.reduce_mean(terms, axis=0)
    standard_error = tf.math.reduce_std(terms, axis=0) / np.sqrt(n)
    self.assertAllGreaterEqual(mean + 4 * standard_error, 0.0)

  def test_rejects_zero_components(self):
    with self.assertRaisesRegex(ValueError, "prior_components.*0"):
      priors.make_prior("mog", 3, components=0)


class MakePriorTest(tf.test.TestCase):

  def test_rejects_unknown_prior(self):
    with self.assertRaisesRegex(ValueError, "'vamp'"):
      priors.make_prior("vamp", 3)


if __name__ == "__main__":
  tf.test.main()
