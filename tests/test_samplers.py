"""Tests for vae/samplers/: every sampler honours one interface, and the model asks nothing else."""

import os

import numpy as np
import tensorflow as tf

from vae import config as config_lib
from vae import samplers
from vae.model import VAE

IMAGES = [np.random.default_rng(1).uniform(size=(12, 32, 32, 4)).astype(np.float32)
          for _ in range(2)]
GROUPS = np.array([f"s{i % 6}" for i in range(24)])


def _model(kind, latents="top"):
  tf.random.set_seed(3)
  return VAE.from_config(config_lib.preset("smoke", sampler=kind, expost_latents=latents,
                                           expost_components=2))


class SamplerInterfaceTest(tf.test.TestCase):

  def test_the_configs_samplers_are_the_samplers_there_are(self):
    self.assertEqual(samplers.KINDS, config_lib.SAMPLERS)
    for kind in samplers.KINDS:
      sampler = samplers.make(kind, latent_dim=4, code_dim=20)
      self.assertIsInstance(sampler, samplers.Sampler)
      self.assertEqual(sampler.kind, kind)
    with self.assertRaisesRegex(ValueError, "sampler must be one of prior, expost, blend, quilt, got 'x'"):
      samplers.make("x", latent_dim=4, code_dim=20)

  def test_every_sampler_fits_draws_describes_and_checkpoints_through_the_interface(self):
    for kind, latents in (("prior", "top"), ("expost", "top"), ("expost", "all"), ("blend", "top")):
      with self.subTest(kind=kind, latents=latents):
        model = _model(kind, latents)
        self.assertEqual(model.sampler, kind)
        self.assertEqual(model.expost.fitted, not model.expost.needs_fit)
        fit = samplers.fit_model(model, IMAGES, IMAGES[:1], step=9, train_groups=GROUPS)
        self.assertTrue(model.expost.fitted)
        codes = model.sample_codes(5, seed=(1, 2))
        self.assertEqual(codes.shape, [5, model.code_dim])
        self.assertAllEqual(codes, model.sample_codes(5, seed=(1, 2)))
        self.assertTrue(np.all(np.isfinite(codes)))
        self.assertIsInstance(model.sampler_name, str)
        described = model.expost.describe()
        if model.expost.needs_fit:
          self.assertEqual(described["fitted_step"], 9)
          self.assertEqual(described["latents"], model.expost.latents)
          self.assertIsNotNone(fit["chosen"])
        else:
          self.assertIsNone(described)
          self.assertEqual(model.expost.trainable_variables + model.expost.variables, ())
        path = tf.train.Checkpoint(model=model).write(os.path.join(self.get_temp_dir(), kind))
        fresh = _model(kind, latents)
        tf.train.Checkpoint(model=fresh).read(path).assert_consumed()
        self.assertEqual(fresh.expost.describe(), described)
        self.assertAllEqual(fresh.sample_codes(5, seed=(1, 2)), codes)

  def test_without_validation_batches_a_sampler_that_uses_them_takes_the_training_codes(self):
    for kind in ("expost", "quilt"):
      with self.subTest(kind=kind):
        model = _model(kind)
        fit = samplers.fit_model(model, IMAGES, None, step=3, train_groups=GROUPS)
        self.assertTrue(model.expost.fitted)
        again = _model(kind)
        self.assertEqual(samplers.fit_model(again, IMAGES, IMAGES, step=3,
                                            train_groups=GROUPS)["scores"], fit["scores"])

  def test_a_model_draws_from_the_prior_whatever_its_sampler_and_refuses_another(self):
    model = _model("blend")
    samplers.fit_model(model, IMAGES, IMAGES[:1], step=1, train_groups=GROUPS)
    prior = model.sample_codes(4, seed=(5, 6), sampler="prior")
    self.assertAllEqual(prior, _model("prior").sample_codes(4, seed=(5, 6)))
    with self.assertRaisesRegex(ValueError, "sampler 'expost' needs a model built with"):
      model.sample_codes(2, seed=(1, 1), sampler="expost")

  def test_use_sampler_swaps_in_a_new_unfitted_one(self):
    model = _model("prior")
    model.use_sampler("expost", "all", 2)
    self.assertTrue(model.expost.matches("expost", "all"))
    self.assertFalse(model.expost.matches("expost", "top"))
    self.assertFalse(model.expost.fitted)
    self.assertEqual(model.sampler_name, "ex-post density of the whole code")


if __name__ == "__main__":
  tf.test.main()
