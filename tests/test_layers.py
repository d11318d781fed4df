"""Tests for vae/layers.py."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from vae import layers


class LinearTest(tf.test.TestCase):

  def test_computes_affine_map(self):
    layer = layers.Linear(3, 2, name="linear")
    layer.b.assign([1.0, -1.0])
    x = tf.random.stateless_normal([5, 3], seed=(0, 1))
    self.assertAllClose(layer(x), x @ layer.w + layer.b)

  def test_rejects_non_positive_sizes(self):
    with self.assertRaisesRegex(ValueError, "output_size.*0"):
      layers.Linear(3, 0)


class ConvTest(tf.test.TestCase, parameterized.TestCase):

  def test_stride_two_halves_height_and_width(self):
    conv = layers.Conv2D(3, 5, stride=2)
    self.assertEqual(conv(tf.zeros([2, 12, 12, 3])).shape, [2, 6, 6, 5])

  def test_transpose_doubles_height_and_width_for_unknown_batch(self):
    conv = layers.ConvTranspose2D(5, 3)
    fn = tf.function(conv, input_signature=[tf.TensorSpec([None, 6, 6, 5])])
    self.assertEqual(fn.get_concrete_function().output_shapes.as_list(),
                     [None, 12, 12, 3])
    self.assertEqual(fn(tf.zeros([4, 6, 6, 5])).shape, [4, 12, 12, 3])

  def test_conv_without_bias_has_only_a_kernel(self):
    conv = layers.Conv2D(3, 4, use_bias=False, name="conv")
    self.assertEqual([v.name for v in conv.variables], ["conv/w:0"])

  @parameterized.named_parameters(
      ("conv", lambda: layers.Conv2D(64, 256)),
      ("strided_conv", lambda: layers.Conv2D(64, 256, stride=2)),
      ("transposed_conv", lambda: layers.ConvTranspose2D(64, 256)),
  )
  def test_initial_weights_keep_the_second_moment_of_rectified_input(self, make_layer):
    # He et al. 2015: with variance gain / fan_in, E[y^2] = gain E[x^2], and
    # E[leaky(u)^2] = (1 + a^2) / 2 for u ~ N(0, 1), so E[y^2] should be 1.
    # For the transposed conv this checks the fan-in of 4 taps per input
    # channel (16 would give 0.25). Interior pixels only, as zero padding
    # removes taps at the border. With 256 output channels of 32-64 fan-in
    # over 8x(8..16)^2 positions the estimate is within a few percent;
    # +-15% still fails any wrong fan-in or gain by a factor of 2.
    tf.random.set_seed(1)
    u = tf.random.stateless_normal([8, 16, 16, 64], seed=(2, 3))
    y = make_layer()(layers.activation(u))
    interior = y[:, 2:-2, 2:-2, :]
    self.assertBetween(float(tf.reduce_mean(interior**2)), 0.85, 1.15)

  def test_compute_dtype_casts_arithmetic_but_not_variables(self):
    conv = layers.Conv2D(3, 4, compute_dtype=tf.bfloat16)
    self.assertEqual(conv(tf.ones([1, 4, 4, 3])).dtype, tf.bfloat16)
    self.assertEqual(conv.w.dtype, tf.float32)


def _dilated_reference(x, w, dilation):
  """NumPy: out[b, i, j] = sum over taps (r, c) of w[r, c] . x[b, i + (r - h) d, j + (c - h) d]."""
  x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
  half, (batch, height, width, _) = w.shape[0] // 2, x.shape
  out = np.zeros([batch, height, width, w.shape[3]])
  for r in range(w.shape[0]):
    for c in range(w.shape[1]):
      dr, dc = (r - half) * dilation, (c - half) * dilation
      shifted = np.zeros_like(x)  # x moved by (dr, dc), zeros where it leaves the map
      rows, cols = slice(max(0, -dr), min(height, height - dr)), slice(max(0, -dc), min(width, width - dc))
      shifted[:, rows, cols] = x[:, rows.start + dr:rows.stop + dr, cols.start + dc:cols.stop + dc]
      out += shifted @ w[r, c]
  return out


def _zero_inserted_kernel(w, dilation):
  """The dilated kernel written out as an undilated one, zeros between its taps."""
  k = w.shape[0]
  spread = tf.pad(w[:, None, :, None], [[0, 0], [0, dilation - 1], [0, 0], [0, dilation - 1],
                                        [0, 0], [0, 0]])
  size = (k - 1) * dilation + 1
  return tf.reshape(spread, [k * dilation, k * dilation, *w.shape[2:]])[:size, :size]


class DilatedConvTest(tf.test.TestCase, parameterized.TestCase):
  """`dilated_conv2d` (the masked convolutions' formulation) against two others."""

  @parameterized.parameters((1, 16, 16), (2, 16, 16), (4, 16, 16), (2, 7, 9), (3, 5, 11))
  def test_equals_a_numpy_reference_of_the_dilated_sum(self, dilation, height, width):
    x = tf.random.stateless_normal([2, height, width, 3], seed=(1, dilation))
    w = tf.random.stateless_normal([3, 3, 3, 5], seed=(2, dilation))
    self.assertAllClose(layers.dilated_conv2d(x, w, dilation),
                        _dilated_reference(x, w, dilation), rtol=1e-5, atol=1e-5)

  @parameterized.parameters(2, 4)
  def test_gradients_equal_those_of_the_zero_inserted_kernel(self, dilation):
    # The zero-inserted kernel is an ordinary convolution whose gradient
    # kernels every CPU has; its gradient with respect to the small kernel
    # goes through the padding, so both gradients are of the same function.
    x = tf.random.stateless_normal([2, 16, 16, 4], seed=(3, dilation))
    w = tf.random.stateless_normal([3, 3, 4, 6], seed=(4, dilation))
    upstream = tf.random.stateless_normal([2, 16, 16, 6], seed=(5, dilation))
    with tf.GradientTape(persistent=True) as tape:
      tape.watch([x, w])
      ours = layers.dilated_conv2d(x, w, dilation)
      spelled_out = tf.nn.conv2d(x, _zero_inserted_kernel(w, dilation), 1, "SAME")
    self.assertAllClose(ours, spelled_out, rtol=1e-5, atol=1e-5)
    for got, want in zip(tape.gradient(ours, [x, w], upstream),
                         tape.gradient(spelled_out, [x, w], upstream)):
      self.assertAllClose(got, want, rtol=1e-5, atol=1e-4)

  def test_gradients_equal_the_dilated_kernels_where_this_cpu_has_them(self):
    x = tf.random.stateless_normal([2, 16, 16, 4], seed=(6, 0))
    w = tf.random.stateless_normal([3, 3, 4, 6], seed=(7, 0))
    with tf.GradientTape(persistent=True) as tape:
      tape.watch([x, w])
      ours = layers.dilated_conv2d(x, w, 2)
      dilated = tf.nn.conv2d(x, w, 1, "SAME", dilations=2)
    try:
      want = tape.gradient(dilated, [x, w])
    except tf.errors.InvalidArgumentError as error:  # TensorFlow's CPU kernels without oneDNN
      self.skipTest(f"no dilated Conv2D gradient kernels on this CPU: {str(error)[:80]}")
    for got, expected in zip(tape.gradient(ours, [x, w]), want):
      self.assertAllClose(got, expected, rtol=1e-5, atol=1e-4)

  def test_masked_layer_trains_for_an_unknown_batch_and_keeps_bfloat16(self):
    conv = layers.MaskedConv2D(3, 4, include_centre=True, dilation=4)
    fn = tf.function(lambda x: tf.reduce_sum(conv(x) ** 2),
                     input_signature=[tf.TensorSpec([None, 16, 16, 3])])
    x = tf.random.stateless_normal([2, 16, 16, 3], seed=(8, 0))
    with tf.GradientTape() as tape:
      loss = fn(x)
    gradient = tape.gradient(loss, conv.w)
    self.assertTrue(np.all(np.isfinite(gradient.numpy())))
    self.assertGreater(float(tf.reduce_sum(tf.abs(gradient))), 0.0)
    low = layers.MaskedConv2D(3, 4, include_centre=True, dilation=2, compute_dtype=tf.bfloat16)
    self.assertEqual(low(x).dtype, tf.bfloat16)


class GroupNormTest(tf.test.TestCase):

  def test_normalises_each_group_of_each_image(self):
    norm = layers.GroupNorm(8, 4)
    x = 3.0 + 5.0 * tf.random.stateless_normal([2, 5, 5, 8], seed=(4, 5))
    y = tf.reshape(norm(x), [2, 25, 4, 2])
    mean, variance = tf.nn.moments(y, axes=[1, 3])
    self.assertAllClose(mean, tf.zeros([2, 4]), atol=1e-5)
    self.assertAllClose(variance, tf.ones([2, 4]), atol=1e-3)

  def test_hand_written_gradient_matches_automatic_differentiation(self):
    norm = layers.GroupNorm(8, 4)
    norm.scale.assign(tf.random.stateless_normal([8], seed=(1, 2)))
    norm.offset.assign(tf.random.stateless_normal([8], seed=(2, 3)))
    x = 3.0 + 5.0 * tf.random.stateless_normal([2, 5, 5, 8], seed=(4, 5))
    upstream = tf.random.stateless_normal([2, 5, 5, 8], seed=(6, 7))

    def automatic(x):
      grouped = tf.reshape(x, [2, 5, 5, 4, 2])
      mean, variance = tf.nn.moments(grouped, axes=[1, 2, 4], keepdims=True)
      grouped = (grouped - mean) * tf.math.rsqrt(variance + norm.eps)
      return tf.reshape(grouped, [2, 5, 5, 8]) * norm.scale + norm.offset

    sources = [x, norm.scale, norm.offset]
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(x)
      actual, expected = norm(x), automatic(x)
    self.assertAllEqual(actual, expected)
    for got, want in zip(tape.gradient(actual, sources, upstream),
                         tape.gradient(expected, sources, upstream)):
      # float32 sums over a group of 50 values, in a different order.
      self.assertAllClose(got, want, rtol=1e-5, atol=1e-5)

  def test_keeps_bfloat16_inputs_in_bfloat16(self):
    norm = layers.GroupNorm(4, 2)
    self.assertEqual(norm(tf.ones([1, 2, 2, 4], tf.bfloat16)).dtype,
                     tf.bfloat16)

  def test_rejects_groups_that_do_not_divide_channels(self):
    with self.assertRaisesRegex(ValueError, "groups=3 for 8 channels"):
      layers.GroupNorm(8, 3)

  def test_make_norm_rejects_unknown_name(self):
    with self.assertRaisesRegex(ValueError, "'batch'"):
      layers.make_norm("batch", 8, 4, "norm")


class ResBlockTest(tf.test.TestCase):

  def test_starts_close_to_identity(self):
    tf.random.set_seed(2)
    block = layers.ResBlock(16, groups=4)
    x = tf.random.stateless_normal([2, 8, 8, 16], seed=(6, 7))
    # The residual branch ends in a conv with variance gain 0.1 (std ~0.3
    # of its input); it must stay clearly smaller than the skip path.
    ratio = tf.norm(block(x) - x) / tf.norm(x)
    self.assertLess(float(ratio), 0.5)
    self.assertGreater(float(ratio), 0.0)

  def test_without_norm_has_no_norm_variables(self):
    block = layers.ResBlock(8, norm="none", name="block")
    names = sorted(v.name for v in block.variables)
    self.assertEqual(names, ["block/conv_0/b:0", "block/conv_0/w:0",
                             "block/conv_1/b:0", "block/conv_1/w:0"])
    self.assertEqual(block(np.ones([1, 4, 4, 8], np.float32)).shape,
                     [1, 4, 4, 8])


if __name__ == "__main__":
  tf.test.main()
