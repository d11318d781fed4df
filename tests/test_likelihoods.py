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


LATENT_DIM = 3  # of the global latent z1 every head is given (only the palette reads it)


def _latent(batch=2, seed=(5, 7)):
  return tf.random.stateless_normal([batch, LATENT_DIM], seed=seed)


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


class PaletteLikelihoodTest(tf.test.TestCase):

  def _head(self, channels=4, palette_size=5, max_offset=4.0):
    return likelihoods.PaletteLikelihood(channels, LATENT_DIM, palette_size, max_offset)

  def _pixel_params(self, head, choice, raw_scale, offset_levels=0.0):
    """Parameters [1, 1, N, P] of N pixels: pixel i chooses component choice[i]
    (a logit of 10 against 0) with the given raw scale and offset in levels."""
    n, c = len(choice), head.channels
    logits = 10.0 * tf.one_hot(choice, head.palette_size + 1)
    raw_offset = tf.fill([n, c], float(np.arctanh(offset_levels / head.max_offset)))
    params = tf.concat([logits, tf.fill([n, c], raw_scale), raw_offset], axis=-1)
    return params[None, None]

  def test_joint_probabilities_of_all_values_of_a_two_channel_pixel_sum_to_one(self):
    # A pixel's channels come from the same component, so normalisation must
    # hold for the joint distribution of its 256^2 values; with 2 channels
    # that is 65,536 values, summed exactly. (Two channels take the head's
    # RGB branch: a white background, straight colours.)
    head = self._head(channels=2, palette_size=16)
    params = 3.0 * _params(head, size=1, batch=1)
    pairs = tf.reshape(tf.stack(tf.meshgrid(LEVELS, LEVELS), -1), [-1, 1, 1, 2])
    z = tf.repeat(3.0 * _latent(1), 65536, axis=0)
    dist = head(tf.repeat(params, 65536, axis=0), z)
    # 65,536 float32 terms: 1e-4 covers their rounding, and would catch a
    # missing edge bin of any component (>= 1e-3 of mass here).
    self.assertAllClose(tf.reduce_sum(tf.exp(dist.log_prob(pairs))), 1.0, atol=1e-4)

  def test_every_component_of_an_rgba_pixel_is_normalised(self):
    # 256^4 values of an RGBA pixel are too many to sum. The joint mass of
    # component k is the product over channels of its 256 level
    # probabilities, and the weights are a softmax, so the pixel sums to 1
    # exactly when every channel of every component does.
    head = self._head(palette_size=16, max_offset=8.0)
    dist = head(3.0 * _params(head, size=1, batch=1), 3.0 * _latent(1))
    components = dist.distribution.components_distribution.distribution
    probs = tf.exp(components.log_prob(tf.reshape(LEVELS, [256, 1, 1, 1, 1, 1])))
    total = tf.reduce_sum(probs, axis=0)  # [1, 1, 1, K + 1, 4]
    self.assertAllClose(total, tf.ones_like(total), atol=2e-5)
    weights = tf.nn.softmax(dist.distribution.mixture_distribution.logits)
    self.assertAllClose(tf.reduce_sum(weights), 1.0)

  def test_palette_is_premultiplied_rgba_after_a_transparent_background(self):
    head = self._head(palette_size=16)
    palette = head.palette(10.0 * _latent(8)).numpy()
    self.assertAllEqual(palette[:, 0], np.zeros([8, 4]))
    self.assertAllInRange(palette, 0.0, 1.0)
    # Premultiplied: no colour channel exceeds the alpha.
    self.assertAllLessEqual(palette[:, 1:, :3] - palette[:, 1:, 3:], 0.0)
    # The entries start apart, so they can learn different colours.
    entries = head.palette(_latent(1)).numpy()[0, 1:]
    distances = np.abs(entries[:, None] - entries[None]).max(-1)
    self.assertGreater(distances[~np.eye(16, dtype=bool)].min(), 1e-2)

  def test_render_is_the_location_of_the_most_probable_component(self):
    head = self._head()
    z = _latent(1)
    palette = head.palette(z).numpy()[0]
    choice = [0, 2, 5]
    # Offsets of 2 levels: they move entries 2 and 5, not the background.
    dist = head(self._pixel_params(head, choice, raw_scale=-3.0, offset_levels=2.0), z)
    moved = palette[choice] + 2.0 / 255 * np.array([[0.0], [1.0], [1.0]])
    expected = np.clip(np.round(moved * 255), 0, 255) / 255
    self.assertAllClose(head.render(dist)[0, 0], expected, atol=1e-6)

  def test_render_is_the_mode_of_the_categorical_choice(self):
    # Random parameters: at every pixel, the (snapped) location of the
    # component that the categorical's own mode() picks. Not the mode of the
    # pixel's whole distribution: a location near a bin edge splits its
    # component's mass between two levels, where another component's could
    # win; the render paints the choice, as a sprite is drawn.
    head = self._head(palette_size=16)
    likelihood = head(3.0 * _params(head, size=4), _latent(2))
    pixels = likelihood.distribution
    choice = pixels.mixture_distribution.mode().numpy()  # [2, 4, 4]
    loc = pixels.components_distribution.distribution.loc.numpy()  # [2, 4, 4, 17, 4]
    picked = np.take_along_axis(loc, choice[..., None, None], axis=-2)[..., 0, :]
    expected = np.clip(np.round(picked * 255), 0, 255) / 255
    self.assertAllClose(head.render(likelihood), expected, atol=1e-6)

  def test_a_chosen_background_costs_almost_nothing(self):
    head = self._head()
    dist = head(self._pixel_params(head, [0], raw_scale=-30.0), _latent(1))
    # Floor scale: half a bin is 9.8 scales, so bin 0 holds 1 - e^-9.8 of
    # the background's mass, and its weight is 1 - 5 e^-10.
    self.assertAllInRange(dist.log_prob(tf.zeros([1, 1, 1, 4])), -1e-3, 0.0)

  def test_offset_stays_within_its_bound(self):
    head = self._head(max_offset=4.0)
    z = _latent(2)
    params = 1e4 * _params(head, size=3)
    loc = head(params, z).distribution.components_distribution.distribution.loc
    palette = head.palette(z)[:, None, None]
    shift = (loc - palette).numpy() * 255
    self.assertAllEqual(shift[..., 0, :], np.zeros_like(shift[..., 0, :]))
    self.assertAllInRange(shift, -4.0 - 1e-3, 4.0 + 1e-3)
    self.assertGreater(np.abs(shift).max(), 3.9)

  def test_gradients_are_finite_for_extreme_parameters(self):
    head = self._head(palette_size=16)
    params = tf.concat([100.0 * _params(head, size=4, batch=2)[..., :17],
                        tf.fill([2, 4, 4, 4], -30.0), tf.fill([2, 4, 4, 4], 50.0)], axis=-1)
    z = 100.0 * _latent(2)
    # Every level from 0 to 255 somewhere, against spikes far from most.
    x = tf.reshape(tf.range(128.0) * 2.0 / 255.0, [2, 4, 4, 4])
    with tf.GradientTape() as tape:
      tape.watch([params, z])
      log_prob = head(params, z).log_prob(x)
    self.assertTrue(np.all(np.isfinite(log_prob)))
    grads = tape.gradient(log_prob, [params, z] + list(head.trainable_variables))
    for grad in grads:
      self.assertTrue(np.all(np.isfinite(grad)))

  def test_needs_the_global_latent(self):
    head = self._head()
    with self.assertRaisesRegex(ValueError, "z1.*None"):
      head(_params(head, 2))

  def test_rejects_bad_arguments_naming_them(self):
    with self.assertRaisesRegex(ValueError, "palette_size.*0"):
      likelihoods.PaletteLikelihood(4, LATENT_DIM, palette_size=0)
    with self.assertRaisesRegex(ValueError, "palette_offset.*-1"):
      likelihoods.PaletteLikelihood(4, LATENT_DIM, max_offset=-1.0)


# (name, keyword arguments of make_likelihood besides the channels): every head.
HEADS = (
    ("logistic", dict(likelihood="logistic")),
    ("logistic_mixture", dict(likelihood="logistic", mixtures=3)),
    ("gaussian", dict(likelihood="gaussian")),
    ("gaussian_pixel", dict(likelihood="gaussian", gaussian_scale="pixel")),
    ("bernoulli", dict(likelihood="bernoulli")),
    ("palette", dict(likelihood="palette", palette_size=5)),
    ("palette_offset", dict(likelihood="palette", palette_size=5, palette_offset=4.0)),
)


class HeadsTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      (f"{head}_{size}px_{channels}ch", kwargs, size, channels)
      for head, kwargs in HEADS for size, channels in itertools.product((32, 64, 96, 128), (3, 4)))
  def test_shapes_for_every_image_size_and_channel_count(self, kwargs, size, channels):
    head = likelihoods.make_likelihood(channels=channels, latent_dim=LATENT_DIM, **kwargs)
    dist = head(_params(head, size), _latent())
    image = [size, size, channels]
    self.assertEqual(dist.batch_shape, [2])
    self.assertEqual(dist.event_shape, image)
    self.assertEqual(dist.log_prob(tf.zeros([2] + image)).shape, [2])
    self.assertEqual(dist.sample(seed=(5, 6)).shape, [2] + image)
    self.assertAllInRange(head.render(dist), 0.0, 1.0)

  @parameterized.named_parameters(*HEADS)
  def test_unknown_batch_size_in_tf_function(self, kwargs):
    head = likelihoods.make_likelihood(channels=4, latent_dim=LATENT_DIM, **kwargs)
    fn = tf.function(
        lambda p, z: head.render(head(p, z)),
        input_signature=[tf.TensorSpec([None, 8, 8, head.params_channels]),
                         tf.TensorSpec([None, LATENT_DIM])])
    self.assertEqual(fn(_params(head, 8, batch=3), _latent(3)).shape, [3, 8, 8, 4])

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
