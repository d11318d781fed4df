"""Tests for vae/pictures.py: picture layouts, slerp and pixel-art quantisation."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tempfile  # pylint: disable=wrong-import-position

import cv2  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

import pipelines  # pylint: disable=wrong-import-position
from tests import fixtures  # pylint: disable=wrong-import-position
from vae import config as config_lib  # pylint: disable=wrong-import-position
from vae.model import VAE  # pylint: disable=wrong-import-position
from vae import pictures  # pylint: disable=wrong-import-position
from vae.evaluation import report as evaluation  # pylint: disable=wrong-import-position

SIZE = 32
SCALE = pictures.display_scale(SIZE)  # 4: a 32 px sprite shows 128 px wide.
CELL = SIZE * SCALE + 1  # One tile plus image_grid's 1 px padding.


def grid_shape(rows, cols):
  return (rows * CELL + 1, cols * CELL + 1, 4)


def tile(picture, row, col):
  """The sprite at (row, col) of a grid, downscaled back to SIZE."""
  top, left = 1 + row * CELL, 1 + col * CELL
  return picture[top:top + SIZE * SCALE:SCALE, left:left + SIZE * SCALE:SCALE]


class PicturesTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    tf.random.set_seed(0)
    cls.model = VAE.from_config(config_lib.preset("smoke"))
    cls.images = fixtures.sprites(16, SIZE)

  def test_slerp_keeps_the_ends_and_follows_the_great_circle(self):
    a, b = np.array([2.0, 0.0]), np.array([0.0, 2.0])
    path = pictures.slerp(a, b, [0.0, 0.5, 1.0])
    self.assertAllClose(path[0], a)
    self.assertAllClose(path[2], b)
    # A straight line's midpoint would be (1, 1), norm 1.41; slerp stays on
    # the circle of radius 2, at 45 degrees.
    self.assertAllClose(path[1], [np.sqrt(2.0), np.sqrt(2.0)], atol=1e-6)

  def test_slerp_of_codes_pointing_the_same_way_is_the_straight_line(self):
    a, b = np.array([1.0, 1.0]), np.array([3.0, 3.0])
    self.assertAllClose(pictures.slerp(a, b, [0.25])[0], [1.5, 1.5], atol=1e-6)

  def test_slerp_interpolates_batches_of_pairs(self):
    a = np.random.default_rng(0).normal(size=(3, 8))
    b = np.random.default_rng(1).normal(size=(3, 8))
    path = pictures.slerp(a, b, np.linspace(0, 1, 5))
    self.assertEqual(path.shape, (5, 3, 8))
    self.assertAllClose(path[-1], b, atol=1e-5)

  def test_paired_rows_put_each_top_image_above_its_bottom_image(self):
    top, bottom = np.arange(6), np.arange(6) + 100
    self.assertAllEqual(pictures.paired_rows(top, bottom, 3),
                        [0, 1, 2, 100, 101, 102, 3, 4, 5, 103, 104, 105])

  def test_reconstruction_grid_shows_each_sprite_above_its_reconstruction(self):
    picture = pictures.reconstruction_grid(self.model, self.images, ncols=8)
    self.assertEqual(picture.shape, grid_shape(4, 8))
    shown = pipelines.to_display_uint8(self.images, 4)
    recon = pipelines.to_display_uint8(self.model.reconstruct(self.images), 4)
    self.assertAllEqual(tile(picture, 2, 3), shown[11])
    self.assertAllEqual(tile(picture, 3, 3), recon[11])

  def test_interpolation_rows_run_from_start_sprite_to_end_sprite(self):
    starts, ends = self.images[:3], self.images[3:6]
    picture = pictures.interpolation_grid(self.model, starts, ends, steps=6)
    self.assertEqual(picture.shape, grid_shape(3, 8))
    self.assertAllEqual(tile(picture, 1, 0), pipelines.to_display_uint8(starts, 4)[1])
    self.assertAllEqual(tile(picture, 1, 7), pipelines.to_display_uint8(ends, 4)[1])
    # t = 0 and t = 1 decode the two posterior means: the reconstructions.
    recon = pipelines.to_display_uint8(self.model.reconstruct(ends), 4)
    self.assertAllEqual(tile(picture, 1, 6), recon[1])

  def test_traversal_middle_column_is_the_reconstruction_and_rows_differ(self):
    picture = pictures.traversal_grid(self.model, self.images[0], dims=[2, 5], steps=5)
    self.assertEqual(picture.shape, grid_shape(2, 6))
    recon = pipelines.to_display_uint8(self.model.reconstruct(self.images[:1]), 4)[0]
    self.assertAllEqual(tile(picture, 0, 3), recon)
    self.assertAllEqual(tile(picture, 1, 3), recon)
    self.assertNotAllEqual(tile(picture, 0, 1), tile(picture, 0, 5))

  def test_most_informative_orders_dimensions_by_kl(self):
    self.assertAllEqual(pictures.most_informative([0.1, 3.0, 0.0, 1.5], 3), [1, 3, 0])
    self.assertLen(pictures.most_informative([0.1, 3.0], 8), 2)

  def test_nearest_neighbours_show_the_closest_samples_above_their_neighbours(self):
    samples, train = self.images[:4], self.images[8:12]
    picture = pictures.nearest_neighbour_grid(
        samples, train, nearest_index=np.array([3, 2, 1, 0]),
        closeness=np.array([0.4, 0.1, 0.3, 0.2]), channels=4, count=2, ncols=2)
    self.assertEqual(picture.shape, grid_shape(2, 2))
    shown = pipelines.to_display_uint8(np.concatenate([samples, train]), 4)
    self.assertAllEqual(tile(picture, 0, 0), shown[1])  # Closest sample first,
    self.assertAllEqual(tile(picture, 1, 0), shown[4 + 2])  # above train[2].
    self.assertAllEqual(tile(picture, 0, 1), shown[3])
    self.assertAllEqual(tile(picture, 1, 1), shown[4 + 0])

  def test_pixel_art_has_a_hard_alpha_edge_and_a_small_palette(self):
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(3, SIZE, SIZE, 4)).astype(np.float32)
    images[..., :3] *= images[..., 3:]  # Premultiplied.
    art = pictures.pixel_art(images, 4, colours=16)
    self.assertAllInSet(art[..., 3], [0.0, 1.0])
    self.assertAllEqual(art[..., 3] == 1.0, images[..., 3] >= 0.5)
    self.assertAllEqual(art[art[..., 3] == 0], np.zeros((np.sum(art[..., 3] == 0), 4)))
    for image in art:
      colours = np.unique(image[image[..., 3] == 1.0][:, :3], axis=0)
      self.assertBetween(len(colours), 2, 16)
    self.assertAllEqual(art, pictures.pixel_art(images, 4, colours=16))

  def test_pixel_art_keeps_the_straight_colour_of_a_faint_pixel(self):
    image = np.zeros((1, 2, 2, 4), np.float32)
    image[0, 0, 0] = [0.3, 0.15, 0.0, 0.6]  # Premultiplied (0.5, 0.25, 0) at 60%.
    art = pictures.pixel_art(image, 4)
    self.assertAllClose(art[0, 0, 0], [0.5, 0.25, 0.0, 1.0])

  def test_pixel_art_of_rgb_quantises_every_pixel(self):
    images = np.random.default_rng(0).uniform(size=(2, 8, 8, 3)).astype(np.float32)
    art = pictures.pixel_art(images, 3, colours=4)
    self.assertEqual(art.shape, images.shape)
    self.assertLessEqual(len(np.unique(art[0].reshape(-1, 3), axis=0)), 4)

  def test_write_pictures_writes_every_png_at_its_size_with_alpha(self):
    samples = fixtures.sprites(20, SIZE, seed=1)
    result = evaluation.Evaluation(
        report={"kl_per_dim": list(np.linspace(0, 1, 8))}, images=self.images,
        train=fixtures.sprites(10, SIZE, seed=2), samples=samples,
        nearest_index=np.arange(20) % 10, nearest_distance=np.linspace(1, 0, 20))
    with tempfile.TemporaryDirectory() as directory:
      written = pictures.write_pictures(directory, self.model, result, with_pixel_art=True)
      shapes = {name: cv2.imread(path, cv2.IMREAD_UNCHANGED).shape
                for name, path in written.items()}
    self.assertEqual(shapes, {
        "reconstructions.png": grid_shape(4, 8),
        "samples.png": grid_shape(3, 8),
        # 16 held-out sprites and as many of the 20 samples, 4 a side, a gap between.
        "samples_vs_real.png": grid_shape(4, 9),
        "interpolations.png": grid_shape(6, 10),
        "traversals.png": grid_shape(8, 10),
        "nearest_neighbors.png": grid_shape(4, 8),
        "samples_pixel_art.png": grid_shape(3, 8),
    })


if __name__ == "__main__":
  tf.test.main()
