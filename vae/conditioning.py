"""The condition of a conditional VAE: a sprite's types, embedded for the encoder and decoder.

A conditional VAE (Sohn et al. 2015, "Learning Structured Output
Representation using Deep Conditional Generative Models") gives a condition y
to the posterior q(z|x, y) and to the likelihood p(x|z, y); the prior p(z)
stays the model's own. Decoding a code with a chosen y makes a sprite of that
kind, and decoding a sprite's code with another y restyles it.

Here y is the multi-hot vector of a sprite's one or two types over
`pipelines.types_table.TYPE_NAMES` (`SpriteData.types`). `TypeEmbedding` maps
it to a learned vector that the networks add where they already add a bias:
to the encoder's posterior parameters, and to the decoder's first feature map
(so the grid's prior p(z2|z1, y) sees it too, through h(z1, y)).

The embedding is linear without a bias, and its table starts at zero: two
types embed as the sum of each one's vector, a sprite without types (no row
in the table, or a user's image) embeds as zeros, and at the first step the
model is the unconditional one. Training drops each sprite's types with
probability `Config.condition_dropout` (`drop_types`), so all zeros stays a
condition the model has learned: "a sprite of any type".
"""

import tensorflow as tf

from pipelines import types_table
from vae import layers


def num_conditions(condition):
  """The length of the condition vector of `condition` ("none": 0, "types": len(TYPE_NAMES))."""
  return len(types_table.TYPE_NAMES) if condition == "types" else 0


class TypeEmbedding(tf.Module):
  """Multi-hot types [B, T] -> embedding [B, width]: one learned vector per type, summed."""

  def __init__(self, num_types, width, *, compute_dtype=tf.float32, name=None):
    """Creates the embedding.

    Args:
      num_types: T, the length of the multi-hot vectors (`len(TYPE_NAMES)`).
      width: length of the embedding.
      compute_dtype: dtype of the output; the table stays float32.
      name: module name.
    """
    layers.check_positive_int("num_types", num_types)
    layers.check_positive_int("width", width)
    super().__init__(name=name)
    self.num_types = num_types
    self.width = width
    self.compute_dtype = tf.as_dtype(compute_dtype)
    with self.name_scope:
      self.table = tf.Variable(tf.zeros([num_types, width]), name="table")

  def __call__(self, types):
    """The embedding of each row of `types` [B, T], [B, width] (zeros for a row without types)."""
    types = tf.convert_to_tensor(types, tf.float32)
    return tf.cast(tf.matmul(types, self.table), self.compute_dtype)


def as_batch(types, batch, num_types):
  """`types` as float32 [batch, num_types]: None gives zeros, one row [T] is repeated."""
  if types is None:
    return tf.zeros(tf.stack([batch, num_types]), tf.float32)
  types = tf.cast(types, tf.float32)
  if types.shape.rank == 1:
    return tf.tile(types[None], tf.stack([batch, 1]))
  return types


def drop_types(types, rate, seed, first_row=0, rows=None):
  """`types` [B, T] with each row set to zeros with probability `rate`.

  The draws are those of rows `first_row` .. `first_row + B` of `rows` rows
  (default B) drawn with the stateless `seed`: each replica of a step takes
  its rows of the global batch's draws, so any number of replicas drops the
  types one device would.
  """
  if not rate:
    return types
  batch = tf.shape(types)[0]
  draws = tf.random.stateless_uniform(tf.reshape(batch if rows is None else rows, [1]), seed)
  keep = draws[first_row:][:batch] >= rate
  return types * tf.cast(keep, types.dtype)[:, None]
