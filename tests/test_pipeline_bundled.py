"""Tests of the committed sprite set in data/sprites."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import numpy as np
import tensorflow as tf

import pipelines
from pipelines.fetch import sprite_sets


class BundledSetTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data = pipelines.load(pipelines.DataConfig())

  def test_every_png_matches_sha256sums(self):
    self.assertEqual(sprite_sets.verify_bundled(pipelines.BUNDLED_DIR), [])

  def test_yields_at_least_1500_images_and_skips_none(self):
    summary = self.data.summary()
    self.assertEqual(summary["skipped"], [])
    self.assertGreaterEqual(sum(summary["images"].values()), 1500)

  def test_every_split_has_data_and_no_group_is_in_two(self):
    split_of_group = {}
    for record in self.data.records:
      self.assertEqual(split_of_group.setdefault(record.group, record.split), record.split,
                       msg=record.path)
    for split in ("train", "val", "test"):
      self.assertGreater(self.data.count(split), 100, msg=split)

  def test_images_are_premultiplied_and_fill_the_frame(self):
    images = self.data.array("val")
    self.assertEqual(images.shape[1:], (64, 64, 4))
    self.assertTrue(np.all(images[..., :3] <= images[..., 3:]))
    # "fit": every sprite reaches the 2 px margin on its long side.
    visible = images[..., 3] > 0
    reaches = visible[:, 2, :].any(-1) | visible[:, :, 2].any(-1)
    self.assertTrue(reaches.all())


if __name__ == "__main__":
  tf.test.main()
