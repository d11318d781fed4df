"""Tests for vae/objectives.py."""

import math
from unittest import mock

import keras
import pytest
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from absl.testing import parameterized

from vae import model as model_lib
from vae import objectives


def _tiny_model(**kwargs):
  # One global latent: the grid's terms are tested in test_hierarchy.py.
  return model_lib.VAE(image_size=16, channels=4, widths=(4, 8), latent_dim=4,
                       **{"grid_size": 0, "sampler": "prior", **kwargs})


def _images(batch=16, seed=(1, 2)):
  # Mostly dark 8-bit values, like sprites on a transparent background.
  u = tf.random.stateless_uniform([batch, 16, 16, 4], seed=seed)
  return tf.round(u**4 * 255) / 255


class ElboTermsTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters("normal", "mog")
  def test_terms_have_per_image_shapes_and_add_up(self, prior):
    terms = objectives.elbo_terms(_tiny_model(prior=prior), _images(3),
                                  seed=(3, 4))
    for name in ("distortion", "rate", "elbo"):
      self.assertEqual(terms[name].shape, [3])
    self.assertEqual(terms["rate_per_dim"].shape, [3, 4])
    self.assertAllClose(terms["elbo"],
                        -(terms["distortion"] + terms["rate"]))
    self.assertAllClose(tf.reduce_sum(terms["rate_per_dim"], -1),
                        terms["rate"])

  def test_mixture_prior_rate_is_the_monte_carlo_estimate(self):
    model = _tiny_model(prior="mog")
    x = _images(3)
    terms = objectives.elbo_terms(model, x, seed=(5, 6))
    posterior = model.encode(x)
    # The same stateless draw: elbo_terms reparameterises this noise.
    z = posterior.mean() + posterior.stddev() * tf.random.stateless_normal(
        [3, 4], tfp.random.sanitize_seed((5, 6)))
    self.assertAllClose(terms["rate"],
                        posterior.log_prob(z) - model.prior().log_prob(z),
                        rtol=1e-5, atol=1e-4)

  def test_stateless_seed_makes_terms_reproducible_in_and_out_of_graph(self):
    model, x = _tiny_model(), _images(3)
    eager = objectives.elbo_terms(model, x, seed=(7, 8))
    graph = tf.function(objectives.elbo_terms)(model, x, seed=(7, 8))
    for name in eager:
      self.assertAllClose(eager[name], graph[name], rtol=1e-5)
    other = objectives.elbo_terms(model, x, seed=(7, 9))
    self.assertNotAllClose(eager["distortion"], other["distortion"])


# Hand-made terms: two images, two latent dimensions.
TERMS = {
    "distortion": tf.constant([1.0, 3.0]),
    "rate": tf.constant([2.1, 4.3]),
    "rate_per_dim": tf.constant([[0.1, 2.0], [0.3, 4.0]]),
}


class TrainingLossTest(tf.test.TestCase):

  def test_default_is_mean_distortion_plus_beta_rate(self):
    # mean distortion 2, mean rate 3.2.
    self.assertAllClose(objectives.training_loss(TERMS, beta=0.5), 2.0 + 1.6)

  def test_free_bits_floor_each_dimension_after_averaging_over_batch(self):
    # Batch means per dimension: 0.2 and 3.0; with 0.5 free nats the first
    # counts as 0.5, the second as 3.0.
    loss = objectives.training_loss(TERMS, beta=2.0, free_bits=0.5)
    self.assertAllClose(loss, 2.0 + 2.0 * (0.5 + 3.0))

  def test_free_bits_stop_the_gradient_of_dimensions_under_the_floor(self):
    rate_per_dim = tf.Variable(TERMS["rate_per_dim"])
    with tf.GradientTape() as tape:
      terms = dict(TERMS, rate_per_dim=rate_per_dim)
      loss = objectives.training_loss(terms, beta=1.0, free_bits=0.5)
    self.assertAllClose(tape.gradient(loss, rate_per_dim),
                        [[0.0, 0.5], [0.0, 0.5]])

  def test_capacity_penalises_distance_of_each_rate_from_target(self):
    # |2.1 - 3| = 0.9 and |4.3 - 3| = 1.3, mean 1.1; beta plays no part.
    loss = objectives.training_loss(TERMS, beta=123.0, capacity=3.0,
                                    gamma=10.0)
    self.assertAllClose(loss, 2.0 + 10.0 * 1.1)

  def test_accepts_tensor_hyperparameters_inside_tf_function(self):
    fn = tf.function(lambda b, c, f: (
        objectives.training_loss(TERMS, beta=b, free_bits=f),
        objectives.training_loss(TERMS, beta=b, capacity=c, gamma=10.0)))
    with_free_bits, with_capacity = fn(tf.constant(2.0), tf.constant(3.0),
                                       tf.constant(0.5))
    self.assertAllClose(with_free_bits, 2.0 + 2.0 * 3.5)
    self.assertAllClose(with_capacity, 2.0 + 11.0)

  def test_rejects_free_bits_with_capacity(self):
    with self.assertRaisesRegex(ValueError, "free_bits=0.5.*capacity=3.0"):
      objectives.training_loss(TERMS, beta=1.0, free_bits=0.5, capacity=3.0)


@pytest.mark.slow  # its set-up and compiled steps take several seconds on 2 cores
class IwaeBoundTest(tf.test.TestCase):

  MODEL = {}  # _tiny_model's arguments

  @classmethod
  def setUpClass(cls):
    # A briefly trained model, so that the posterior matters and the bounds
    # differ by more than their Monte Carlo noise.
    super().setUpClass()
    tf.random.set_seed(0)
    cls.model = _tiny_model(**cls.MODEL)
    cls.x = _images()
    optimizer = keras.optimizers.Adam(3e-3)

    @tf.function
    def step(seed):
      with tf.GradientTape() as tape:
        loss = objectives.training_loss(
            objectives.elbo_terms(cls.model, cls.x, seed=seed), beta=1.0)
      variables = cls.model.trainable_variables
      optimizer.apply_gradients(zip(tape.gradient(loss, variables),
                                    variables))

    for i in range(150):
      step(tf.constant([i, 0]))

  def _batch_means(self, fn, repeats=5):
    """Batch-mean bound for `repeats` seeds: (mean, standard error)."""
    values = np.array([float(tf.reduce_mean(fn(seed=(i, 17))))
                       for i in range(repeats)])
    return values.mean(), values.std(ddof=1) / np.sqrt(repeats)

  def test_bound_is_above_elbo_and_does_not_decrease_with_k(self):
    # E[IWAE_k] is non-decreasing in k and E[IWAE_1] = ELBO (Burda et al.
    # 2016). Each estimate averages 16 images over 5 seeds; a comparison
    # may lose at most 3 combined standard errors (~0.2-0.7 nats here) to
    # noise, while the gaps measured for this model are ~1 nat from the
    # ELBO to k=10 and ~0.4 from k=10 to 100.
    elbo = self._batch_means(lambda seed: objectives.elbo_terms(
        self.model, self.x, seed=seed)["elbo"])
    bounds = [elbo] + [
        self._batch_means(lambda seed, k=k: objectives.iwae_bound(
            self.model, self.x, k=k, chunk=30, seed=seed))
        for k in (1, 10, 100)]
    labels = ["elbo", "k=1", "k=10", "k=100"]
    for (low, low_se), (high, high_se), name in zip(
        bounds[:-1], bounds[1:], zip(labels, labels[1:])):
      self.assertGreaterEqual(high, low - 3 * math.hypot(low_se, high_se), msg=name)
    self.assertGreater(bounds[-1][0], bounds[0][0])

  def test_chunks_combine_into_one_logsumexp(self):
    # k = 7 in chunks of 3 (3 + 3 + 1): fixed log-weights per chunk must
    # give log mean exp over all 7.
    log_weights = tf.constant(
        [[0.0, -1.0], [2.0, 5.0], [-3.0, 1.0], [1.0, 1.0], [4.0, -2.0],
         [0.5, 0.5], [-1.0, 3.0]])
    start = [0]

    def fake_log_weights(model, x, types, num_samples, seed):
      del model, x, types, seed
      chunk = log_weights[start[0]:start[0] + num_samples]
      start[0] += num_samples
      return chunk

    with mock.patch.object(objectives, "_log_weights", fake_log_weights):
      bound = objectives.iwae_bound(self.model, self.x[:2], k=7, chunk=3)
    expected = tf.reduce_logsumexp(log_weights, axis=0) - math.log(7)
    self.assertEqual(start[0], 7)
    self.assertAllClose(bound, expected)

  def test_unknown_batch_size_in_tf_function(self):
    fn = tf.function(
        lambda x: objectives.iwae_bound(self.model, x, k=5, chunk=2,
                                        seed=(1, 2)),
        input_signature=[tf.TensorSpec([None, 16, 16, 4])])
    self.assertEqual(fn(self.x[:3]).shape, [3])

  def test_rejects_non_positive_k(self):
    with self.assertRaisesRegex(ValueError, "k must.*0"):
      objectives.iwae_bound(self.model, self.x, k=0)


@pytest.mark.slow  # its set-up and compiled steps take several seconds on 2 cores
class PaletteIwaeBoundTest(IwaeBoundTest):
  """The same bounds for a model with the palette likelihood (a mixture per pixel)."""

  MODEL = dict(likelihood="palette", palette_size=8)


class BitsPerDimTest(tf.test.TestCase):

  def test_divides_nats_by_dimensions_times_ln2(self):
    nats = [300 * math.log(2), 600 * math.log(2)]
    self.assertAllClose(objectives.bits_per_dim(nats, (10, 10, 3)),
                        [1.0, 2.0])


if __name__ == "__main__":
  tf.test.main()
