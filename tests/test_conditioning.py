"""Tests for vae.conditioning: the type embedding and the parsing of type names."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import tempfile

import numpy as np
import tensorflow as tf

from pipelines import types_table
from vae import conditioning

NAMES = types_table.TYPE_NAMES


class TypeEmbeddingTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    tf.random.set_seed(0)
    self.embed = conditioning.TypeEmbedding(len(NAMES), 8, name="types")
    self.hot = types_table.multi_hot([("Fire",), ("Water",), ("Fire", "Water"), ()])

  def test_two_types_embed_as_the_sum_and_none_as_zeros(self):
    out = self.embed(self.hot).numpy()
    self.assertEqual(out.shape, (4, 8))
    self.assertAllClose(out[2], out[0] + out[1])
    self.assertAllEqual(out[3], np.zeros(8))
    self.assertNotAllClose(out[0], out[1])

  def test_feature_map_repeats_the_embedding_at_every_position(self):
    grid = self.embed.feature_map(self.hot, 5, 3).numpy()
    self.assertEqual(grid.shape, (4, 5, 3, 8))
    self.assertAllClose(grid[:, 4, 2], self.embed(self.hot).numpy())

  def test_compiled_with_unknown_batch_matches_eager(self):
    compiled = tf.function(lambda t: self.embed.feature_map(t, 2, 2),
                           input_signature=[tf.TensorSpec([None, len(NAMES)], tf.float32)])
    self.assertAllClose(compiled(self.hot), self.embed.feature_map(self.hot, 2, 2))

  def test_the_table_trains_and_is_checkpointed(self):
    self.assertEqual([v.name for v in self.embed.trainable_variables], ["types/table:0"])
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(self.embed(self.hot) ** 2)
    grad = tape.gradient(loss, self.embed.table)
    self.assertGreater(float(tf.reduce_sum(tf.abs(grad))), 0.0)
    path = tf.train.Checkpoint(embed=self.embed).save(os.path.join(tempfile.mkdtemp(), "ckpt"))
    other = conditioning.TypeEmbedding(len(NAMES), 8)
    tf.train.Checkpoint(embed=other).restore(path).assert_consumed()
    self.assertAllEqual(other.table, self.embed.table)

  def test_bad_sizes_are_named(self):
    with self.assertRaisesRegex(ValueError, "width must be a positive integer, got 0"):
      conditioning.TypeEmbedding(len(NAMES), 0)


class ParseTypesTest(tf.test.TestCase):

  def test_one_or_two_names_in_any_case(self):
    self.assertAllEqual(conditioning.parse_types("fire", NAMES), types_table.multi_hot([("Fire",)])[0])
    self.assertAllEqual(conditioning.parse_types(" Water, FLYING ", NAMES),
                        types_table.multi_hot([("Water", "Flying")])[0])

  def test_unknown_name_lists_the_valid_ones(self):
    with self.assertRaisesRegex(ValueError, "unknown type 'fyre'; the types are Normal, Fighting, "):
      conditioning.parse_types("fyre", NAMES)

  def test_none_three_or_repeated_types_are_refused(self):
    for text in ("", "fire,water,grass", "fire,fire"):
      with self.assertRaisesRegex(ValueError, "give one or two different types", msg=text):
        conditioning.parse_types(text, NAMES)


if __name__ == "__main__":
  tf.test.main()
