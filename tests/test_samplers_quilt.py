"""Tests for the quilt sampler (vae/samplers/quilt.py) and its place in the model."""

import os

import numpy as np
import tensorflow as tf

from vae import samplers
from vae import config as config_lib
from vae.samplers import quilt
from vae.model import VAE


def _grids(n, g=8, c=2, seed=0):
  return np.random.default_rng(seed).normal(size=(n, g, g, c)).astype(np.float32)


class PoolTest(tf.test.TestCase):

  def test_the_pool_is_the_nearest_sprite_of_each_species_nearest_first(self):
    sources, new = _grids(30), _grids(5, seed=1)
    groups = np.arange(30) // 3  # three sprites per species
    found = quilt.pool(tf.constant(new), tf.constant(sources), tf.constant(groups, tf.int32),
                       size=4).numpy()
    for n in range(5):
      distance = ((sources - new[n])**2).sum((1, 2, 3))
      nearest_of = [np.argmin(np.where(groups == s, distance, np.inf)) for s in range(10)]
      expected = sorted(nearest_of, key=lambda i: distance[i])[:4]
      self.assertAllEqual(found[n], expected)

  def test_fewer_species_than_the_pool_repeat(self):
    found = quilt.pool(tf.constant(_grids(2, seed=1)), tf.constant(_grids(6)),
                       tf.constant([0, 0, 0, 1, 1, 1], tf.int32), size=5).numpy()
    self.assertAllEqual(found[:, 2:4], found[:, :2])
    self.assertEqual(len(set(found[0, :2])), 2)


  def test_only_eligible_sprites_join_the_pool(self):
    eligible = np.arange(30) % 3 == 0
    found = quilt.pool(tf.constant(_grids(4, seed=1)), tf.constant(_grids(30)),
                       tf.constant(np.arange(30) // 3, tf.int32), size=4,
                       eligible=tf.constant(eligible)).numpy()
    self.assertTrue(np.all(eligible[found]))
    self.assertTrue(np.all([len(set(row)) == 4 for row in found]))  # 10 species are eligible


class QuiltTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.centres, self.details = _grids(12), _grids(12, seed=2)
    self.groups = tf.range(12)

  def _quilt(self, new, seed=(1, 2), **kwargs):
    return quilt.quilt(tf.constant(new), tf.constant(self.centres), tf.constant(self.details),
                       self.groups, tf.constant(seed), block=4, **kwargs).numpy()

  def test_every_block_is_one_sources_block_moved_at_most_one_cell(self):
    out = self._quilt(_grids(6, seed=3), size=6)
    padded = np.pad(self.details, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    for n in range(6):
      for y in (0, 4):
        for x in (0, 4):
          piece = out[n, y:y + 4, x:x + 4]
          found = [np.allclose(piece, padded[s, y + dy:y + dy + 4, x + dx:x + dx + 4])
                   for s in range(12) for dy in range(3) for dx in range(3)]
          self.assertTrue(any(found), (n, y, x))

  def test_a_source_whose_centres_match_exactly_gives_its_own_detail(self):
    # With one best candidate (top 1) and no seam cost, a new grid centre equal to
    # source 5's draws every block from source 5, unmoved.
    out = self._quilt(self.centres[5:6], top=1, seam=0.0)
    self.assertAllClose(out[0], self.details[5])

  def test_the_seam_weighs_continuity_against_the_centres(self):
    # Source 0's centres match the new grid's on the left, source 1's on the right. The
    # first block is source 0's; for the next, source 1 matches the centres better and
    # source 0 continues its own block: the seam's weight decides between them.
    new = np.zeros((1, 8, 8, 1), np.float32)
    centres = np.zeros((2, 8, 8, 1), np.float32)
    centres[0, :, 4:] = 0.5
    centres[1, :, :4] = 1.0
    details = np.random.default_rng(4).normal(size=(2, 8, 8, 1)).astype(np.float32)

    def right_block(seam):
      out = quilt.quilt(tf.constant(new), tf.constant(centres), tf.constant(details),
                        tf.constant([0, 1]), tf.constant([0, 0]), block=4, shift=0, size=2,
                        top=1, seam=seam).numpy()
      self.assertAllClose(out[0, :4, :4], details[0, :4, :4])
      return out[0, :4, 4:]

    self.assertAllClose(right_block(0.0), details[1, :4, 4:])
    self.assertAllClose(right_block(4.0), details[0, :4, 4:])

  def test_the_coverage_decides_where_the_centres_tie(self):
    new = np.zeros((1, 8, 8, 1), np.float32)
    centres = np.zeros((2, 8, 8, 1), np.float32)
    covers = np.stack([np.zeros((8, 8, 1)), np.ones((8, 8, 1))]).astype(np.float32)
    details = np.random.default_rng(5).normal(size=(2, 8, 8, 1)).astype(np.float32)
    for source in (0, 1):
      out = quilt.quilt(tf.constant(new), tf.constant(centres), tf.constant(details),
                        tf.constant([0, 1]), tf.constant([0, 0]), block=4, shift=0, size=2,
                        top=1, seam=0.0, alpha=1.0,
                        coverages=(tf.constant(covers[source:source + 1]), tf.constant(covers)))
      self.assertAllClose(out[0], details[source])

  def test_channels_past_the_seamed_ones_are_pieced_along_without_changing_the_choice(self):
    # Four blocks, so the seams count; the carried channels differ wildly between
    # sources and would change the choice if the seams compared them.
    new, carried = _grids(10, seed=3), 100.0 * _grids(12, seed=6)
    alone = self._quilt(new)
    with_carried = quilt.quilt(
        tf.constant(new), tf.constant(self.centres),
        tf.constant(np.concatenate([self.details, carried], -1)), self.groups,
        tf.constant((1, 2)), block=4, seamed=2).numpy()
    self.assertAllClose(with_carried[..., :2], alone)
    # Each carried block is the same source's, moved the same way, as its detail block.
    padded = np.pad(np.concatenate([self.details, carried], -1),
                    ((0, 0), (1, 1), (1, 1), (0, 0)), mode="symmetric")
    for n in range(10):
      for y in (0, 4):
        for x in (0, 4):
          piece = with_carried[n, y:y + 4, x:x + 4]
          self.assertTrue(any(np.allclose(piece, padded[s, y + dy:y + dy + 4, x + dx:x + dx + 4])
                              for s in range(12) for dy in range(3) for dx in range(3)), (n, y, x))

  def test_it_is_seeded(self):
    new = _grids(20, seed=3)
    self.assertAllEqual(self._quilt(new, seed=(4, 4)), self._quilt(new, seed=(4, 4)))
    self.assertNotAllClose(self._quilt(new, seed=(4, 4)), self._quilt(new, seed=(5, 4)))

  def test_a_block_that_does_not_divide_the_grid_is_a_clear_error(self):
    with self.assertRaisesRegex(ValueError, "block of 3 cells does not divide the grid of 8"):
      quilt.quilt(tf.constant(_grids(1)), tf.constant(self.centres), tf.constant(self.details),
                  self.groups, tf.constant([0, 0]), block=3)


class QuiltModelTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.config = config_lib.preset("smoke", sampler="quilt")
    tf.random.set_seed(2)
    self.model = VAE.from_config(self.config)
    rng = np.random.default_rng(1)
    self.images = [rng.uniform(size=(10, 32, 32, 4)).astype(np.float32) for _ in range(3)]
    self.groups = np.array([f"s{i // 2}" for i in range(30)])

  def _fit(self):
    return samplers.fit_model(self.model, self.images, self.images[:1], step=5,
                              train_groups=self.groups)

  def test_fit_stores_the_codes_and_a_mixture_over_z1(self):
    self.assertEqual(self.model.sampler, "quilt")
    fit = self._fit()
    self.assertEqual(self.model.expost.size, 30)
    self.assertEqual(fit["chosen"], self.model.expost.top.components)
    self.assertIn(1, fit["scores"])  # the mixture's sizes tried, scored on the validation codes
    self.assertEqual(int(self.model.expost.fitted_step.numpy()), 5)
    self.assertEqual(int(self.model.expost.top.fitted_step.numpy()), 5)
    codes = self.model.encode(tf.constant(np.concatenate(self.images))).mean()
    self.assertAllClose(self.model.expost.codes, codes, atol=2e-3, rtol=2e-3)
    self.assertIn("quilted", self.model.sampler_name)
    self.assertEqual(self.model.expost.describe()["kind"], "quilt")
    with self.assertRaisesRegex(ValueError, "needs the species group"):
      samplers.fit_model(self.model, self.images, self.images[:1], step=5)

  def test_a_sample_is_a_new_z1_and_its_grid_centre_plus_quilted_detail(self):
    self._fit()
    # The detail alone: no cell taken from its source's own grid (see the test below).
    codes = self.model.expost.quilted(self.model, 40, 1.0, tf.constant([1, 1]), outside=0.0)
    self.assertEqual(codes.shape, [40, self.model.code_dim])
    self.assertAllEqual(self.model.sample_codes(40, seed=(1, 1)),
                        self.model.sample_codes(40, seed=(1, 1)))
    z1, z2 = self.model.split_code(codes)
    trained = self.model.split_code(tf.cast(self.model.expost.codes, tf.float32))
    self.assertFalse(np.any(np.all(np.isclose(z1.numpy()[:, None], trained[0].numpy()[None]),
                                   -1)))  # z1 is drawn, not a training sprite's
    detail = (z2 - self.model.grid_centre(z1)).numpy() / quilt.GAIN
    sources = (trained[1] - self.model.grid_centre(trained[0])).numpy()
    padded = np.pad(sources, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="symmetric")
    g = self.model.grid_size  # one block of 8 cells covers the smoke preset's grid
    for n in range(40):
      self.assertTrue(any(np.allclose(detail[n], padded[s, dy:dy + g, dx:dx + g], atol=1e-4)
                          for s in range(30) for dy in range(3) for dx in range(3)), n)
    self.assertEqual(self.model.sample(4, seed=(1, 1)).shape, [4, 32, 32, 4])

  def _quilts(self, seed, **kwargs):
    return self.model.split_code(self.model.expost.quilted(self.model, 12, 1.0, seed, **kwargs))

  def test_own_grids_moves_each_block_towards_its_sources_own_grid(self):
    self._fit()
    sampler, seed = self.model.expost, tf.constant([3, 4])
    _, plain = self._quilts(seed, outside=0.0)
    _, own = self._quilts(seed, own_grids=1.0, outside=0.0)
    _, half = self._quilts(seed, own_grids=0.5, outside=0.0)
    trained = self.model.split_code(tf.cast(sampler.codes, tf.float32))[1].numpy()
    padded = np.pad(trained, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="symmetric")
    g = self.model.grid_size  # one block covers the smoke preset's grid
    for n in range(12):  # a training sprite's own grid, moved by at most a cell
      self.assertTrue(any(np.allclose(own[n], padded[s, dy:dy + g, dx:dx + g], atol=1e-3)
                          for s in range(30) for dy in range(3) for dx in range(3)), n)
    # One block and so no seam: the same block at every share, and halfway is the midpoint.
    self.assertAllClose(half, (plain + own) / 2, atol=1e-4)
    self.assertNotAllClose(plain, own)

  def test_cells_outside_the_new_silhouette_take_their_sources_own_grid(self):
    self._fit()
    seed = tf.constant([3, 4])
    z1, plain = self._quilts(seed, outside=0.0)
    _, own = self._quilts(seed, own_grids=1.0, outside=0.0)
    z1_sampled, sampled = self.model.split_code(self.model.sample_codes(12, seed=seed))
    self.assertAllEqual(z1_sampled, z1)
    coverage = quilt.cover(self.model, self.model.join_code(z1, self.model.grid_centre(z1)))
    self.assertLess(float(tf.reduce_min(coverage)), 0.5)  # some cells lie outside
    share = np.minimum(quilt.OUTSIDE * (1.0 - coverage.numpy()), 1.0)
    # One block and so no seam: the same block with and without the sources' own grids.
    self.assertAllClose(sampled, plain + share * (own - plain), atol=1e-4)
    self.assertEqual(self.model.expost.describe()["outside"], quilt.OUTSIDE)

  def test_the_coverage_is_each_codes_render_alpha_per_cell(self):
    self._fit()
    sampler = self.model.expost
    self.assertTrue(sampler.has_coverage)
    codes = tf.cast(sampler.codes, tf.float32)
    alpha = self.model.render(codes).numpy()[..., 3]
    cell = self.model.image_size // self.model.grid_size
    g = self.model.grid_size
    expected = alpha.reshape(30, g, cell, g, cell).mean((2, 4))[..., None]
    self.assertAllClose(sampler.coverage, expected, atol=2e-3)
    self.assertEqual(sampler.describe()["alpha"], quilt.ALPHA)

  def test_a_sampler_fitted_without_renders_quilts_by_the_centres_alone(self):
    self._fit()
    codes = self.model.expost.codes.numpy().astype(np.float32)
    bare = VAE.from_config(self.config)
    bare.expost.fit(codes, codes, step=1, groups=self.groups)
    self.assertFalse(bare.expost.has_coverage)
    self.assertEqual(bare.expost.describe()["alpha"], 0.0)
    self.assertEqual(bare.sample_codes(3, seed=(1, 1)).shape, [3, bare.code_dim])

  def test_sprites_of_a_type_are_quilted_from_sprites_of_the_type(self):
    types = np.zeros((30, 3), np.float32)
    types[np.arange(30) % 2 == 0, 0] = 1  # every other sprite (one per species) is of type 0
    types[:, 2] = 1
    samplers.fit_model(self.model, self.images, self.images[:1], step=5,
                       train_groups=self.groups, train_types=types)
    sampler = self.model.expost
    self.assertTrue(sampler.holds_types)
    self.assertAllEqual(sampler.type_species(), [15, 0, 15])
    fire = tf.constant([1.0, 0.0, 0.0])
    self.assertEqual(self.model.sample_codes(20, seed=(3, 1), types=fire).shape,
                     [20, self.model.code_dim])
    # The detail alone, without the sources' own grids outside the silhouette.
    codes = sampler.quilted(self.model, 20, 1.0, tf.constant([3, 1]), types=fire, outside=0.0)
    z1, z2 = self.model.split_code(codes)
    trained = self.model.split_code(tf.cast(sampler.codes, tf.float32))
    detail = (z2 - self.model.grid_centre(z1)).numpy() / quilt.GAIN
    sources = (trained[1] - self.model.grid_centre(trained[0])).numpy()
    padded = np.pad(sources, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="symmetric")
    g = self.model.grid_size

    def source_of(n):
      return [s for s in range(30) for dy in range(3) for dx in range(3)
              if np.allclose(detail[n], padded[s, dy:dy + g, dx:dx + g], atol=1e-4)]

    for n in range(20):
      found = source_of(n)
      self.assertTrue(found, n)
      self.assertTrue(all(types[s, 0] for s in found), (n, found))
      # z1 is the midpoint of two training z1 of the type
      pairs = (trained[0].numpy()[:, None] + trained[0].numpy()[None]) / 2
      near = np.all(np.isclose(pairs, z1.numpy()[n], atol=1e-3), -1)
      self.assertTrue(np.any(near & (types[:, 0, None] > 0) & (types[None, :, 0] > 0)), n)
    restyled = self.model.restyle_codes(codes[0], 3, fire)
    self.assertEqual(restyled.shape, [3, self.model.code_dim])

  def test_unfitted_it_draws_from_the_prior(self):
    prior = self.model.sample_codes(3, seed=(2, 2), sampler="prior")
    self.assertAllClose(self.model.sample_codes(3, seed=(2, 2)), prior)

  def test_it_traces_with_a_tensor_count(self):
    self._fit()
    sample = tf.function(lambda n: self.model.sample_codes(n, seed=tf.constant([3, 3])))
    self.assertEqual(sample(tf.constant(5)).shape, [5, self.model.code_dim])

  def test_the_sampler_survives_a_checkpoint_into_a_fresh_model(self):
    self._fit()
    path = tf.train.Checkpoint(model=self.model).write(os.path.join(self.get_temp_dir(), "c"))
    fresh = VAE.from_config(self.config)
    tf.train.Checkpoint(model=fresh).read(path).assert_consumed()
    self.assertEqual(fresh.expost.size, 30)
    self.assertAllEqual(fresh.sample(6, seed=(2, 3)), self.model.sample(6, seed=(2, 3)))

  def test_bad_data_are_clear_errors(self):
    with self.assertRaisesRegex(ValueError, "at least two species, got one \\(s0\\)"):
      samplers.fit_model(self.model, self.images, self.images[:1], step=5,
                         train_groups=np.array(["s0"] * 30))
    flat = VAE.from_config(config_lib.preset("smoke", sampler="quilt", grid_size=0))
    samplers.fit_model(flat, self.images, self.images[:1], step=5, train_groups=self.groups)
    with self.assertRaisesRegex(ValueError, "needs a model with a latent grid"):
      flat.sample_codes(2, seed=(1, 1))


if __name__ == "__main__":
  tf.test.main()
