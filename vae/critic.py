"""An adversarial critic that teaches the decoder to draw any code it is given.

The decoder of a VAE learns to render the codes of its training sprites, and
nothing else: a code between two of them decodes to a blurred mix with a
second outline, and a latent grid drawn from p(z2|z1) to confetti. VAE/GAN
(Larsen et al. 2016) adds a discriminator that sees decoded codes against real
sprites, and a term that makes the decoder fool it; here the discriminator
sees three kinds of decoded code:

* reconstructions (posterior draws), which keeps their detail crisp;
* the model's own samples (for the `blend` sampler, blends of a training
  code and a neighbour's);
* codes whose global latent z1 mixes two training sprites' and whose grid is
  drawn from p(z2|z1), what the `expost` sampler gives the decoder.

The decoder's image is the likelihood's `image` (differentiable: the
logistic's location, which `render` only snaps to the nearest 8-bit level).
With 1,195 training sprites a discriminator memorises the real ones within a
few hundred steps; DiffAugment (Zhao et al. 2020) applies the same kinds of
random translation and cutout to every image it sees, real or decoded, so
it must judge what survives them. The adversarial term's weight balances the
two gradients at the decoder's last layer, as taming-transformers does
(Esser et al. 2021):

    lambda = ||grad_L distortion|| / (||grad_L adversarial|| + 1e-4),

clipped to [0, 1e4] and multiplied by `adversary_weight`, so the term never
drowns the likelihood, whatever the scale of nats per image. The ELBO and
bits/dim are computed and reported as before; the adversarial term changes
what is minimised, not what is measured.

Losses are the hinge losses of Lim & Ye 2017 and Miyato et al. 2018.
"""

import tensorflow as tf

from vae import layers

# DiffAugment's translation: up to this fraction of the side, zero-filled.
TRANSLATION = 0.125
# DiffAugment's cutout: a square of this fraction of the side, zeroed.
CUTOUT = 0.5
# Clip of the adaptive weight (taming-transformers' value).
MAX_ADAPTIVE_WEIGHT = 1e4
_LEAK = 0.2


class Discriminator(tf.Module):
  """A small convnet: images [B, S, S, C] in [0, 1] to one logit each [B]."""

  def __init__(self, image_size, channels, widths=(16, 32, 64, 128), name=None):
    """Creates the critic.

    Args:
      image_size: side S of the images.
      channels: their channels C.
      widths: channels of each stride-2 stage; `len(widths)` stages leave a
        map of S / 2**len(widths), averaged into one logit.
      name: module name.
    """
    super().__init__(name=name)
    if image_size % 2**len(widths):
      raise ValueError(f"image_size must be a multiple of {2**len(widths)} for "
                       f"{len(widths)} critic stages, got {image_size}")
    self.image_size = image_size
    self.channels = channels
    with self.name_scope:
      self.stages = []
      previous = channels
      for i, width in enumerate(widths):
        self.stages.append(layers.Conv2D(previous, width, kernel_size=3, stride=2,
                                         gain=2.0 / (1.0 + _LEAK**2), name=f"conv_{i}"))
        previous = width
      self.out = layers.Conv2D(previous, 1, kernel_size=3, gain=1.0, name="out")

  def __call__(self, x):
    # Centred input: the convolutions see values in [-1, 1].
    h = tf.cast(x, tf.float32) * 2.0 - 1.0
    for stage in self.stages:
      h = tf.nn.leaky_relu(stage(h), _LEAK)
    # A logit per patch of the last map, averaged: each patch judges its part.
    return tf.reduce_mean(self.out(h), axis=[1, 2, 3])


def diff_augment(x, seed):
  """DiffAugment's translation and cutout of images x [B, S, S, C], seeded.

  Both are differentiable in x (a shifted copy and a mask), so the decoder's
  gradient passes through them. Zero is the transparent background of the
  premultiplied images, so shifted-in borders and the cutout are background.

  Args:
    x: images [B, S, S, C].
    seed: a stateless seed, int32 [2].
  """
  seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int32), num=2)
  batch, size = tf.shape(x)[0], x.shape[1]
  shift = int(size * TRANSLATION)
  offsets = tf.random.stateless_uniform([batch, 2], seeds[0], minval=-shift,
                                        maxval=shift + 1, dtype=tf.int32)
  cut = int(size * CUTOUT)
  corners = tf.random.stateless_uniform([batch, 2], seeds[1], minval=0,
                                        maxval=size - cut + 1, dtype=tf.int32)
  # Pixel (i, j) of the output reads (i - dy, j - dx) of the input, or background.
  rows = tf.range(size)[None, :] - offsets[:, :1]  # [B, S]
  cols = tf.range(size)[None, :] - offsets[:, 1:]
  inside_rows = tf.cast((rows >= 0) & (rows < size), x.dtype)
  inside_cols = tf.cast((cols >= 0) & (cols < size), x.dtype)
  x = tf.gather(x, tf.clip_by_value(rows, 0, size - 1), axis=1, batch_dims=1)
  x = tf.gather(x, tf.clip_by_value(cols, 0, size - 1), axis=2, batch_dims=1)
  positions = tf.range(size)[None, :]
  in_cut_rows = (positions >= corners[:, :1]) & (positions < corners[:, :1] + cut)
  in_cut_cols = (positions >= corners[:, 1:]) & (positions < corners[:, 1:] + cut)
  cutout = tf.cast(in_cut_rows[:, :, None] & in_cut_cols[:, None, :], x.dtype)
  keep = inside_rows[:, :, None] * inside_cols[:, None, :] * (1.0 - cutout)
  return x * keep[..., None]


def critic_loss(real_logits, fake_logits):
  """The discriminator's hinge loss: mean relu(1 - D(real)) + mean relu(1 + D(fake))."""
  return (tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) +
          tf.reduce_mean(tf.nn.relu(1.0 + fake_logits)))


def generator_loss(fake_logits):
  """The decoder's adversarial loss, -mean D(fake)."""
  return -tf.reduce_mean(fake_logits)


def adaptive_weight(distortion_grad, adversarial_grad):
  """taming-transformers' balance of two gradients of one layer's weights (see the module docstring)."""
  ratio = tf.norm(distortion_grad) / (tf.norm(adversarial_grad) + 1e-4)
  return tf.stop_gradient(tf.clip_by_value(ratio, 0.0, MAX_ADAPTIVE_WEIGHT))


def fake_codes(model, codes, sampled, seed):
  """New codes for the critic to judge, as many as the batch's posterior codes [B, code_dim].

  The first half are `sampled`, codes from the model's own sampler
  (`model.sample_codes`: for the `blend` sampler, points between a training
  code and a neighbour's), so the decoder learns to draw what sampling will
  ask of it; the training step draws them before its gradient tape starts,
  since the sampler's branch on whether it is fitted cannot be recorded.
  The other half mix the batch's global latents, z1 = z1_i + t (z1_j - z1_i)
  for another row j and t ~ U(0, 1), and draw the grid from p(z2|z1) at
  the model's grid temperature: the ex-post draws of the `expost` sampler.
  Without a grid those are mixes of z1 alone.
  """
  seeds = tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int32), num=3))
  count = tf.shape(codes)[0] - tf.shape(sampled)[0]
  z1 = model.split_code(codes[:count])[0]
  partner = tf.argsort(tf.random.stateless_uniform([count], seeds[0]))
  t = tf.random.stateless_uniform([count, 1], seeds[1])
  z1 = z1 + t * (tf.gather(z1, partner) - z1)
  mixed = model.join_code(z1, model.grid_given(z1, model.grid_temperature, seed=seeds[2]))
  return tf.concat([sampled, mixed], 0)
