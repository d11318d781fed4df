"""Priors p(z) and the per-dimension rate KL(q(z|x) || p(z)).

* "normal": the standard normal N(0, I) of Kingma & Welling (2014).
* "mog": a learnable mixture of K diagonal Gaussians (`tfd.MixtureSameFamily`
  with learnable logits, means and softplus scales). A VAE's aggregate
  posterior rarely fills N(0, I), and samples drawn from the holes decode
  badly; a learned prior can follow the aggregate posterior instead
  (Tomczak & Welling 2018, "VAE with a VampPrior", whose MoG baseline this
  is).

A prior module is called with a `temperature` and returns a distribution
with event_shape [latent_dim]. Temperature T multiplies the scale of the
standard normal, and the component scales of the mixture (the component
means stay put, so T -> 0 gives the component means).
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp

from vae import layers

tfd = tfp.distributions

# Floor on the mixture's component scales. Without one a component can
# shrink onto the posterior mean of a single training image and its density
# there grows without bound; 0.01 is well below the spread of a useful
# posterior (its scales sit near 0.1 to 1) but stops that collapse.
MIXTURE_SCALE_FLOOR = 1e-2


class StandardNormalPrior(tf.Module):
  """p(z) = N(0, I). No variables."""

  def __init__(self, latent_dim, name=None):
    super().__init__(name=name)
    self.latent_dim = latent_dim

  def __call__(self, temperature=1.0):
    """Returns N(0, temperature^2 I), event_shape [latent_dim]."""
    scale = tf.cast(temperature, tf.float32) * tf.ones([self.latent_dim])
    return tfd.Independent(tfd.Normal(tf.zeros([self.latent_dim]), scale),
                           reinterpreted_batch_ndims=1, name="prior")


class MixturePrior(tf.Module):
  """p(z) = sum_k pi_k N(z; mu_k, diag(sigma_k^2)), all learnable."""

  def __init__(self, latent_dim, components, name=None):
    """Creates the prior.

    The means start as N(0, 0.5^2) draws and every scale at sqrt(0.75), so
    each dimension of the initial mixture has variance 0.25 + 0.75 = 1, like
    the standard normal the posterior starts next to.

    Args:
      latent_dim: size of z.
      components: number K of Gaussian components.
      name: module name.
    """
    super().__init__(name=name)
    layers.check_positive_int("prior_components", components)
    self.latent_dim = latent_dim
    self.components = components
    initial_raw_scale = layers.softplus_inverse(
        math.sqrt(0.75) - MIXTURE_SCALE_FLOOR)
    with self.name_scope:
      self.logits = tf.Variable(tf.zeros([components]), name="logits")
      self.means = tf.Variable(
          tf.random.normal([components, latent_dim], stddev=0.5),
          name="means")
      self.raw_scales = tf.Variable(
          tf.fill([components, latent_dim], initial_raw_scale),
          name="raw_scales")

  def __call__(self, temperature=1.0):
    """Returns the mixture with component scales times `temperature`."""
    scales = (tf.nn.softplus(self.raw_scales) + MIXTURE_SCALE_FLOOR) * tf.cast(
        temperature, tf.float32)
    return tfd.MixtureSameFamily(
        tfd.Categorical(logits=self.logits),
        tfd.Independent(tfd.Normal(self.means, scales),
                        reinterpreted_batch_ndims=1),
        name="prior")


def make_prior(prior, latent_dim, *, components=16, name="prior"):
  """Returns the prior module named by `prior` ("normal" or "mog")."""
  if prior == "normal":
    return StandardNormalPrior(latent_dim, name=name)
  if prior == "mog":
    return MixturePrior(latent_dim, components, name=name)
  raise ValueError(f"prior must be 'normal' or 'mog', got {prior!r}")


def is_standard_normal(prior):
  """Whether `prior` is an `Independent(Normal)`, whose KL TFP knows."""
  return (isinstance(prior, tfd.Independent)
          and isinstance(prior.distribution, tfd.Normal))


def rate_per_dim(posterior, prior, z):
  """Per-dimension terms of the rate, [B, latent_dim], summing to the rate.

  For a Normal prior these are the analytic KL(q(z_d|x) || p(z_d)), and `z`
  is not used.

  A mixture has no analytic KL and does not factorise over dimensions, so
  for it the single-sample Monte Carlo rate log q(z|x) - log p(z) at `z` is
  split by the chain rule, log p(z) = sum_d log p(z_d | z_<d), into

      log q(z_d|x) - log p(z_d | z_<d),   d = 0 .. latent_dim - 1,

  which is cheap for a mixture of diagonal Gaussians: p(z_<=d) is a mixture
  whose weights are pi_k times the product of the first d+1 component
  densities. Each term is an unbiased estimate of the expected conditional
  KL E_q[KL(q(z_d|x) || p(z_d | z_<d))] >= 0, the terms sum exactly to the
  Monte Carlo rate, but unlike the Normal case they depend on the order of
  the dimensions and any one of them can be negative for a given z.

  Args:
    posterior: q(z|x), an `Independent(Normal)` with batch_shape [B].
    prior: p(z), an `Independent(Normal)` or a `MixtureSameFamily` of
      `Independent(Normal)` components.
    z: a sample [B, latent_dim] from the posterior.

  Returns:
    A float32 tensor [B, latent_dim].
  """
  if is_standard_normal(prior):
    return tfd.kl_divergence(posterior.distribution, prior.distribution)
  log_q = posterior.distribution.log_prob(z)  # [B, D]
  mixture_log_weights = tf.math.log_softmax(
      prior.mixture_distribution.logits)  # [K]
  components = prior.components_distribution.distribution
  log_density = components.log_prob(z[:, None, :])  # [B, K, D]
  joint = mixture_log_weights[:, None] + tf.math.cumsum(log_density, axis=-1)
  log_marginal = tf.reduce_logsumexp(joint, axis=-2)  # log p(z_<=d), [B, D]
  log_conditional = log_marginal - tf.pad(log_marginal[:, :-1],
                                          [[0, 0], [1, 0]])
  return log_q - log_conditional
