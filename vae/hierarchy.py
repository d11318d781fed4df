"""The spatial level of a two-level latent hierarchy.

A single global code z1 gives a VAE one coherent shape per sample, but it
cannot carry the pixel-level detail of a sprite: reconstructions come out
soft. A spatial latent grid z2 (g x g x c, e.g. 16x16x4) carries that detail
cheaply, but a grid under N(0, I) alone has no global shape to sample. The
two together, with a top-down conditional prior, are the Ladder VAE
(Sonderby et al. 2016) and, at scale, NVAE (Vahdat & Kautz 2020) and VDVAE
(Child 2021):

    p(z1) p(z2 | z1) p(x | z1, z2),      q(z1 | x) q(z2 | x, z1).

The decoder runs from z1 down to the grid's resolution, giving a feature map
h(z1). From h the prior p(z2|z1) is predicted; the posterior q(z2|x,z1) is
predicted from h and the encoder's feature map at the same resolution, as a
shift of the prior's location (NVAE's residual parameterisation, which keeps
the KL small and stable at the start); a sample z2 is added back into h,
and the decoder continues to the image. Both levels are diagonal Gaussians,
so the grid's KL is analytic given z1.

With `prior="autoregressive"` the grid's prior is not a product over cells
given z1 but a chain over them, in raster order (PixelCNN; van den Oord et
al. 2016, used as a VAE prior by PixelVAE, Gulrajani et al. 2017, and the
VLAE, Chen et al. 2017):

    p(z2 | z1) = prod_i N(z2_i; mu_i(z2_<i, z1), sigma_i(z2_<i, z1)).

Drawn cell by cell independently, a sample paints what z1 leaves open (the
detail: eyes, stripes, outline) as uncorrelated noise, a confetti texture
inside the silhouette; drawn as a chain, each cell follows its neighbours
above and to the left. The conditionals come from masked convolutions
(`layers.MaskedConv2D`) over z2, so in training all of them are computed in
one pass at the posterior's draw (teacher forcing), and the grid's KL is
analytic per cell given the cells before it; sampling takes g*g passes.
The posterior is then a shift of the part of the prior that depends on z1
alone (the chain's part depends on the draw itself). Measured on the
sprites (bench/README.md, section 8), the chain tightens the bound a little
but takes over the silhouette from z1, and its samples break into pieces:
it is an option, not the default.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from common.errors import check_choice
from vae import config as config_lib
from vae import layers

tfd = tfp.distributions

# Floor on every grid scale, for the same reason as the global posterior's
# (see `vae.networks.POSTERIOR_SCALE_FLOOR`).
SCALE_FLOOR = 1e-3
_UNIT_SCALE_SHIFT = layers.softplus_inverse(1.0)


def _scale(raw_scale):
  """A positive scale, 1 where the network outputs 0."""
  return tf.nn.softplus(raw_scale + _UNIT_SCALE_SHIFT) + SCALE_FLOOR


def _gaussian(params, temperature=1.0):
  """A diagonal Gaussian over [g, g, c] from params [B, g, g, 2c]."""
  loc, raw_scale = tf.split(tf.cast(params, tf.float32), 2, axis=-1)
  return tfd.Independent(tfd.Normal(loc, _scale(raw_scale) * temperature),
                         reinterpreted_batch_ndims=3)


# Hidden channels of the autoregressive prior, and the dilations of its
# masked residual blocks: with the first 5x5 layer a cell's factor sees 9
# rows up and 9 cells to each side, most of a 16x16 grid. About a tenth of
# the default model's arithmetic per training step.
AR_HIDDEN = 32
AR_DILATIONS = (1, 2, 4)


class GridLatent(tf.Module):
  """Prior, posterior and merge of a latent grid at one decoder resolution."""

  def __init__(self, width, channels, *, prior="independent",
               compute_dtype=tf.float32, name=None):
    """Creates the level.

    Args:
      width: channels of the decoder (and encoder) feature maps at the
        grid's resolution.
      channels: latent channels c of the grid.
      prior: "independent", every cell given z1 alone, or "autoregressive",
        each cell given z1 and the cells before it in raster order.
      compute_dtype: dtype of the convolutions; distributions are float32.
      name: module name.
    """
    super().__init__(name=name)
    layers.check_positive_int("grid_channels", channels)
    check_choice("grid_prior", prior, config_lib.GRID_PRIORS)
    self.channels = channels
    self.autoregressive = prior == "autoregressive"
    with self.name_scope:
      # Small initial weights: every grid cell starts at N(0, 1) under the
      # prior and the posterior equal to it, a zero KL to grow from.
      self.prior_net = layers.Conv2D(width, 2 * channels, gain=0.01,
                                     compute_dtype=compute_dtype, name="prior")
      self.posterior_net = layers.Conv2D(2 * width, 2 * channels, gain=0.01,
                                         compute_dtype=compute_dtype,
                                         name="posterior")
      self.merge = layers.Conv2D(channels, width, gain=1.0,
                                 compute_dtype=compute_dtype, name="merge")
      if self.autoregressive:
        self.chain_in = layers.MaskedConv2D(channels, AR_HIDDEN, kernel_size=5,
                                            include_centre=False,
                                            compute_dtype=compute_dtype, name="chain_in")
        self.chain_condition = layers.Conv2D(width, AR_HIDDEN, kernel_size=1,
                                             compute_dtype=compute_dtype,
                                             name="chain_condition")
        self.chain_blocks = [
            layers.MaskedConv2D(AR_HIDDEN, AR_HIDDEN, include_centre=True, dilation=d,
                                compute_dtype=compute_dtype, name=f"chain_block_{i}")
            for i, d in enumerate(AR_DILATIONS)]
        self.chain_out = layers.Conv2D(AR_HIDDEN, 2 * channels, kernel_size=1, gain=0.01,
                                       compute_dtype=compute_dtype, name="chain_out")

  def _chain(self, h, z):
    """The chain's share of the prior's parameters at every cell, from the cells before it."""
    a = layers.activation(self.chain_in(z) + self.chain_condition(h))
    for block in self.chain_blocks:
      a = a + layers.activation(block(a))
    return self.chain_out(a)

  def _prior_params(self, h, z):
    params = self.prior_net(h)
    if self.autoregressive:
      params = params + self._chain(h, z)
    return params

  def prior(self, h, z=None, temperature=1.0):
    """p(z2 | z1) from the top-down features h(z1) [B, g, g, width].

    For the autoregressive prior each cell's factor is conditioned on the
    cells of `z` [B, g, g, c] before it: the distribution's `log_prob(z)` is
    the chain's exact density at `z`, and its KL to a posterior is taken at
    the posterior's draw `z`. The independent prior ignores `z`.
    """
    if self.autoregressive and z is None:
      raise ValueError("the autoregressive grid prior needs the grid z its factors condition on")
    return _gaussian(self._prior_params(h, z), temperature)

  def prior_mean(self, h):
    """The location of the part of p(z2|z1) that depends on z1 alone, [B, g, g, c] (float32).

    What a posterior's location is a shift of; for the independent prior,
    the prior's mean itself.
    """
    loc, _ = tf.split(tf.cast(self.prior_net(h), tf.float32), 2, axis=-1)
    return loc

  def posterior(self, h, features):
    """q(z2 | x, z1): the prior's z1-part location shifted, and a scale of its own.

    Args:
      h: top-down features h(z1) [B, g, g, width].
      features: the encoder's features of x at the same resolution.
    """
    loc = self.prior_mean(h)
    params = self.posterior_net(tf.concat([h, tf.cast(features, h.dtype)], -1))
    shift, raw_scale = tf.split(tf.cast(params, tf.float32), 2, axis=-1)
    return tfd.Independent(tfd.Normal(loc + shift, _scale(raw_scale)),
                           reinterpreted_batch_ndims=3)

  def sample(self, h, temperature=1.0, seed=None):
    """Draws z2 [B, g, g, c] from p(z2 | z1), given h(z1); `seed` as TFP takes it."""
    if not self.autoregressive:
      return self.prior(h, temperature=temperature).sample(seed=seed)
    shape = tf.concat([tf.shape(h)[:3], [self.channels]], 0)
    noise = tf.random.stateless_normal(shape, tfp.random.sanitize_seed(seed))
    return self._run_chain(h, tf.cast(temperature, tf.float32), noise)

  # Compiled even when called eagerly (the training loop's previews): one
  # graph instead of g*g eager passes.
  @tf.function(reduce_retracing=True)
  def _run_chain(self, h, temperature, noise):
    size = h.shape[1]
    z = tf.zeros_like(noise)
    # One pass per cell: the cell's factor depends on the cells already drawn
    # (and on the zeros after it, which the masks hide from it).
    for i in tf.range(size * size):
      loc, raw_scale = tf.split(tf.cast(self._prior_params(h, z), tf.float32), 2, axis=-1)
      draw = loc + _scale(raw_scale) * temperature * noise
      cell = tf.reshape(tf.one_hot(i, size * size), [1, size, size, 1])
      z = z + cell * draw
    return z

  def inject(self, h, z):
    """The decoder's features with the grid sample z [B, g, g, c] added."""
    return h + self.merge(tf.cast(z, h.dtype))
