"""Tests for pipelines.transforms: augmentations and compositing in premultiplied uint8."""

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import numpy as np
import tensorflow as tf

from pipelines import transforms


def _random_premultiplied(seed, count=8, size=16):
  """[count, size, size, 4] uint8 with rgb <= alpha and some fully clear pixels."""
  rng = np.random.default_rng(seed)
  alpha = rng.integers(0, 256, (count, size, size, 1))
  alpha[rng.random((count, size, size)) < 0.3] = 0
  colour = np.floor(rng.random((count, size, size, 3)) * (alpha + 1)).astype(int)
  return np.concatenate([colour, alpha], -1).astype(np.uint8)


class HueTest(tf.test.TestCase):

  def test_a_third_turn_maps_red_to_green_and_keeps_alpha(self):
    red = np.array([[[[255, 0, 0, 255], [100, 0, 0, 100]]]], np.uint8)
    out = transforms.rotate_hue(red, [2 * math.pi / 3])
    self.assertAllEqual(out, [[[[0, 255, 0, 255], [0, 100, 0, 100]]]])

  def test_grey_and_clear_pixels_are_unchanged(self):
    grey = np.array([[[[77, 77, 77, 200], [0, 0, 0, 0]]]], np.uint8)
    self.assertAllEqual(transforms.rotate_hue(grey, [1.234]), grey)

  def test_each_image_gets_its_own_angle(self):
    red = np.tile(np.array([[[[255, 0, 0, 255]]]], np.uint8), (2, 1, 1, 1))
    out = transforms.rotate_hue(red, [0.0, 2 * math.pi / 3])
    self.assertAllEqual(out[:, 0, 0], [[255, 0, 0, 255], [0, 255, 0, 255]])


class FlipAndShiftTest(tf.test.TestCase):

  def test_moves_colour_and_alpha_together_and_fills_transparent(self):
    images = _random_premultiplied(1, count=4)
    out = transforms.flip_and_shift(images, tf.constant([False, True, False, True]),
                                    tf.constant([[0, 0], [0, 0], [2, -1], [-3, 2]])).numpy()
    self.assertAllEqual(out[0], images[0])
    self.assertAllEqual(out[1], images[1][:, ::-1])
    self.assertAllEqual(out[2, :-1, 2:], images[2, 1:, :-2])  # Right 2, up 1.
    self.assertAllEqual(out[2, :, :2], np.zeros((16, 2, 4)))
    self.assertAllEqual(out[2, -1], np.zeros((16, 4)))
    self.assertAllEqual(out[3, 2:, :-3], images[3, :-2, ::-1][:, 3:])  # Mirrored, left 3, down 2.


class AugmentTest(tf.test.TestCase):

  def test_augmented_colour_stays_inside_alpha(self):
    images = tf.constant(_random_premultiplied(0))
    for i in range(10):
      out = transforms.augment(images, tf.constant([i, 7]), flip=True, translate=3, hue=True)
      self.assertEqual(out.dtype, tf.uint8)
      self.assertTrue(np.all(out[..., :3].numpy() <= out[..., 3:].numpy()))

  def test_images_of_a_batch_get_different_draws(self):
    images = tf.constant(np.repeat(_random_premultiplied(2, count=1), 16, axis=0))
    out = transforms.augment(images, tf.constant([0, 1]), flip=True, translate=4).numpy()
    self.assertGreater(len({o.tobytes() for o in out}), 8)

  def test_same_seed_same_result_eager_and_compiled(self):
    images = tf.constant(_random_premultiplied(3))
    seed = tf.constant([3, 4])
    eager = transforms.augment(images, seed, flip=True, translate=2, hue=True)
    compiled = tf.function(lambda x, s: transforms.augment(x, s, flip=True, translate=2, hue=True),
                           input_signature=[tf.TensorSpec([None, 16, 16, 4], tf.uint8),
                                            tf.TensorSpec([2], tf.int32)])
    self.assertAllEqual(eager, compiled(images, seed))
    self.assertNotAllClose(eager, transforms.augment(images, seed + 1, flip=True, translate=2,
                                                     hue=True))

  def test_nothing_enabled_is_identity(self):
    images = _random_premultiplied(4)
    self.assertAllEqual(transforms.augment(images, tf.constant([0, 0]), flip=False), images)


class OverBackgroundTest(tf.test.TestCase):

  def test_composite_matches_the_over_operator(self):
    image = np.array([[[0, 0, 0, 0], [255, 0, 0, 255], [100, 0, 0, 100]]], np.uint8)
    out = transforms.over_background(image, (10, 200, 255)).numpy()
    self.assertAllEqual(out[0, 0], (10, 200, 255))  # Transparent shows the background.
    self.assertAllEqual(out[0, 1], (255, 0, 0))  # Opaque hides it.
    self.assertAllEqual(out[0, 2], (106, 122, 155))  # 100 + 155/255 * background.

  def test_composite_over_white_never_wraps_around(self):
    images = _random_premultiplied(5)
    out = transforms.over_background(images, (255, 255, 255)).numpy().astype(int)
    self.assertAllEqual(out, images[..., :3].astype(int) + 255 - images[..., 3:].astype(int))

  def test_composite_is_the_exactly_rounded_integer_over_for_every_premultiplied_pixel(self):
    # Every (colour, alpha) pair with colour <= alpha, over every background level.
    colour, alpha = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    valid = colour <= alpha
    pixels = np.stack([colour[valid]] * 3 + [alpha[valid]], -1).astype(np.uint8)
    for level in range(0, 256, 3):
      background = (level, min(level + 1, 255), min(level + 2, 255))
      out = transforms.over_background(pixels, background).numpy().astype(int)
      exact = (pixels[:, :3].astype(int) +
               ((255 - pixels[:, 3:].astype(int)) * np.array(background) + 127) // 255)
      self.assertAllEqual(out, exact, msg=f"background {background}")


if __name__ == "__main__":
  tf.test.main()
