"""The compiled training step: GradientTape, NaN guard, clipping, distribution.

`make_train_fn` returns one `tf.function` that runs `n` steps per call (fewer
Python round trips, Orbit's "inner loop"), each step:

1. computes the loss `distortion + beta * rate` (or the capacity form) on each
   replica's share of the global batch, scaled by the global batch size so the
   sum over replicas is the mean over the global batch;
2. sums the gradients over replicas, measures their global norm and clips it;
3. applies them only when the loss and every gradient are finite and the loss
   is not a spike (more than `spike_factor` times its running average): such a
   step leaves weights and optimizer moments untouched and is counted instead
   (vdvae skips updates on non-finite or huge gradient norms rather than crash).
   A spike matters because group normalisation keeps a diverging model finite:
   with a far too high learning rate the loss grows a million-fold and never
   becomes NaN, so a NaN check alone would let the run carry on as garbage;
4. advances `optimizer.iterations`, the one step counter, skipped or not, so the
   beta and learning-rate schedules, being functions of it, resume exactly.

With mixed precision the loss is multiplied by a dynamic loss scale (Micikevicius
et al. 2018): halved on an overflow, doubled after `_GROWTH_INTERVAL` good steps.
An overflow with a finite loss is the loss scale's business, not a divergence, so
it does not count towards the loop's rollback tolerance.
"""

import functools

import tensorflow as tf

from vae import objectives
from vae.training import schedules

_GROWTH_INTERVAL = 2000
METRICS = ("loss", "distortion", "rate", "elbo", "grad_norm", "beta", "lr")


class TrainState(tf.Module):
  """Loop state saved with every checkpoint, beside the model and optimizer."""

  def __init__(self, name=None):
    super().__init__(name=name)
    self.skipped_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_steps")
    self.rollbacks = tf.Variable(0, dtype=tf.int64, trainable=False, name="rollbacks")
    self.lr_scale = tf.Variable(1.0, trainable=False, name="lr_scale")
    # The loss is in nats per image (thousands), so gradients are far from
    # float16 underflow: start unscaled; growth finds headroom if there is any.
    self.loss_scale = tf.Variable(1.0, trainable=False, name="loss_scale")
    self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="good_steps")
    self.best_val_bpd = tf.Variable(float("inf"), trainable=False, name="best_val_bpd")
    self.bad_epochs = tf.Variable(0, dtype=tf.int64, trainable=False, name="bad_epochs")
    self.plateau_epochs = tf.Variable(0, dtype=tf.int64, trainable=False, name="plateau_epochs")
    self.validated_epochs = tf.Variable(0, dtype=tf.int64, trainable=False, name="validated_epochs")
    # Running average of accepted losses, the reference for spike detection.
    self.loss_average = tf.Variable(0.0, trainable=False, name="loss_average")


def step_seed(base_seed, step):
  """A stateless sampling seed for `step`: the same step draws the same noise."""
  return tf.stack([tf.constant(base_seed, tf.int32),
                   tf.cast(tf.math.floormod(step, 2**31 - 1), tf.int32)])


def replica_step(model, config, state, global_batch, batch, step, lr):
  """One replica's share of a step: loss, gradients summed over replicas and clipped.

  Returns:
    (clipped gradients, whether loss and gradients are finite, whether the
    loss is, dict of `METRICS` over the global batch).
  """
  ctx = tf.distribute.get_replica_context()
  mixed = config.mixed_precision
  # Noise for the whole global batch, of which this replica takes its rows:
  # N replicas then draw exactly the z that one device would.
  local = tf.shape(batch)[0]
  noise = tf.random.stateless_normal([global_batch, model.code_dim], step_seed(config.seed, step))
  noise = noise[ctx.replica_id_in_sync_group * local:][:local]
  beta = schedules.beta_at(config, step)
  with tf.GradientTape() as tape:
    terms = objectives.elbo_terms(model, batch, noise=noise)
    loss = objectives.training_loss(
        terms, beta=beta, free_bits=config.free_bits,
        capacity=schedules.capacity_at(config, step), gamma=config.gamma)
    share = tf.cast(tf.shape(batch)[0], tf.float32) / global_batch
    scaled = loss * share
    if mixed:
      scaled = scaled * state.loss_scale
  grads = tape.gradient(scaled, model.trainable_variables)
  grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
  if mixed:
    grads = [g / state.loss_scale for g in grads]
  grad_norm = tf.linalg.global_norm(grads)
  grads, _ = tf.clip_by_global_norm(grads, config.clip_norm, use_norm=grad_norm)

  def global_sum(value):
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, value)

  metrics = {
      "loss": global_sum(scaled / (state.loss_scale if mixed else 1.0)),
      "distortion": global_sum(tf.reduce_sum(terms["distortion"]) / global_batch),
      "rate": global_sum(tf.reduce_sum(terms["rate"]) / global_batch),
      "elbo": global_sum(tf.reduce_sum(terms["elbo"]) / global_batch),
      "grad_norm": grad_norm,
      "beta": beta,
      "lr": lr,
  }
  loss_finite = tf.math.is_finite(metrics["loss"])
  finite = tf.logical_and(loss_finite, tf.math.is_finite(grad_norm))
  return grads, finite, loss_finite, metrics


def apply_gradients(optimizer, variables, replicas, grads):
  # Keras sums gradients over replicas once more inside apply_gradients;
  # they are summed already (to clip by the true global norm), so divide.
  optimizer.apply_gradients(zip([g / replicas for g in grads], variables))


def accept(strategy, optimizer, variables, config, state, grads, loss):
  """Applies a good step's gradients and updates the running loss (and loss scale)."""
  apply = functools.partial(apply_gradients, optimizer, variables, strategy.num_replicas_in_sync)
  strategy.run(apply, args=(grads,))
  state.loss_average.assign(tf.where(state.loss_average > 0.0,
                                     0.98 * state.loss_average + 0.02 * loss, loss))
  if config.mixed_precision:
    state.good_steps.assign_add(1)
    grow = state.good_steps >= _GROWTH_INTERVAL
    state.loss_scale.assign(tf.where(grow, state.loss_scale * 2.0, state.loss_scale))
    state.good_steps.assign(tf.where(grow, tf.constant(0, tf.int64), state.good_steps))
  return tf.constant(0, tf.int64)


def skip(optimizer, config, state):
  """Counts a bad step without touching weights or moments; returns 1 (skipped)."""
  optimizer.iterations.assign_add(1)
  state.skipped_steps.assign_add(1)
  if config.mixed_precision:
    state.loss_scale.assign(tf.maximum(state.loss_scale * 0.5, 1.0))
    state.good_steps.assign(0)
  return tf.constant(1, tf.int64)


def one_step(model, optimizer, strategy, config, state, replica_fn, total_steps, batch):
  """One step, guards included: returns (metrics, finite, skipped, overflow)."""
  # A tensor, not the variable: a jit-compiled replica_fn (config.xla) traces
  # its arguments, and a variable cannot be traced as a value.
  step = tf.convert_to_tensor(optimizer.iterations)
  lr = schedules.lr_at(config, step, total_steps) * state.lr_scale
  optimizer.learning_rate.assign(lr)
  grads, finite, loss_finite, metrics = strategy.run(replica_fn, args=(batch, step, lr))
  # The replicas agree on these (all-reduced), so the first replica's copy serves.
  finite, loss_finite, metrics = tf.nest.map_structure(
      lambda value: strategy.experimental_local_results(value)[0], (finite, loss_finite, metrics))
  if config.spike_factor:
    spike = tf.logical_and(state.loss_average > 0.0,
                           metrics["loss"] > config.spike_factor * state.loss_average)
    finite = tf.logical_and(finite, tf.logical_not(spike))
  variables = model.trainable_variables
  skipped = tf.cond(finite,
                    lambda: accept(strategy, optimizer, variables, config, state, grads, metrics["loss"]),
                    lambda: skip(optimizer, config, state))
  # A finite loss with overflowing float16 gradients is a loss-scale event.
  if config.mixed_precision:
    overflow = tf.cast(tf.logical_and(tf.logical_not(finite), loss_finite), tf.int64)
  else:
    overflow = tf.constant(0, tf.int64)
  return metrics, finite, skipped, overflow


def make_train_fn(model, optimizer, strategy, config, state, *, total_steps, global_batch):
  """Builds `train(iterator, n, consecutive_bad) -> dict` for `model`.

  Args:
    model: a `vae.model.VAE` whose variables were created under `strategy.scope()`.
    optimizer: a Keras optimizer built on `model.trainable_variables`.
    strategy: the `tf.distribute.Strategy` the iterator was distributed with.
    config: the run's `vae.config.Config`.
    state: the run's `TrainState`.
    total_steps: steps in the whole run (the cosine schedule's length).
    global_batch: images per step over all replicas.

  Returns:
    A `tf.function` taking a (distributed) iterator, the number of steps to run
    and the count of non-finite steps in a row before this call. It returns sums
    over the finite steps of each metric in `METRICS` (`finite_steps` to divide
    by), `skipped`, `overflows`, `consecutive_bad` (at the end) and
    `max_consecutive_bad`.
  """
  replica_fn = functools.partial(replica_step, model, config, state, global_batch)
  if config.xla:
    replica_fn = tf.function(replica_fn, jit_compile=True)

  @tf.function
  def train(iterator, n, consecutive_bad):
    sums = {k: tf.constant(0.0) for k in METRICS}
    finite_steps = tf.constant(0.0)
    skipped = tf.constant(0, tf.int64)
    overflows = tf.constant(0, tf.int64)
    consecutive = tf.cast(consecutive_bad, tf.int64)
    max_consecutive = consecutive
    for _ in tf.range(n):
      metrics, finite, step_skipped, overflow = one_step(
          model, optimizer, strategy, config, state, replica_fn, total_steps, next(iterator))
      sums = {k: sums[k] + tf.where(finite, metrics[k], 0.0) for k in METRICS}
      finite_steps += tf.cast(finite, tf.float32)
      skipped += step_skipped
      overflows += overflow
      diverged = step_skipped - overflow  # non-finite, and not a mere overflow
      consecutive = tf.where(diverged > 0, consecutive + 1, tf.constant(0, tf.int64))
      max_consecutive = tf.maximum(max_consecutive, consecutive)
    return dict(sums, finite_steps=finite_steps, skipped=skipped, overflows=overflows,
                consecutive_bad=consecutive, max_consecutive_bad=max_consecutive)

  return train


def make_validation_fn(model, config):
  """Builds `validation_terms(batch) -> dict of sums over the batch` (one seeded z per image)."""

  @tf.function
  def validation_terms(batch):
    terms = objectives.elbo_terms(model, batch, seed=tf.constant([config.seed, 7]))
    return {k: tf.reduce_sum(terms[k]) for k in ("distortion", "rate", "elbo")}

  return validation_terms

