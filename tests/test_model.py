"""Tests for vae/model.py."""

import inspect
import itertools
import os
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from tests import fixtures
from vae import config as config_lib
from vae import model as model_lib
from vae import objectives

# Tiny widths keep the many models built here cheap; four stages as in the
# defaults, so 96 px ends on a 6x6 map.
TINY = dict(widths=(4, 4, 8, 8), latent_dim=3, grid_size=0, sampler="prior")


def _images(size, channels, batch=2, seed=(1, 2)):
  u = tf.random.stateless_uniform([batch, size, size, channels], seed=seed)
  return tf.round(u * 255) / 255


class ShapesTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      (f"{likelihood}_{size}px_{channels}ch", size, channels, likelihood)
      for size, channels, likelihood in itertools.product(
          (32, 64, 96, 128), (3, 4), ("logistic", "palette", "gaussian", "bernoulli")))
  def test_every_size_channel_count_and_likelihood(self, size, channels, likelihood):
    model = model_lib.VAE(image_size=size, channels=channels,
                          likelihood=likelihood, **TINY)
    image = [size, size, channels]
    self.assertEqual(model.image_shape, tuple(image))
    x = _images(size, channels)
    posterior = model.encode(x)
    self.assertEqual(posterior.batch_shape, [2])
    self.assertEqual(posterior.event_shape, [3])
    likelihood_dist = model.decode(posterior.mean())
    self.assertEqual(likelihood_dist.batch_shape, [2])
    self.assertEqual(likelihood_dist.event_shape, image)
    self.assertEqual(model.prior().event_shape, [3])
    for images in (model.reconstruct(x), model.sample(2, seed=(3, 4))):
      self.assertEqual(images.shape, [2] + image)
      self.assertAllInRange(images, 0.0, 1.0)

  def test_mixture_prior_and_logistic_mixture_shapes(self):
    model = model_lib.VAE(image_size=32, prior="mog", prior_components=5,
                          logistic_mixtures=3, **TINY)
    self.assertEqual(model.prior().event_shape, [3])
    self.assertEqual(model.decode(tf.zeros([2, 3])).event_shape, [32, 32, 4])
    self.assertEqual(model.sample(4, seed=(1, 1)).shape, [4, 32, 32, 4])

  def test_palette_comes_from_the_global_latent_and_the_grid_only_places_it(self):
    # No per-pixel offset, so the components' locations are the palette itself.
    model = model_lib.VAE(image_size=32, likelihood="palette", palette_size=4, palette_offset=0.0,
                          **{**TINY, "grid_size": 8, "grid_channels": 2})
    codes = tf.random.stateless_normal([2, model.code_dim], seed=(1, 2))
    other_grid = tf.concat([codes[:, :3], -codes[:, 3:]], axis=-1)
    other_z1 = tf.concat([-codes[:, :3], codes[:, 3:]], axis=-1)
    palette = lambda c: model.decode(c).distribution.components_distribution.distribution.loc
    self.assertEqual(model.decode(codes).event_shape, [32, 32, 4])
    self.assertAllEqual(palette(codes), palette(other_grid))
    self.assertNotAllClose(palette(codes), palette(other_z1))
    self.assertNotAllClose(model.render(codes), model.render(other_grid))

  @parameterized.named_parameters(
      ("image_size", dict(image_size=40), "image_size must be a multiple of 16.*got 40"),
      ("likelihood", dict(likelihood="laplace"), "likelihood.*'laplace'"),
      ("prior", dict(prior="flow"), "prior.*'flow'"),
      ("norm", dict(norm="batch"), "norm.*'batch'"),
      ("latent_dim", dict(latent_dim=0), "latent_dim.*0"),
  )
  def test_rejects_bad_arguments_naming_them(self, kwargs, message):
    with self.assertRaisesRegex(ValueError, message):
      model_lib.VAE(**{**TINY, **kwargs})


class GraphTest(tf.test.TestCase, parameterized.TestCase):

  @pytest.mark.slow  # compiles and runs a model many times: several seconds on 2 cores
  def test_eager_and_tf_function_agree(self):
    model = model_lib.VAE(image_size=32, res_blocks=1, prior="mog", **TINY)
    x = _images(32, 4)

    def forward(x):
      terms = objectives.elbo_terms(model, x, seed=(5, 6))
      return (terms["elbo"], terms["rate_per_dim"], model.reconstruct(x),
              model.sample(2, temperature=0.7, seed=(7, 8)))

    eager, graph = forward(x), tf.function(forward)(x)
    for got, want in zip(eager[:2], graph[:2]):
      self.assertAllClose(got, want, rtol=1e-5, atol=1e-5)
    # The renders are 8-bit levels (the most probable bin of the logistic): a
    # float32 difference between the two executions at a bin's edge moves a
    # value by one level. TensorFlow's own CPU kernels (oneDNN off) did so for
    # 1 value in 8192; more than one in a thousand, or more than one level, is a bug.
    for got, want in zip(eager[2:], graph[2:]):
      self.assertAllClose(got, want, rtol=0, atol=1 / 255 + 1e-6)
      self.assertLess(np.mean(np.abs(got - want) > 1e-5), 1e-3)

  def test_unknown_batch_size(self):
    model = model_lib.VAE(image_size=32, channels=3, **TINY)
    spec = [tf.TensorSpec([None, 32, 32, 3])]
    elbo = tf.function(
        lambda x: objectives.elbo_terms(model, x, seed=(1, 2))["elbo"],
        input_signature=spec)
    reconstruct = tf.function(model.reconstruct, input_signature=spec)
    x = _images(32, 3, batch=5)
    self.assertEqual(elbo(x).shape, [5])
    self.assertEqual(reconstruct(x).shape, [5, 32, 32, 3])

  def test_zero_temperature_normal_prior_samples_one_image(self):
    model = model_lib.VAE(image_size=32, **TINY)
    samples = model.sample(3, temperature=0.0, seed=(1, 2))
    self.assertAllEqual(samples, tf.repeat(samples[:1], 3, axis=0))
    self.assertAllEqual(samples[:1], model.render(tf.zeros([1, 3])))


  @parameterized.named_parameters(("no_norm", "none", False), ("group_norm", "group", True))
  def test_decoder_sees_the_scale_of_z_unless_it_normalises(self, decoder_norm, invariant):
    x = _images(32, 4)
    z = tf.random.stateless_normal([2, 3], seed=(3, 4))
    model = model_lib.VAE(image_size=32, decoder_norm=decoder_norm, **TINY)
    full, half = model.decode(z).log_prob(x), model.decode(0.5 * z).log_prob(x)
    if invariant:  # Group norm divides the scale out: temperature is moot.
      self.assertAllClose(full, half, rtol=1e-4)
    else:
      self.assertNotAllClose(full, half, rtol=1e-4)


# Model variants that between them build every kind of variable.
CONFIGS = (
    ("mixtures_mog_res", dict(logistic_mixtures=2, prior="mog", res_blocks=1)),
    ("full_resolution_convs", dict(output_convs=2)),
    ("gaussian_no_norm", dict(likelihood="gaussian", norm="none")),
    ("bernoulli", dict(likelihood="bernoulli")),
    ("palette", dict(likelihood="palette", palette_size=4, palette_offset=4.0)),
)


class VariablesTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(*CONFIGS)
  def test_every_variable_is_trainable_and_gets_a_gradient(self, config):
    model = model_lib.VAE(image_size=32, **TINY, **config)
    self.assertEqual(len(model.trainable_variables),
                     len(model.variables))
    with tf.GradientTape() as tape:
      loss = objectives.training_loss(
          objectives.elbo_terms(model, _images(32, 4), seed=(1, 2)),
          beta=1.0)
    grads = tape.gradient(loss, model.trainable_variables)
    for variable, grad in zip(model.trainable_variables, grads):
      self.assertIsNotNone(grad, variable.name)
      self.assertTrue(bool(tf.reduce_any(grad != 0)), variable.name)

  @parameterized.named_parameters(*CONFIGS)
  def test_variable_names_are_unique_and_say_where_they_live(self, config):
    model = model_lib.VAE(image_size=32, name="vae", **TINY, **config)
    names = [v.name for v in model.variables]
    self.assertLen(set(names), len(names))
    for variable_name in names:
      self.assertRegex(variable_name,
                       r"^vae/(encoder|decoder|likelihood|prior)/[\w/]+:0$")

  def test_checkpoint_round_trip_restores_identical_outputs(self):
    config = dict(CONFIGS)["mixtures_mog_res"]
    x = _images(32, 4)
    saved = model_lib.VAE(image_size=32, **TINY, **config)
    path = tf.train.Checkpoint(model=saved).write(
        os.path.join(self.get_temp_dir(), "ckpt"))
    fresh = model_lib.VAE(image_size=32, **TINY, **config)
    # Fresh weights differ, so the comparison below can fail.
    self.assertNotAllClose(fresh.encode(x).mean(), saved.encode(x).mean())
    tf.train.Checkpoint(model=fresh).read(path).assert_consumed()
    self.assertAllEqual(fresh.reconstruct(x), saved.reconstruct(x))
    self.assertAllEqual(fresh.prior().log_prob(tf.ones([1, 3])),
                        saved.prior().log_prob(tf.ones([1, 3])))


class FromConfigTest(tf.test.TestCase):

  def test_every_constructor_keyword_but_the_few_is_a_config_field(self):
    # A keyword renamed on one side only would otherwise be left at its default.
    keywords = set(inspect.signature(model_lib.VAE.__init__).parameters) - {"self"}
    fields = set(config_lib.flat(config_lib.Config()))
    self.assertEqual(keywords - fields, set(model_lib.CONSTRUCTOR_ONLY))

  def test_each_keyword_gets_its_fields_value(self):
    config = config_lib.preset("smoke", image_size=64, channels=3, latent_dim=5, widths=(4, 8),
                               norm="none", decoder_norm="group", likelihood="gaussian",
                               prior="mog", prior_components=3, grid_size=16, grid_channels=3,
                               grid_prior="autoregressive", grid_temperature=0.5,
                               sampler="expost", expost_latents="all", expost_components=2)
    with mock.patch.object(model_lib.VAE, "__init__", autospec=True,
                           return_value=None) as init:
      model_lib.VAE.from_config(config)
    given = init.call_args.kwargs
    fields = config_lib.flat(config)
    self.assertEqual(given, {**{k: fields[k] for k in given if k in fields},
                             "compute_dtype": tf.float32, "name": "vae"})
    # What from_config passed when it spelled each keyword out.
    self.assertCountEqual(given, [
        "image_size", "channels", "latent_dim", "widths", "res_blocks", "output_convs", "norm",
        "decoder_norm",
        "likelihood", "logistic_mixtures", "palette_size", "palette_offset", "prior",
        "prior_components", "grid_size",
        "grid_channels", "grid_prior", "grid_temperature", "sampler", "expost_latents",
        "expost_components", "condition", "compute_dtype", "name"])

  def test_the_built_model_is_the_configs(self):
    config = config_lib.preset("smoke", channels=3, latent_dim=5, grid_size=0, sampler="prior",
                               mixed_precision=True)
    model = model_lib.VAE.from_config(config)
    self.assertEqual((model.image_size, model.channels, model.latent_dim, model.code_dim),
                     (32, 3, 5, 5))
    self.assertEqual(model.encoder.compute_dtype, tf.float16)


@pytest.mark.slow  # Trains the model end to end.
class OverfitTest(tf.test.TestCase):

  def test_few_hundred_steps_drive_distortion_down_on_a_few_sprites(self):
    tf.random.set_seed(0)
    x = tf.constant(fixtures.sprites(8, 32))
    model = model_lib.VAE(image_size=32, widths=(8, 16, 32), latent_dim=16, grid_size=0,
                          sampler="prior")
    optimizer = keras.optimizers.Adam(3e-3)

    @tf.function
    def step(seed):
      with tf.GradientTape() as tape:
        terms = objectives.elbo_terms(model, x, seed=seed)
        loss = objectives.training_loss(terms, beta=1.0)
      variables = model.trainable_variables
      optimizer.apply_gradients(zip(tape.gradient(loss, variables),
                                    variables))
      return tf.reduce_mean(terms["distortion"])

    initial = float(step(tf.constant([0, 0])))
    for i in range(1, 300):
      step(tf.constant([i, 0]))
    final = float(tf.reduce_mean(
        objectives.elbo_terms(model, x, seed=(9, 9))["distortion"]))
    bits = float(objectives.bits_per_dim(final, model.image_shape))
    # Measured: ~2.2 bits/dim at the start, ~0.5 after 300 steps. Asserting
    # a drop to below 40% of the start, and below 1 bit/dim, leaves room
    # for numerical differences between machines while failing a model
    # that does not learn (or learns only slowly).
    self.assertLess(final, 0.4 * initial)
    self.assertLess(bits, 1.0)
    # The codes carry the images: reconstructions are close to the inputs,
    # which a decoder that ignored z could not do for 8 different sprites.
    error = tf.reduce_mean(tf.abs(model.reconstruct(x) - x))
    self.assertLess(float(error), 0.05)


if __name__ == "__main__":
  tf.test.main()
