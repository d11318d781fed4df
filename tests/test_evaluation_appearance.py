"""Tests for vae/evaluation/appearance.py on pictures whose answers are known."""

import cv2
import numpy as np
import tensorflow as tf

from vae.evaluation import appearance

SIZE = 64


def _canvas(n=1):
  return np.zeros((n, SIZE, SIZE, 4), np.float32)


def _disc(image, cy, cx, radius, colour=(0.8, 0.2, 0.1)):
  yy, xx = np.mgrid[:SIZE, :SIZE]
  inside = np.hypot(yy - cy, xx - cx) < radius
  image[inside] = (*colour, 1.0)  # premultiplied, alpha 1
  return image


class SilhouetteTest(tf.test.TestCase):

  def test_one_disc_is_one_piece(self):
    images = _canvas()
    _disc(images[0], 32, 32, 15)
    self.assertEqual(appearance.silhouette(images), dict(one_piece=1.0, pieces=1.0))

  def test_two_equal_discs_are_two_pieces_not_one(self):
    images = _canvas()
    _disc(images[0], 32, 16, 8)
    _disc(images[0], 32, 48, 8)
    self.assertEqual(appearance.silhouette(images), dict(one_piece=0.0, pieces=2.0))

  def test_a_speck_beside_a_body_leaves_it_one_piece_but_counts_if_large_enough(self):
    images = _canvas(2)
    _disc(images[0], 32, 32, 15)
    images[0, 2, 2] = (0.1, 0.1, 0.1, 1.0)  # 1 px: below the 4 px piece size
    _disc(images[1], 32, 32, 15)
    images[1, 1:3, 1:3] = (0.1, 0.1, 0.1, 1.0)  # 4 px: a piece, still < 10 % of the area
    shape = appearance.silhouette(images)
    self.assertEqual(shape["one_piece"], 1.0)
    self.assertEqual(shape["pieces"], 1.5)

  def test_empty_and_full_canvases_are_not_sprites(self):
    images = _canvas(2)
    images[1] = (0.5, 0.5, 0.5, 1.0)
    self.assertEqual(appearance.silhouette(images), dict(one_piece=0.0, pieces=0.5))

  def test_half_transparent_pixels_are_not_opaque(self):
    images = _canvas()
    _disc(images[0], 32, 32, 15)
    images[0] *= 0.4  # premultiplied at alpha 0.4
    self.assertEqual(appearance.silhouette(images)["pieces"], 0.0)

  def test_rgb_uses_what_is_not_white(self):
    images = np.ones((1, SIZE, SIZE, 3), np.float32)
    images[0, 20:40, 20:40] = 0.3
    self.assertEqual(appearance.silhouette(images), dict(one_piece=1.0, pieces=1.0))


class SharpnessTest(tf.test.TestCase):

  def test_blurring_lowers_edge_strength_and_a_copy_scores_one(self):
    # Outlined discs with a stripe: the thin lines of drawn sprites. (A lone
    # step edge keeps its mean gradient under blur: it only spreads it.)
    real = _canvas(3)
    for i, image in enumerate(real):
      _disc(image, 30 + i, 32, 14 + i, colour=(0.1, 0.1, 0.1))
      _disc(image, 30 + i, 32, 13 + i)
      image[30 + i, 20:44, :3] = 1.0
    blurred = np.stack([cv2.GaussianBlur(image, (0, 0), 2.0) for image in real])
    out = appearance.compare(real, copy=real, blurred=blurred)
    self.assertAllClose(out["sharpness"]["copy"], 1.0)
    self.assertLess(out["sharpness"]["blurred"], 0.7)
    self.assertGreater(out["sharpness"]["real_edge_strength"], 0.0)

  def test_alpha_hardness_counts_values_near_zero_or_one(self):
    images = _canvas()
    images[0, :32, :, 3] = 1.0  # half opaque, half transparent: all hard
    self.assertEqual(appearance.alpha_hardness(images), 1.0)
    images[0, :16, :, 3] = 0.5  # a quarter of the canvas half transparent
    self.assertEqual(appearance.alpha_hardness(images), 0.75)
    self.assertIsNone(appearance.alpha_hardness(np.zeros((1, 8, 8, 3))))


if __name__ == "__main__":
  tf.test.main()
