"""The condition of a conditional VAE: a sprite's types, embedded for the encoder and decoder.

A conditional VAE (Sohn et al. 2015, "Learning Structured Output
Representation using Deep Conditional Generative Models") gives the condition
y to the posterior q(z|x, y) and to the likelihood p(x|z, y); sampling with a
chosen y then makes sprites of that kind. Here y is the multi-hot vector of a
sprite's one or two types over `pipelines.types_table.TYPE_NAMES`
(`SpriteData.types`), and `TypeEmbedding` maps it to a learned vector that
the networks take in: as extra channels of a feature map (`feature_map`) in
the encoder, and beside z in the decoder.

The embedding is linear without a bias: two types embed as the sum of each
one's vector, and a sprite without types (no row in the table) embeds as
zeros, the same input as an unconditional model sees.
"""

import numpy as np
import tensorflow as tf


class TypeEmbedding(tf.Module):
  """Multi-hot types [B, T] -> embedding [B, width]: one learned vector per type, summed."""

  def __init__(self, num_types, width, *, name=None):
    """Creates the embedding.

    Args:
      num_types: T, the length of the multi-hot vectors (`len(TYPE_NAMES)`).
      width: Length of the embedding.
      name: Module name.
    """
    for arg, value in (("num_types", num_types), ("width", width)):
      if not isinstance(value, int) or value < 1:
        raise ValueError(f"{arg} must be a positive integer, got {value!r}")
    super().__init__(name=name)
    self.num_types = num_types
    self.width = width
    with self.name_scope:
      # Unit-variance rows: one type's embedding is on the scale of a
      # normalised activation, whatever `width` is.
      self.table = tf.Variable(tf.random.normal([num_types, width]), name="table")

  def __call__(self, types):
    """The embedding of each row of `types`, float [B, width] (zeros for a row without types)."""
    types = tf.convert_to_tensor(types, tf.float32)
    return tf.matmul(types, self.table)

  def feature_map(self, types, height, width):
    """The embedding broadcast over a [B, height, width, self.width] map, to concatenate to
    an encoder's input or feature map along channels."""
    embedding = self(types)[:, None, None, :]
    return tf.broadcast_to(embedding, tf.stack([tf.shape(embedding)[0], height, width,
                                                self.width]))


def parse_types(text, type_names) -> np.ndarray:
  """A user's "fire" or "water,flying" as a float32 multi-hot [len(type_names)].

  Case and spaces do not matter.

  Raises:
    ValueError: no type, more than two, one given twice, or an unknown name
      (the message lists the valid names).
  """
  index = {name.lower(): i for i, name in enumerate(type_names)}
  names = [part.strip().lower() for part in str(text).split(",") if part.strip()]
  unknown = [name for name in names if name not in index]
  if unknown:
    raise ValueError(f"unknown type {unknown[0]!r}; the types are {', '.join(type_names)}")
  if not 1 <= len(names) <= 2 or len(set(names)) != len(names):
    raise ValueError(f"give one or two different types, such as fire or water,flying; got "
                     f"{text!r}")
  out = np.zeros(len(type_names), np.float32)
  out[[index[name] for name in names]] = 1.0
  return out
