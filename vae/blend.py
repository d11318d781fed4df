"""The blend sampler: new codes between the training codes of different species.

A VAE's training codes do not fill a region that a smooth density can cover:
they lie on a thin, curved set, and a code off it decodes to noise. A
Gaussian mixture fitted to the whole code (`vae/expost.py`, latents "all")
draws its samples off that set, and a grid cell drawn from p(z2|z1) leaves it
cell by cell; both decode to confetti-coloured blobs. The straight path
between two neighbouring codes stays close to it: the README's
interpolations pass through plausible creatures. So this sampler draws a
training code, one of its `NEIGHBOURS` nearest codes of *another* species
(regular and shiny of one species, or two forms, would only repaint one
creature), and a point between them, a share t ~ U(`BLEND_RANGE`) of the way:

    z = (1 - t) c_i + t c_j.

Mixing the codes of two training examples to make a new one is the idea of
Beckham et al. 2019 ("On Adversarial Mixup Resynthesis"); here the mix is
kept to near neighbours, where the path stays on sprites. With t kept near
one half every sample is as far from one of its two sprites as from the
other, and `report.json`'s near-copy detectors count those that still come
out close to one of them. (`VAE.sample_codes` then rescales the blended
grid's detail to its parents' length; see `VAE._blend`.) It is a sampler, not a density: it has no
log-likelihood, and `temperature` does not apply to it.

The codes (posterior means of the unaugmented training sprites, float16)
and each code's partners are variables, so they live in the checkpoint and
the SavedModel; their number is the training set's, unknown when the model
is built, so the variables have an unknown first dimension (and the
partners an unknown second one: a checkpoint keeps the partners it found).
"""

import numpy as np
import tensorflow as tf

# The nearest codes of other species that a code is blended with, and where
# t, the share of the way from c_i to c_j, is drawn from: the nearer t is to
# one half, the fewer samples come out as one parent's copy. The figures
# behind both are in bench/README.md, sections 8 and 11.
NEIGHBOURS = 32
BLEND_RANGE = (0.5, 0.5)
# Rows of the distance matrix computed at once while finding partners.
_BLOCK = 1024


def partners(codes, groups, k=NEIGHBOURS):
  """Each code's k nearest codes (Euclidean) of another group, nearest first, [N, k] int32.

  Where the data hold fewer than k codes of other groups for some code (a
  small data folder), every row keeps as many as all rows have, repeated to
  k columns, so each is drawn about equally often.

  Args:
    codes: [N, D] float array.
    groups: [N] species group of each code (`pipelines.splits.group_of`).
    k: partners per code.

  Raises:
    ValueError: all codes are of one group.
  """
  codes = np.asarray(codes, np.float64)
  groups = np.asarray(groups)
  fewest = len(groups) - np.max(np.unique(groups, return_counts=True)[1])
  if fewest < 1:
    raise ValueError(
        "the blend sampler needs training sprites of at least two species, got one "
        f"({groups[0]}): train on more species, or use --sampler expost")
  found = min(k, fewest)
  squared = np.sum(codes**2, axis=1)
  out = np.empty((len(codes), k), np.int32)
  for start in range(0, len(codes), _BLOCK):
    rows = slice(start, start + _BLOCK)
    distance = squared[rows, None] + squared[None] - 2 * codes[rows] @ codes.T
    distance[groups[rows, None] == groups[None]] = np.inf
    nearest = np.argpartition(distance, found - 1, axis=1)[:, :found]
    order = np.take_along_axis(distance, nearest, 1).argsort(1)
    nearest = np.take_along_axis(nearest, order, 1)
    out[rows] = np.tile(nearest, (1, -(-k // found)))[:, :k]
  return out


class CodeBlend(tf.Module):
  """The training codes, their partners, and the sampler between them."""

  def __init__(self, code_dim, name=None):
    super().__init__(name=name)
    self.latent_dim = code_dim  # what it covers, as `ExPostDensity.latent_dim`
    with self.name_scope:
      self.codes = tf.Variable(tf.zeros([0, code_dim], tf.float16), trainable=False,
                               shape=tf.TensorShape([None, code_dim]), name="codes")
      self.partners = tf.Variable(tf.zeros([0, NEIGHBOURS], tf.int32), trainable=False,
                                  shape=tf.TensorShape([None, None]), name="partners")
      # The training step the codes are from; -1: never fitted.
      self.fitted_step = tf.Variable(tf.constant(-1, tf.int64), trainable=False,
                                     name="fitted_step")

  @property
  def fitted(self):
    return int(self.fitted_step.numpy()) >= 0

  @property
  def size(self):
    """How many training codes it blends."""
    return int(self.size_tensor())

  def size_tensor(self):
    return tf.shape(self.codes)[0]

  def assign(self, codes, groups, step):
    """Stores the training codes [N, code_dim] and their species groups [N] at `step`."""
    self.partners.assign(partners(codes, groups))
    self.codes.assign(np.asarray(codes, np.float16))
    self.fitted_step.assign(step)

  def sample(self, n, seed, with_share=False):
    """n codes [n, code_dim] between pairs of training codes; `seed` a stateless pair.

    With `with_share`, also each code's share t [n, 1] of the way. Before
    `assign` there are no codes, and drawing fails.
    """
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int32), num=3)
    count = tf.shape(self.codes)[0]
    first = tf.random.stateless_uniform([n], seeds[0], maxval=count, dtype=tf.int32)
    column = tf.random.stateless_uniform([n], seeds[1], maxval=tf.shape(self.partners)[1],
                                         dtype=tf.int32)
    second = tf.gather_nd(self.partners, tf.stack([first, column], 1))
    low, high = BLEND_RANGE
    t = tf.random.stateless_uniform([n, 1], seeds[2], minval=low, maxval=high)
    a = tf.cast(tf.gather(self.codes, first), tf.float32)
    b = tf.cast(tf.gather(self.codes, second), tf.float32)
    codes = a + t * (b - a)
    return (codes, t) if with_share else codes
