"""Tests for pipelines.display: rendering premultiplied batches, grids, PNG output."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import cv2
import numpy as np
import tensorflow as tf

from pipelines import canvas, display
from tests import fixtures as fx


class DisplayTest(tf.test.TestCase):

  def test_display_undoes_premultiplication(self):
    rng = np.random.default_rng(0)
    straight = rng.integers(0, 256, (2, 6, 6, 4)).astype(np.uint8)
    straight[..., 3] = rng.integers(64, 256, (2, 6, 6))  # Enough alpha to recover colour.
    premultiplied = canvas.quantise(canvas.premultiply(straight))
    shown = display.to_display_uint8(premultiplied / 255.0, 4)
    self.assertAllEqual(shown[..., 3], straight[..., 3])
    self.assertAllClose(shown[..., :3].astype(int), straight[..., :3].astype(int), atol=2)

  def test_transparent_pixels_display_as_zero(self):
    batch = np.zeros((1, 2, 2, 4), np.float32)
    batch[0, 0, 0] = (0.5, 0.5, 0.5, 0.0)  # A model output with colour but no coverage.
    self.assertAllEqual(display.to_display_uint8(batch, 4), np.zeros((1, 2, 2, 4)))

  def test_rgb_is_quantised_and_clipped(self):
    batch = np.array([[[[-0.2, 0.5, 1.7]]]], np.float32)
    self.assertAllEqual(display.to_display_uint8(batch, 3), [[[[0, 128, 255]]]])

  def test_composite_shows_the_background_through_what_alpha_leaves_uncovered(self):
    colour = np.array([[0.0, 0.0, 0.0], [0.3, 0.2, 0.1], [0.6, 0.0, 0.0]], np.float32)
    alpha = np.array([[0.0], [0.5], [1.0]], np.float32)
    background = np.array([0.2, 0.4, 1.0], np.float32)
    expected = [[0.2, 0.4, 1.0], [0.4, 0.4, 0.6], [0.6, 0.0, 0.0]]
    self.assertAllClose(display.composite(colour, alpha, background), expected)
    # The same formula on tensors and in 8-bit units.
    self.assertAllClose(display.composite(tf.constant(colour * 255), tf.constant(alpha * 255),
                                          tf.constant(background * 255), opaque=255.0),
                        np.array(expected) * 255, atol=1e-3)

  def test_wrong_channels_is_a_clear_error(self):
    with self.assertRaisesRegex(ValueError, r"\[N, H, W, 4\].*\(2, 3, 3, 3\)"):
      display.to_display_uint8(np.zeros((2, 3, 3, 3)), 4)


class GridTest(tf.test.TestCase):

  def test_grid_layout_scale_and_transparent_padding(self):
    tiles = np.stack([np.full((2, 3, 4), 10 * (i + 1), np.uint8) for i in range(5)])
    grid = display.image_grid(tiles, ncols=3, scale=2, pad=1)
    self.assertEqual(grid.shape, (2 * (4 + 1) + 1, 3 * (6 + 1) + 1, 4))
    self.assertAllEqual(grid[1:5, 8:14], np.full((4, 6, 4), 20))  # Tile 1, upscaled.
    self.assertAllEqual(grid[0], np.zeros((22, 4)))  # Padding is transparent.
    self.assertAllEqual(grid[6:10, 15:21], np.zeros((4, 6, 4)))  # Empty last cell.

  def test_nearest_neighbour_upscaling_keeps_pixels_crisp(self):
    tile = np.array([[[[0, 0, 0], [255, 255, 255]]]], np.uint8)
    grid = display.image_grid(tile, ncols=1, scale=3, pad=0)
    self.assertAllEqual(np.unique(grid), [0, 255])


class WritePngTest(tf.test.TestCase):

  def test_rgba_round_trips_in_rgba_order(self):
    image = fx.sprite(colour=(250, 20, 5))
    path = os.path.join(self.get_temp_dir(), "deep", "folder", "a.png")
    display.write_png(path, image)
    back = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    self.assertAllEqual(back, image)

  def test_rgb_round_trips_in_rgb_order(self):
    image = fx.sprite(colour=(250, 20, 5))[..., :3]
    path = os.path.join(self.get_temp_dir(), "rgb.png")
    display.write_png(path, image)
    self.assertAllEqual(cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB), image)


if __name__ == "__main__":
  tf.test.main()
