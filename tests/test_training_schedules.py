"""Tests for vae.training.schedules: beta and learning rate as functions of the step."""

import math

import tensorflow as tf

from vae import config as config_lib
from vae.training import schedules


def beta(config, step):
  return float(schedules.beta_at(config, tf.constant(step, tf.int64)))


class ScheduleTest(tf.test.TestCase):

  def test_constant_beta(self):
    config = config_lib.Config(beta_schedule="constant", beta=0.7)
    self.assertAllClose([beta(config, s) for s in (0, 10, 10**6)], [0.7] * 3)

  def test_linear_warmup_rises_from_zero_to_beta(self):
    config = config_lib.Config(beta_schedule="linear", beta=2.0, warmup_steps=100)
    self.assertAllClose([beta(config, s) for s in (0, 25, 100, 500)], [0.0, 0.5, 2.0, 2.0])

  def test_cyclical_repeats_its_ramp(self):
    config = config_lib.Config(beta_schedule="cyclical", beta=1.0, cycle_steps=100, cycle_ramp=0.5)
    values = [beta(config, s) for s in (0, 25, 50, 99, 100, 125, 175)]
    self.assertAllClose(values, [0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0])

  def test_capacity_rises_to_its_maximum_and_beta_is_one(self):
    config = config_lib.Config(beta_schedule="capacity", capacity_max=40.0, capacity_steps=200)
    self.assertAllClose([float(schedules.capacity_at(config, s)) for s in (0, 100, 400)],
                        [0.0, 20.0, 40.0])
    self.assertEqual(beta(config, 50), 1.0)
    self.assertIsNone(schedules.capacity_at(config_lib.Config(beta_schedule="linear"), 5))

  def test_cosine_learning_rate_ends_at_its_floor(self):
    config = config_lib.Config(lr=1.0, lr_schedule="cosine", lr_min_ratio=0.1)
    lr = lambda s: float(schedules.lr_at(config, tf.constant(s, tf.int64), 100))
    self.assertAllClose([lr(0), lr(50), lr(100), lr(1000)],
                        [1.0, 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)), 0.1, 0.1])

  def test_schedules_agree_inside_tf_function(self):
    config = config_lib.Config(beta_schedule="cyclical", cycle_steps=10)
    compiled = tf.function(lambda s: schedules.beta_at(config, s))
    for s in range(0, 30, 3):
      self.assertAllClose(compiled(tf.constant(s, tf.int64)), beta(config, s))


if __name__ == "__main__":
  tf.test.main()
