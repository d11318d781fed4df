"""Small NHWC layers written as `tf.Module`s.

Keras 3 layers placed inside a `tf.Module` are not tracked (their variables
do not show up in `trainable_variables`, nor in checkpoints), so the few
layers this model needs are written here in the style of Sonnet 2: every
layer takes its input and output sizes in `__init__`, creates its variables
there once, and names them.

Mixed precision: variables are always float32; `__call__` casts the input
and the weights to `compute_dtype` (e.g. `tf.bfloat16` on CPU), so the
arithmetic runs at low precision while the optimiser updates float32
weights (Micikevicius et al. 2018, "Mixed Precision Training").
"""

import math

import tensorflow as tf

# Slope of the LeakyReLU used everywhere (Maas et al. 2013). LeakyReLU rather
# than the SiLU of NVAE because this model trains on a 2-core CPU, where the
# exp of SiLU over every activation costs time (bench/README.md has the
# figures). The negative slope keeps units from dying as ReLU units can.
LEAKY_SLOPE = 0.2

# He et al. 2015 ("Delving Deep into Rectifiers"): a rectifier with negative
# slope a keeps activations at unit variance when weights have variance
# 2 / ((1 + a^2) fan_in).
ACTIVATION_GAIN = 2.0 / (1.0 + LEAKY_SLOPE**2)

# std of a standard normal truncated at +-2 std, used to correct the spread.
_TRUNCATED_STD = 0.87962566103423978


def activation(x):
  """The nonlinearity used throughout the networks (LeakyReLU)."""
  return tf.nn.leaky_relu(x, alpha=LEAKY_SLOPE)


def variance_scaling(shape, fan_in, gain):
  """Truncated-normal initial value with variance `gain / fan_in`."""
  std = math.sqrt(gain / fan_in) / _TRUNCATED_STD
  return tf.random.truncated_normal(shape, stddev=std)


def softplus_inverse(y):
  """The x with softplus(x) = y > 0, to start a softplus-constrained scale."""
  return math.log(math.expm1(y))


def check_positive_int(name, value):
  """Raises ValueError naming `name` unless `value` is an int >= 1."""
  if not isinstance(value, int) or value < 1:
    raise ValueError(f"{name} must be a positive integer, got {value!r}")


class _Weighted(tf.Module):
  """A layer with one initialised weight `w` and an optional bias `b`.

  Holds what the linear and convolution layers share: the named variables,
  and casting input and weights to `compute_dtype`.
  """

  def __init__(self, weight_shape, fan_in, gain, outputs, use_bias,
               compute_dtype, name):
    super().__init__(name=name)
    self.compute_dtype = tf.as_dtype(compute_dtype)
    with self.name_scope:
      self.w = tf.Variable(variance_scaling(weight_shape, fan_in, gain),
                           name="w")
      self.b = (tf.Variable(tf.zeros([outputs]), name="b")
                if use_bias else None)

  def __call__(self, x):
    y = self._apply(tf.cast(x, self.compute_dtype),
                    tf.cast(self.w, self.compute_dtype))
    if self.b is not None:
      y = y + tf.cast(self.b, self.compute_dtype)
    return y

  def _apply(self, x, w):
    raise NotImplementedError


class Linear(_Weighted):
  """Affine map `x @ w + b` on the last axis."""

  def __init__(self, input_size, output_size, *, gain=1.0,
               compute_dtype=tf.float32, name=None):
    """Creates the layer.

    Args:
      input_size: size of the last axis of the input.
      output_size: size of the last axis of the output.
      gain: variance gain of the initial weights; 1.0 (LeCun) for a layer whose
        output is not rectified, `ACTIVATION_GAIN` when it is.
      compute_dtype: dtype of the arithmetic; variables stay float32.
      name: module name.
    """
    check_positive_int("input_size", input_size)
    check_positive_int("output_size", output_size)
    super().__init__([input_size, output_size], input_size, gain, output_size,
                     True, compute_dtype, name)
    self.input_size = input_size
    self.output_size = output_size

  def _apply(self, x, w):
    return tf.matmul(x, w)


class Conv2D(_Weighted):
  """2-D convolution, NHWC, "SAME" padding, optional stride."""

  def __init__(self, input_channels, output_channels, *, kernel_size=3,
               stride=1, use_bias=True, gain=ACTIVATION_GAIN,
               compute_dtype=tf.float32, name=None):
    """Creates the layer.

    Args:
      input_channels: channels of the input.
      output_channels: channels of the output.
      kernel_size: height and width of the square kernel.
      stride: spatial stride; 2 halves the height and width.
      use_bias: add a per-channel bias. Off when a normalisation follows,
        which would remove it anyway.
      gain: variance gain of the initial weights (see `Linear`).
      compute_dtype: dtype of the arithmetic; variables stay float32.
      name: module name.
    """
    for arg, value in (("input_channels", input_channels),
                       ("output_channels", output_channels),
                       ("kernel_size", kernel_size), ("stride", stride)):
      check_positive_int(arg, value)
    super().__init__(
        [kernel_size, kernel_size, input_channels, output_channels],
        kernel_size * kernel_size * input_channels, gain, output_channels,
        use_bias, compute_dtype, name)
    self.stride = stride

  def _apply(self, x, w):
    return tf.nn.conv2d(x, w, strides=self.stride, padding="SAME")


class MaskedConv2D(Conv2D):
  """A `Conv2D` that sees only earlier pixels in raster order (PixelCNN).

  van den Oord et al. 2016 ("Pixel Recurrent Neural Networks"): the kernel
  is zeroed at every tap below the centre and right of it on the centre row,
  so output (i, j) depends on the rows above i and the pixels left of j. The
  first layer of a stack also zeroes the centre ("A"), the later ones keep
  it ("B"), so a stack's output at a pixel never depends on that pixel's own
  input: an autoregressive model's conditionals, all computed in one pass.
  Every channel of a pixel is predicted together (no channel ordering).
  """

  def __init__(self, input_channels, output_channels, *, kernel_size=3,
               include_centre, dilation=1, gain=ACTIVATION_GAIN,
               compute_dtype=tf.float32, name=None):
    """Creates the layer; `include_centre` False is mask "A", True is "B".

    A `dilation` d spreads the taps d pixels apart (Yu & Koltun 2016): a tap
    above or to the left of the centre stays so, and the reach grows with d.
    """
    if kernel_size % 2 == 0:
      raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    # Only the taps the mask keeps feed the output: about half the kernel.
    centre = kernel_size // 2
    kept = centre * kernel_size + centre + (1 if include_centre else 0)
    super().__init__(input_channels, output_channels, kernel_size=kernel_size,
                     gain=gain * kernel_size * kernel_size / kept,
                     compute_dtype=compute_dtype, name=name)
    mask = [[1.0 if (r < centre or (r == centre and (c < centre or
                                                     (c == centre and include_centre))))
             else 0.0 for c in range(kernel_size)] for r in range(kernel_size)]
    self.mask = tf.constant(mask)[:, :, None, None]
    self.dilation = dilation

  def _apply(self, x, w):
    return dilated_conv2d(x, w * tf.cast(self.mask, w.dtype), self.dilation)


def dilated_conv2d(x, w, dilation):
  """`tf.nn.conv2d(x, w, 1, "SAME", dilations=dilation)` from ops every CPU has.

  TensorFlow's own CPU kernels of a dilated convolution's gradients
  (Conv2DBackpropInput, Conv2DBackpropFilter) refuse dilations above 1; only
  oneDNN's have them, and TensorFlow turns oneDNN on by default only on CPUs
  with AVX-512. So the dilation is taken out of the convolution instead
  (what `tf.nn.atrous_conv2d` did in TensorFlow 1): pad as "SAME" would,
  split the padded map into its `dilation`^2 phases with `space_to_batch_nd`
  (phase (a, b) holds pixels (a + i d, b + j d)), convolve each phase with
  the undilated kernel ("VALID"), and interleave the phases back. Taps d
  pixels apart in the map are neighbours within a phase, so this is the
  same sum, with the same arithmetic as the dilated kernel (no zero taps),
  and its gradients are those of `space_to_batch_nd`, `conv2d` and
  `batch_to_space`, which exist everywhere.

  Args:
    x: [B, H, W, C_in].
    w: [k, k, C_in, C_out], k odd.
    dilation: positive int.

  Returns:
    [B, H, W, C_out].
  """
  if dilation == 1:
    return tf.nn.conv2d(x, w, strides=1, padding="SAME")
  reach = (w.shape[0] // 2) * dilation  # "SAME" pads this much on every side.
  shape = tf.shape(x)
  # Round each padded side up to a multiple of the dilation; the extra rows
  # and columns at the end only feed outputs that are cropped away.
  extra = [(-(shape[axis] + 2 * reach)) % dilation for axis in (1, 2)]
  paddings = [[reach, reach + extra[0]], [reach, reach + extra[1]]]
  phases = tf.space_to_batch_nd(x, [dilation, dilation], paddings)
  y = tf.nn.conv2d(phases, w, strides=1, padding="VALID")
  y = tf.batch_to_space(y, [dilation, dilation], crops=[[0, extra[0]], [0, extra[1]]])
  return tf.ensure_shape(y, [*x.shape[:3], w.shape[-1]])


class ConvTranspose2D(_Weighted):
  """Transposed convolution that doubles height and width (NHWC).

  The kernel size (4) is a multiple of the stride (2), so every output pixel
  receives the same number of kernel taps, which avoids most of the
  checkerboard pattern of transposed convolutions (Odena et al. 2016,
  "Deconvolution and Checkerboard Artifacts"). It costs 4 multiply-adds per
  output pixel and channel pair, against 9 for nearest-neighbour resizing
  followed by a 3x3 convolution, which matters on a CPU.
  """

  def __init__(self, input_channels, output_channels, *, kernel_size=4,
               use_bias=True, gain=ACTIVATION_GAIN, compute_dtype=tf.float32,
               name=None):
    """Creates the layer.

    Args:
      input_channels: channels of the input.
      output_channels: channels of the output.
      kernel_size: height and width of the kernel; a multiple of 2.
      use_bias: add a per-channel bias.
      gain: variance gain of the initial weights (see `Linear`).
      compute_dtype: dtype of the arithmetic; variables stay float32.
      name: module name.
    """
    check_positive_int("input_channels", input_channels)
    check_positive_int("output_channels", output_channels)
    if kernel_size % 2:
      raise ValueError(f"kernel_size must be even, got {kernel_size}")
    # conv2d_transpose wants the kernel as [height, width, output, input].
    # Each output pixel sums (kernel_size / stride)^2 taps of every input
    # channel, which is the fan-in that keeps the variance.
    super().__init__(
        [kernel_size, kernel_size, output_channels, input_channels],
        (kernel_size // 2) ** 2 * input_channels, gain, output_channels,
        use_bias, compute_dtype, name)
    self.output_channels = output_channels

  def _apply(self, x, w):
    shape = tf.shape(x)
    output_shape = tf.stack(
        [shape[0], 2 * shape[1], 2 * shape[2], self.output_channels])
    y = tf.nn.conv2d_transpose(x, w, output_shape, strides=2, padding="SAME")
    # The dynamic output shape loses the static one; restore what is known.
    return tf.ensure_shape(
        y, [x.shape[0],
            None if x.shape[1] is None else 2 * x.shape[1],
            None if x.shape[2] is None else 2 * x.shape[2],
            self.output_channels])


class GroupNorm(tf.Module):
  """Group normalisation (Wu & He 2018) over NHWC feature maps.

  Statistics are per image, so training and evaluation compute the same
  thing and small batches are fine. They are computed in float32 even under
  mixed precision, where a bfloat16 variance would be too coarse.
  """

  def __init__(self, channels, groups, *, eps=1e-5, name=None):
    """Creates the layer.

    Args:
      channels: channels of the input.
      groups: number of channel groups; must divide `channels`.
      eps: added to the variance.
      name: module name.
    """
    super().__init__(name=name)
    check_positive_int("channels", channels)
    check_positive_int("groups", groups)
    if channels % groups:
      raise ValueError(
          f"groups must divide the channels, got groups={groups} for "
          f"{channels} channels")
    self.channels = channels
    self.groups = groups
    self.eps = eps
    with self.name_scope:
      self.scale = tf.Variable(tf.ones([channels]), name="scale")
      self.offset = tf.Variable(tf.zeros([channels]), name="offset")

  def __call__(self, x):
    dtype = x.dtype
    shape = tf.shape(x)
    grouped_shape = tf.concat(
        [shape[:3], [self.groups, self.channels // self.groups]], 0)
    # The statistics run over the height, width and channels of a group.
    axes = [1, 2, 4]
    count = tf.cast(shape[1] * shape[2] * (self.channels // self.groups), tf.float32)

    def group_mean(grouped):
      # Height and width first, then the group's channels: two reductions
      # over adjacent axes run faster than one over the scattered axes
      # [1, 2, 4] (bench/README.md, levers). Summed in another order, so used
      # only in the gradient; the values keep tf.nn.moments.
      per_channel = tf.reduce_sum(grouped, axis=[1, 2], keepdims=True)
      return tf.reduce_sum(per_channel, axis=4, keepdims=True) / count

    # The gradient is written out (the batch-norm backward pass, per group):
    # automatic differentiation of the moments tiles and re-reduces the
    # feature map several times and made group normalisation a fifth of a
    # CPU training step. It equals the automatic one to float32 rounding
    # (see tests/test_layers.py); the values are computed as before.
    @tf.custom_gradient
    def normalise(x, scale, offset):
      grouped = tf.reshape(x, grouped_shape)
      mean, variance = tf.nn.moments(grouped, axes=axes, keepdims=True)
      inv_std = tf.math.rsqrt(variance + self.eps)
      normalised = (grouped - mean) * inv_std
      flat = tf.reshape(normalised, shape)
      y = flat * scale + offset

      def grad(dy):
        d_scale = tf.reduce_sum(dy * flat, axis=[0, 1, 2])
        d_offset = tf.reduce_sum(dy, axis=[0, 1, 2])
        d_normalised = tf.reshape(dy * scale, grouped_shape)
        d_x = (d_normalised - group_mean(d_normalised)
               - normalised * group_mean(d_normalised * normalised)) * inv_std
        return tf.reshape(d_x, shape), d_scale, d_offset

      return y, grad

    y = normalise(tf.cast(x, tf.float32), tf.convert_to_tensor(self.scale),
                  tf.convert_to_tensor(self.offset))
    return tf.cast(y, dtype)


def make_norm(norm, channels, groups, name):
  """Returns a `GroupNorm` for `norm="group"`, None for `norm="none"`."""
  if norm == "group":
    return GroupNorm(channels, min(groups, channels), name=name)
  if norm == "none":
    return None
  raise ValueError(f"norm must be 'group' or 'none', got {norm!r}")


class ResBlock(tf.Module):
  """Pre-activation residual block: x + conv(act(norm(conv(act(norm(x)))))).

  He et al. 2016, "Identity Mappings in Deep Residual Networks". The second
  convolution starts small (variance gain 0.1) so that each block begins
  close to the identity, in the spirit of Fixup (Zhang et al. 2019), but not
  at zero, which would leave the first convolution without a gradient at
  the first step.
  """

  def __init__(self, channels, *, norm="group", groups=8,
               compute_dtype=tf.float32, name=None):
    """Creates the block.

    Args:
      channels: channels of the input and output.
      norm: "group" or "none".
      groups: channel groups of the group normalisation.
      compute_dtype: dtype of the arithmetic; variables stay float32.
      name: module name.
    """
    super().__init__(name=name)
    has_norm = norm != "none"
    with self.name_scope:
      self.norm_0 = make_norm(norm, channels, groups, "norm_0")
      self.conv_0 = Conv2D(channels, channels, use_bias=not has_norm,
                           compute_dtype=compute_dtype, name="conv_0")
      self.norm_1 = make_norm(norm, channels, groups, "norm_1")
      self.conv_1 = Conv2D(channels, channels, gain=0.1,
                           compute_dtype=compute_dtype, name="conv_1")

  def __call__(self, x):
    h = x
    if self.norm_0 is not None:
      h = self.norm_0(h)
    h = self.conv_0(activation(h))
    if self.norm_1 is not None:
      h = self.norm_1(h)
    h = self.conv_1(activation(h))
    return tf.cast(x, h.dtype) + h
