"""Training objectives and likelihood bounds of the VAE.

Names follow TFP's `examples/vae.py`: for one image x and one sample
z ~ q(z|x),

    distortion = -log p(x|z)              (nats)
    rate       = KL(q(z|x) || p(z))       (nats)
    elbo       = -(distortion + rate)     <= log p(x)

The rate is analytic for the standard normal prior and a single-sample
Monte Carlo estimate, log q(z|x) - log p(z) at the same z, for the mixture
prior (see `vae.priors.rate_per_dim` for its per-dimension split).

`iwae_bound` is the importance-weighted bound of Burda et al. (2016),

    log p(x) >= E[log (1/K) sum_k p(x, z_k) / q(z_k|x)],  z_k ~ q(z|x),

which tightens towards log p(x) as K grows.

Reported quantity: bits per dimension of the 8-bit image under the
discretised logistic likelihood,

    bits/dim = -bound(x) / (H * W * C * ln 2),

with bound the ELBO or the IWAE bound in nats per image. Because that
likelihood is a probability over the 256 levels of every channel, this is an
upper bound on the code length of the image, comparable with other 8-bit
models (8 bits/dim is the cost of storing the pixels raw). Under the
"gaussian" or "bernoulli" likelihoods the same arithmetic runs, but the
numbers are not code lengths and not comparable (see `vae/likelihoods.py`).
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp

from vae import layers
from vae import priors

tfd = tfp.distributions


def elbo_terms(model, x, *, seed=None, noise=None, training=True):
  """Per-image terms of the ELBO from one posterior sample.

  Args:
    model: a `vae.model.VAE`.
    x: images [B, S, S, C] in [0, 1].
    seed: seed of the posterior sample: a stateless seed (pair of ints or
      int32 [2] tensor) for reproducible results, or an int or None.
    noise: optional standard normal draws [B, latent_dim] to use instead of
      `seed`: z = mean + stddev * noise (the reparameterisation of the
      diagonal Gaussian posterior). The training loop draws noise for the
      whole global batch and gives each replica its rows, so any number of
      replicas sees exactly the z one device would.
    training: accepted so callers can say which mode they are in; the model
      has no layer that behaves differently (group normalisation uses
      per-image statistics), so it changes nothing today.

  Returns:
    A dict of float32 tensors: "distortion", "rate", "elbo" of shape [B],
    and "rate_per_dim" [B, latent_dim] whose rows sum to "rate": the
    analytic per-dimension KL for the normal prior, the chain-rule split of
    the Monte Carlo rate for the mixture prior (`priors.rate_per_dim`).
  """
  del training  # See the docstring.
  posterior = model.encode(x)
  if noise is None:
    z = posterior.sample(seed=seed)
  else:
    z = posterior.mean() + posterior.stddev() * noise
  distortion = -model.decode(z).log_prob(x)
  rate_per_dim = priors.rate_per_dim(posterior, model.prior(), z)
  rate = tf.reduce_sum(rate_per_dim, axis=-1)
  return {
      "distortion": distortion,
      "rate": rate,
      "elbo": -(distortion + rate),
      "rate_per_dim": rate_per_dim,
  }


def training_loss(terms, *, beta, free_bits=0.0, capacity=None, gamma=1000.0):
  """The scalar minimised in training, from `elbo_terms` output.

  * Default: mean over the batch of distortion + beta * rate (beta = 1 is
    the negative ELBO; Higgins et al. 2017 for beta != 1).
  * free_bits > 0 (Kingma et al. 2016, "Improved Variational Inference with
    Inverse Autoregressive Flow"): the rate becomes
    sum_d max(free_bits, mean over the batch of rate_per_dim[:, d]), so no
    dimension is pushed below `free_bits` nats, which fights posterior
    collapse.
  * capacity C not None (Burgess et al. 2018, "Understanding
    disentangling in beta-VAE"): mean over the batch of
    distortion + gamma * |rate - C|, which holds the rate near C nats per
    image; `beta` and `free_bits` play no part then.

  Args:
    terms: dict from `elbo_terms`.
    beta: weight of the rate; python float or scalar tensor.
    free_bits: nats per latent dimension; python float or scalar tensor.
    capacity: target rate C in nats per image, or None.
    gamma: weight of the capacity penalty.

  Returns:
    A float32 scalar.
  """
  distortion = tf.reduce_mean(terms["distortion"])
  if capacity is not None:
    if not (isinstance(free_bits, (int, float)) and free_bits == 0):
      raise ValueError(
          f"free_bits and capacity exclude each other, got free_bits="
          f"{free_bits!r} and capacity={capacity!r}")
    gap = tf.abs(terms["rate"] - tf.cast(capacity, tf.float32))
    return distortion + tf.cast(gamma, tf.float32) * tf.reduce_mean(gap)
  if isinstance(free_bits, (int, float)) and free_bits == 0:
    rate = tf.reduce_mean(terms["rate"])
  else:
    per_dim = tf.reduce_mean(terms["rate_per_dim"], axis=0)
    rate = tf.reduce_sum(tf.maximum(tf.cast(free_bits, tf.float32), per_dim))
  return distortion + tf.cast(beta, tf.float32) * rate


def _log_weights(model, posterior, x, num_samples, seed):
  """log p(x, z_k) - log q(z_k|x) for num_samples draws, [num_samples, B]."""
  z = posterior.sample(num_samples, seed=seed)  # [K, B, D]
  batch = tf.shape(x)[0]
  flat_z = tf.reshape(z, [-1, model.latent_dim])
  tiled_x = tf.reshape(
      tf.broadcast_to(x[None], tf.concat([[num_samples], tf.shape(x)], 0)),
      tf.concat([[-1], tf.shape(x)[1:]], 0))
  log_likelihood = tf.reshape(model.decode(flat_z).log_prob(tiled_x),
                              [num_samples, batch])
  return log_likelihood + model.prior().log_prob(z) - posterior.log_prob(z)


def iwae_bound(model, x, *, k, chunk=100, seed=None):
  """Importance-weighted lower bound on log p(x) with k samples, [B].

  The k samples are drawn `chunk` at a time and folded into a running
  logsumexp, so memory grows with `chunk` (the decoder runs on chunk * B
  images at once), not with k.

  Args:
    model: a `vae.model.VAE`.
    x: images [B, S, S, C] in [0, 1].
    k: number of importance samples (python int >= 1); k = 1 gives an
      unbiased estimate of the ELBO.
    chunk: samples decoded at once.
    seed: as for `elbo_terms`; each chunk gets its own split of it.

  Returns:
    log (1/k) sum_j p(x, z_j) / q(z_j|x), nats, float32 [B].
  """
  layers.check_positive_int("k", k)
  layers.check_positive_int("chunk", chunk)
  posterior = model.encode(x)
  full_chunks, rest = divmod(k, chunk)
  seeds = tf.stack(tfp.random.split_seed(seed, n=full_chunks + 1))

  def add_chunk(total, size, chunk_seed):
    log_weights = _log_weights(model, posterior, x, size, chunk_seed)
    return tf.reduce_logsumexp(
        tf.stack([total, tf.reduce_logsumexp(log_weights, axis=0)]), axis=0)

  # A while loop rather than a python one, so that a traced bound holds one
  # copy of the decoder however many chunks k needs.
  _, total = tf.while_loop(
      lambda i, _: i < full_chunks,
      lambda i, total: (i + 1, add_chunk(total, chunk, seeds[i])),
      [tf.constant(0), tf.fill([tf.shape(x)[0]], -math.inf)])
  if rest:
    total = add_chunk(total, rest, seeds[full_chunks])
  return total - math.log(k)


def bits_per_dim(nats_per_image, image_shape):
  """Converts nats per image to bits per dimension.

  Args:
    nats_per_image: tensor of nats (e.g. -elbo, or -iwae_bound).
    image_shape: (H, W, C) of the images.

  Returns:
    nats / (H * W * C * ln 2).
  """
  dims = math.prod(int(d) for d in image_shape)
  return tf.convert_to_tensor(nats_per_image, tf.float32) / (dims * math.log(2))
