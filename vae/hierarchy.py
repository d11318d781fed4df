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
"""

import tensorflow as tf
import tensorflow_probability as tfp

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


class GridLatent(tf.Module):
  """Prior, posterior and merge of a latent grid at one decoder resolution."""

  def __init__(self, width, channels, *, compute_dtype=tf.float32, name=None):
    """Creates the level.

    Args:
      width: channels of the decoder (and encoder) feature maps at the
        grid's resolution.
      channels: latent channels c of the grid.
      compute_dtype: dtype of the convolutions; distributions are float32.
      name: module name.
    """
    super().__init__(name=name)
    layers.check_positive_int("grid_channels", channels)
    self.channels = channels
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

  def prior(self, h, temperature=1.0):
    """p(z2 | z1) from the top-down features h(z1) [B, g, g, width]."""
    return _gaussian(self.prior_net(h), temperature)

  def posterior(self, h, features, prior):
    """q(z2 | x, z1): the prior's location shifted, and a scale of its own.

    Args:
      h: top-down features h(z1) [B, g, g, width].
      features: the encoder's features of x at the same resolution.
      prior: `self.prior(h)`.
    """
    params = self.posterior_net(tf.concat([h, tf.cast(features, h.dtype)], -1))
    shift, raw_scale = tf.split(tf.cast(params, tf.float32), 2, axis=-1)
    return tfd.Independent(
        tfd.Normal(prior.distribution.loc + shift, _scale(raw_scale)),
        reinterpreted_batch_ndims=3)

  def inject(self, h, z):
    """The decoder's features with the grid sample z [B, g, g, c] added."""
    return h + self.merge(tf.cast(z, h.dtype))
