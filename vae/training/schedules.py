"""Beta and learning-rate schedules, as pure functions of the step.

Each schedule takes the global step (`optimizer.iterations`) and returns a
float32 scalar tensor, so it runs inside the compiled train step and a resumed
run continues it exactly: nothing but the step is state.

Beta schedules weigh the rate (KL) term of the loss:
  constant   beta throughout.
  linear     beta rises from 0 to `beta` over `warmup_steps` ("KL annealing",
             Bowman et al. 2016), so the decoder learns to use z before the KL
             term pulls the posterior onto the prior.
  cyclical   the linear ramp repeated every `cycle_steps`, ramping for the first
             `cycle_ramp` of each cycle, then holding `beta` (Fu et al. 2019,
             "Cyclical Annealing Schedule"), which re-opens the latent channel
             each cycle and mitigates posterior collapse.
  capacity   beta is replaced by a target rate C(t) that rises linearly to
             `capacity_max` nats over `capacity_steps`; the loss becomes
             distortion + gamma * |rate - C(t)| (Burgess et al. 2018,
             "Understanding disentangling in beta-VAE").
"""

import math

import tensorflow as tf


def _ramp(step, length):
  step = tf.cast(step, tf.float32)
  return tf.clip_by_value(step / float(length), 0.0, 1.0)


def beta_at(config, step):
  """The weight of the rate term at `step` (1.0 for the capacity schedule)."""
  schedule = config.beta_schedule
  beta = tf.constant(config.beta, tf.float32)
  if schedule == "constant":
    return beta
  if schedule == "linear":
    return beta * _ramp(step, config.warmup_steps)
  if schedule == "cyclical":
    position = tf.math.floormod(tf.cast(step, tf.int64), config.cycle_steps)
    ramp_steps = max(1, int(round(config.cycle_steps * config.cycle_ramp)))
    return beta * _ramp(position, ramp_steps)
  if schedule == "capacity":
    return tf.constant(1.0, tf.float32)
  raise ValueError(f"unknown beta_schedule {schedule!r}")


def capacity_at(config, step):
  """C(t) in nats for the capacity schedule, else None (no capacity term)."""
  if config.beta_schedule != "capacity":
    return None
  return config.capacity_max * _ramp(step, config.capacity_steps)


def lr_at(config, step, total_steps):
  """The scheduled learning rate at `step`, before any rollback/plateau scale.

  `cosine` decays from `lr` to `lr * lr_min_ratio` over `total_steps`
  (Loshchilov & Hutter 2017, without restarts); `constant` and `plateau` return
  `lr` (plateau halving is a scale the loop keeps beside the schedule).
  """
  base = tf.constant(config.lr, tf.float32)
  if config.lr_schedule != "cosine":
    return base
  progress = _ramp(step, max(1, total_steps))
  floor = config.lr_min_ratio
  return base * (floor + (1.0 - floor) * 0.5 * (1.0 + tf.cos(math.pi * progress)))
