"""Tests for vae.critic and the training step's adversarial term."""

import dataclasses
import os
import tempfile

import pytest
import numpy as np
import tensorflow as tf

from tests import fixtures
from vae import config as config_lib
from vae import critic as critic_lib
from vae.rundir import checkpoints
from vae.training import loop
from vae.training import step as step_lib


class DiscriminatorTest(tf.test.TestCase):

  def test_every_variable_is_tracked_gets_a_gradient_and_survives_a_checkpoint(self):
    critic = critic_lib.Discriminator(32, 4, name="critic")
    self.assertLen(critic.trainable_variables, 10)  # 4 stages and the read-out, w and b each
    x = tf.random.stateless_uniform([6, 32, 32, 4], [1, 2])
    with tf.GradientTape() as tape:
      # Not the hinge loss: at the start its bias gradient is exactly 0 (-1 from the
      # real half, +1 from the fake).
      loss = tf.reduce_sum(critic(x) * tf.range(6, dtype=tf.float32))
    for variable, grad in zip(critic.trainable_variables, tape.gradient(loss, critic.trainable_variables)):
      self.assertIsNotNone(grad, variable.name)
      self.assertGreater(float(tf.reduce_max(tf.abs(grad))), 0.0, variable.name)
    prefix = tf.train.Checkpoint(critic=critic).save(os.path.join(self.get_temp_dir(), "c"))
    other = critic_lib.Discriminator(32, 4, name="critic")
    tf.train.Checkpoint(critic=other).restore(prefix).assert_consumed()
    self.assertAllEqual(critic(x), other(x))

  def test_a_size_the_stages_do_not_divide_is_refused(self):
    with self.assertRaisesRegex(ValueError, "image_size must be a multiple of 16"):
      critic_lib.Discriminator(40, 4)

  def test_hinge_losses(self):
    real, fake = tf.constant([2.0, 0.5]), tf.constant([-2.0, 0.0])
    # relu(1 - real) = [0, 0.5], relu(1 + fake) = [0, 1]
    self.assertAllClose(critic_lib.critic_loss(real, fake), 0.25 + 0.5)
    self.assertAllClose(critic_lib.generator_loss(fake), 1.0)

  def test_the_adaptive_weight_balances_the_two_gradients_and_is_clipped(self):
    self.assertAllClose(critic_lib.adaptive_weight(tf.fill([4], 3.0), tf.fill([4], 1.0)), 3.0, rtol=1e-3)
    self.assertAllClose(critic_lib.adaptive_weight(tf.ones([4]), tf.zeros([4])),
                        critic_lib.MAX_ADAPTIVE_WEIGHT)


class DiffAugmentTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.x = tf.constant(fixtures.sprites(8, 32, seed=0))

  def test_it_is_seeded_keeps_the_shape_and_only_moves_or_clears_pixels(self):
    a = critic_lib.diff_augment(self.x, tf.constant([3, 4]))
    self.assertAllEqual(a, critic_lib.diff_augment(self.x, tf.constant([3, 4])))
    self.assertNotAllEqual(a, critic_lib.diff_augment(self.x, tf.constant([3, 5])))
    self.assertEqual(a.shape, self.x.shape)
    # Every output pixel is background or some input pixel of the same image.
    for image, out in zip(self.x.numpy(), a.numpy()):
      values = {tuple(p) for p in image.reshape(-1, 4)} | {(0.0, 0.0, 0.0, 0.0)}
      self.assertTrue(all(tuple(p) in values for p in out.reshape(-1, 4)))

  def test_a_cutout_clears_a_square_of_half_the_side(self):
    ones = tf.ones([16, 32, 32, 4])
    cleared = (critic_lib.diff_augment(ones, tf.constant([1, 1])).numpy() == 0).all(-1)
    # At least the cutout's 16 x 16 pixels are background in every image.
    self.assertTrue((cleared.sum(axis=(1, 2)) >= 16 * 16).all())

  def test_the_gradient_reaches_the_images(self):
    with tf.GradientTape() as tape:
      tape.watch(self.x)
      out = tf.reduce_sum(critic_lib.diff_augment(self.x, tf.constant([0, 1])))
    grad = tape.gradient(out, self.x)
    self.assertGreater(float(tf.reduce_sum(grad)), 0.0)
    self.assertTrue(set(np.unique(grad.numpy())) <= {0.0, 1.0})


class AdversarialStepTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.config = config_lib.preset("smoke", batch_size=8, lr=1e-3, adversary_weight=0.5)

  def build(self, config=None):
    config = config or self.config
    strategy = tf.distribute.get_strategy()
    model, optimizer, state = fixtures.trainables(config, strategy)
    critic, critic_optimizer = loop.build_critic(config, strategy)
    train = step_lib.make_train_fn(model, optimizer, strategy, config, state, total_steps=100,
                                   global_batch=config.batch_size, critic=critic,
                                   critic_optimizer=critic_optimizer)
    return model, critic, state, train

  def run_steps(self, train, n):
    data = tf.data.Dataset.from_tensor_slices(fixtures.random_batches(self.config, n))
    out = train(iter(data), tf.constant(n), tf.constant(0, tf.int64))
    return {k: v.numpy() for k, v in out.items()}

  @pytest.mark.slow  # compiles and runs a model many times: several seconds on 2 cores
  def test_the_critic_trains_and_the_decoder_gets_its_weighted_term(self):
    model, critic, _, train = self.build()
    before = [v.numpy() for v in critic.trainable_variables]
    out = self.run_steps(train, 2)
    self.assertEqual(out["skipped"], 0)
    for old, variable in zip(before, critic.trainable_variables):
      if variable is critic.out.b:
        continue  # While every logit is within the hinge, its gradient is -1 + 1 = 0.
      self.assertNotAllClose(old, variable.numpy(), msg=variable.name)
    self.assertGreater(out["critic"], 0.0)
    self.assertGreater(out["adversary_weight"], 0.0)
    self.assertTrue(np.isfinite(out["adversary"]))

  @pytest.mark.slow  # compiles and runs a model many times: several seconds on 2 cores
  def test_before_its_start_the_term_has_no_weight(self):
    config = dataclasses.replace(self.config, adversary_start=1000)
    *_, train = self.build(config)
    out = self.run_steps(train, 1)
    self.assertEqual(out["adversary_weight"], 0.0)
    self.assertGreater(out["critic"], 0.0)

  @pytest.mark.slow  # compiles and runs a model many times: several seconds on 2 cores
  def test_a_non_finite_critic_step_is_skipped_and_touches_neither_network(self):
    model, critic, state, train = self.build()
    critic.out.b.assign([np.nan])
    model_before = [v.numpy() for v in model.trainable_variables]
    critic_before = [v.numpy() for v in critic.trainable_variables]
    out = self.run_steps(train, 1)
    self.assertEqual(out["skipped"], 1)
    self.assertEqual(int(state.skipped_steps.numpy()), 1)
    for old, variable in zip(model_before, model.trainable_variables):
      self.assertAllEqual(old, variable.numpy())
    for old, variable in zip(critic_before, critic.trainable_variables):
      self.assertAllEqual(old, variable.numpy())

  @pytest.mark.slow  # compiles and runs a model many times: several seconds on 2 cores
  def test_the_run_checkpoint_holds_the_critic_and_its_optimizer(self):
    model, critic, _, train = self.build()
    strategy = tf.distribute.get_strategy()
    _, critic_optimizer = loop.build_critic(self.config, strategy)
    with tempfile.TemporaryDirectory() as run_dir:
      ckpts = checkpoints.RunCheckpoints(run_dir, model=model, critic=critic,
                                         critic_optimizer=critic_optimizer)
      saved = [v.numpy() for v in critic.variables]
      path = ckpts.save("latest", 1)
      names = [name for name, _ in tf.train.list_variables(path)]
      self.assertTrue(any(name.startswith("critic/") for name in names))
      self.assertTrue(any(name.startswith("critic_optimizer/") for name in names))
      self.run_steps(train, 1)  # moves the critic
      ckpts.restore_latest()  # what a rollback does
      for old, variable in zip(saved, critic.variables):
        self.assertAllEqual(old, variable.numpy())

  def test_fake_codes_are_the_samplers_then_mixes_of_the_batchs_global_latents(self):
    model, *_ = self.build()
    codes = tf.random.stateless_normal([8, model.code_dim], [0, 1])
    sampled = model.sample_codes(4, seed=[5, 6])
    fakes = critic_lib.fake_codes(model, codes, sampled, tf.constant([2, 3]))
    self.assertEqual(fakes.shape, codes.shape)
    self.assertAllEqual(fakes[:4], sampled)
    z1 = model.split_code(codes)[0][:4]
    f1 = model.split_code(fakes)[0][4:]
    # Each mixed z1 lies on the segment from its row's z1 to another row's.
    for i in range(4):
      on_a_segment = False
      for j in range(4):
        direction = z1[j] - z1[i]
        if i == j:
          on_a_segment |= bool(np.allclose(f1[i], z1[i], atol=1e-5))
          continue
        t = float(tf.reduce_sum((f1[i] - z1[i]) * direction) / tf.reduce_sum(direction**2))
        on_a_segment |= (-1e-4 <= t <= 1 + 1e-4 and
                         bool(np.allclose(z1[i] + t * direction, f1[i], atol=1e-4)))
      self.assertTrue(on_a_segment, f"row {i + 4}")
