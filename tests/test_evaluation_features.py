"""Tests for vae/evaluation/features.py: the fixed random-network feature space."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests import fixtures
from vae.evaluation import features, metrics

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _gradient():
  return np.linspace(0, 1, 64 * 64 * 3, dtype=np.float32).reshape(
      1, 64, 64, 3)


class RandomConvFeaturesTest(tf.test.TestCase):

  def test_every_size_and_channel_count_gives_512_features(self):
    for size in (32, 64, 96, 128):
      for channels in (3, 4):
        feats = features.embed(fixtures.blocky_sprites(3, size, channels))
        self.assertEqual(feats.shape, (3, 512))
        self.assertTrue(np.isfinite(feats).all())

  def test_holds_no_variables(self):
    self.assertEmpty(features.RandomConvFeatures().variables)

  def test_two_calls_and_two_builds_agree_exactly(self):
    images = fixtures.blocky_sprites(5, 64)
    first = features.embed(images)
    self.assertAllEqual(first, features.embed(images))
    rebuilt = features.RandomConvFeatures()
    self.assertAllEqual(first, features.embed_with(rebuilt, images))

  @pytest.mark.slow
  def test_a_fresh_process_gives_identical_features(self):
    images = fixtures.blocky_sprites(4, 32)
    path = os.path.join(self.get_temp_dir(), "images.npy")
    np.save(path, images)
    script = ("import sys, numpy as np; from vae.evaluation import features; "
              "np.save(sys.argv[1], features.embed(np.load(sys.argv[1])))")
    subprocess.run([sys.executable, "-c", script, path], cwd=_REPO,
                   check=True, capture_output=True)
    self.assertAllEqual(np.load(path), features.embed(images))

  def test_feature_space_is_pinned(self):
    # Numbers computed in one feature space are only comparable with numbers
    # from the same space: any change to the seed or the net must fail here.
    # The tolerance leaves room for float reordering between CPUs.
    feats = features.embed(_gradient())[0]
    self.assertAllClose(feats[:4], [0.0538232, 0.5631653, 0.02753631,
                                    0.13208577], rtol=1e-4)
    self.assertAllClose(feats[256:260], [0.37989956, 0.00178583, 0.8671481,
                                         0.29036483], rtol=1e-4, atol=1e-6)
    self.assertAllClose(np.linalg.norm(feats), 9.727818, rtol=1e-4)

  def test_different_images_give_different_features(self):
    feats = features.embed(fixtures.blocky_sprites(20, 64))
    distances = metrics.pairwise_distances(feats, feats)
    off_diagonal = distances[~np.eye(20, dtype=bool)]
    self.assertGreater(off_diagonal.min(), 0.5 * np.median(off_diagonal))

  def test_empty_canvas_is_the_zero_vector(self):
    self.assertAllEqual(features.embed(np.zeros((2, 32, 32, 4))),
                        np.zeros((2, 512)))

  def test_opaque_rgba_equals_its_rgb(self):
    rgb = np.random.default_rng(1).random((3, 64, 64, 3)).astype(np.float32)
    rgba = np.concatenate([rgb, np.ones_like(rgb[..., :1])], axis=-1)
    self.assertAllEqual(features.embed(rgba), features.embed(rgb))

  def test_same_sprite_at_another_size_stays_closest_to_itself(self):
    at_64 = features.embed(fixtures.blocky_sprites(10, 64))
    for size in (32, 96, 128):
      distances = metrics.pairwise_distances(
          features.embed(fixtures.blocky_sprites(10, size)), at_64)
      self.assertAllEqual(distances.argmin(1), np.arange(10))
      off_diagonal = distances[~np.eye(10, dtype=bool)]
      self.assertLess(np.diag(distances).max(), 0.5 * off_diagonal.min())

  def test_batch_size_does_not_change_features(self):
    images = fixtures.blocky_sprites(7, 32)
    self.assertAllClose(features.embed(images, batch_size=3),
                        features.embed(images), atol=1e-6)


if __name__ == "__main__":
  tf.test.main()
