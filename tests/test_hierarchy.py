"""Tests for the two-level latent (vae/hierarchy.py) inside the VAE."""

import json
import math
import os

import keras
import pytest
import numpy as np
import tensorflow as tf

import tensorflow_probability as tfp

from vae import config as config_lib
from vae import hierarchy
from vae import model as model_lib
from vae import objectives
from vae.rundir import savedmodel

ARGS = dict(image_size=32, channels=4, widths=(4, 8, 8), latent_dim=3,
            grid_size=8, grid_channels=2, grid_prior="autoregressive")
INDEPENDENT = dict(ARGS, grid_prior="independent")


def _images(batch=4, seed=(1, 2)):
  u = tf.random.stateless_uniform([batch, 32, 32, 4], seed=seed)
  return tf.round(u**4 * 255) / 255


def _trained_a_little(model, x, steps=8):
  """A few Adam steps, so that priors and posteriors differ from their start."""
  optimizer = keras.optimizers.Adam(1e-2)

  @tf.function
  def step(seed):
    with tf.GradientTape() as tape:
      loss = objectives.training_loss(objectives.elbo_terms(model, x, seed=seed), beta=1.0)
    variables = model.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

  for i in range(steps):
    step(tf.constant([i, 0]))
  return model


class GridModelTest(tf.test.TestCase):

  def test_codes_join_the_global_latent_and_the_flattened_grid(self):
    model = model_lib.VAE(**ARGS)
    self.assertEqual(model.code_dim, 3 + 8 * 8 * 2)
    x = _images()
    self.assertEqual(model.encode(x).mean().shape, [4, model.code_dim])
    self.assertEqual(model.sample_codes(5, seed=(1, 1)).shape, [5, model.code_dim])
    self.assertEqual(model.sample(5, seed=(1, 1)).shape, [5, 32, 32, 4])
    self.assertEqual(model.reconstruct(x).shape, x.shape)

  def test_grid_size_must_be_a_feature_map_size(self):
    with self.assertRaisesRegex(ValueError, r"grid_size must be 0 or one of 16, 8, 4 .* got 6"):
      model_lib.VAE(**dict(ARGS, grid_size=6))

  @pytest.mark.slow  # compiles and runs a model many times: several seconds on 2 cores
  def test_kl_terms_are_non_negative_sum_to_the_rate_and_match_monte_carlo(self):
    for args in (ARGS, INDEPENDENT):
      with self.subTest(grid_prior=args["grid_prior"]):
        self._check_kl_terms(args)

  def _check_kl_terms(self, args):
    model = _trained_a_little(model_lib.VAE(**args), _images())
    x = _images(2, seed=(5, 5))
    terms = objectives.elbo_terms(model, x, seed=(3, 4))
    self.assertEqual(terms["rate_per_dim"].shape, [2, model.code_dim])
    self.assertAllGreaterEqual(terms["rate_per_dim"], 0.0)
    self.assertAllClose(tf.reduce_sum(terms["rate_per_dim"], -1), terms["rate"])
    self.assertAllGreater(tf.reduce_sum(terms["rate_per_dim"][:, 3:], -1), 0.0)
    # The analytic rate is E_q[log q(z|x) - log p(z)]: a seeded Monte Carlo
    # mean over 1000 joint draws (z1, then z2 given z1) agrees within four
    # standard errors. Each draw shares z1 between the levels, so this also
    # checks that the grid's KL is taken given the same z1.
    n = 1000
    tiled = tf.repeat(x, n, axis=0)
    noise = tf.random.stateless_normal([2 * n, model.code_dim], (9, 9))
    draw = model.infer(tiled, noise)
    # The mean over draws of the analytic KL of the grid given z1, plus the
    # analytic KL of z1, is the rate averaged over z1; the MC estimate is of
    # the same quantity.
    mc = tf.reshape(draw["log_q"] - draw["log_p"], [2, n])
    analytic = tf.reshape(tf.reduce_sum(draw["rate_per_dim"], -1), [2, n])
    se = tf.math.reduce_std(mc, axis=1) / math.sqrt(n)
    gap = tf.abs(tf.reduce_mean(mc, 1) - tf.reduce_mean(analytic, 1))
    self.assertAllGreater((4 * se - gap).numpy(), 0.0)

  @pytest.mark.slow  # compiles and runs a model many times: several seconds on 2 cores
  def test_importance_weighted_bound_is_at_least_the_elbo(self):
    for args in (ARGS, INDEPENDENT):
      with self.subTest(grid_prior=args["grid_prior"]):
        self._check_iwae(args)

  def _check_iwae(self, args):
    model = _trained_a_little(model_lib.VAE(**args), _images())
    x = _images(3, seed=(6, 6))
    elbo = tf.function(lambda seed: objectives.elbo_terms(model, x, seed=seed)["elbo"])
    elbos = tf.stack([elbo(tf.constant([s, 1])) for s in range(40)])
    iwae = objectives.iwae_bound(model, x, k=64, chunk=32, seed=tf.constant([2, 3]))
    se = tf.math.reduce_std(elbos, 0) / math.sqrt(40.0)
    self.assertAllGreater((iwae - tf.reduce_mean(elbos, 0) + 3 * se).numpy(), 0.0)

  def test_every_variable_gets_a_gradient_and_survives_a_checkpoint(self):
    model = model_lib.VAE(**dict(ARGS, sampler="expost"))
    x = _images()
    with tf.GradientTape() as tape:
      loss = objectives.training_loss(objectives.elbo_terms(model, x, seed=(1, 2)), beta=1.0)
    grads = tape.gradient(loss, model.trainable_variables)
    names = [v.name for v in model.trainable_variables]
    self.assertTrue(any("grid/prior" in n for n in names))
    self.assertTrue(any("grid/posterior" in n for n in names))
    self.assertTrue(any("grid/chain_in" in n for n in names))
    for name, grad in zip(names, grads):
      self.assertIsNotNone(grad, name)
      self.assertGreater(float(tf.reduce_max(tf.abs(grad))), 0.0, name)
    # The ex-post density is fitted, never trained.
    self.assertFalse(any("expost" in n for n in names))
    path = tf.train.Checkpoint(model=model).write(os.path.join(self.get_temp_dir(), "c"))
    fresh = model_lib.VAE(**dict(ARGS, sampler="expost"))
    tf.train.Checkpoint(model=fresh).read(path).assert_consumed()
    self.assertAllEqual(fresh.reconstruct(x), model.reconstruct(x))
    self.assertAllEqual(fresh.sample(3, seed=(4, 4), sampler="prior"),
                        model.sample(3, seed=(4, 4), sampler="prior"))

  @pytest.mark.slow  # compiles and runs a model many times: several seconds on 2 cores
  def test_sampling_is_seeded_and_temperature_narrows_the_grid(self):
    model = _trained_a_little(model_lib.VAE(**ARGS), _images())
    a = model.sample_codes(64, seed=(1, 2))
    self.assertAllEqual(a, model.sample_codes(64, seed=(1, 2)))
    self.assertNotAllClose(a, model.sample_codes(64, seed=(1, 3)))
    cold = model.sample_codes(64, temperature=0.1, seed=(1, 2))
    self.assertLess(float(tf.math.reduce_std(cold[:, 3:])),
                    0.5 * float(tf.math.reduce_std(a[:, 3:])))

  def test_unknown_batch_size_and_graph_mode_agree_with_eager(self):
    model = model_lib.VAE(**ARGS)
    x = _images(3)
    spec = tf.TensorSpec([None, 32, 32, 4], tf.float32)
    graph = tf.function(lambda images: objectives.elbo_terms(model, images, seed=(7, 8)),
                        input_signature=[spec])
    eager = objectives.elbo_terms(model, x, seed=(7, 8))
    for key in ("distortion", "rate", "elbo"):
      self.assertAllClose(graph(x)[key], eager[key], rtol=1e-5)

  def test_foreground_terms_count_only_the_sprites_pixels(self):
    model = model_lib.VAE(**ARGS)
    x = np.zeros([2, 32, 32, 4], np.float32)
    x[0, 4:8, 4:8] = 0.5  # 16 half-opaque pixels
    x[1, :, :16] = (0.2, 0.4, 0.6, 1.0)
    terms = objectives.elbo_terms(model, tf.constant(x), seed=(1, 1), foreground=True)
    self.assertAllEqual(terms["foreground_values"], [16 * 4, 32 * 16 * 4])
    self.assertAllGreater(terms["foreground_distortion"], 0.0)
    self.assertAllGreater(terms["distortion"] - terms["foreground_distortion"], 0.0)


class AutoregressivePriorTest(tf.test.TestCase):
  """The chain p(z2|z1) = prod_i p(z2_i | z2_<i, z1) of `hierarchy.GridLatent`."""

  def _grid(self, seed=3):
    tf.random.set_seed(seed)
    grid = hierarchy.GridLatent(6, 2, prior="autoregressive")
    # Weights larger than the near-zero start, so that the chain's part of
    # every factor matters (its location moves by about 0.8 sd with the
    # cells before it), while the scales stay between 0.2 and 5.
    grid.prior_net.w.assign(tf.random.stateless_normal(grid.prior_net.w.shape, (7, 1)) * 0.05)
    grid.chain_out.w.assign(tf.random.stateless_normal(grid.chain_out.w.shape, (7, 2)) * 0.04)
    return grid

  def test_a_cells_factor_depends_only_on_the_cells_before_it(self):
    grid = self._grid()
    h = tf.random.stateless_normal([1, 6, 6, 6], (1, 1))
    z = tf.random.stateless_normal([1, 6, 6, 2], (2, 2))
    for row, col in ((0, 0), (2, 3), (5, 5)):
      with tf.GradientTape() as tape:
        tape.watch(z)
        params = grid._prior_params(h, z)[0, row, col]
      grad = tape.gradient(params, z)[0]
      grad = grad if grad is not None else tf.zeros_like(z[0])
      seen = tf.reduce_any(tf.abs(grad) > 0, -1).numpy()
      order = np.arange(36).reshape(6, 6)
      self.assertFalse(seen[order >= row * 6 + col].any(), (row, col))
      if (row, col) != (0, 0):
        self.assertTrue(seen[order < row * 6 + col].any(), (row, col))

  def test_a_sample_is_the_chain_run_on_its_noise(self):
    # Teacher forcing at a drawn z gives back, cell by cell, the standard
    # normal noise the sampler scaled: sampling and log_prob are one model.
    grid = self._grid()
    h = tf.random.stateless_normal([3, 6, 6, 6], (4, 4))
    seed = tf.constant([5, 6])
    for temperature in (1.0, 0.5):
      z = grid.sample(h, temperature, seed=seed)
      factors = grid.prior(h, z, temperature).distribution
      noise = tf.random.stateless_normal(z.shape, tfp.random.sanitize_seed(seed))
      self.assertAllClose(z, factors.loc + factors.scale * noise, atol=1e-4)
      self.assertGreater(float(tf.math.reduce_std(z)), 0.1)

  @pytest.mark.slow  # compiles and runs a model many times: several seconds on 2 cores
  def test_the_density_is_normalised(self):
    # Importance sampling from a broad Gaussian: E_r[p(z) / r(z)] = 1 when p
    # integrates to one, here over a 2x2x2 grid (8 dimensions).
    grid = self._grid(0)
    h = tf.random.stateless_normal([1, 2, 2, 6], (8, 8))
    n = 200_000
    proposal = tfp.distributions.Normal(0.0, 2.0)
    z = proposal.sample([n, 2, 2, 2], seed=(9, 9))
    log_p = grid.prior(tf.repeat(h, n, axis=0), z).log_prob(z)
    log_w = log_p - tf.reduce_sum(proposal.log_prob(z), [1, 2, 3])
    w = tf.exp(log_w)
    se = float(tf.math.reduce_std(w)) / math.sqrt(n)
    self.assertLess(abs(float(tf.reduce_mean(w)) - 1.0), 4 * se)
    self.assertLess(se, 0.05)

  def test_sampling_compiles_for_an_unknown_batch_size(self):
    model = model_lib.VAE(**ARGS)
    codes = tf.function(lambda n: model.sample_codes(n, seed=(1, 2)))
    self.assertAllClose(codes(tf.constant(3)), model.sample_codes(3, seed=(1, 2)), atol=1e-5)

  @pytest.mark.slow  # compiles and runs a model many times: several seconds on 2 cores
  def test_an_export_samples_the_chain_as_the_model_does(self):
    model = model_lib.VAE.from_config(
        config_lib.preset("smoke", sampler="prior", grid_prior="autoregressive"))
    directory = savedmodel.export(model, os.path.join(self.get_temp_dir(), "saved"),
                              config_json="{}")
    loaded = tf.saved_model.load(directory)
    seed = tf.constant([3, 0])
    images = loaded.sample(count=tf.constant(3), temperature=tf.constant(1.0), seed=seed)
    self.assertAllClose(images["images"], model.sample(3, seed=seed), atol=1e-5)

  def test_old_runs_without_a_grid_prior_load_as_independent(self):
    values = json.loads(config_lib.Config().to_json())
    del values["grid_prior"]
    self.assertEqual(config_lib.from_dict(values).grid_prior, "independent")
    with self.assertRaisesRegex(ValueError, "grid_prior must be one of"):
      model_lib.VAE(**dict(ARGS, grid_prior="pixelcnn"))


if __name__ == "__main__":
  tf.test.main()
