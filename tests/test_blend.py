"""Tests for the blend sampler (vae/blend.py) and its place in the model."""

import os

import numpy as np
import tensorflow as tf

from vae import blend
from vae import config as config_lib
from vae import expost
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


class CodeBlendTest(tf.test.TestCase):

  def _fitted(self):
    codes, groups = _codes(80, 3)
    module = blend.CodeBlend(3)
    self.assertFalse(module.fitted)
    module.assign(codes, groups, step=7)
    return module, codes.astype(np.float16).astype(np.float64)

  def test_every_sample_lies_between_a_code_and_one_of_its_partners(self):
    module, codes = self._fitted()
    self.assertTrue(module.fitted)
    self.assertEqual(module.size, 80)
    samples = module.sample(200, tf.constant([1, 2])).numpy()
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
    a = module.sample(300, tf.constant([3, 4]))
    self.assertAllEqual(a, module.sample(300, tf.constant([3, 4])))
    self.assertNotAllClose(a, module.sample(300, tf.constant([3, 5])))
    # Not a few codes over and over: 300 draws over 80 codes reach most of them.
    nearest = np.argmin(np.sum((a.numpy()[:, None] - module.codes.numpy()[None])**2, -1), 1)
    self.assertGreater(len(set(nearest)), 50)


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
    fit = expost.fit_model(self.model, self.images, self.images[:1], step=5,
                           train_groups=self.groups)
    self.assertEqual(fit, dict(scores={}, chosen=30))
    self.assertEqual(int(self.model.expost.fitted_step.numpy()), 5)
    codes = self.model.encode(tf.constant(np.concatenate(self.images))).mean()
    self.assertAllClose(self.model.expost.codes, codes, atol=2e-3, rtol=2e-3)
    self.assertEqual(self.model.sample_codes(4, seed=(1, 1)).shape, [4, self.model.code_dim])
    self.assertEqual(self.model.sample(4, seed=(1, 1)).shape, [4, 32, 32, 4])
    self.assertIn("blends of two training codes", self.model.sampler_name)
    with self.assertRaisesRegex(ValueError, "needs the species group"):
      expost.fit_model(self.model, self.images, self.images[:1], step=5)

  def test_the_models_blend_rescales_the_grids_detail_about_the_prior_mean(self):
    expost.fit_model(self.model, self.images, self.images[:1], step=5, train_groups=self.groups)
    seed = tf.constant([7, 8])
    straight, t = self.model.expost.sample(50, seed, with_share=True)
    drawn = self.model.sample_codes(50, seed=seed)
    z1, z2 = self.model.split_code(straight)
    d1, d2 = self.model.split_code(drawn)
    self.assertAllEqual(d1, z1)  # the global latent is blended as it is
    centre = self.model.grid_centre(z1)
    shrink = np.sqrt((1 - t.numpy())**2 + t.numpy()**2)[:, :, None, None]
    self.assertAllClose(d2 - centre, (z2 - centre) / shrink, atol=1e-5)
    self.assertTrue(np.all(shrink < 0.75))  # t near a half: the detail grows by about 1.4

  def test_the_codes_survive_a_checkpoint_into_a_fresh_model(self):
    expost.fit_model(self.model, self.images, self.images[:1], step=5, train_groups=self.groups)
    path = tf.train.Checkpoint(model=self.model).write(os.path.join(self.get_temp_dir(), "c"))
    fresh = VAE.from_config(self.config)
    tf.train.Checkpoint(model=fresh).read(path).assert_consumed()
    self.assertEqual(fresh.expost.size, 30)
    self.assertAllEqual(fresh.sample(6, seed=(2, 3)), self.model.sample(6, seed=(2, 3)))

  def test_samplers_the_model_lacks_are_refused(self):
    model = VAE.from_config(config_lib.preset("smoke", sampler="expost"))
    self.assertFalse(model.has_sampler("blend"))
    with self.assertRaisesRegex(ValueError, "sampler 'blend' needs a model built with"):
      model.sample_codes(2, seed=(1, 1), sampler="blend")
    model.add_expost("top", 4, kind="blend")
    self.assertTrue(model.has_sampler("blend"))
    self.assertEqual(model.expost_latents, "all")


if __name__ == "__main__":
  tf.test.main()
