"""Tests for vae/training/loop.py: the outer loop's decisions, one at a time."""

import dataclasses
import types

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import fixtures
from vae import config as config_lib
from vae.rundir import checkpoints
from vae.training import loop
from vae.training import step as step_lib


class RollingStatsTest(tf.test.TestCase):

  def test_means_are_over_finite_steps_and_empty_before_any_call(self):
    window = loop.RollingStats()
    self.assertEqual(window.means(), {})
    out = dict.fromkeys(step_lib.METRICS, 6.0)
    window.add({**out, "finite_steps": 3.0}, steps=4, seconds=0.5)
    window.add({**out, "finite_steps": 1.0}, steps=4, seconds=0.5)
    self.assertEqual(window.means(), dict.fromkeys(step_lib.METRICS, 3.0))
    self.assertEqual((window.steps, window.seconds), (8, 1.0))


class CrossedTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters((0, 4, 4, True), (4, 8, 4, True), (5, 7, 4, False), (7, 9, 4, True))
  def test_a_multiple_in_the_half_open_interval(self, previous, step, every, expected):
    self.assertEqual(loop.crossed(previous, step, every), expected)


class ValidationRulesTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.state = step_lib.TrainState()
    self.config = config_lib.preset("smoke", lr_schedule="plateau", plateau_patience=2,
                                    patience=3, min_delta=0.1, warmup_steps=100)

  def test_only_an_improvement_by_min_delta_resets_the_counters(self):
    self.assertEqual(loop.record_validation(self.state, self.config, 5.0), (True, False))
    self.assertEqual(loop.record_validation(self.state, self.config, 4.95), (False, False))
    self.assertEqual(int(self.state.bad_epochs.numpy()), 1)
    self.assertEqual(float(self.state.best_val_bpd.numpy()), 5.0)
    self.assertEqual(loop.record_validation(self.state, self.config, 4.8), (True, False))
    self.assertEqual(int(self.state.bad_epochs.numpy()), 0)

  def test_a_plateau_halves_the_learning_rate_and_starts_counting_again(self):
    loop.record_validation(self.state, self.config, 5.0)
    self.assertEqual(loop.record_validation(self.state, self.config, 5.0), (False, False))
    self.assertEqual(loop.record_validation(self.state, self.config, 5.0), (False, True))
    self.assertEqual(float(self.state.lr_scale.numpy()), 0.5)
    self.assertEqual(int(self.state.plateau_epochs.numpy()), 0)
    self.assertEqual(int(self.state.bad_epochs.numpy()), 2)  # Early stopping keeps counting.

  def test_early_stopping_waits_for_patience_and_the_end_of_the_beta_warm_up(self):
    self.state.bad_epochs.assign(3)
    self.assertFalse(loop.should_stop_early(self.state, self.config, step=99))
    self.assertTrue(loop.should_stop_early(self.state, self.config, step=100))
    self.state.bad_epochs.assign(2)
    self.assertFalse(loop.should_stop_early(self.state, self.config, step=100))
    constant = dataclasses.replace(self.config, beta_schedule="constant")
    self.state.bad_epochs.assign(3)
    self.assertTrue(loop.should_stop_early(self.state, constant, step=0))


class RollbackTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    config = config_lib.preset("smoke", max_rollbacks=2)
    model, optimizer, self.state = fixtures.trainables(config)
    self.model = model
    ckpts = checkpoints.RunCheckpoints(self.get_temp_dir(), model=model, optimizer=optimizer,
                                       state=self.state)
    self.good = ckpts.save("latest", 0)
    self.run = types.SimpleNamespace(config=config, state=self.state, checkpoints=ckpts,
                                     step=0, board=types.SimpleNamespace(message=print))

  def test_restores_the_weights_but_keeps_the_counters_and_halves_the_learning_rate(self):
    weights = [v.numpy() for v in self.model.variables]
    for variable in self.model.variables:
      variable.assign(tf.fill(tf.shape(variable), tf.constant(np.nan, variable.dtype))
                      if variable.dtype.is_floating else variable)
    self.state.skipped_steps.assign(7)
    self.assertEqual(loop.rollback(self.run), self.good)
    for before, variable in zip(weights, self.model.variables):
      self.assertAllEqual(before, variable.numpy())
    # The restore rewound these to the checkpoint's zeros; rollback sets them again.
    self.assertEqual(int(self.state.skipped_steps.numpy()), 7)
    self.assertEqual(int(self.state.rollbacks.numpy()), 1)
    self.assertEqual(float(self.state.lr_scale.numpy()), 0.5)

  def test_gives_up_after_max_rollbacks_and_restores_nothing(self):
    self.assertIsNotNone(loop.rollback(self.run))
    self.assertIsNotNone(loop.rollback(self.run))
    self.assertIsNone(loop.rollback(self.run))
    self.assertEqual(int(self.state.rollbacks.numpy()), 2)
    self.assertEqual(float(self.state.lr_scale.numpy()), 0.25)


class PreviewCodesTest(tf.test.TestCase):
  """`loop.preview_codes` draws once per fit of the sampler, the prior's until the first."""

  def setUp(self):
    super().setUp()
    self.draws = []
    self.expost = types.SimpleNamespace(fitted=False, fitted_step=tf.Variable(-1, dtype=tf.int64))

    def sample_conditioned(n, seed, sampler):
      self.draws.append(sampler)
      return tf.fill([n, 3], float(len(self.draws))), None

    model = types.SimpleNamespace(expost=self.expost, sample_conditioned=sample_conditioned)
    self.run = types.SimpleNamespace(model=model, preview_images=np.zeros([4, 8, 8, 4]),
                                     config=config_lib.preset("smoke"), preview_draw={})

  def test_the_codes_are_drawn_again_only_when_the_sampler_is_refitted(self):
    first, _ = loop.preview_codes(self.run)
    self.assertAllEqual(first, loop.preview_codes(self.run)[0])
    self.assertEqual(self.draws, ["prior"])  # unfitted: the prior's, drawn once
    self.expost.fitted = True
    self.expost.fitted_step.assign(90)
    fitted, _ = loop.preview_codes(self.run)
    loop.preview_codes(self.run)
    self.expost.fitted_step.assign(180)
    refitted, _ = loop.preview_codes(self.run)
    self.assertEqual(self.draws, ["prior", None, None])
    self.assertAllEqual(fitted, tf.fill([4, 3], 2.0))
    self.assertAllEqual(refitted, tf.fill([4, 3], 3.0))
    self.assertLen(self.run.preview_draw, 1)  # only the current fit's draw is kept


if __name__ == "__main__":
  tf.test.main()
