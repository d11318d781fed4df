"""Likelihoods p(x|z) for 8-bit images, and the heads that build them.

A head turns the decoder's last feature map, [B, S, S, params_channels], into
a distribution with batch_shape [B] and event_shape [S, S, C], and renders
that distribution as an image in [0, 1].

* "logistic": the discretised logistic of PixelCNN++ (Salimans et al. 2017)
  and NVAE (Vahdat & Kautz 2020). Each channel value k/255 gets the mass
  that a logistic puts on [k - 1/2, k + 1/2] / 255, with the bins at 0 and
  255 absorbing the tails, so it is a proper distribution on the 256 levels
  and -log p(x|z) is a code length: bits/dim under it are comparable with
  other 8-bit image models. With `mixtures` K > 1 each pixel is a mixture of
  K components whose weights are shared by the pixel's channels, so one
  component can say "transparent" (all premultiplied channels 0) and another
  "opaque colour". (PixelCNN++'s autoregressive coupling of the channel
  means is left out.)
* "palette": each image gets a palette of K colours, predicted from its
  global latent z1, and each pixel a categorical choice among them and one
  reserved background colour: a `tfd.MixtureSameFamily` of discretised
  logistics located at the palette's colours, so it is the same kind of
  normalised 8-bit likelihood as "logistic" and its bits/dim compare with
  it. Sprites are drawn with a few flat colours; rendered at each pixel's
  most probable entry, the image comes out so (see `PaletteLikelihood`).
* "gaussian": a Normal density with a learned scale, per channel or per
  pixel. A density on [0, 1], not a probability of the 256 levels: its
  numbers are not code lengths.
* "bernoulli": `tfd.Bernoulli(logits)` evaluated at the [0, 1] values, i.e.
  the binary cross-entropy used by many VAE tutorials. NOT a proper
  likelihood for 8-bit data (it does not normalise over [0, 1]); kept as a
  baseline, its numbers are not comparable with the others.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae import layers

tfb = tfp.bijectors
tfd = tfp.distributions

LEVELS = 256

# Floor on the logistic scale, in [0, 1] units. With the location at a bin
# centre it still leaves 1 - 1e-4 of the mass in that bin (half a bin is 9.8
# scales), so it costs the model almost nothing, while 1/scale <= 5e3 keeps
# the gradients of a confident, wrong prediction finite.
LOGISTIC_SCALE_FLOOR = 2e-4

# Floor on the Gaussian scale: the standard deviation of uniform noise over
# one 8-bit level, 1 / (255 sqrt(12)). Below it a density on the 256 discrete
# values can grow without bound by spiking on them, which models nothing.
GAUSSIAN_SCALE_FLOOR = 1.0 / (255.0 * np.sqrt(12.0))


def _bin_log_prob(level, loc, scale):
  """log P(level) under the discretised logistic, with a hand-written gradient.

  level (whole numbers 0..255), loc and scale broadcast together. An
  interior bin has mass sigmoid(u) - sigmoid(l) with u, l its standardised
  edges, computed as log sigmoid(l) + log sigmoid(-u) + log(e^w - 1), w = u - l,
  every term of which has a stable logarithm. PixelCNN++ instead subtracts the
  two sigmoids, which underflows in the tails and needs a mid-bin density
  fallback for tiny probabilities; this identity is exact everywhere. `w` is
  computed from the scale rather than as u - l, which would lose precision when
  u and l are large. The edge bins absorb the tails: log sigmoid(u) at 0 and
  log sigmoid(-l) at 255.

  Written for a CPU, where this function ran as some 40 passes over every
  decoded value and was the largest single cost of a training step:
  * each bin needs at most two of the four softplus terms, so the edge each
    term reads is chosen from the level before the softplus, not after;
  * the edge bins are selected with 0/1 masks that multiply (tf.where costs
    three to four times a multiplication here) except for one final select;
  * the gradient is written out instead of differentiating through all that.
  The values are the same as the plain expression's bit for bit (every masked
  term is an exact 0 or an exact copy); the gradient is the exact derivative,
  equal to the automatic one to float32 rounding (see tests/test_likelihoods.py).
  """
  dtype = loc.dtype
  bottom = tf.cast(level < 0.5, dtype)
  top = tf.cast(level > LEVELS - 1.5, dtype)
  not_bottom, not_top = 1.0 - bottom, 1.0 - top
  is_interior = tf.logical_and(level > 0.5, level < LEVELS - 1.5)
  # -softplus(-a) is log sigmoid(a) and -softplus(b) is log sigmoid(-b): a is
  # the edge whose CDF counts (lower inside, upper at the bottom bin), b the
  # edge whose complement counts (upper inside, lower at the top bin). The
  # offsets are exactly +-1/2, so the edges are those of the plain expression.
  # Each edge is subtracted from loc before scaling: near loc the difference
  # is then exact, where scaling first would cancel two large numbers.
  edge_a = (level + (bottom - 0.5)) / (LEVELS - 1)
  edge_b = (level + (0.5 - top)) / (LEVELS - 1)

  @tf.custom_gradient
  def log_prob(loc, scale):
    inv_scale = 1.0 / scale
    a = (edge_a - loc) * inv_scale
    b = (edge_b - loc) * inv_scale
    softplus_a = tf.nn.softplus(-a)
    softplus_b = tf.nn.softplus(b)
    width = inv_scale / (LEVELS - 1)
    expm1 = tf.math.expm1(-width)
    interior = -softplus_a - softplus_b + width + tf.math.log(-expm1)
    # At an edge bin one of the two products is an exact zero.
    edge = -(softplus_a * not_top + softplus_b * not_bottom)
    value = tf.where(is_interior, interior, edge)

    def grad(upstream):
      # d/da log sigmoid(a) = sigmoid(-a); d/db log sigmoid(-b) = -sigmoid(b);
      # d/dw [w + log(1 - e^-w)] = -1 / expm1(-w). With s = 1/scale, a and b
      # are (edge - loc) * s and w = s / 255, so d/dloc = -s (da + db) and
      # d/dscale = -s^2 d/ds = -s (a da + b db + s dw / 255).
      da = tf.sigmoid(-a) * not_top
      db = -tf.sigmoid(b) * not_bottom
      dw = (-1.0 / expm1) * (not_top - bottom)
      scaled = upstream * inv_scale
      d_loc = -scaled * (da + db)
      d_scale = -scaled * (a * da + b * db + dw * width)
      return _sum_to_shape(d_loc, loc), _sum_to_shape(d_scale, scale)

    return value, grad

  return log_prob(loc, scale)


def _sum_to_shape(grad, like):
  """Sums a gradient over the axes along which `like` was broadcast."""
  if grad.shape.is_fully_defined() and grad.shape == like.shape:
    return grad
  axes, _ = tf.raw_ops.BroadcastGradientArgs(s0=tf.shape(like), s1=tf.shape(grad))
  return tf.reshape(tf.reduce_sum(grad, axes), tf.shape(like))


class DiscretizedLogistic(tfd.AutoCompositeTensorDistribution):
  """A logistic discretised to the levels k/255, k = 0..255, of [0, 1].

  Scalar events: `log_prob(x)` takes x in [0, 1] (snapped to the nearest
  level), `sample()` returns levels k/255, `mean()` is the exact mean of the
  discrete distribution and `mode()` its most probable level.
  """

  def __init__(self, loc, scale, validate_args=False, allow_nan_stats=True,
               name="DiscretizedLogistic"):
    """Creates the distribution.

    Args:
      loc: location of the underlying logistic, in [0, 1] units.
      scale: positive scale of the underlying logistic, in [0, 1] units.
      validate_args: unused beyond the base class.
      allow_nan_stats: unused beyond the base class.
      name: name of the distribution.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      self._loc = tf.convert_to_tensor(loc, dtype_hint=tf.float32, name="loc")
      self._scale = tf.convert_to_tensor(scale, dtype=self._loc.dtype,
                                         name="scale")
      super().__init__(
          dtype=self._loc.dtype,
          reparameterization_type=tfd.NOT_REPARAMETERIZED,
          validate_args=validate_args,
          allow_nan_stats=allow_nan_stats,
          parameters=parameters,
          name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    return dict(
        loc=tfp.util.ParameterProperties(),
        scale=tfp.util.ParameterProperties(
            default_constraining_bijector_fn=lambda: tfb.Softplus(
                low=LOGISTIC_SCALE_FLOOR)))

  @property
  def loc(self):
    return self._loc

  @property
  def scale(self):
    return self._scale

  def _event_shape(self):
    return tf.TensorShape([])

  def _event_shape_tensor(self):
    return tf.constant([], dtype=tf.int32)

  def _log_prob(self, x):
    level = tf.clip_by_value(tf.round(x * (LEVELS - 1)), 0.0, LEVELS - 1.0)
    return _bin_log_prob(level, self._loc, self._scale)

  def _sample_n(self, n, seed=None):
    shape = tf.concat([[n], self._batch_shape_tensor()], axis=0)
    tiny = np.finfo(self.dtype.as_numpy_dtype).tiny
    uniform = tf.random.stateless_uniform(
        shape, seed=tfp.random.sanitize_seed(seed), minval=tiny, maxval=1.0,
        dtype=self.dtype)
    logistic = self._loc + self._scale * (
        tf.math.log(uniform) - tf.math.log1p(-uniform))
    return self._snap(logistic)

  @staticmethod
  def _snap(x):
    """The level k/255 whose bin holds x (edges absorb the tails)."""
    return tf.clip_by_value(tf.round(x * (LEVELS - 1)), 0.0,
                            LEVELS - 1.0) / (LEVELS - 1)

  def _mean(self):
    # E[k] = sum_{k=1}^{255} P(K >= k) = sum_k sigmoid((loc - t_k) / scale)
    # with t_k = (k - 1/2)/255 the lower edge of bin k. A loop over the 255
    # thresholds keeps memory at one image batch (a stacked sum would need
    # 255 copies of it).
    def add_level(total, k):
      threshold = (tf.cast(k, self.dtype) - 0.5) / (LEVELS - 1)
      return total + tf.sigmoid((self._loc - threshold) / self._scale)

    zeros = tf.zeros(self._batch_shape_tensor(), self.dtype)
    total = tf.foldl(add_level, tf.range(1, LEVELS), initializer=zeros)
    return total / (LEVELS - 1)

  def _mode(self):
    # The logistic density is symmetric and unimodal, so among the interior
    # bins the one holding `loc` is the most probable; the two edge bins
    # also hold a whole tail, so they are the only other candidates.
    loc = tf.broadcast_to(self._loc, self._batch_shape_tensor())
    nearest = self._snap(loc)
    candidates = tf.stack(
        [nearest, tf.zeros_like(nearest), tf.ones_like(nearest)], axis=-1)
    expanded = DiscretizedLogistic(loc[..., None], self._scale[..., None])
    best = tf.argmax(expanded.log_prob(candidates), axis=-1)
    return tf.reduce_sum(candidates * tf.one_hot(best, 3, dtype=self.dtype),
                         axis=-1)


class LogisticLikelihood(tf.Module):
  """Head for the (mixture of) discretised logistic likelihood."""

  def __init__(self, channels, mixtures=1, name=None):
    """Creates the head.

    Args:
      channels: channels C of the images.
      mixtures: logistic components K per pixel.
      name: module name.
    """
    super().__init__(name=name)
    layers.check_positive_int("logistic_mixtures", mixtures)
    self.channels = channels
    self.mixtures = mixtures
    # A location and a scale per channel and component, plus the K mixture
    # logits a pixel's channels share.
    self.params_channels = 2 * channels * mixtures + (
        mixtures if mixtures > 1 else 0)

  def _component(self, loc, raw_scale):
    # The decoder's outputs start near zero; +0.5 centres them on [0, 1].
    return DiscretizedLogistic(
        loc + 0.5, tf.nn.softplus(raw_scale) + LOGISTIC_SCALE_FLOOR)

  def __call__(self, params, z=None):
    """Returns p(x|z) from parameters [B, S, S, params_channels].

    `z`, the global latent, is the palette head's; this head reads only the
    per-pixel parameters (as do the Gaussian and Bernoulli heads).
    """
    del z
    if self.mixtures == 1:
      loc, raw_scale = tf.split(params, 2, axis=-1)
      return tfd.Independent(self._component(loc, raw_scale),
                             reinterpreted_batch_ndims=3, name="likelihood")
    k, c = self.mixtures, self.channels
    shape = tf.concat([tf.shape(params)[:3], [k, c]], axis=0)
    logits, loc, raw_scale = tf.split(params, [k, k * c, k * c], axis=-1)
    components = tfd.Independent(
        self._component(tf.reshape(loc, shape), tf.reshape(raw_scale, shape)),
        reinterpreted_batch_ndims=1)
    pixels = tfd.MixtureSameFamily(tfd.Categorical(logits=logits), components)
    return tfd.Independent(pixels, reinterpreted_batch_ndims=2,
                           name="likelihood")

  def render(self, distribution):
    """The level nearest the logistic's location, for each channel, in [0, 1].

    That is the predicted colour itself, the interior mode. The exact mode of
    the discretised distribution is not used: the edge bins 0 and 255 hold
    whole tails, so wherever the scale is still broad they win and paint a
    roughly right prediction black or fully saturated. For a mixture, the
    location of each pixel's most probable component: crisp, where the
    mixture's `mean()` would blur "transparent" and "opaque" into a
    half-transparent pixel.
    """
    inner = distribution.distribution
    if self.mixtures == 1:
      return DiscretizedLogistic._snap(inner.loc)  # pylint: disable=protected-access
    locs = inner.components_distribution.distribution.loc  # [B,H,W,K,C]
    best = tf.argmax(inner.mixture_distribution.logits, axis=-1)
    pick = tf.one_hot(best, self.mixtures, dtype=locs.dtype)[..., None]
    return DiscretizedLogistic._snap(tf.reduce_sum(locs * pick, axis=-2))  # pylint: disable=protected-access

  def image(self, distribution):
    """A differentiable stand-in for `render`: the location itself, unsnapped.

    For a mixture, the locations weighted by the components' probabilities
    (the hard choice of `render` has no gradient). What the adversarial
    critic (`vae/critic.py`) sees of a decoded code.
    """
    inner = distribution.distribution
    if self.mixtures == 1:
      return tf.clip_by_value(inner.loc, 0.0, 1.0)
    locs = inner.components_distribution.distribution.loc  # [B,H,W,K,C]
    weights = tf.nn.softmax(inner.mixture_distribution.logits)[..., None]
    return tf.clip_by_value(tf.reduce_sum(locs * weights, axis=-2), 0.0, 1.0)


# Hidden units of the small network from z1 to the palette.
PALETTE_HIDDEN = 128


def _initial_palette_logits(palette_size, channels):
  """Fixed logits [K, C] the palette network's output is added to.

  At initialisation the network's output is near zero, which would give
  every entry the same colour (sigmoid(0): mid grey at half alpha). Entries
  that start equal get equal gradients and part only slowly, so they start
  spread over the colour cube instead: straight colours from 0.08 to 0.92 in
  each channel, alphas from 0.27 to 0.98, most entries opaque. Seeded, so
  every model (and every restore) has the same offsets; not a variable.
  """
  rng = np.random.RandomState(palette_size)
  logits = rng.uniform(-2.5, 2.5, size=[palette_size, channels])
  if channels == 4:
    logits[:, 3] = rng.uniform(-1.0, 4.0, size=palette_size)
  return tf.constant(logits, tf.float32)


class PaletteLikelihood(tf.Module):
  """Head for the palette likelihood: K colours per image, a choice per pixel.

  Sprites are drawn with a few flat colours. Here each image has a palette
  of K colours and each pixel is a categorical choice among them and a
  reserved background colour: a `tfd.MixtureSameFamily` whose K + 1
  components are discretised logistics located at those colours (all of a
  pixel's channels from the same component). Every component is a
  normalised distribution over the 256^C values of a pixel, so the mixture
  is one too and bits/dim compare with the "logistic" head's.

  * The palette is a function of the global latent z1 alone (a one-hidden-
    layer network), not of the decoder's last feature map: a sprite's
    colours belong to the whole sprite, whose code z1 is, so the latent grid
    and the decoder's convolutions decide only where each colour goes, and
    the samplers that blend codes blend palettes.
  * Alpha is explicit. Component 0 is the background the pipeline fills the
    canvas with: fully transparent (every premultiplied channel 0) for RGBA,
    white for RGB; the commonest pixel is then one cheap choice. A palette
    entry is a straight colour and an alpha, premultiplied, so it is always
    a valid premultiplied value; an entry may be semi-transparent, for the
    anti-aliased shades of an outline.
  * Scales are per pixel and channel, shared by the pixel's components: the
    decoder can be sure inside a flat area and unsure on an edge, where the
    resized sprites hold values between two palette colours (the choice of
    component, not the scale, says which colour a pixel is).
  * With `max_offset` > 0 a pixel may nudge every palette location (not the
    background's) by at most that many 8-bit levels per channel, a bounded
    tanh, for the small variations of a resized sprite that no entry holds.
    Off by default: the render is then exactly the palette's colours, and
    the likelihood it buys was small on the smoke preset (bench/README.md).
  """

  def __init__(self, channels, latent_dim, palette_size=16, max_offset=0.0,
               name=None):
    """Creates the head.

    Args:
      channels: channels C of the images (3: RGB, 4: premultiplied RGBA).
      latent_dim: size of the global latent z1 the palette is predicted from.
      palette_size: colours K in each image's palette, besides the
        background.
      max_offset: largest per-pixel nudge of a palette location, in 8-bit
        levels; 0 for none.
      name: module name.
    """
    super().__init__(name=name)
    layers.check_positive_int("palette_size", palette_size)
    layers.check_positive_int("latent_dim", latent_dim)
    if not max_offset >= 0:
      raise ValueError(f"palette_offset must not be negative, got {max_offset}")
    self.channels = channels
    self.palette_size = palette_size
    self.max_offset = float(max_offset)
    # K + 1 choice logits, a scale per channel, an offset per channel.
    self.params_channels = palette_size + 1 + channels * (2 if max_offset else 1)
    self._initial_logits = _initial_palette_logits(palette_size, channels)
    # The background: transparent (0) in premultiplied RGBA, white for RGB.
    self._background = tf.fill([1, 1, channels], 0.0 if channels == 4 else 1.0)
    # The offset moves the palette entries, never the background.
    self._moves = tf.constant([[0.0]] + [[1.0]] * palette_size)
    with self.name_scope:
      self.hidden = layers.Linear(latent_dim, PALETTE_HIDDEN,
                                  gain=layers.ACTIVATION_GAIN, name="hidden")
      # Small initial weights, as the decoder's last layer: every image
      # starts near the shared initial palette rather than a random one.
      self.to_palette = layers.Linear(PALETTE_HIDDEN, palette_size * channels,
                                      gain=0.01, name="to_palette")

  def palette(self, z):
    """Premultiplied colours [B, K + 1, C] of the images of z1 [B, latent_dim].

    Entry 0 is the background, entries 1..K the predicted palette.
    """
    h = layers.activation(self.hidden(tf.cast(z, tf.float32)))
    raw = tf.reshape(self.to_palette(h), [-1, self.palette_size, self.channels])
    raw = raw + self._initial_logits
    if self.channels == 4:
      alpha = tf.sigmoid(raw[..., 3:])
      entries = tf.concat([tf.sigmoid(raw[..., :3]) * alpha, alpha], axis=-1)
    else:
      entries = tf.sigmoid(raw)
    background = tf.tile(self._background, [tf.shape(z)[0], 1, 1])
    return tf.concat([background, entries], axis=1)

  def __call__(self, params, z=None):
    """Returns p(x|z) from parameters [B, S, S, params_channels] and z1 [B, latent_dim]."""
    if z is None:
      raise ValueError("the palette likelihood needs the global latent z1, got z=None")
    splits = [self.palette_size + 1, self.channels] + (
        [self.channels] if self.max_offset else [])
    logits, raw_scale, *raw_offset = tf.split(params, splits, axis=-1)
    loc = self.palette(z)[:, None, None]  # [B, 1, 1, K + 1, C]
    if self.max_offset:
      offset = self.max_offset / (LEVELS - 1) * tf.tanh(raw_offset[0])
      loc = loc + offset[..., None, :] * self._moves  # [B, S, S, K + 1, C]
    scale = tf.nn.softplus(raw_scale) + LOGISTIC_SCALE_FLOOR
    components = tfd.Independent(
        DiscretizedLogistic(loc, scale[..., None, :]), reinterpreted_batch_ndims=1)
    pixels = tfd.MixtureSameFamily(tfd.Categorical(logits=logits), components)
    return tfd.Independent(pixels, reinterpreted_batch_ndims=2, name="likelihood")

  def render(self, distribution):
    """Each pixel at its most probable component's location, snapped to a level.

    The mode of the categorical choice: every pixel takes one palette colour
    (nudged by at most `max_offset` levels) or the background, so areas come
    out flat and edges hard, where the mixture's mean would blend the
    colours a pixel hesitates between. (It is the mode of the choice, not
    always of the pixel's whole distribution: a location near a bin edge
    splits its component's mass between two levels.)
    """
    inner = distribution.distribution
    loc = inner.components_distribution.distribution.loc  # [B, S|1, S|1, K+1, C]
    best = tf.argmax(inner.mixture_distribution.logits, axis=-1)
    pick = tf.one_hot(best, self.palette_size + 1, dtype=loc.dtype)[..., None]
    return DiscretizedLogistic._snap(tf.reduce_sum(loc * pick, axis=-2))  # pylint: disable=protected-access

  def image(self, distribution):
    """A differentiable stand-in for `render`: the locations weighted by the choice's probabilities."""
    inner = distribution.distribution
    loc = inner.components_distribution.distribution.loc
    weights = tf.nn.softmax(inner.mixture_distribution.logits)[..., None]
    return tf.clip_by_value(tf.reduce_sum(loc * weights, axis=-2), 0.0, 1.0)


class GaussianLikelihood(tf.Module):
  """Head for a Normal likelihood with a learned, floored scale."""

  def __init__(self, channels, scale="channel", name=None):
    """Creates the head.

    Args:
      channels: channels C of the images.
      scale: "channel" learns one scale per channel (a variable of this
        head); "pixel" lets the decoder predict a scale for every value.
      name: module name.
    """
    super().__init__(name=name)
    if scale not in ("channel", "pixel"):
      raise ValueError(f"gaussian_scale must be 'channel' or 'pixel', "
                       f"got {scale!r}")
    self.channels = channels
    self.per_pixel = scale == "pixel"
    self.params_channels = 2 * channels if self.per_pixel else channels
    with self.name_scope:
      self.raw_scale = None if self.per_pixel else tf.Variable(
          tf.fill([channels], layers.softplus_inverse(0.1)), name="raw_scale")

  def __call__(self, params, z=None):
    """Returns p(x|z) from parameters [B, S, S, params_channels]."""
    del z  # See LogisticLikelihood.__call__.
    if self.per_pixel:
      loc, raw_scale = tf.split(params, 2, axis=-1)
    else:
      loc, raw_scale = params, self.raw_scale
    scale = tf.nn.softplus(raw_scale) + GAUSSIAN_SCALE_FLOOR
    return tfd.Independent(tfd.Normal(loc + 0.5, scale),
                           reinterpreted_batch_ndims=3, name="likelihood")

  def render(self, distribution):
    """The mean, clipped to [0, 1]."""
    return tf.clip_by_value(distribution.mean(), 0.0, 1.0)

  image = render  # differentiable already


class BernoulliLikelihood(tf.Module):
  """Head for the continuous-target Bernoulli baseline (not a likelihood)."""

  def __init__(self, channels, name=None):
    super().__init__(name=name)
    self.channels = channels
    self.params_channels = channels

  def __call__(self, params, z=None):
    """Returns Bernoulli(logits) over [B, S, S, C], float-valued.

    Its `log_prob` of a value x in [0, 1] is the negative binary
    cross-entropy x log p + (1 - x) log(1 - p); see the module docstring.
    """
    del z  # See LogisticLikelihood.__call__.
    return tfd.Independent(tfd.Bernoulli(logits=params, dtype=tf.float32),
                           reinterpreted_batch_ndims=3, name="likelihood")

  def render(self, distribution):
    """The mean sigmoid(logits), in [0, 1]."""
    return distribution.mean()

  image = render  # differentiable already


def make_likelihood(likelihood, channels, *, mixtures=1,
                    gaussian_scale="channel", palette_size=16, palette_offset=0.0,
                    latent_dim=None, name="likelihood"):
  """Returns the head named by `likelihood`.

  `latent_dim`, the size of z1, is needed by (only) the palette head.
  """
  if likelihood == "logistic":
    return LogisticLikelihood(channels, mixtures, name=name)
  if likelihood == "palette":
    return PaletteLikelihood(channels, latent_dim, palette_size, palette_offset,
                             name=name)
  if likelihood == "gaussian":
    return GaussianLikelihood(channels, gaussian_scale, name=name)
  if likelihood == "bernoulli":
    return BernoulliLikelihood(channels, name=name)
  raise ValueError("likelihood must be 'logistic', 'palette', 'gaussian' or "
                   f"'bernoulli', got {likelihood!r}")
