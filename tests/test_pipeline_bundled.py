"""Tests of the committed sprite set in data/sprites."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import hashlib

import pytest
import numpy as np
import tensorflow as tf

import pipelines
from pipelines import types_table
from pipelines.fetch import sprite_sets

# SHA-256 of the lines "path,split" of every bundled file, in file order, as the
# splits were before the species table joined them (commit c8a5328): the
# pretrained model and every figure in the README were measured on these splits.
SPLITS_SHA256 = "853dbfd07f2d3e536a3687a614d0e85fdd84f3fc7e75fe1b1dc19825cd4fc5a7"


@pytest.mark.slow  # its set-up and compiled steps take several seconds on 2 cores
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

  def test_split_of_every_file_is_what_the_pretrained_model_was_measured_on(self):
    lines = "".join(f"{r.path},{r.split}\n" for r in self.data.records)
    self.assertEqual(hashlib.sha256(lines.encode()).hexdigest(), SPLITS_SHA256)

  def test_every_sprite_but_the_doll_has_its_types(self):
    summary = self.data.summary()["types"]
    self.assertEqual(summary["table"], str(types_table.TABLE_PATH))
    self.assertEqual(summary["without_row"], ["regular/substitute.png"])
    self.assertEqual(summary["with_row"], 1504)
    for split in ("train", "val", "test"):
      types = self.data.types(split)
      self.assertEqual(types.shape, (self.data.count(split), len(types_table.TYPE_NAMES)))
      doll = np.array([r.path == "regular/substitute.png" for r in self.data.records
                       if r.ok and r.split == split])
      self.assertAllEqual(types.sum(axis=1) == 0, doll)
      self.assertTrue(np.all(types.sum(axis=1) <= 2))

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
