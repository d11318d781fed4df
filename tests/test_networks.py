"""Tests for vae/networks.py."""

import itertools

import tensorflow as tf
from absl.testing import parameterized

from vae import likelihoods
from vae import networks

# Tiny widths keep these shape tests fast; four stages as in the defaults.
WIDTHS = (4, 4, 8, 8)


def _networks(size, channels, likelihood="logistic", output_convs=0, **kwargs):
  args = dict(image_size=size, channels=channels, latent_dim=3, widths=WIDTHS,
              **kwargs)
  encoder = networks.Encoder(**args, name="encoder")
  decoder = networks.Decoder(
      **args, likelihood=likelihoods.make_likelihood(likelihood, channels),
      output_convs=output_convs, name="decoder")
  return encoder, decoder


def _images(size, channels, batch=2):
  return tf.random.stateless_uniform([batch, size, size, channels],
                                     seed=(1, 2))


class NetworksTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      (f"{size}px_{channels}ch", size, channels)
      for size, channels in itertools.product((32, 64, 96, 128), (3, 4)))
  def test_distribution_shapes_for_every_image_size_and_channel_count(self, size, channels):
    encoder, decoder = _networks(size, channels)
    posterior = encoder(_images(size, channels))
    self.assertEqual(posterior.batch_shape, [2])
    self.assertEqual(posterior.event_shape, [3])
    likelihood = decoder(posterior.sample(seed=(3, 4)))
    self.assertEqual(likelihood.batch_shape, [2])
    self.assertEqual(likelihood.event_shape, [size, size, channels])

  def test_eager_and_tf_function_agree(self):
    encoder, decoder = _networks(32, 4, res_blocks=1)
    x = _images(32, 4)

    def forward(x):
      posterior = encoder(x)
      return posterior.mean(), decoder(posterior.mean()).log_prob(x)

    for eager, graph in zip(forward(x), tf.function(forward)(x)):
      self.assertAllClose(eager, graph, rtol=1e-5)

  def test_unknown_batch_size(self):
    encoder, decoder = _networks(32, 3, norm="none")
    fn = tf.function(
        lambda x: decoder(encoder(x).mean()).log_prob(x),
        input_signature=[tf.TensorSpec([None, 32, 32, 3])])
    self.assertEqual(fn(_images(32, 3, batch=5)).shape, [5])

  @parameterized.parameters(1, 2)
  def test_output_convs_add_full_resolution_layers_that_see_neighbours(self, k):
    _, plain = _networks(32, 4)
    _, decoder = _networks(32, 4, output_convs=k)
    self.assertLen(decoder.full_resolution, k)
    # Each added layer brings a kernel and a bias; to_params changes kind, not count.
    self.assertLen(decoder.variables, len(plain.variables) + 2 * k)
    z = tf.random.stateless_normal([2, 3], seed=(5, 6))
    self.assertEqual(decoder(z).event_shape, [32, 32, 4])
    # The head is a 3x3 convolution on the full-resolution map: a pixel's
    # parameters move with its neighbour's features.
    h = tf.random.stateless_normal([1, 32, 32, WIDTHS[0]], seed=(7, 8))
    with tf.GradientTape() as tape:
      tape.watch(h)
      params = decoder.to_params(h)[0, 10, 11]
    self.assertGreater(float(tf.reduce_sum(tf.abs(tape.gradient(params, h)[0, 10, 10]))), 0.0)

  def test_posterior_scale_never_falls_below_the_floor(self):
    encoder, _ = _networks(32, 4)
    encoder.to_posterior.b.assign(tf.fill([6], -1e4))
    scale = encoder(_images(32, 4)).stddev()
    self.assertAllClose(scale, tf.fill([2, 3], networks.POSTERIOR_SCALE_FLOOR))

  def test_zero_network_output_gives_unit_posterior_scale(self):
    encoder, _ = _networks(32, 4)
    encoder.to_posterior.w.assign(tf.zeros_like(encoder.to_posterior.w))
    scale = encoder(_images(32, 4)).stddev()
    self.assertAllClose(scale, tf.fill([2, 3], 1.0 + 1e-3), rtol=1e-5)

  def test_bfloat16_compute_keeps_variables_and_distributions_float32(self):
    encoder, decoder = _networks(32, 4, compute_dtype=tf.bfloat16)
    posterior = encoder(_images(32, 4))
    likelihood = decoder(posterior.mean())
    self.assertEqual(posterior.dtype, tf.float32)
    self.assertEqual(likelihood.dtype, tf.float32)
    self.assertEqual(likelihood.log_prob(_images(32, 4)).dtype, tf.float32)
    for v in encoder.variables + decoder.variables:
      self.assertEqual(v.dtype, tf.float32, v.name)

  def test_rejects_image_size_that_stages_cannot_halve(self):
    with self.assertRaisesRegex(ValueError, "multiple of 16.*got 40"):
      _networks(40, 4)

  def test_rejects_images_of_another_shape_with_one_line(self):
    encoder, _ = _networks(32, 4)
    with self.assertRaisesRegex(ValueError, r"batch \[B, 32, 32, 4\], got shape \[32, 32, 4\] "
                                r"\(one image: add a batch axis"):
      encoder(_images(32, 4)[0])
    with self.assertRaisesRegex(ValueError, r"got shape \[2, 64, 64, 4\]$"):
      encoder(_images(64, 4))
    with self.assertRaisesRegex(ValueError, r"got shape \[2, 32, 32, 3\]$"):
      encoder(_images(32, 3))

  def test_rejects_unsupported_channel_count(self):
    with self.assertRaisesRegex(ValueError, "channels.*got 2"):
      _networks(32, 2)


if __name__ == "__main__":
  tf.test.main()
