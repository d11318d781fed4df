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

tfd = tfp.distributions


def elbo_terms(model, x, *, types=None, seed=None, noise=None, foreground=False,
               with_draw=False):
  """Per-image terms of the ELBO from one posterior sample.

  Args:
    model: a `vae.model.VAE`.
    x: images [B, S, S, C] in [0, 1].
    types: their condition [B, T] for a conditional model (None: zeros).
    seed: seed of the posterior sample: a stateless seed (pair of ints or
      int32 [2] tensor) for reproducible results, or an int or None.
    noise: optional standard normal draws [B, model.code_dim] to use instead
      of `seed`: z = mean + stddev * noise at each level (the
      reparameterisation of the diagonal Gaussian posteriors). The training loop draws noise for the
      whole global batch and gives each replica its rows, so any number of
      replicas sees exactly the z one device would.
    foreground: also return "foreground_distortion", -log p(x|z) summed over
      the pixels of x that are not background, and "foreground_values", how
      many values (pixels times channels) those are; see
      `foreground_mask`.
    with_draw: also return the posterior draw `model.infer` made (its code
      and likelihood), as the second of a pair.

  Returns:
    A dict of float32 tensors: "distortion", "rate", "elbo" of shape [B],
    and "rate_per_dim" [B, code_dim] whose rows sum to "rate": the
    analytic per-dimension KL for the normal prior and the latent grid, the
    chain-rule split of the Monte Carlo rate for the mixture prior
    (`priors.rate_per_dim`).
  """
  if noise is None:
    noise = tf.random.stateless_normal([tf.shape(x)[0], model.code_dim],
                                       tfp.random.sanitize_seed(seed))
  draw = model.infer(x, noise, types)
  distortion = -draw["likelihood"].log_prob(x)
  rate = tf.reduce_sum(draw["rate_per_dim"], axis=-1)
  terms = {
      "distortion": distortion,
      "rate": rate,
      "elbo": -(distortion + rate),
      "rate_per_dim": draw["rate_per_dim"],
  }
  if foreground:
    mask = foreground_mask(x)
    terms["foreground_distortion"] = -tf.reduce_sum(
        pixel_log_prob(draw["likelihood"], x) * mask, axis=[1, 2])
    terms["foreground_values"] = tf.reduce_sum(mask, axis=[1, 2]) * x.shape[-1]
  return (terms, draw) if with_draw else terms


def foreground_mask(x):
  """1.0 where a pixel of x [B, S, S, C] is not background, [B, S, S].

  Background is what the pipeline fills the canvas with: fully transparent
  (exactly 0 in premultiplied RGBA) or, for RGB, exactly white.
  """
  if x.shape[-1] == 4:
    return tf.cast(x[..., 3] > 0.0, tf.float32)
  return tf.cast(tf.reduce_any(x < 1.0, axis=-1), tf.float32)


def pixel_log_prob(likelihood, x):
  """log p(x_ij | z) of each pixel, channels summed, [B, S, S]."""
  per_value = likelihood.distribution.log_prob(x)
  if per_value.shape.rank == 4:  # one factor per channel
    per_value = tf.reduce_sum(per_value, axis=-1)
  return per_value


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


def _tile(x, num_samples):
  """x [B, ...] repeated num_samples times along a new first axis, flattened: [num_samples * B, ...]."""
  return tf.reshape(tf.broadcast_to(x[None], tf.concat([[num_samples], tf.shape(x)], 0)),
                    tf.concat([[-1], tf.shape(x)[1:]], 0))


def _log_weights(model, x, types, num_samples, seed):
  """log p(x, z_k) - log q(z_k|x) for num_samples draws, [num_samples, B]."""
  batch = tf.shape(x)[0]
  tiled_x = _tile(x, num_samples)
  noise = tf.random.stateless_normal([num_samples * batch, model.code_dim], seed)
  draw = model.infer(tiled_x, noise, None if types is None else _tile(types, num_samples))
  log_weights = (draw["likelihood"].log_prob(tiled_x) + draw["log_p"]
                 - draw["log_q"])
  return tf.reshape(log_weights, [num_samples, batch])


def iwae_bound(model, x, *, k, types=None, chunk=100, seed=None):
  """Importance-weighted lower bound on log p(x) with k samples, [B].

  The k samples are drawn `chunk` at a time and folded into a running
  logsumexp, so memory grows with `chunk` (the networks run on chunk * B
  images at once), not with k. Each draw is a joint draw of every latent
  level, z1 ~ q(z1|x) then z2 ~ q(z2|x, z1).

  Args:
    model: a `vae.model.VAE`.
    x: images [B, S, S, C] in [0, 1].
    k: number of importance samples (python int >= 1); k = 1 gives an
      unbiased estimate of the ELBO.
    types: the images' condition [B, T] for a conditional model: the bound
      is then on log p(x|types).
    chunk: samples decoded at once.
    seed: as for `elbo_terms`; each chunk gets its own split of it.

  Returns:
    log (1/k) sum_j p(x, z_j) / q(z_j|x), nats, float32 [B].
  """
  layers.check_positive_int("k", k)
  layers.check_positive_int("chunk", chunk)
  full_chunks, rest = divmod(k, chunk)
  seeds = tf.stack(tfp.random.split_seed(seed, n=full_chunks + 1))

  def add_chunk(total, size, chunk_seed):
    log_weights = _log_weights(model, x, types, size, chunk_seed)
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
