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

from vae import conditioning
from vae import critic as critic_lib
from vae import objectives
from vae.training import schedules

_GROWTH_INTERVAL = 2000
# "adversary": the decoder's adversarial loss, "critic": the critic's, and
# "adversary_weight" the adaptive weight times `adversary_weight` (all 0
# without a critic; see vae/critic.py).
METRICS = ("loss", "distortion", "rate", "elbo", "grad_norm", "beta", "lr",
           "adversary", "critic", "adversary_weight")


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


def replica_step(model, config, state, global_batch, batch, step, lr, critic=None):
  """One replica's share of a step: loss, gradients summed over replicas and clipped.

  `batch` is images, or (images, types) for a conditional model; each
  sprite's types are dropped (set to zeros) with probability
  `config.condition_dropout`, so the model also learns "any type".

  With a `critic` (`vae.critic.Discriminator`) the decoder's gradient also
  gets the adversarial term's, and the critic's own gradient is computed
  from the same forward pass (see `adversarial_terms`).

  Returns:
    (clipped gradients of the model's trainable variables, then of the
    critic's; whether loss and gradients are finite; whether the loss is;
    dict of `METRICS` over the global batch).
  """
  ctx = tf.distribute.get_replica_context()
  mixed = config.mixed_precision
  batch, types = batch if isinstance(batch, tuple) else (batch, None)
  # Noise for the whole global batch, of which this replica takes its rows:
  # N replicas then draw exactly the z that one device would.
  local = tf.shape(batch)[0]
  first_row = ctx.replica_id_in_sync_group * local
  noise = tf.random.stateless_normal([global_batch, model.code_dim], step_seed(config.seed, step))
  noise = noise[first_row:][:local]
  if types is not None:
    types = conditioning.drop_types(types, config.condition_dropout,
                                    step_seed(config.seed + 3, step), first_row, global_batch)
  beta = schedules.beta_at(config, step)
  share = tf.cast(tf.shape(batch)[0], tf.float32) / global_batch
  variables = model.trainable_variables
  if critic is not None:
    # The critic's share of samples from the model's sampler (see `critic_lib.fake_codes`).
    sampled = tuple(None if part is None else tf.stop_gradient(part) for part in
                    model.sample_conditioned(local // 4, seed=step_seed(config.seed + 2, step)))
  with tf.GradientTape(persistent=critic is not None) as tape:
    terms, draw = objectives.elbo_terms(model, batch, types=types, noise=noise, with_draw=True)
    loss = objectives.training_loss(
        terms, beta=beta, free_bits=config.free_bits,
        capacity=schedules.capacity_at(config, step), gamma=config.gamma)
    scaled = loss * share
    if mixed:
      scaled = scaled * state.loss_scale
    if critic is not None:
      adversary, critic_loss = adversarial_terms(model, critic, config, batch, draw, sampled,
                                                 step, types)
      adversary, critic_loss = adversary * share, critic_loss * share
  grads = tape.gradient(scaled, variables)
  if mixed:
    grads = [g / state.loss_scale for g in grads]
  zero = tf.constant(0.0)
  adversary_weight, critic_grads = zero, []
  if critic is not None:
    # The encoder gets no gradient from it (the critic's codes are held fixed).
    adversary_grads = tape.gradient(adversary, variables,
                                    unconnected_gradients=tf.UnconnectedGradients.ZERO)
    last = _index_of(variables, model.decoder.to_params.w)
    on = tf.cast(step >= config.adversary_start, tf.float32)
    adversary_weight = on * config.adversary_weight * critic_lib.adaptive_weight(
        grads[last], adversary_grads[last])
    grads = [g + adversary_weight * a for g, a in zip(grads, adversary_grads)]
    critic_grads = tape.gradient(critic_loss, critic.trainable_variables)
    del tape
  grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
  grad_norm = tf.linalg.global_norm(grads)
  grads, _ = tf.clip_by_global_norm(grads, config.clip_norm, use_norm=grad_norm)
  critic_norm = zero
  if critic is not None:
    critic_grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, critic_grads)
    critic_norm = tf.linalg.global_norm(critic_grads)

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
      "adversary": global_sum(adversary) if critic is not None else zero,
      "critic": global_sum(critic_loss) if critic is not None else zero,
      "adversary_weight": global_sum(adversary_weight * share),
  }
  loss_finite = tf.logical_and(tf.math.is_finite(metrics["loss"]),
                               tf.math.is_finite(metrics["critic"] + metrics["adversary"]))
  finite = tf.logical_and(loss_finite, tf.math.is_finite(grad_norm + critic_norm))
  return list(grads) + list(critic_grads), finite, loss_finite, metrics


def _index_of(variables, variable):
  """The position of `variable` in the list `variables` (compared by identity)."""
  for i, candidate in enumerate(variables):
    if candidate is variable:
      return i
  raise ValueError(f"{variable.name} is not among the trainable variables")


def adversarial_terms(model, critic, config, batch, draw, sampled, step, types=None):
  """The decoder's adversarial loss and the critic's, from one pass of the critic.

  The critic sees the real batch against as many decoded codes: half of them
  the batch's reconstructions (the posterior draw's image), half new codes
  (`vae.critic.fake_codes`): `sampled`, codes from the model's sampler with
  their conditions (`VAE.sample_conditioned`), and mixes of the batch's
  posterior draws. A conditional model decodes the mixes with the types of
  the batch's rows they start from, `types`. Every image is augmented
  (`vae.critic.diff_augment`) with the step's seed.
  """
  seed = step_seed(config.seed + 1, step)
  code_seed, augment_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
  half = tf.shape(batch)[0] // 2
  recon = model.decoder.likelihood.image(draw["likelihood"])[:half]
  sampled_codes, sampled_types = sampled
  mixes = tf.shape(batch)[0] - half
  codes = critic_lib.fake_codes(model, tf.stop_gradient(draw["code"])[:mixes],
                                sampled_codes, code_seed)
  conditions = None
  if sampled_types is not None:
    conditions = tf.concat([sampled_types, types[:mixes]], 0)[:tf.shape(codes)[0]]
  fakes = model.image(codes, conditions)
  images = tf.concat([tf.cast(batch, tf.float32), recon, fakes], 0)
  logits = critic(critic_lib.diff_augment(images, augment_seed))
  count = tf.shape(batch)[0]
  real, fake = logits[:count], logits[count:]
  return critic_lib.generator_loss(fake), critic_lib.critic_loss(real, fake)


def apply_gradients(optimizer, variables, replicas, grads):
  # Keras sums gradients over replicas once more inside apply_gradients;
  # they are summed already (to clip by the true global norm), so divide.
  optimizer.apply_gradients(zip([g / replicas for g in grads], variables))


def accept(strategy, optimizer, variables, config, state, grads, loss, critic=None):
  """Applies a good step's gradients and updates the running loss (and loss scale).

  `critic` is (critic variables, their optimizer) or None; `grads` holds the
  model's gradients followed by the critic's.
  """
  apply = functools.partial(apply_gradients, optimizer, variables, strategy.num_replicas_in_sync)
  strategy.run(apply, args=(grads[:len(variables)],))
  if critic is not None:
    critic_variables, critic_optimizer = critic
    apply_critic = functools.partial(apply_gradients, critic_optimizer, critic_variables,
                                     strategy.num_replicas_in_sync)
    strategy.run(apply_critic, args=(grads[len(variables):],))
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


def one_step(model, optimizer, strategy, config, state, replica_fn, total_steps, batch,
             critic=None):
  """One step, guards included: returns (metrics, finite, skipped, overflow).

  `critic` is (critic variables, their optimizer) or None. A bad step skips
  the critic's update too.
  """
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
                    lambda: accept(strategy, optimizer, variables, config, state, grads,
                                   metrics["loss"], critic),
                    lambda: skip(optimizer, config, state))
  # A finite loss with overflowing float16 gradients is a loss-scale event.
  if config.mixed_precision:
    overflow = tf.cast(tf.logical_and(tf.logical_not(finite), loss_finite), tf.int64)
  else:
    overflow = tf.constant(0, tf.int64)
  return metrics, finite, skipped, overflow


def make_train_fn(model, optimizer, strategy, config, state, *, total_steps, global_batch,
                  critic=None, critic_optimizer=None):
  """Builds `train(iterator, n, consecutive_bad) -> dict` for `model`.

  Args:
    model: a `vae.model.VAE` whose variables were created under `strategy.scope()`.
    optimizer: a Keras optimizer built on `model.trainable_variables`.
    strategy: the `tf.distribute.Strategy` the iterator was distributed with.
    config: the run's `vae.config.Config`.
    state: the run's `TrainState`.
    total_steps: steps in the whole run (the cosine schedule's length).
    global_batch: images per step over all replicas.
    critic: a `vae.critic.Discriminator` trained beside the model, or None.
    critic_optimizer: its optimizer, built on its trainable variables.

  Returns:
    A `tf.function` taking a (distributed) iterator, the number of steps to run
    and the count of non-finite steps in a row before this call. It returns sums
    over the finite steps of each metric in `METRICS` (`finite_steps` to divide
    by), `skipped`, `overflows`, `consecutive_bad` (at the end) and
    `max_consecutive_bad`.
  """
  replica_fn = functools.partial(replica_step, model, config, state, global_batch,
                                 critic=critic)
  critic_parts = None if critic is None else (critic.trainable_variables, critic_optimizer)
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
          model, optimizer, strategy, config, state, replica_fn, total_steps, next(iterator),
          critic_parts)
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
    batch, types = batch if isinstance(batch, tuple) else (batch, None)
    terms = objectives.elbo_terms(model, batch, types=types, seed=tf.constant([config.seed, 7]))
    return {k: tf.reduce_sum(terms[k]) for k in ("distortion", "rate", "elbo")}

  return validation_terms

