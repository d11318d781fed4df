"""The blend sampler: new codes between the training codes of different species.

A VAE's training codes do not fill a region that a smooth density can cover:
they lie on a thin, curved set, and a code off it decodes to noise. A
Gaussian mixture fitted to the whole code (`vae/samplers/mixture.py`, latents "all")
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
out close to one of them. `BlendSampler.sample_codes` then rescales the
blended grid's detail to its parents' length (`VAE.full_length_detail`). It is a sampler, not a density: it has no
log-likelihood, and `temperature` does not apply to it.

The codes (posterior means of the unaugmented training sprites, float16)
and each code's partners are variables, so they live in the checkpoint and
the SavedModel; their number is the training set's, unknown when the model
is built, so the variables have an unknown first dimension (and the
partners an unknown second one: a checkpoint keeps the partners it found).
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae import conditioning
from vae.samplers import base
from vae.samplers import prior

# The nearest codes of other species that a code is blended with, and where
# t, the share of the way from c_i to c_j, is drawn from: the nearer t is to
# one half, the fewer samples come out as one parent's copy. The figures
# behind both are in bench/README.md, sections 8 and 11.
NEIGHBOURS = 32
BLEND_RANGE = (0.5, 0.5)
# Rows of the distance matrix computed at once while finding partners.
_BLOCK = 1024


def partners(codes, groups, k=NEIGHBOURS, kind="blend"):
  """Each code's k nearest codes (Euclidean) of another group, nearest first, [N, k] int32.

  Where the data hold fewer than k codes of other groups for some code (a
  small data folder), every row keeps as many as all rows have, repeated to
  k columns, so each is drawn about equally often.

  Args:
    codes: [N, D] float array.
    groups: [N] species group of each code (`pipelines.splits.group_of`).
    k: partners per code.
    kind: the sampler that asks, named in the error.

  Raises:
    ValueError: all codes are of one group.
  """
  codes = np.asarray(codes, np.float64)
  groups = np.asarray(groups)
  fewest = len(groups) - np.max(np.unique(groups, return_counts=True)[1])
  if fewest < 1:
    raise ValueError(
        f"the {kind} sampler needs training sprites of at least two species, got one "
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


def shares(t):
  """The two parents' shares [B, 2] of blends a share t [B, 1] of the way from one to the other."""
  return tf.concat([1.0 - t, t], 1)


class BlendSampler(base.Sampler):
  """The training codes, their partners, and the sampler between them."""

  kind = "blend"
  keeps_types = True
  optional = ("types", "group_ids")

  def __init__(self, code_dim, name=None):
    super().__init__("all", name=name)
    self.latent_dim = code_dim
    with self.name_scope:
      self.codes = tf.Variable(tf.zeros([0, code_dim], tf.float16), trainable=False,
                               shape=tf.TensorShape([None, code_dim]), name="codes")
      self.partners = tf.Variable(tf.zeros([0, NEIGHBOURS], tf.int32), trainable=False,
                                  shape=tf.TensorShape([None, None]), name="partners")
      # Each code's types, multi-hot [N, T], when the training data has a
      # types table, [0, 0] without; and its species group as an index [N]
      # (a checkpoint written before the sampler held them reads as [0, 0]
      # and [0]). They let `sample_codes` draw the blends of one kind.
      self.types = tf.Variable(tf.zeros([0, 0], tf.float16), trainable=False,
                               shape=tf.TensorShape([None, None]), name="types")
      self.group_ids = tf.Variable(tf.zeros([0], tf.int32), trainable=False,
                                   shape=tf.TensorShape([None]), name="group_ids")

  def matches(self, kind, latents=None):
    return kind == self.kind  # always the whole code, whatever latents are asked for

  @property
  def size(self):
    """How many training codes it blends."""
    with tf.init_scope():
      return int(tf.shape(self.codes)[0])

  def assign(self, codes, groups, step, types=None):
    """Stores the training codes [N, code_dim], their species groups [N] and,
    where the data has them, their types [N, T] multi-hot, at `step`."""
    self.partners.assign(partners(codes, groups, kind=self.kind))
    self.codes.assign(np.asarray(codes, np.float16))
    self.types.assign(np.zeros((0, 0), np.float16) if types is None
                      else np.asarray(types, np.float16))
    self.group_ids.assign(np.unique(np.asarray(groups), return_inverse=True)[1]
                          .astype(np.int32).reshape(-1))
    self.fitted_step.assign(step)

  def fit(self, train, val, step, groups=None, seed=0, types=None):
    """Stores the training codes as they are, with `groups`, each one's species
    group, and `types`, each one's types (or None)."""
    if groups is None:
      raise ValueError(f"the {self.kind} sampler needs the species group of every training sprite")
    self.assign(train, np.asarray(groups)[:len(train)], step,
                None if types is None else np.asarray(types)[:len(train)])
    return dict(scores={}, chosen=self.size)

  @property
  def holds_types(self):
    """Whether every stored code has its types (read eagerly, also while tracing)."""
    with tf.init_scope():
      held = int(tf.shape(self.types)[0])
    return held > 0 and held == self.size

  def type_species(self):
    """How many species of the stored codes have each type, int [T] (zeros [0] without types)."""
    if not self.holds_types:
      return np.zeros(0, np.int64)
    types, ids = self.types.numpy() > 0, self.group_ids.numpy()
    return np.array([len(np.unique(ids[types[:, t]])) for t in range(types.shape[1])])

  def _eligible(self, types):
    """Whether each code has every type of the multi-hot `types` [T], bool [N]."""
    wanted = tf.cast(types, tf.float16) > 0
    held = self.types > 0
    return tf.reduce_all(tf.logical_or(held, tf.logical_not(wanted)[None]), axis=1)

  def _partner_of(self, first, eligible, seed):
    """For each code index in `first` [n], one of its `NEIGHBOURS` nearest eligible
    codes of another species, at random, int32 [n] (of any type where no other
    species is eligible)."""
    codes = tf.cast(self.codes, tf.float32)
    a = tf.gather(codes, first)
    distance = (tf.reduce_sum(a**2, 1, keepdims=True) + tf.reduce_sum(codes**2, 1)[None]
                - 2.0 * tf.matmul(a, codes, transpose_b=True))  # [n, N]
    other = tf.not_equal(tf.gather(self.group_ids, first)[:, None], self.group_ids[None])
    usable = tf.logical_and(other, eligible[None])
    # A type that one species alone has (Fairy: Arceus-Fairy) has no partner of its
    # kind: such a code is blended with its nearest codes of other species.
    usable = tf.where(tf.reduce_any(usable, 1, keepdims=True), usable, other)
    distance = tf.where(usable, distance, tf.float32.max)
    k = tf.minimum(NEIGHBOURS, tf.shape(codes)[0])
    _, nearest = tf.math.top_k(-distance, k=k)
    found = tf.minimum(tf.reduce_sum(tf.cast(usable, tf.int32), 1), k)  # [n]
    column = tf.cast(tf.floor(tf.random.stateless_uniform(tf.shape(first), seed)
                              * tf.cast(found, tf.float32)), tf.int32)
    return tf.gather(nearest, tf.minimum(column, k - 1), batch_dims=1)

  def blends_of(self, n, seed, types):
    """n blends of two codes of different species that both have every type of
    `types` [T] (multi-hot), with the share t [n, 1] of the way, as `blends`."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int32), num=3)
    eligible = self._eligible(types)
    logits = tf.where(eligible, 0.0, -1e9)[None]
    first = tf.reshape(tf.random.stateless_categorical(logits, n, seeds[0], dtype=tf.int32), [n])
    return self._between(first, self._partner_of(first, eligible, seeds[1]), seeds[2])

  def toward(self, code, n, types):
    """Blends of one code [code_dim] with its nearest stored codes that have every
    type of `types` [T], one per species, nearest first, at most n, at t = the
    middle of `BLEND_RANGE`: that sprite restyled toward the type.

    Returns:
      (codes [m, code_dim], t [m, 1]), m <= n the species of the type there are.
    """
    codes = tf.cast(self.codes, tf.float32)
    code = tf.reshape(tf.cast(code, tf.float32), [1, -1])
    distance = tf.where(self._eligible(types), tf.reduce_sum((codes - code)**2, 1), np.inf)
    order = tf.argsort(distance)
    species, index = tf.unique(tf.gather(self.group_ids, order))
    # The first (nearest) place of each species along `order`, in that order.
    first = tf.math.unsorted_segment_min(tf.range(tf.size(order)), index, tf.size(species))
    picks = tf.gather(order, first)[:n]
    picks = tf.boolean_mask(picks, tf.math.is_finite(tf.gather(distance, picks)))
    t = tf.fill([tf.size(picks), 1], sum(BLEND_RANGE) / 2)
    return code + t * (tf.gather(codes, picks) - code), t

  def blends(self, n, seed, with_share=False):
    """n codes [n, code_dim] between pairs of training codes; `seed` a stateless pair.

    With `with_share`, also each code's share t [n, 1] of the way. Before
    `assign` there are no codes, and drawing fails.
    """
    codes, t, _ = self._blends_and_parents(n, seed)
    return (codes, t) if with_share else codes

  def _blends_and_parents(self, n, seed):
    """`blends(n, seed, with_share=True)` and the parents' blended types [n, T]
    (None unless the sampler `holds_types`)."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int32), num=3)
    count = tf.shape(self.codes)[0]
    first = tf.random.stateless_uniform([n], seeds[0], maxval=count, dtype=tf.int32)
    column = tf.random.stateless_uniform([n], seeds[1], maxval=tf.shape(self.partners)[1],
                                         dtype=tf.int32)
    second = tf.gather_nd(self.partners, tf.stack([first, column], 1))
    codes, t = self._between(first, second, seeds[2])
    if not self.holds_types:
      return codes, t, None
    a = tf.cast(tf.gather(self.types, first), tf.float32)
    b = tf.cast(tf.gather(self.types, second), tf.float32)
    return codes, t, a + t * (b - a)

  def _between(self, first, second, seed):
    """Codes a share t ~ U(`BLEND_RANGE`) of the way from codes `first` [n] to
    codes `second` [n] (indices), and t [n, 1]."""
    low, high = BLEND_RANGE
    t = tf.random.stateless_uniform([tf.size(first), 1], seed, minval=low, maxval=high)
    a = tf.cast(tf.gather(self.codes, first), tf.float32)
    b = tf.cast(tf.gather(self.codes, second), tf.float32)
    return a + t * (b - a), t

  def sample_codes(self, model, n, temperature, seed, types=None):
    """Blends with the grid's detail kept at full length (`VAE.full_length_detail`).

    Until it holds training codes (a model not yet fitted) it draws from the
    prior, as an unfitted ex-post density is N(0, I). It takes no temperature.
    With `types` [T] multi-hot, both parents of every blend have those types
    (a sampler that `holds_types`, with codes of two species of the kind).
    """
    return self.sample_conditioned(model, n, temperature, seed, types)[0]

  def sample_conditioned(self, model, n, temperature, seed, types=None):
    """`sample_codes`, and each blend's condition for a conditional model: `types`
    where given, else its parents' types blended by the same share t (zeros
    for the prior's codes of a sampler not yet fitted). None for an
    unconditional model."""
    seed = tfp.random.sanitize_seed(seed)
    # [n, T] for a conditional model, [n, 0] (which the networks ignore) for another.
    asked = conditioning.as_batch(types, n, model.num_conditions)

    def finish(codes, t, parents=None):
      conditions = parents if model.conditional and parents is not None else asked
      return model.full_length_detail(codes, shares(t), conditions), conditions

    if types is not None:
      codes, conditions = finish(*self.blends_of(n, seed, types))
    else:
      codes, conditions = tf.cond(
          tf.shape(self.codes)[0] > 0,
          lambda: finish(*self._blends_and_parents(n, seed)),
          lambda: (prior.PriorSampler().sample_codes(model, n, temperature, seed), asked))
    return codes, conditions if model.conditional else None

  def describe(self):
    return dict(kind="blend", codes=self.size, neighbours=int(tf.shape(self.partners)[1]),
                blend_range=list(BLEND_RANGE), latents="all",
                fitted_step=int(self.fitted_step.numpy()))

  def words(self, model):
    low, high = BLEND_RANGE
    return (f"blends of two training codes of different species, t in [{low:g}, {high:g}] "
            f"of the way from one to the other, the grid's detail kept at full length")
