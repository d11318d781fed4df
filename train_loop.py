"""Trains PokeVAE: `python train_loop.py [--preset smoke|default|quality] [--flag value ...]`.

The outer loop (this file) is plain Python: it calls the compiled inner loop
(`vae.training.step.make_train_fn`, several steps per call), then logs, validates,
checkpoints, rolls back after repeated non-finite steps, and stops early when
validation bits/dim stop improving. Running again with the same `--out` resumes
from the last checkpoint; Ctrl-C (or SIGTERM) saves and exits.

The run directory holds config.json, checkpoints/{latest,best}, tb/ (TensorBoard),
previews/epoch_NNNN.png and, at the end, summary.json.
"""

import dataclasses
import json
import math
import os
import signal
import sys
import time

from pipelines import startup

startup.import_tensorflow()

import keras  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

import pipelines  # pylint: disable=wrong-import-position
from vae import objectives, previews  # pylint: disable=wrong-import-position
from vae.training import checkpoints  # pylint: disable=wrong-import-position
from vae.training import step as train_step  # pylint: disable=wrong-import-position
from vae import config as config_lib  # pylint: disable=wrong-import-position
from vae.training.dashboard import make_dashboard  # pylint: disable=wrong-import-position

# Fields that may change when a run is resumed; any other change would not fit
# the checkpoint or would silently change what the run is.
_RESUMABLE_CHANGES = {"epochs", "max_steps", "max_minutes", "patience", "dashboard",
                      "log_every", "checkpoint_every", "out", "fresh", "cache",
                      "max_rollbacks", "preview_count"}


class Stop(Exception):
  """Raised by the SIGTERM handler so the loop saves like on Ctrl-C."""


def make_strategy(name):
  if name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices)
  if name == "multiworker":
    return tf.distribute.MultiWorkerMirroredStrategy()
  return tf.distribute.get_strategy()


def resolve_config(args):
  """The run's config: flags over the preset, or flags over a resumed run's config."""
  config = config_lib.from_args(args)
  if not config.out:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    config = dataclasses.replace(config, out=os.path.join("runs", f"{config.preset}-{stamp}"))
  saved = os.path.join(config.out, checkpoints.CONFIG_NAME)
  if config.fresh or not os.path.exists(saved):
    return config, False
  previous = config_lib.load(saved)
  given = vars(args)
  merged = dataclasses.replace(previous, **{**given, "out": config.out, "fresh": False})
  changed = sorted(k for k in given if k not in _RESUMABLE_CHANGES and getattr(previous, k) != given[k])
  if changed:
    raise ValueError(
        f"{config.out} was trained with {', '.join(f'{k}={getattr(previous, k)!r}' for k in changed)}: "
        "pass the same values to resume, or --fresh to start over")
  return merged, True


def validate(evaluate, dataset, count, image_shape):
  sums = {"distortion": 0.0, "rate": 0.0, "elbo": 0.0}
  for batch in dataset:
    for k, v in evaluate(batch).items():
      sums[k] += float(v)
  means = {k: v / max(count, 1) for k, v in sums.items()}
  bpd = float(objectives.bits_per_dim(-means["elbo"], image_shape))
  return means, bpd


def train(config, resuming, log=print):
  """Runs (or resumes) one training run; returns the summary dict."""
  keras.utils.set_random_seed(config.seed)
  if config.deterministic:
    tf.config.experimental.enable_op_determinism()
  strategy = make_strategy(config.strategy)
  os.makedirs(config.out, exist_ok=True)
  config_lib.save(config, os.path.join(config.out, checkpoints.CONFIG_NAME))

  data = pipelines.load(config.data_config())
  global_batch = config.batch_size
  n_train = data.count("train")
  steps_per_epoch = n_train // global_batch
  if steps_per_epoch < 1:
    raise ValueError(f"the train split has {n_train} images, fewer than batch_size {global_batch}: "
                     "lower --batch-size or add images")
  total_steps = config.epochs * steps_per_epoch
  if config.max_steps:
    total_steps = min(total_steps, config.max_steps)
  image_shape = (config.image_size, config.image_size, config.channels)

  with strategy.scope():
    model = config_lib.make_model(config)
    optimizer = keras.optimizers.Adam(learning_rate=config.lr)
    optimizer.build(model.trainable_variables)
    state = train_step.TrainState(name="train_state")
  ckpts = checkpoints.RunCheckpoints(config.out, model=model, optimizer=optimizer,
                                     state=state, keep=config.keep_checkpoints)
  restored = ckpts.restore_latest() if resuming else None
  if restored is None:
    ckpts.save("latest", 0)  # A good state to roll back to from the first step.

  train_fn = train_step.make_train_fn(model, optimizer, strategy, config, state,
                                      total_steps=total_steps, global_batch=global_batch)
  evaluate = train_step.make_eval_fn(model, config)
  train_ds = data.dataset("train", global_batch, training=True, seed=config.seed,
                          drop_remainder=True).repeat()
  iterator = iter(strategy.experimental_distribute_dataset(train_ds))
  val_ds = data.dataset("val", 256, training=False)
  n_val = data.count("val")
  preview_images = data.array("val")[:config.preview_count].astype(np.float32) / 255.0
  preview_z = model.prior().sample(len(preview_images), seed=[config.seed, 1])
  writer = tf.summary.create_file_writer(os.path.join(config.out, "tb"))

  step = int(optimizer.iterations.numpy())
  board = make_dashboard(config.dashboard, total_steps, start_step=step)
  if restored:
    board.message(f"resumed from {restored} at step {step}")
  else:
    board.message(f"training {n_train} images ({steps_per_epoch} steps/epoch, {total_steps} steps) "
                  f"into {config.out}")
  start_time = time.time()
  train_seconds, trained_steps = 0.0, 0
  window = {"sums": None, "finite": 0.0, "steps": 0, "seconds": 0.0}
  consecutive_bad = 0
  calls = 0
  stop_reason = "completed"
  last_stats = {}

  def record_stats(epoch):
    count = max(window["finite"], 1.0)
    stats = {k: window["sums"][k] / count for k in train_step.METRICS} if window["sums"] else {}
    stats.update(step=step, epoch=epoch, skipped_steps=int(state.skipped_steps.numpy()),
                 rollbacks=int(state.rollbacks.numpy()),
                 images_per_s=window["steps"] * global_batch / max(window["seconds"], 1e-9),
                 patience_left=config.patience - int(state.bad_epochs.numpy()))
    with writer.as_default(step=step):
      for k, v in stats.items():
        if isinstance(v, (int, float)) and k not in ("step",):
          tf.summary.scalar(f"train/{k}", v)
    board.update(stats)
    window.update(sums=None, finite=0.0, steps=0, seconds=0.0)
    return stats

  def rollback():
    skipped, rollbacks = int(state.skipped_steps.numpy()), int(state.rollbacks.numpy()) + 1
    lr_scale = float(state.lr_scale.numpy()) * 0.5
    if rollbacks > config.max_rollbacks:
      return False
    path = ckpts.restore_latest()
    state.skipped_steps.assign(skipped)
    state.rollbacks.assign(rollbacks)
    state.lr_scale.assign(lr_scale)
    ckpts.save("latest", int(optimizer.iterations.numpy()))
    board.message(f"rollback {rollbacks}/{config.max_rollbacks}: {config.nan_tolerance} non-finite or spiking "
                  f"steps in a row; restored {path}, learning rate scale now {lr_scale:g}")
    return True

  def end_of_epoch(epoch):
    """Validation, early stopping, plateau, best checkpoint, previews. True to stop."""
    means, bpd = validate(evaluate, val_ds, n_val, image_shape)
    improved = bpd < float(state.best_val_bpd.numpy()) - config.min_delta
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
        board.message(f"validation plateau: learning rate scale now {float(state.lr_scale.numpy()):g}")
    state.validated_epochs.assign(epoch)
    if improved:
      ckpts.save("best", step)
    grid = previews.preview_grid(model, preview_images, preview_z, config.channels)
    pipelines.write_png(os.path.join(config.out, "previews", f"epoch_{epoch:04d}.png"), grid)
    with writer.as_default(step=step):
      tf.summary.scalar("val/elbo", means["elbo"])
      tf.summary.scalar("val/distortion", means["distortion"])
      tf.summary.scalar("val/rate", means["rate"])
      tf.summary.scalar("val/bits_per_dim", bpd)
      tf.summary.image("previews", grid[None], max_outputs=1)
    board.epoch(dict(step=step, epoch=epoch, val_elbo=means["elbo"], val_bpd=bpd,
                     patience_left=config.patience - int(state.bad_epochs.numpy())))
    ckpts.save("latest", step)
    warm = config.beta_schedule != "linear" or step >= config.warmup_steps
    return warm and state.bad_epochs.numpy() >= config.patience

  def on_sigterm(signum, frame):
    raise Stop()

  previous_handler = signal.signal(signal.SIGTERM, on_sigterm)
  try:
    # A kill between an epoch's last step and its validation left it unvalidated.
    if step and step % steps_per_epoch == 0 and state.validated_epochs.numpy() < step // steps_per_epoch:
      if end_of_epoch(step // steps_per_epoch):
        stop_reason = "early stopping"
    while step < total_steps and stop_reason == "completed":
      epoch_end = (step // steps_per_epoch + 1) * steps_per_epoch
      n = min(config.steps_per_call, epoch_end - step, total_steps - step)
      tic = time.perf_counter()
      out = train_fn(iterator, tf.constant(n), tf.constant(consecutive_bad, tf.int64))
      out = {k: v.numpy() for k, v in out.items()}
      seconds = time.perf_counter() - tic
      if calls:  # The first call traces and compiles: not a training speed.
        train_seconds += seconds
        trained_steps += n
      calls += 1
      previous_step, step = step, int(optimizer.iterations.numpy())
      sums = {k: float(out[k]) for k in train_step.METRICS}
      window["sums"] = sums if window["sums"] is None else {k: window["sums"][k] + sums[k] for k in sums}
      window["finite"] += float(out["finite_steps"])
      window["steps"] += n
      window["seconds"] += seconds
      consecutive_bad = int(out["consecutive_bad"])
      if out["max_consecutive_bad"] >= config.nan_tolerance:
        consecutive_bad = 0
        if not rollback():
          stop_reason = "diverged"
          board.message(f"stopping: the loss still diverges after {config.max_rollbacks} rollbacks; "
                        f"the last good checkpoint is {ckpts.latest.latest_checkpoint}")
          break
        step = int(optimizer.iterations.numpy())
        continue
      epoch = step // steps_per_epoch
      if step // config.log_every > previous_step // config.log_every or step == total_steps:
        last_stats = record_stats(epoch)
      if step // config.checkpoint_every > previous_step // config.checkpoint_every:
        ckpts.save("latest", step)
      if step % steps_per_epoch == 0 and end_of_epoch(epoch):
        stop_reason = "early stopping"
      if config.max_minutes and time.time() - start_time > config.max_minutes * 60:
        stop_reason = "time budget"
  except (KeyboardInterrupt, Stop):
    stop_reason = "interrupted"
  finally:
    signal.signal(signal.SIGTERM, previous_handler)
    if stop_reason != "diverged":
      ckpts.save("latest", step)
    writer.close()
    board.close()

  best = float(state.best_val_bpd.numpy())
  dims = math.prod(image_shape)
  summary = {
      "steps": step,
      "epochs": step / steps_per_epoch,
      "steps_per_epoch": steps_per_epoch,
      "best_val_bpd": best if math.isfinite(best) else None,
      "best_val_elbo": -best * dims * math.log(2) if math.isfinite(best) else None,
      "stop_reason": stop_reason,
      "wall_time_s": time.time() - start_time,
      "images_per_s": trained_steps * global_batch / max(train_seconds, 1e-9),
      "skipped_steps": int(state.skipped_steps.numpy()),
      "rollbacks": int(state.rollbacks.numpy()),
      "last_train": {k: v for k, v in last_stats.items() if isinstance(v, (int, float))},
      "latest_checkpoint": ckpts.latest.latest_checkpoint,
      "best_checkpoint": ckpts.best.latest_checkpoint,
      "skipped_files": len(data.summary().get("skipped", [])),
  }
  with open(os.path.join(config.out, "summary.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=2)
  log(f"{stop_reason} at step {step} ({summary['epochs']:.1f} epochs) in {summary['wall_time_s']:.0f} s, "
      f"{summary['images_per_s']:.0f} images/s; best val bits/dim {summary['best_val_bpd']}; "
      f"skipped steps {summary['skipped_steps']}, rollbacks {summary['rollbacks']}; run in {config.out}")
  return summary


def main(argv=None):
  parser = config_lib.argument_parser("train_loop.py", __doc__.splitlines()[0])
  args = parser.parse_args(argv)
  try:
    config, resuming = resolve_config(args)
    summary = train(config, resuming)
  except (ValueError, OSError, checkpoints.NoCheckpointError, pipelines.NoImagesError) as error:
    print(f"train_loop.py: error: {error}", file=sys.stderr)
    return 2
  return 130 if summary["stop_reason"] == "interrupted" else 0


if __name__ == "__main__":
  sys.exit(main())
