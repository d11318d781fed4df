"""The outer training loop's parts, each named, for `train_loop.py` to call in order.

`train_loop.train` is the loop itself, short enough to read on one screen (as
nanoGPT's train.py, or Orbit's outer loop around a compiled inner loop):
`start` builds a run from its config, `call_steps` runs the compiled steps of
`vae.training.step`, and between calls the loop logs a `RollingStats` window,
saves, `rollback`s after repeated bad steps, and at each epoch's end runs
`end_of_epoch` (validation, `should_stop_early`). Everything a run holds is in
one `Run`; nothing here keeps state of its own.

The training batches of step s are a function of (seed, s) (see
`pipelines.SpriteData.train_epoch`), so the position in the data is the step
counter itself: `call_steps` opens an iterator at each epoch's start, and a
resumed or rolled-back run reads exactly the batches of its restored step.
On several workers (`cluster`), the chief alone writes `config.out`; the others
write into a temporary `run_dir`. Everything written into the run directory
goes through `vae.rundir`, so a failed write (a full disk) is one line and
leaves no half-written file.
"""

import dataclasses
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

import pipelines
from vae import config as config_lib
from vae import critic as critic_lib
from vae import samplers
from vae import objectives
from vae import pictures
from vae.model import VAE
from vae.rundir import checkpoints, files
from vae.rundir import load as rundir_load
from vae.training import cluster
from vae.training import step as step_lib
from vae.training.dashboard import make_dashboard

VALIDATION_BATCH = 256
# Epochs between refits of the ex-post density during training (for the
# previews and the best checkpoint); `finish` refits both checkpoints.
EXPOST_REFIT_EPOCHS = 10


@dataclasses.dataclass
class Run:
  """What one training run is made of: built once by `start`, then only read
  (but for `iterator`, which `call_steps` and `rollback` replace, and
  `preview_draw`, which `preview_codes` keeps)."""
  config: config_lib.Config
  strategy: tf.distribute.Strategy
  run_dir: str  # config.out on the chief, a temporary directory on other workers
  data: object  # pipelines.SpriteData
  steps_per_epoch: int
  total_steps: int
  model: VAE
  optimizer: keras.optimizers.Optimizer
  state: step_lib.TrainState
  critic: object  # vae.critic.Discriminator, or None without the adversarial term
  critic_optimizer: object  # its optimizer, or None
  checkpoints: checkpoints.RunCheckpoints
  train_fn: object  # step_lib.make_train_fn, without the critic
  adversarial_fn: object  # the same with the critic, from `adversary_start` on; None without one
  validation_fn: object  # step_lib.make_validation_fn
  iterator: object  # over the rest of the current epoch's distributed batches; None: open one
  val_dataset: object  # tf.data.Dataset of the validation split
  preview_images: np.ndarray
  preview_types: object  # their types [N, T] for a conditional model, else None
  writer: object  # tf.summary writer of RUN/tb
  board: object  # vae.training.dashboard view
  # The previews' codes and conditions, under the sampler's fit they were drawn from.
  preview_draw: dict = dataclasses.field(default_factory=dict)

  @property
  def image_shape(self):
    return (self.config.data.image_size, self.config.data.image_size, self.config.data.channels)

  @property
  def step(self):
    """The step counter: `optimizer.iterations`, skipped steps included."""
    return int(self.optimizer.iterations.numpy())


def build_trainables(config, strategy):
  """(model, optimizer, TrainState) for `config`, their variables made in `strategy`'s scope.

  The attribute names of all three are the checkpoint's variable names: a
  rename would keep earlier runs from resuming.
  """
  with strategy.scope():
    model = VAE.from_config(config)
    optimizer = keras.optimizers.Adam(learning_rate=config.lr)
    optimizer.build(model.trainable_variables)
    state = step_lib.TrainState(name="train_state")
  return model, optimizer, state


def build_critic(config, strategy):
  """(critic, its optimizer) with `config.adversary_weight`, else (None, None).

  Adam with beta_1 = 0.5, beta_2 = 0.9, the usual choice for a GAN's
  discriminator (Radford et al. 2016; Gulrajani et al. 2017).
  """
  if not config.adversary_weight:
    return None, None
  with strategy.scope():
    critic = critic_lib.Discriminator(config.data.image_size, config.data.channels, name="critic")
    optimizer = keras.optimizers.Adam(learning_rate=config.adversary_lr, beta_1=0.5, beta_2=0.9)
    optimizer.build(critic.trainable_variables)
  return critic, optimizer


def initialise_from(model, path):
  """Starts a new run from the model weights of another run (`--init-from`): fine-tuning.

  Only the model's variables are read (not the optimizer, the step or the
  critic), so the new run's schedules start from step 0.
  """
  prefixes, _ = rundir_load.resolve(path, "best")

  def restore(prefix):
    tf.train.Checkpoint(model=model).restore(prefix).expect_partial().assert_existing_objects_matched()

  checkpoints.restore_newest(restore, prefixes, print,
                             what_to_do="pass another --init-from")


def start(config, resuming):
  """Builds the run `config` describes, restored from `latest` when resuming; says which on the board.

  Raises:
    RunDirError: resuming, and no checkpoint is readable; or a write failed.
  """
  strategy = cluster.make_strategy(config.strategy)  # First: multi-worker needs it so.
  keras.utils.set_random_seed(config.seed)
  if config.deterministic:
    tf.config.experimental.enable_op_determinism()
  run_dir = cluster.run_dir(config.out, config.strategy)
  resuming = cluster.agree(strategy, resuming)  # The chief's choice, on every worker.
  if cluster.is_chief(config.strategy):
    checkpoints.remove_temporaries(run_dir)  # Of a save killed half way; this process owns the run.
    files.write_text(os.path.join(run_dir, config_lib.CONFIG_NAME), config.to_json() + "\n")

  data = pipelines.load(config.data)
  if config.condition == "types" and not data.type_names:
    raise ValueError(f"--condition types needs the sprites' types, and {config.data.folder} has no "
                     "types table: add one (see README, Data) or train with --condition none")
  n_train = data.count("train")
  steps_per_epoch = n_train // config.batch_size
  if steps_per_epoch < 1:
    raise ValueError(f"the train split has {n_train} images, fewer than batch_size {config.batch_size}: "
                     "lower --batch-size or add images")
  total_steps = config.epochs * steps_per_epoch
  if config.max_steps:
    total_steps = min(total_steps, config.max_steps)

  model, optimizer, state = build_trainables(config, strategy)
  critic, critic_optimizer = build_critic(config, strategy)
  ckpts = checkpoints.RunCheckpoints(run_dir, model=model, optimizer=optimizer,
                                     state=state, keep=config.keep_checkpoints,
                                     critic=critic, critic_optimizer=critic_optimizer)
  # Every worker resumes from the chief's newest readable checkpoint; one
  # that has none of its own (a fresh run, a worker) saves a good state to
  # roll back to (every worker takes part in every save). The chief does not
  # rewrite the checkpoint it resumed from: it is already one.
  chief_latest = os.path.join(config.out, "checkpoints", "latest")
  notes = []
  restored = ckpts.restore_latest(chief_latest, log=notes.append) if resuming else None
  if not restored and config.init_from:
    initialise_from(model, config.init_from)
  if not restored or os.path.dirname(restored) != ckpts.latest.directory:
    ckpts.save("latest", int(optimizer.iterations.numpy()))

  preview_images = data.array("val")[:config.preview_count].astype(np.float32) / 255.0
  preview_types = data.types("val")[:config.preview_count] if model.conditional else None
  step = int(optimizer.iterations.numpy())
  run = Run(
      config=config, strategy=strategy, run_dir=run_dir, data=data,
      steps_per_epoch=steps_per_epoch, total_steps=total_steps,
      model=model, optimizer=optimizer, state=state, critic=critic,
      critic_optimizer=critic_optimizer, checkpoints=ckpts,
      train_fn=step_lib.make_train_fn(model, optimizer, strategy, config, state,
                                      total_steps=total_steps, global_batch=config.batch_size),
      # The critic doubles a step's cost: before its term starts, steps go without it.
      adversarial_fn=critic and step_lib.make_train_fn(
          model, optimizer, strategy, config, state, total_steps=total_steps,
          global_batch=config.batch_size, critic=critic, critic_optimizer=critic_optimizer),
      validation_fn=step_lib.make_validation_fn(model, config),
      iterator=None,
      val_dataset=data.dataset("val", VALIDATION_BATCH, training=False,
                               with_types=model.conditional),
      preview_images=preview_images,
      preview_types=preview_types,
      writer=tf.summary.create_file_writer(os.path.join(run_dir, "tb")),
      board=make_dashboard(config.dashboard, total_steps, start_step=step))
  for note in notes:
    run.board.message(note)
  if restored:
    run.board.message(f"resumed from {restored} at step {step}")
  else:
    run.board.message(f"training {n_train} images ({steps_per_epoch} steps/epoch, {total_steps} steps) "
                      f"into {config.out}")
  return run


def steps_in_next_call(run, step):
  """Steps for the next compiled call: `steps_per_call`, cut at the epoch's end and the run's."""
  epoch_end = (step // run.steps_per_epoch + 1) * run.steps_per_epoch
  n = min(run.config.steps_per_call, epoch_end - step, run.total_steps - step)
  if run.adversarial_fn is not None and step < run.config.adversary_start:
    n = min(n, run.config.adversary_start - step)  # One call never mixes the two kinds.
  return n


def train_fn_at(run, step):
  """The compiled steps for `step`: with the critic once its term has started."""
  if run.adversarial_fn is not None and step >= run.config.adversary_start:
    return run.adversarial_fn
  return run.train_fn


def call_steps(run, n, consecutive_bad):
  """Runs `n` compiled steps; returns (their outputs as numbers, seconds taken)."""
  tic = time.perf_counter()
  step = run.step
  if run.iterator is None or step % run.steps_per_epoch == 0:
    run.iterator = cluster.epoch_iterator(run.strategy, run.data, run.config.batch_size,
                                          run.config.seed, step,
                                          with_types=run.model.conditional)
  out = train_fn_at(run, step)(run.iterator, tf.constant(n), tf.constant(consecutive_bad, tf.int64))
  out = {k: v.numpy() for k, v in out.items()}
  return out, time.perf_counter() - tic


def crossed(previous_step, step, every):
  """Whether a multiple of `every` lies in (previous_step, step]."""
  return step // every > previous_step // every


@dataclasses.dataclass
class RollingStats:
  """Sums over the compiled calls since the last log line."""
  sums: dict = dataclasses.field(default_factory=lambda: dict.fromkeys(step_lib.METRICS, 0.0))
  finite_steps: float = 0.0
  steps: int = 0
  seconds: float = 0.0

  def add(self, out, steps, seconds):
    for k in step_lib.METRICS:
      self.sums[k] += float(out[k])
    self.finite_steps += float(out["finite_steps"])
    self.steps += steps
    self.seconds += seconds

  def means(self):
    """Each metric's mean over the finite steps; {} before any call."""
    if not self.steps:
      return {}
    return {k: v / max(self.finite_steps, 1.0) for k, v in self.sums.items()}


def log_window(run, window, step, epoch):
  """Writes the window's means to TensorBoard and the dashboard; returns them."""
  state, config = run.state, run.config
  stats = window.means()
  stats.update(step=step, epoch=epoch, skipped_steps=int(state.skipped_steps.numpy()),
               rollbacks=int(state.rollbacks.numpy()),
               images_per_s=window.steps * config.batch_size / max(window.seconds, 1e-9),
               patience_left=config.patience - int(state.bad_epochs.numpy()))
  with run.writer.as_default(step=step):
    for k, v in stats.items():
      if isinstance(v, (int, float)) and k != "step":
        tf.summary.scalar(f"train/{k}", v)
  run.board.update(stats)
  return stats


def rollback(run):
  """Restores the latest checkpoint with the learning rate halved.

  Returns:
    The restored path, or None when `max_rollbacks` are spent (nothing is
    restored then).
  """
  state = run.state
  skipped, rollbacks = int(state.skipped_steps.numpy()), int(state.rollbacks.numpy()) + 1
  lr_scale = float(state.lr_scale.numpy()) * 0.5
  if rollbacks > run.config.max_rollbacks:
    return None
  path = run.checkpoints.restore_latest(log=run.board.message)
  run.iterator = None  # Back to the batches of the restored step.
  # The restore also rewound the loop's counters to that checkpoint. The
  # skipped steps and this rollback did happen, and the halved learning rate
  # is the point of rolling back, so they are set again; saving at once keeps
  # them if the run is killed before its next checkpoint.
  state.skipped_steps.assign(skipped)
  state.rollbacks.assign(rollbacks)
  state.lr_scale.assign(lr_scale)
  run.checkpoints.save("latest", run.step)
  return path


def validate(run):
  """Mean `distortion`, `rate`, `elbo` (nats per image) on the validation split, and bits/dim."""
  sums = {"distortion": 0.0, "rate": 0.0, "elbo": 0.0}
  for batch in run.val_dataset:
    for k, v in run.validation_fn(batch).items():
      sums[k] += float(v)
  means = {k: v / max(run.data.count("val"), 1) for k, v in sums.items()}
  return means, float(objectives.bits_per_dim(-means["elbo"], run.image_shape))


def record_validation(state, config, bpd):
  """Updates the early-stopping and plateau counters; returns (improved, lr halved)."""
  improved = bpd < float(state.best_val_bpd.numpy()) - config.min_delta
  halved = False
  if improved:
    state.best_val_bpd.assign(bpd)
    state.bad_epochs.assign(0)
    state.plateau_epochs.assign(0)
  else:
    state.bad_epochs.assign_add(1)
    state.plateau_epochs.assign_add(1)
    if config.lr_schedule == "plateau" and state.plateau_epochs.numpy() >= config.plateau_patience:
      state.lr_scale.assign(state.lr_scale * 0.5)
      state.plateau_epochs.assign(0)
      halved = True
  return improved, halved


def should_stop_early(state, config, step):
  """Early stopping: `patience` epochs without improvement, once beta's warm-up is over."""
  warm = config.beta_schedule != "linear" or step >= config.warmup_steps
  return warm and state.bad_epochs.numpy() >= config.patience


def end_of_epoch(run, epoch, step):
  """Validation, early-stopping counters, best checkpoint, previews; True to stop early."""
  state, config = run.state, run.config
  means, bpd = validate(run)
  improved, halved = record_validation(state, config, bpd)
  if halved:
    run.board.message(f"validation plateau: learning rate scale now {float(state.lr_scale.numpy()):g}")
  state.validated_epochs.assign(epoch)
  if improved:
    if expost_due(run, epoch):
      fit_expost(run)
    run.checkpoints.save("best", step)
  codes, conditions = preview_codes(run)
  grid = pictures.preview_grid(run.model, run.preview_images, codes,
                               types=run.preview_types, z_types=conditions)
  preview = os.path.join(run.run_dir, "previews", f"epoch_{epoch:04d}.png")
  with files.writing(preview):
    pipelines.write_png(preview, grid)
  with run.writer.as_default(step=step):
    tf.summary.scalar("val/elbo", means["elbo"])
    tf.summary.scalar("val/distortion", means["distortion"])
    tf.summary.scalar("val/rate", means["rate"])
    tf.summary.scalar("val/bits_per_dim", bpd)
    tf.summary.image("previews", grid[None], max_outputs=1)
  flush_summaries(run)
  run.board.epoch(dict(step=step, epoch=epoch, val_elbo=means["elbo"], val_bpd=bpd,
                       patience_left=config.patience - int(state.bad_epochs.numpy())))
  run.checkpoints.save("latest", step)
  return should_stop_early(state, config, step)


def flush_summaries(run):
  """Writes the summaries out now, so that a full disk shows here as one line.

  TensorFlow's event writer buffers; a write it cannot finish surfaces at a
  flush, as an `OpError`.
  """
  try:
    run.writer.flush()
  except tf.errors.OpError as error:
    raise files.write_failed(os.path.join(run.run_dir, "tb"), error) from None


def preview_codes(run):
  """The same seeded codes every epoch, from the run's sampler once it can draw, and their
  conditions (None for an unconditional model).

  They are drawn again only when the sampler is refitted (every
  `EXPOST_REFIT_EPOCHS` at most): a quilt's draw takes most of a second on
  2 CPU cores, which every epoch would add minutes to the default run. The
  epochs between decode the same codes with their own weights.
  """
  model = run.model
  sampler = None if model.expost.fitted else "prior"
  key = (sampler, int(model.expost.fitted_step.numpy()))
  if key not in run.preview_draw:
    run.preview_draw.clear()
    run.preview_draw[key] = model.sample_conditioned(len(run.preview_images),
                                                     seed=[run.config.seed, 1], sampler=sampler)
  return run.preview_draw[key]


def expost_due(run, epoch):
  """Whether the ex-post density is `EXPOST_REFIT_EPOCHS` or more epochs old."""
  if not run.model.expost.needs_fit:
    return False
  fitted = int(run.model.expost.fitted_step.numpy())
  return fitted < 0 or epoch - fitted // run.steps_per_epoch >= EXPOST_REFIT_EPOCHS


def fit_expost(run):
  """Fits the model's sampler to the training codes of the current weights."""
  data = run.data
  fit = samplers.fit_model(run.model, data.dataset("train", VALIDATION_BATCH, training=False,
                                                   with_types=run.model.conditional),
                           run.val_dataset, step=run.step, seed=run.config.seed,
                           train_groups=data.groups("train"),
                           train_types=data.types("train") if data.type_names else None)
  if not fit["scores"]:
    run.board.message(f"blend sampler: {fit['chosen']} training codes")
    return
  scores = ", ".join(f"{k}: {v:.1f}" for k, v in fit["scores"].items())
  density = ("ex-post density" if run.model.sampler == "expost"
             else f"{run.model.sampler} sampler's density over z1")
  run.board.message(f"{density}: {fit['chosen']} components "
                    f"(mean validation log-likelihood by size: {scores})")


def finish(run, step):
  """Saves `latest` at the end; with an ex-post sampler, both checkpoints get a fresh fit.

  The best checkpoint was written with the density of its time, possibly
  fitted to older weights; it is restored, refitted and saved again, then the
  latest state is restored so that the run's summary describes the end.
  """
  if not run.model.expost.needs_fit:
    run.checkpoints.save("latest", step)
    return
  fit_expost(run)
  run.checkpoints.save("latest", step)
  best = run.checkpoints.best.latest_checkpoint
  if best:
    run.checkpoints.restore(best)
    fit_expost(run)
    run.checkpoints.save("best", run.step)
    run.checkpoints.restore_latest(log=run.board.message)


def unvalidated_epoch(run, step):
  """The epoch that ended at `step` without its validation (a kill in between), or 0."""
  epoch = step // run.steps_per_epoch
  if step and step % run.steps_per_epoch == 0 and run.state.validated_epochs.numpy() < epoch:
    return epoch
  return 0


def summary(run, *, stop_reason, step, wall_time_s, images_per_s, last_stats):
  """The facts of the finished run that summary.json holds."""
  state = run.state
  best = float(state.best_val_bpd.numpy())
  nats_per_bit_dim = 1.0 / float(objectives.bits_per_dim(1.0, run.image_shape))
  return {
      "steps": step,
      "epochs": step / run.steps_per_epoch,
      "steps_per_epoch": run.steps_per_epoch,
      "best_val_bpd": best if math.isfinite(best) else None,
      "best_val_elbo": -best * nats_per_bit_dim if math.isfinite(best) else None,
      "stop_reason": stop_reason,
      "wall_time_s": wall_time_s,
      "images_per_s": images_per_s,
      "skipped_steps": int(state.skipped_steps.numpy()),
      "rollbacks": int(state.rollbacks.numpy()),
      "last_train": {k: v for k, v in last_stats.items() if isinstance(v, (int, float))},
      "latest_checkpoint": run.checkpoints.latest.latest_checkpoint,
      "best_checkpoint": run.checkpoints.best.latest_checkpoint,
      "skipped_files": len(run.data.summary().get("skipped", [])),
  }
