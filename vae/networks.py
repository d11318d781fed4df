"""Convolutional encoder and mirrored decoder.

The encoder halves the image `len(widths)` times with stride-2 convolutions
(64 px -> 4x4 with four stages, 96 px -> 6x6), flattens, and maps linearly to
the parameters of the diagonal Gaussian posterior q(z|x). The decoder maps z
linearly back to that small map and doubles it `len(widths)` times with
transposed convolutions; its last layer emits the parameters of the
likelihood p(x|z), which a likelihood head (`vae/likelihoods.py`) turns into
a distribution. As in TFP's `examples/vae.py`, both networks return
distributions, not tensors.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from vae import conditioning
from vae import layers

tfd = tfp.distributions

# Floor on the posterior standard deviation. It stops log(scale) in the KL
# from running to -inf; at the floor one latent dimension already costs
# about 6 nats of KL against N(0, 1), far more than any useful code needs.
POSTERIOR_SCALE_FLOOR = 1e-3

# Shifting the raw scale by softplus^-1(1) makes a zero network output mean
# a unit posterior scale, so training starts near the prior.
_UNIT_SCALE_SHIFT = layers.softplus_inverse(1.0)


def check_geometry(image_size, channels, widths):
  """Raises ValueError unless the image fits `len(widths)` halvings."""
  if channels not in (3, 4):
    raise ValueError(f"channels must be 3 (RGB) or 4 (RGBA), got {channels}")
  if not widths:
    raise ValueError(f"widths must name at least one stage, got {widths!r}")
  factor = 2 ** len(widths)
  if not isinstance(image_size, int) or image_size % factor:
    raise ValueError(
        f"image_size must be a multiple of {factor} for {len(widths)} stages, "
        f"got {image_size}")


class _Stage(tf.Module):
  """A resampling convolution, normalisation, activation, residual blocks."""

  def __init__(self, resample, width, res_blocks, norm, groups, compute_dtype,
               name):
    super().__init__(name=name)
    with self.name_scope:
      self.resample = resample
      self.norm = layers.make_norm(norm, width, groups, "norm")
      self.blocks = [
          layers.ResBlock(width, norm=norm, groups=groups,
                          compute_dtype=compute_dtype, name=f"res_block_{i}")
          for i in range(res_blocks)]

  def __call__(self, x):
    h = self.resample(x)
    if self.norm is not None:
      h = self.norm(h)
    h = layers.activation(h)
    for block in self.blocks:
      h = block(h)
    return h


class Encoder(tf.Module):
  """Maps images [B, S, S, C] in [0, 1] to the posterior q(z|x)."""

  def __init__(self, *, image_size, channels, latent_dim, widths,
               res_blocks=0, norm="group", groups=8, num_conditions=0,
               compute_dtype=tf.float32, name=None):
    """Creates the encoder.

    Args:
      image_size: height and width S of the (square) images.
      channels: channels C of the images.
      latent_dim: size of z.
      widths: channels after each stride-2 stage, in order of decreasing
        resolution; `len(widths)` is the number of stages.
      res_blocks: residual blocks after each stage.
      norm: "group" or "none".
      groups: channel groups of the group normalisation.
      num_conditions: length T of a condition y [B, T] (`vae/conditioning.py`)
        whose embedding shifts the posterior's parameters; 0 for none.
      compute_dtype: dtype of the arithmetic; variables stay float32.
      name: module name.
    """
    super().__init__(name=name)
    check_geometry(image_size, channels, widths)
    self.latent_dim = latent_dim
    self.num_conditions = num_conditions
    self.compute_dtype = tf.as_dtype(compute_dtype)
    self.image_shape = (image_size, image_size, channels)
    has_norm = norm != "none"
    final = image_size // 2 ** len(widths)
    with self.name_scope:
      self.stages = []
      for i, (w_in, w_out) in enumerate(zip((channels,) + tuple(widths),
                                            widths)):
        conv = layers.Conv2D(w_in, w_out, stride=2, use_bias=not has_norm,
                             compute_dtype=compute_dtype, name=f"down_{i}")
        self.stages.append(_Stage(conv, w_out, res_blocks, norm, groups,
                                  compute_dtype, name=f"stage_{i}"))
      self.to_posterior = layers.Linear(
          final * final * widths[-1], 2 * latent_dim,
          compute_dtype=compute_dtype, name="to_posterior")
      self.condition = (conditioning.TypeEmbedding(num_conditions, 2 * latent_dim,
                                                   compute_dtype=compute_dtype, name="condition")
                        if num_conditions else None)

  def __call__(self, x, y=None):
    """Returns q(z|x) (q(z|x, y) with conditions): batch_shape [B], event_shape [latent_dim]."""
    return self.with_features(x, y)[0]

  def with_features(self, x, y=None):
    """Returns q(z|x) (or q(z|x, y), y [B, T] or None for zeros) and every stage's
    feature map, highest resolution first.

    Raises:
      ValueError: x is not a batch [B, S, S, C] of the images the encoder was
        built for (one image without its batch axis would otherwise abort
        the process inside oneDNN's convolution).
    """
    check_images(x, self.image_shape)
    # Centre the [0, 1] data on zero, where the initialisation assumes it.
    h = tf.cast(x, self.compute_dtype) * 2.0 - 1.0
    features = []
    for stage in self.stages:
      h = stage(h)
      features.append(h)
    h = tf.reshape(h, [tf.shape(h)[0], self.to_posterior.input_size])
    params = self.to_posterior(h)
    if self.condition is not None:
      params = params + self.condition(conditioning.as_batch(y, tf.shape(x)[0],
                                                             self.num_conditions))
    params = tf.cast(params, tf.float32)
    loc, raw_scale = tf.split(params, 2, axis=-1)
    scale = (tf.nn.softplus(raw_scale + _UNIT_SCALE_SHIFT)
             + POSTERIOR_SCALE_FLOOR)
    posterior = tfd.Independent(tfd.Normal(loc, scale),
                                reinterpreted_batch_ndims=1, name="posterior")
    return posterior, features


def check_images(x, image_shape):
  """Raises ValueError unless x's static shape can be [B, *image_shape]."""
  shape = tf.TensorShape(x.shape)
  if shape.rank is None:
    return
  if shape.rank != 4 or not shape[1:].is_compatible_with(image_shape):
    size, _, channels = image_shape
    hint = " (one image: add a batch axis, x[None])" if shape.rank == 3 else ""
    raise ValueError(f"images must be a batch [B, {size}, {size}, {channels}], got shape "
                     f"{shape.as_list()}{hint}")


class Decoder(tf.Module):
  """Maps latents [B, latent_dim] to the likelihood p(x|z)."""

  def __init__(self, *, image_size, channels, latent_dim, widths, likelihood,
               res_blocks=0, norm="group", groups=8, num_conditions=0, output_convs=0,
               compute_dtype=tf.float32, name=None):
    """Creates the decoder.

    Takes the arguments of `Encoder`, whose `widths` it visits in reverse
    (a condition's embedding is added to the first feature map, so every
    later stage and a latent grid's prior see it), and a likelihood head:

    Args:
      likelihood: a likelihood head from `vae.likelihoods`; its
        `params_channels` sets the channels of the last layer and it turns
        those parameters into a distribution.
      output_convs: 3x3 convolutions at full resolution before the
        likelihood's parameters. With none, the last stage's transposed
        convolution gives them directly, each pixel from a 2x2 patch of the
        half-resolution map; with k, it upsamples to `widths[0]` channels
        (then an activation) and k 3x3 convolutions (each but the last
        followed by an activation) give them, so a pixel sees its
        neighbours at full resolution (bench/README.md, section 19).
    """
    super().__init__(name=name)
    check_geometry(image_size, channels, widths)
    self.compute_dtype = tf.as_dtype(compute_dtype)
    self.likelihood = likelihood
    self.num_conditions = num_conditions
    has_norm = norm != "none"
    final = image_size // 2 ** len(widths)
    self._initial_shape = [final, final, widths[-1]]
    with self.name_scope:
      self.from_latent = layers.Linear(
          latent_dim, final * final * widths[-1], gain=layers.ACTIVATION_GAIN,
          compute_dtype=compute_dtype, name="from_latent")
      self.condition = (conditioning.TypeEmbedding(num_conditions, final * final * widths[-1],
                                                   compute_dtype=compute_dtype, name="condition")
                        if num_conditions else None)
      self.initial_norm = layers.make_norm(norm, widths[-1], groups,
                                           "initial_norm")
      self.initial_blocks = [
          layers.ResBlock(widths[-1], norm=norm, groups=groups,
                          compute_dtype=compute_dtype, name=f"res_block_{i}")
          for i in range(res_blocks)]
      # Stage i undoes encoder stage i+1, from the smallest map upwards.
      self.stages = []
      for i in reversed(range(len(widths) - 1)):
        up = layers.ConvTranspose2D(widths[i + 1], widths[i],
                                    use_bias=not has_norm,
                                    compute_dtype=compute_dtype, name=f"up_{i}")
        self.stages.append(_Stage(up, widths[i], res_blocks, norm, groups,
                                  compute_dtype, name=f"stage_{i}"))
      # The head gives the likelihood's parameters, with no normalisation or
      # activation: without output convolutions it undoes encoder stage 0
      # straight into them, with them it is the last 3x3 convolution at full
      # resolution (after `full_resolution`). Small initial weights start every
      # pixel near the head's neutral parameters (a broad distribution
      # centred on 0.5) rather than at random confident guesses.
      self.full_resolution = []
      if output_convs:
        self.full_resolution.append(layers.ConvTranspose2D(
            widths[0], widths[0], compute_dtype=compute_dtype, name="up_full"))
        self.full_resolution += [
            layers.Conv2D(widths[0], widths[0], compute_dtype=compute_dtype,
                          name=f"full_conv_{i}") for i in range(output_convs - 1)]
      head = layers.Conv2D if output_convs else layers.ConvTranspose2D
      self.to_params = head(widths[0], likelihood.params_channels, gain=0.01,
                            compute_dtype=compute_dtype, name="to_params")

  def __call__(self, z, y=None):
    """Returns p(x|z) (p(x|z, y) with conditions): batch_shape [B], event_shape [S, S, C]."""
    return self.bottom(self.top(z, y=y), z=z)

  def top(self, z, stages=None, y=None):
    """Feature map after the first `stages` upsampling stages (default all).

    `top(z, k, y)` followed by `bottom(h, k)` is `__call__(z, y)`: a latent
    grid enters between the two (`vae/hierarchy.py`). `y` [B, T] is the
    condition of a conditional decoder (None: zeros); others ignore it.
    """
    h = self.from_latent(z)
    if self.condition is not None:
      h = h + self.condition(conditioning.as_batch(y, tf.shape(z)[0], self.num_conditions))
    h = tf.reshape(h, [tf.shape(h)[0]] + self._initial_shape)
    if self.initial_norm is not None:
      h = self.initial_norm(h)
    h = layers.activation(h)
    for block in self.initial_blocks:
      h = block(h)
    for stage in self.stages[:stages]:
      h = stage(h)
    return h

  def bottom(self, h, stages=None, z=None):
    """p(x|z) from the feature map after `stages` stages (default all).

    `z`, the global latent the map was decoded from, goes to the likelihood
    head beside the per-pixel parameters: the palette head predicts each
    image's colours from it (`vae/likelihoods.py`).
    """
    for stage in self.stages[len(self.stages) if stages is None else stages:]:
      h = stage(h)
    for layer in self.full_resolution:
      h = layers.activation(layer(h))
    return self.likelihood(tf.cast(self.to_params(h), tf.float32), z)
