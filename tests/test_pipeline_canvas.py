"""Tests for pipelines.canvas: fit/keep placement and premultiplied resizing."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import cv2
import numpy as np
import tensorflow as tf

from pipelines import canvas
from pipelines.errors import SkipFile
from tests import fixtures as fx


def _visible_box(image):
  rows = np.flatnonzero(image[..., 3].any(axis=1))
  cols = np.flatnonzero(image[..., 3].any(axis=0))
  return rows[0], cols[0], rows[-1] + 1, cols[-1] + 1


class PlaceTest(tf.test.TestCase):

  def test_fit_fills_the_frame_up_to_a_two_pixel_margin(self):
    wide = fx.sprite(40, 50, box=(10, 5, 20, 45))  # 10 x 40 visible
    out = canvas.place(wide, 64, "fit")
    self.assertEqual(out.shape, (64, 64, 4))
    top, left, bottom, right = _visible_box(out)
    self.assertEqual((left, right), (2, 62))  # The long side spans 64 - 2 * 2.
    self.assertAllClose((top + bottom) / 2, 32, atol=1)  # Centred vertically.

  def test_keep_preserves_relative_size(self):
    small = canvas.place(fx.sprite(30, 30, box=(0, 0, 24, 24)), 64, "keep")
    large = canvas.place(fx.sprite(90, 90, box=(0, 0, 72, 72)), 64, "keep")
    small_side = _visible_box(small)[2] - _visible_box(small)[0]
    large_side = _visible_box(large)[2] - _visible_box(large)[0]
    self.assertEqual(small_side, 16)  # 24 px of a 96 px canvas, shown at 64 px.
    self.assertEqual(large_side, 48)

  def test_keep_shrinks_sprites_wider_than_the_reference_canvas(self):
    out = canvas.place(fx.sprite(100, 200, box=(0, 0, 50, 192)), 64, "keep")
    top, left, bottom, right = _visible_box(out)
    self.assertEqual((left, right), (0, 64))
    self.assertEqual(bottom - top, 17)  # 50 * 96/192 = 25 px of 96, shown at 64 px.

  def test_output_is_premultiplied_with_transparent_pixels_all_zero(self):
    image = fx.sprite(37, 23, box=(3, 2, 30, 19), hidden=(255, 255, 255))
    image[5:9, 4:8, 3] = 100  # Some half-transparent pixels too.
    for scale in ("fit", "keep"):
      for size in (16, 64, 128):
        out = canvas.place(image, size, scale)
        self.assertTrue(np.all(out[..., :3] <= out[..., 3:]), msg=(scale, size))
        self.assertAllEqual(out[out[..., 3] == 0], np.zeros_like(out[out[..., 3] == 0]))

  def test_shrinking_leaves_no_dark_halo(self):
    # Pure red on transparent black: a straight-alpha resize pulls the edge
    # toward black; a premultiplied one keeps every edge pixel pure red.
    image = fx.sprite(97, 97, colour=(255, 0, 0), box=(20, 20, 77, 77))
    out = canvas.place(image, 16, "keep")
    edge = (out[..., 3] > 0) & (out[..., 3] < 255)
    self.assertTrue(edge.any())
    straight_red = out[..., 0][edge].astype(float) * 255 / out[..., 3][edge]
    self.assertAllClose(straight_red, np.full_like(straight_red, 255), atol=3)
    naive = cv2.resize(image, (16, 16), interpolation=cv2.INTER_AREA)
    naive_edge = (naive[..., 3] > 0) & (naive[..., 3] < 255)
    self.assertLess(naive[..., 0][naive_edge].min(), 200)  # The halo this avoids.

  def test_fully_transparent_image_is_skipped(self):
    with self.assertRaisesRegex(SkipFile, "fully transparent"):
      canvas.place(np.zeros((8, 8, 4), np.uint8), 64)


if __name__ == "__main__":
  tf.test.main()
