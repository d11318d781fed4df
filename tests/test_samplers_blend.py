"""Tests for the blend sampler (vae/samplers/blend.py) and its place in the model."""

import os

import numpy as np
import tensorflow as tf

from vae import samplers
from vae import config as config_lib
from vae.samplers import blend
from vae.model import VAE


def _codes(n=60, dim=5, seed=0):
  rng = np.random.default_rng(seed)
  codes = rng.normal(size=(n, dim))
  groups = np.array([f"species{i // 2}" for i in range(n)])  # two sprites per species
  return codes, groups


class PartnersTest(tf.test.TestCase):

  def test_partners_are_the_nearest_codes_of_other_species_nearest_first(self):
    codes, groups = _codes()
    found = blend.partners(codes, groups, k=4)
    self.assertEqual(found.shape, (60, 4))
    for i in range(60):
      distance = np.sum((codes - codes[i])**2, axis=1)
      distance[groups == groups[i]] = np.inf
      self.assertAllEqual(found[i], np.argsort(distance)[:4])
      self.assertNotIn(groups[i], groups[found[i]])

  def test_with_few_other_species_the_partners_repeat(self):
    codes, _ = _codes(10)
    groups = np.array(["a"] * 7 + ["b"] * 3)
    found = blend.partners(codes, groups, k=5)
    self.assertEqual(found.shape, (10, 5))
    for i in range(10):
      self.assertNotIn(groups[i], groups[found[i]])
      self.assertAllEqual(found[i, 3:], found[i, :2])  # three found, then again

  def test_one_species_is_a_clear_error(self):
    codes, _ = _codes(4)
    with self.assertRaisesRegex(ValueError, "at least two species, got one \\(pikachu\\)"):
      blend.partners(codes, np.array(["pikachu"] * 4), k=2)


class BlendSamplerTest(tf.test.TestCase):

  def _fitted(self):
    codes, groups = _codes(80, 3)
    module = blend.BlendSampler(3)
    self.assertFalse(module.fitted)
    module.assign(codes, groups, step=7)
    return module, codes.astype(np.float16).astype(np.float64)

  def test_every_sample_lies_between_a_code_and_one_of_its_partners(self):
    module, codes = self._fitted()
    self.assertTrue(module.fitted)
    self.assertEqual(module.size, 80)
    samples = module.blends(200, tf.constant([1, 2])).numpy()
    low, high = blend.BLEND_RANGE
    partners = module.partners.numpy()
    for z in samples:
      # Some pair (i, j in partners[i]) and t in [low, high] give z = a + t (b - a).
      a = codes[:, None]
      b = codes[partners]
      direction = b - a
      t = np.sum((z - a) * direction, -1) / np.sum(direction**2, -1)
      residual = np.linalg.norm(a + t[..., None] * direction - z, axis=-1)
      on_segment = (residual < 1e-3) & (t > low - 1e-3) & (t < high + 1e-3)
      self.assertTrue(on_segment.any())

  def test_samples_are_seeded_and_spread_over_the_codes(self):
    module, _ = self._fitted()
    a = module.blends(300, tf.constant([3, 4]))
    self.assertAllEqual(a, module.blends(300, tf.constant([3, 4])))
    self.assertNotAllClose(a, module.blends(300, tf.constant([3, 5])))
    # Not a few codes over and over: 300 draws over 80 codes reach most of them.
    nearest = np.argmin(np.sum((a.numpy()[:, None] - module.codes.numpy()[None])**2, -1), 1)
    self.assertGreater(len(set(nearest)), 50)


class BlendOfTypesTest(tf.test.TestCase):
  """Blends of one kind: both parents have the types asked for."""

  def setUp(self):
    super().setUp()
    self.codes, self.groups = _codes(60, 3)
    rng = np.random.default_rng(4)
    self.types = np.zeros((60, 3), np.float32)  # three types; each sprite one or two
    self.types[np.arange(60), rng.integers(0, 3, 60)] = 1
    self.types[::5, 2] = 1
    self.types[1::2] = self.types[::2]  # the two sprites of a species share their types
    self.module = blend.BlendSampler(3)
    self.module.assign(self.codes, self.groups, 3, self.types)

  def test_both_parents_of_every_blend_have_the_types_and_differ_in_species(self):
    self.assertTrue(self.module.holds_types)
    codes = self.codes.astype(np.float16).astype(np.float64)
    for wanted in ([1, 0, 0], [0, 0, 1], [1, 0, 1]):
      eligible = np.all(self.types >= np.array(wanted), axis=1)
      blends, t = self.module.blends_of(100, tf.constant([1, 9]), tf.constant(wanted, tf.float32))
      self.assertAllClose(t, np.full((100, 1), 0.5))
      # At t = 1/2 a blend is the midpoint: find its pair among the eligible codes.
      mid = (codes[:, None] + codes[None]) / 2
      for z in blends.numpy():
        gap = np.abs(mid - z).max(-1)
        i, j = np.unravel_index(np.argmin(gap), gap.shape)
        self.assertLess(gap[i, j], 1e-3)
        self.assertTrue(eligible[i] and eligible[j], wanted)
        self.assertNotEqual(self.groups[i], self.groups[j])

  def test_a_type_of_one_species_is_blended_with_the_nearest_codes_of_others(self):
    # Only the species of codes 0 and 1 has a fourth type (as Arceus-Fairy alone is Fairy).
    types = np.concatenate([self.types, np.zeros((60, 1), np.float32)], 1)
    types[:2, 3] = 1
    self.module.assign(self.codes, self.groups, 3, types)
    codes = self.codes.astype(np.float16).astype(np.float64)
    blends, _ = self.module.blends_of(40, tf.constant([2, 5]), tf.constant([0, 0, 0, 1],
                                                                           tf.float32))
    partners = set()
    for z in blends.numpy():
      gap = np.abs((codes[:2, None] + codes[None]) / 2 - z).max(-1)  # first parent 0 or 1
      i, j = np.unravel_index(np.argmin(gap), gap.shape)
      self.assertLess(gap[i, j], 1e-3)
      self.assertNotEqual(self.groups[i], self.groups[j])
      partners.add(j)
    self.assertGreater(len(partners), 4)  # drawn among its nearest codes, not one fixed code

  def test_type_species_counts_the_species_of_each_type(self):
    species = [len(set(self.groups[self.types[:, t] > 0])) for t in range(3)]
    self.assertAllEqual(self.module.type_species(), species)
    self.assertFalse(blend.BlendSampler(3).holds_types)
    self.assertAllEqual(blend.BlendSampler(3).type_species(), [])

  def test_toward_blends_with_the_nearest_code_of_each_species_of_the_type(self):
    code = np.zeros(3, np.float32)
    codes = self.codes.astype(np.float16).astype(np.float32)
    blends, t = self.module.toward(code, 4, tf.constant([0, 1, 0], tf.float32))
    eligible = np.flatnonzero(self.types[:, 1] > 0)
    order = eligible[np.argsort(np.sum(codes[eligible]**2, 1))]
    firsts = [i for k, i in enumerate(order) if self.groups[i] not in self.groups[order[:k]]]
    self.assertAllClose(blends, 0.5 * codes[firsts[:4]], atol=1e-6)
    self.assertAllClose(t, np.full((4, 1), 0.5))
    every, _ = self.module.toward(code, 100, tf.constant([0, 1, 0], tf.float32))
    self.assertEqual(len(every), len(firsts))  # one per species of the type, no more


class BlendModelTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.config = config_lib.preset("smoke", sampler="blend")
    tf.random.set_seed(2)
    self.model = VAE.from_config(self.config)
    rng = np.random.default_rng(1)
    self.images = [rng.uniform(size=(10, 32, 32, 4)).astype(np.float32) for _ in range(3)]
    self.groups = np.array([f"s{i}" for i in range(30)])

  def test_fit_stores_the_training_codes_and_the_model_samples_between_them(self):
    fit = samplers.fit_model(self.model, self.images, self.images[:1], step=5,
                           train_groups=self.groups)
    self.assertEqual(fit, dict(scores={}, chosen=30))
    self.assertEqual(int(self.model.expost.fitted_step.numpy()), 5)
    codes = self.model.encode(tf.constant(np.concatenate(self.images))).mean()
    self.assertAllClose(self.model.expost.codes, codes, atol=2e-3, rtol=2e-3)
    self.assertEqual(self.model.sample_codes(4, seed=(1, 1)).shape, [4, self.model.code_dim])
    self.assertEqual(self.model.sample(4, seed=(1, 1)).shape, [4, 32, 32, 4])
    self.assertIn("blends of two training codes", self.model.sampler_name)
    with self.assertRaisesRegex(ValueError, "needs the species group"):
      samplers.fit_model(self.model, self.images, self.images[:1], step=5)

  def test_the_models_blend_rescales_the_grids_detail_about_the_prior_mean(self):
    samplers.fit_model(self.model, self.images, self.images[:1], step=5, train_groups=self.groups)
    seed = tf.constant([7, 8])
    straight, t = self.model.expost.blends(50, seed, with_share=True)
    drawn = self.model.sample_codes(50, seed=seed)
    z1, z2 = self.model.split_code(straight)
    d1, d2 = self.model.split_code(drawn)
    self.assertAllEqual(d1, z1)  # the global latent is blended as it is
    centre = self.model.grid_centre(z1)
    shrink = np.sqrt((1 - t.numpy())**2 + t.numpy()**2)[:, :, None, None]
    self.assertAllClose(d2 - centre, (z2 - centre) / shrink, atol=1e-5)
    self.assertTrue(np.all(shrink < 0.75))  # t near a half: the detail grows by about 1.4

  def test_the_codes_survive_a_checkpoint_into_a_fresh_model(self):
    samplers.fit_model(self.model, self.images, self.images[:1], step=5, train_groups=self.groups)
    path = tf.train.Checkpoint(model=self.model).write(os.path.join(self.get_temp_dir(), "c"))
    fresh = VAE.from_config(self.config)
    tf.train.Checkpoint(model=fresh).read(path).assert_consumed()
    self.assertEqual(fresh.expost.size, 30)
    self.assertAllEqual(fresh.sample(6, seed=(2, 3)), self.model.sample(6, seed=(2, 3)))

  def test_samplers_the_model_lacks_are_refused(self):
    model = VAE.from_config(config_lib.preset("smoke", sampler="expost"))
    self.assertFalse(model.expost.matches("blend"))
    with self.assertRaisesRegex(ValueError, "sampler 'blend' needs a model built with"):
      model.sample_codes(2, seed=(1, 1), sampler="blend")
    model.use_sampler("blend", "top", 4)
    self.assertTrue(model.expost.matches("blend", "top"))  # the whole code, whatever is asked
    self.assertEqual((model.sampler, model.expost.latents), ("blend", "all"))


if __name__ == "__main__":
  tf.test.main()
