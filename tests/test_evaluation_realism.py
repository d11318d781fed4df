"""Tests for vae.evaluation.realism: two-sample tests and pixel-space near-copies, with known answers."""

import numpy as np
import pytest
import tensorflow as tf

import pipelines
from tests import fixtures
from vae import config as config_lib
from vae import layers
from vae.evaluation import realism


def bundled(split):
  """The bundled sprites of a split at 64 px, float [N, 64, 64, 4], and their species groups."""
  data = pipelines.load(config_lib.Config().data)
  return data.array(split).astype(np.float32) / 255.0, data.groups(split)


class FoldTest(tf.test.TestCase):

  def test_a_group_never_spans_two_folds_and_folds_are_about_equal(self):
    groups = np.repeat(np.arange(40), np.random.default_rng(0).integers(1, 4, 40))
    fold = realism.fold_of(groups, folds=5, seed=1)
    for group in np.unique(groups):
      self.assertLen(np.unique(fold[groups == group]), 1)
    sizes = np.bincount(fold, minlength=5)
    self.assertLessEqual(sizes.max() - sizes.min(), 3)


@pytest.mark.slow  # the convnet's folds take about a minute on two cores
class TwoSampleTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.real = fixtures.sprites(60, 32, seed=0)
    self.groups = np.arange(60) // 2  # pairs share a species, as regular and shiny do

  def test_sprites_against_sprites_of_the_same_kind_score_near_chance(self):
    other = fixtures.sprites(60, 32, seed=1)
    for kind in ("conv", "linear"):
      out = realism.two_sample_test(self.real, other, self.groups, kind=kind, steps=150)
      self.assertBetween(out["accuracy"], 0.3, 0.7, msg=kind)
      self.assertEqual(out["count"], 60)

  def test_noise_against_sprites_is_told_apart(self):
    noise = np.random.default_rng(0).random(self.real.shape).astype(np.float32)
    for kind in ("conv", "linear"):
      out = realism.two_sample_test(self.real, noise, self.groups, kind=kind, steps=150)
      self.assertGreater(out["accuracy"], 0.95, msg=kind)
      self.assertLess(out["log_loss"], 0.3, msg=kind)

  def test_the_larger_set_is_cut_to_the_smaller_and_too_few_are_refused(self):
    noise = np.random.default_rng(0).random((200, 32, 32, 4)).astype(np.float32)
    out = realism.two_sample_test(self.real, noise, self.groups, kind="linear")
    self.assertEqual(out["count"], 60)
    with self.assertRaisesRegex(ValueError, "at least 5 images"):
      realism.two_sample_test(self.real[:3], noise, self.groups[:3])

  def test_the_same_seed_gives_the_same_figures(self):
    other = fixtures.sprites(60, 32, seed=2)
    a = realism.two_sample_test(self.real, other, self.groups, steps=30, seed=4)
    b = realism.two_sample_test(self.real, other, self.groups, steps=30, seed=4)
    self.assertEqual(a, b)  # to the last digit: nothing in it reads TensorFlow's global RNG


class ConvClassifierTest(tf.test.TestCase):

  def test_initial_weights_are_the_seeds_whatever_tensorflows_global_rng(self):
    tf.random.set_seed(1)
    first = realism.ConvClassifier(seed=3)
    tf.random.set_seed(2)
    second = realism.ConvClassifier(seed=3)
    for a, b in zip(first.trainable_variables, second.trainable_variables):
      self.assertAllEqual(a, b)
    # At the layers' own scale: He et al.'s variance 2 / ((1 + a^2) fan-in) for the
    # convolutions, 1 / fan-in for the read-out.
    for variable in first.trainable_variables:
      if variable.name.endswith("w:0"):
        fan_in = int(np.prod(variable.shape[:-1]))
        gain = 1.0 if variable is first.out.w else layers.ACTIVATION_GAIN
        # (the read-out's 64 weights spread by about 9 % around it)
        self.assertAllClose(float(tf.math.reduce_std(variable)), np.sqrt(gain / fan_in),
                            rtol=0.2)


class LinearTwoSampleTest(tf.test.TestCase):
  """The quick linear test's known answers (the convnet's are in `TwoSampleTest`)."""

  def setUp(self):
    super().setUp()
    self.real = fixtures.sprites(60, 32, seed=0)
    self.groups = np.arange(60) // 2

  def test_same_kind_near_chance_and_noise_told_apart(self):
    same = realism.two_sample_test(self.real, fixtures.sprites(60, 32, seed=1), self.groups,
                                   kind="linear")
    self.assertBetween(same["accuracy"], 0.3, 0.7)
    noise = np.random.default_rng(0).random(self.real.shape).astype(np.float32)
    apart = realism.two_sample_test(self.real, noise, self.groups, kind="linear")
    self.assertGreater(apart["accuracy"], 0.95)


class ShapeCopiesTest(tf.test.TestCase):

  def test_a_copy_in_new_colours_is_flagged_and_a_picture_without_alpha_has_no_shape(self):
    train = fixtures.sprites(80, 32, seed=0)
    groups = np.arange(80) // 2
    heldout = fixtures.sprites(40, 32, seed=1)
    recoloured = 1.0 - train[:20]
    recoloured[..., 3] = train[:20, ..., 3]
    recoloured[..., :3] *= recoloured[..., 3:]  # premultiplied
    out = realism.shape_copies(recoloured, train, heldout, groups)
    self.assertEqual(out["near_copy_fraction"], 1.0)
    self.assertAllEqual(out["nearest_index"] // 2, np.arange(20) // 2)
    self.assertIsNone(realism.shape_copies(train[..., :3], train[..., :3], heldout[..., :3],
                                           groups))


@pytest.mark.slow
class BundledSpritesTest(tf.test.TestCase):
  """The known answers on the real sprites: held-out against training, noise, copies."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.train, cls.train_groups = bundled("train")
    cls.test, cls.test_groups = bundled("test")

  def test_real_training_sprites_against_held_out_ones_score_near_chance(self):
    out = realism.realism(self.test, self.test_groups,
                          dict(real=(self.train, self.train_groups)))["real"]
    self.assertBetween(out["accuracy"], 0.35, 0.65)
    self.assertBetween(out["linear_accuracy"], 0.35, 0.65)

  def test_noise_inside_the_silhouettes_is_told_apart_by_the_convnet(self):
    rng = np.random.default_rng(0)
    noise = rng.random(self.test.shape).astype(np.float32) * self.train[:len(self.test), ..., 3:]
    out = realism.two_sample_test(self.test, noise, self.test_groups)
    self.assertGreater(out["accuracy"], 0.9)

  def test_held_out_sprites_are_copies_at_the_calibrated_rate(self):
    out = realism.pixel_copies(self.test, self.train, self.test)
    self.assertAllClose(out["near_copy_fraction"], 0.05, atol=0.01)

  def test_noisy_copies_of_training_sprites_are_flagged(self):
    rng = np.random.default_rng(1)
    picked = self.train[rng.permutation(len(self.train))[:100]]
    copies = np.clip(picked + rng.normal(0, 0.02, picked.shape), 0, 1).astype(np.float32)
    copies[..., :3] = np.minimum(copies[..., :3], copies[..., 3:])  # premultiplied
    out = realism.pixel_copies(copies, self.train, self.test)
    self.assertGreater(out["near_copy_fraction"], 0.9)
    shape = realism.shape_copies(copies, self.train, self.test, self.train_groups)
    self.assertGreater(shape["near_copy_fraction"], 0.9)

  def test_held_out_shapes_are_copies_at_the_calibrated_rate(self):
    out = realism.shape_copies(self.test, self.train, self.test, self.train_groups)
    self.assertAllClose(out["near_copy_fraction"], 0.05, atol=0.01)

  def test_recoloured_copies_are_flagged_by_their_shape(self):
    # The colours of 100 training sprites rotated (R, G, B) -> (B, R, G): the
    # same drawing in new colours, which the pixel test can pass as new.
    picked = self.train[np.random.default_rng(2).permutation(len(self.train))[:100]]
    recoloured = picked[..., [2, 0, 1, 3]]
    shape = realism.shape_copies(recoloured, self.train, self.test, self.train_groups)
    pixel = realism.pixel_copies(recoloured, self.train, self.test)
    self.assertGreater(shape["near_copy_fraction"], 0.95)
    self.assertGreater(shape["near_copy_fraction"], pixel["near_copy_fraction"])
