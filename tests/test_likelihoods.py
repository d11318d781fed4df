"""Tests for vae/likelihoods.py."""

import itertools

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from vae import likelihoods

LEVELS = tf.range(256.0) / 255.0

# Locations inside, at the edges of and far outside [0, 1], and scales from
# the floor (a fraction of a level) to far wider than [0, 1].
EXTREME_LOCS = [-3.0, -0.01, 0.0, 0.3, 0.5, 127.5 / 255, 1.0, 1.02, 5.0]
EXTREME_SCALES = [likelihoods.LOGISTIC_SCALE_FLOOR, 1e-3, 0.05, 3.0, 100.0]


def _grid():
  loc, scale = zip(*itertools.product(EXTREME_LOCS, EXTREME_SCALES))
  return np.array(loc, np.float32), np.array(scale, np.float32)


def _reference_probs(loc, scale):
  """P(level k), [256, N], from float64 differences of the logistic CDF."""
  loc, scale = loc.astype(np.float64), scale.astype(np.float64)
  k = np.arange(256)[:, None]
  cdf = lambda t: 1.0 / (1.0 + np.exp(-t))
  with np.errstate(over="ignore"):
    upper = cdf(((k + 0.5) / 255 - loc) / scale)
    lower = cdf(((k - 0.5) / 255 - loc) / scale)
  probs = upper - lower
  probs[0], probs[-1] = upper[0], 1.0 - lower[-1]
  return probs


class DiscretizedLogisticTest(tf.test.TestCase):

  def test_probabilities_of_the_256_levels_sum_to_one(self):
    loc, scale = _grid()
    dist = likelihoods.DiscretizedLogistic(loc, scale)
    total = tf.reduce_sum(tf.exp(dist.log_prob(LEVELS[:, None])), axis=0)
    # A float32 sum of 256 terms, each with a relative error of a few ulp
    # (~1e-7): 2e-5 leaves room for that, and would catch one missing level
    # (at least ~1e-4 of mass for every case here) or a double-counted tail.
    self.assertAllClose(total, tf.ones_like(total), atol=2e-5, rtol=0)

  def test_log_prob_matches_float64_reference(self):
    loc, scale = _grid()
    expected = _reference_probs(loc, scale)
    actual = likelihoods.DiscretizedLogistic(loc, scale).log_prob(
        LEVELS[:, None]).numpy()
    # Where the float64 difference of CDFs is itself accurate (p > 1e-12),
    # the float32 log-probabilities agree to 5e-4 nats: the edges of a bin
    # are rounded to float32 before dividing by a scale as small as the
    # floor, which moves them by ~1e-4 standardised units.
    mask = expected > 1e-12
    self.assertAllClose(actual[mask], np.log(expected[mask]), atol=5e-4,
                        rtol=0)

  def test_log_prob_and_gradients_are_finite_in_the_far_tails(self):
    loc = tf.constant([-50.0, 0.5, 50.0, 0.5])
    scale = tf.constant([likelihoods.LOGISTIC_SCALE_FLOOR] * 3 + [1e4])
    with tf.GradientTape() as tape:
      tape.watch([loc, scale])
      log_prob = likelihoods.DiscretizedLogistic(loc, scale).log_prob(
          tf.constant([1.0, 0.0, 0.0, 0.5]))
    self.assertAllInRange(log_prob, -1e7, 0.0)
    for grad in tape.gradient(log_prob, [loc, scale]):
      self.assertTrue(np.all(np.isfinite(grad)))

  def test_mean_and_mode_agree_with_the_probabilities(self):
    loc, scale = _grid()
    dist = likelihoods.DiscretizedLogistic(loc, scale)
    probs = tf.exp(dist.log_prob(LEVELS[:, None]))
    self.assertAllClose(dist.mean(),
                        tf.reduce_sum(probs * LEVELS[:, None], axis=0),
                        atol=1e-5)
    # Compare probabilities rather than levels: ties (e.g. the two edges
    # under a huge scale) may pick either level.
    best = tf.reduce_max(probs, axis=0)
    mode_prob = tf.exp(dist.log_prob(dist.mode()))
    self.assertAllClose(mode_prob, best, rtol=1e-5)

  def test_samples_follow_the_level_probabilities(self):
    dist = likelihoods.DiscretizedLogistic(0.3, 2.0 / 255)
    n = 40000
    samples = dist.sample(n, seed=(1, 2))
    counts = np.bincount(np.round(samples.numpy() * 255).astype(int),
                         minlength=256)
    probs = tf.exp(dist.log_prob(LEVELS)).numpy()
    # Each count is binomial: 5 standard errors (plus a count of slack for
    # levels of tiny probability) makes a false alarm over 256 levels
    # vanishingly rare, while a shift by one level would move the top
    # counts by hundreds of standard errors.
    tolerance = 5.0 * np.sqrt(n * probs * (1 - probs)) + 1.0
    self.assertAllLessEqual(np.abs(counts - n * probs) - tolerance, 0.0)

  def test_log_prob_snaps_values_to_the_nearest_level(self):
    dist = likelihoods.DiscretizedLogistic(0.4, 0.1)
    self.assertAllClose(dist.log_prob(100 / 255 + 0.3 / 255),
                        dist.log_prob(100 / 255))

  def test_hand_written_gradient_matches_automatic_differentiation(self):
    # Every level against every extreme location and scale, through the same
    # expression differentiated automatically: the values agree bit for bit,
    # the gradients to float32 rounding of terms up to 1/scale = 5e3.
    loc, scale = (tf.constant(np.tile(v, 256)) for v in _grid())
    x = tf.repeat(LEVELS, len(EXTREME_LOCS) * len(EXTREME_SCALES))
    upstream = tf.random.stateless_normal(x.shape, seed=(5, 6))
    with tf.GradientTape(persistent=True) as tape:
      tape.watch([loc, scale])
      actual = likelihoods.DiscretizedLogistic(loc, scale).log_prob(x)
      expected = _automatic_log_prob(x, loc, scale)
    self.assertAllEqual(actual, expected)
    for got, want in zip(tape.gradient(actual, [loc, scale], upstream),
                         tape.gradient(expected, [loc, scale], upstream)):
      self.assertAllClose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())

  def test_log_prob_broadcasts_and_gradients_reduce_to_parameter_shapes(self):
    loc = tf.constant([0.2, 0.7])
    scale = tf.constant(0.05)
    x = LEVELS[::51, None]  # [6, 1] against [2] parameters.
    with tf.GradientTape() as tape:
      tape.watch([loc, scale])
      log_prob = likelihoods.DiscretizedLogistic(loc, scale).log_prob(x)
    self.assertEqual(log_prob.shape, [6, 2])
    grad_loc, grad_scale = tape.gradient(log_prob, [loc, scale])
    self.assertEqual(grad_loc.shape, [2])
    self.assertEqual(grad_scale.shape, [])
    with tf.GradientTape() as tape:
      tape.watch([loc, scale])
      expected = _automatic_log_prob(x, loc, scale)
    self.assertAllEqual(log_prob, expected)
    self.assertAllClose([grad_loc, grad_scale], tape.gradient(expected, [loc, scale]),
                        rtol=1e-5)


def _automatic_log_prob(x, loc, scale):
  """The discretised logistic log-probability left to automatic differentiation."""
  level = tf.clip_by_value(tf.round(x * 255.0), 0.0, 255.0)
  inv_scale = 1.0 / scale
  upper = ((level + 0.5) / 255 - loc) * inv_scale
  lower = ((level - 0.5) / 255 - loc) * inv_scale
  width = inv_scale / 255
  interior = (-tf.nn.softplus(-lower) - tf.nn.softplus(upper)
              + width + tf.math.log(-tf.math.expm1(-width)))
  return tf.where(level < 0.5, -tf.nn.softplus(-upper),
                  tf.where(level > 254.5, -tf.nn.softplus(lower), interior))


def _params(head, size, batch=2, seed=(3, 4)):
  return tf.random.stateless_normal(
      [batch, size, size, head.params_channels], seed=seed)


class LogisticMixtureTest(tf.test.TestCase):

  def test_joint_probabilities_of_all_levels_of_a_pixel_sum_to_one(self):
    # Two channels share the mixture weights, so normalisation must hold
    # for the joint distribution over all 256^2 level pairs of a pixel.
    head = likelihoods.LogisticLikelihood(channels=2, mixtures=3)
    params = 3.0 * _params(head, size=1, batch=1)
    pairs = tf.reshape(tf.stack(tf.meshgrid(LEVELS, LEVELS), -1),
                       [-1, 1, 1, 2])
    probs = tf.exp(head(params).log_prob(pairs))
    # 65536 float32 terms: 1e-4 covers their rounding.
    self.assertAllClose(tf.reduce_sum(probs), 1.0, atol=1e-4)
    # The mixture's mean() (through TFP's MixtureSameFamily) is the mean of
    # that joint distribution.
    self.assertAllClose(tf.reshape(head(params).mean(), [2]),
                        tf.reduce_sum(probs[:, None] * pairs[:, 0, 0], axis=0),
                        atol=1e-4)

  def test_render_keeps_the_location_when_the_scale_is_broad(self):
    head = likelihoods.LogisticLikelihood(channels=1)
    # Location 0.31 (0.31 - 0.5 before the head's +0.5 shift), scale softplus(0)
    # ~ 0.69: the exact mode is the edge bin 0, which would paint it black.
    params = tf.constant([[[[0.31 - 0.5, 0.0]]]])
    dist = head(params)
    self.assertAllClose(dist.distribution.mode(), [[[[0.0]]]])
    self.assertAllClose(head.render(dist), [[[[79 / 255]]]])  # round(0.31 * 255)

  def test_render_is_the_location_of_the_most_probable_component(self):
    head = likelihoods.LogisticLikelihood(channels=1, mixtures=2)
    # One pixel: weight logits (2, 0); component 0 at 0.2, component 1 at
    # 0.8, both scale softplus(-5) ~ 0.0067.
    params = tf.constant([[[[2.0, 0.0, 0.2 - 0.5, 0.8 - 0.5, -5.0, -5.0]]]])
    self.assertAllClose(head.render(head(params)), [[[[51 / 255]]]])

  def test_rejects_zero_mixtures(self):
    with self.assertRaisesRegex(ValueError, "logistic_mixtures.*0"):
      likelihoods.LogisticLikelihood(channels=3, mixtures=0)


# (name, keyword arguments of make_likelihood besides the channels): every head.
HEADS = (
    ("logistic", dict(likelihood="logistic")),
    ("logistic_mixture", dict(likelihood="logistic", mixtures=3)),
    ("gaussian", dict(likelihood="gaussian")),
    ("gaussian_pixel", dict(likelihood="gaussian", gaussian_scale="pixel")),
    ("bernoulli", dict(likelihood="bernoulli")),
)


class HeadsTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      (f"{head}_{size}px_{channels}ch", kwargs, size, channels)
      for head, kwargs in HEADS for size, channels in itertools.product((32, 64, 96, 128), (3, 4)))
  def test_shapes_for_every_image_size_and_channel_count(self, kwargs, size, channels):
    head = likelihoods.make_likelihood(channels=channels, **kwargs)
    dist = head(_params(head, size))
    image = [size, size, channels]
    self.assertEqual(dist.batch_shape, [2])
    self.assertEqual(dist.event_shape, image)
    self.assertEqual(dist.log_prob(tf.zeros([2] + image)).shape, [2])
    self.assertEqual(dist.sample(seed=(5, 6)).shape, [2] + image)
    self.assertAllInRange(head.render(dist), 0.0, 1.0)

  @parameterized.named_parameters(*HEADS)
  def test_unknown_batch_size_in_tf_function(self, kwargs):
    head = likelihoods.make_likelihood(channels=4, **kwargs)
    fn = tf.function(
        lambda p: head.render(head(p)),
        input_signature=[tf.TensorSpec([None, 8, 8, head.params_channels])])
    self.assertEqual(fn(_params(head, 8, batch=3)).shape, [3, 8, 8, 4])

  def test_gaussian_scale_never_falls_below_the_floor(self):
    head = likelihoods.GaussianLikelihood(channels=3, scale="pixel")
    params = tf.concat([tf.zeros([1, 2, 2, 3]), -1e4 * tf.ones([1, 2, 2, 3])],
                       axis=-1)
    self.assertAllClose(head(params).distribution.scale,
                        tf.fill([1, 2, 2, 3], likelihoods.GAUSSIAN_SCALE_FLOOR))

  def test_gaussian_channel_scale_is_a_named_variable(self):
    head = likelihoods.make_likelihood("gaussian", 4)
    self.assertEqual([v.name for v in head.trainable_variables],
                     ["likelihood/raw_scale:0"])

  def test_bernoulli_log_prob_is_negative_binary_cross_entropy(self):
    head = likelihoods.BernoulliLikelihood(channels=3)
    logits = _params(head, 4)
    x = tf.random.stateless_uniform([2, 4, 4, 3], seed=(7, 8))
    bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits)
    self.assertAllClose(head(logits).log_prob(x),
                        -tf.reduce_sum(bce, axis=[1, 2, 3]), rtol=1e-5)

  def test_rejects_unknown_likelihood(self):
    with self.assertRaisesRegex(ValueError, "'poisson'"):
      likelihoods.make_likelihood("poisson", 3)


if __name__ == "__main__":
  tf.test.main()
