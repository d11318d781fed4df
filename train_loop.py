"""Trains PokeVAE: `python train_loop.py [--preset smoke|default|quality] [--flag value ...]`.

The outer loop (`train`, below) is plain Python: it calls the compiled inner
loop (`vae.training.step.make_train_fn`, several steps per call), then logs,
validates, checkpoints, rolls back after repeated non-finite steps, and stops
early when validation bits/dim stop improving; each of those is a named part
of `vae/training/loop.py`. Running again with the same `--out` resumes from the
last checkpoint; Ctrl-C (or SIGTERM) saves and exits.

The run directory holds config.json, checkpoints/{latest,best}, tb/ (TensorBoard),
previews/epoch_NNNN.png and, at the end, summary.json; while a run trains, its
lock.json names the process (`vae/rundir/lock.py`), and a second run into the
same --out is refused.
"""

import argparse
import contextlib
import dataclasses
import os
import signal
import sys
import time

from common import cli, startup
from pipelines.errors import NoImagesError
from vae import config as config_lib
from vae import rundir

PROG = "train_loop.py"

# Fields that may change when a run is resumed; any other change would not fit
# the checkpoint or would silently change what the run is.
_RESUMABLE_CHANGES = {"epochs", "max_steps", "max_minutes", "patience", "dashboard",
                      "log_every", "checkpoint_every", "out", "fresh", "cache",
                      "max_rollbacks", "preview_count"}


class Stop(Exception):
  """Raised by the SIGTERM handler so the loop saves like on Ctrl-C."""


def _parse_widths(text: str) -> tuple:
  try:
    return tuple(int(w) for w in text.split(","))
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"widths must be comma-separated integers like 32,64,128, got {text!r}") from None


def argument_parser() -> argparse.ArgumentParser:
  """`--preset` and one flag per field of `Config` and of its `DataConfig` (default: unset)."""
  parser = cli.OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
  parser.add_argument("--preset", default=argparse.SUPPRESS, choices=sorted(config_lib.PRESETS),
                      help="default: 'default'")
  run_fields = [f for f in dataclasses.fields(config_lib.Config) if f.name not in ("preset", "data")]
  cli.add_field_flags(parser, run_fields, unset=True, parsers={tuple: _parse_widths})
  data = parser.add_argument_group("data", "DataConfig fields (see pipelines/config.py)")
  cli.add_field_flags(data, dataclasses.fields(config_lib.DataConfig), unset=True)
  return parser


def config_from_flags(args: argparse.Namespace) -> config_lib.Config:
  """The preset `--preset` names (default: default) with every flag given applied."""
  given = {k: v for k, v in vars(args).items() if k != "preset"}
  return config_lib.preset(getattr(args, "preset", "default"), **given)


def resolve_config(args):
  """The run's config: flags over the preset, or flags over a resumed run's config."""
  config = config_from_flags(args)
  if config.strategy == "multiworker":
    if not config.out:
      raise ValueError("--strategy multiworker needs --out, the same on every worker")
    startup.import_tensorflow()
    from vae.training import cluster  # pylint: disable=import-outside-toplevel
    if not cluster.is_chief(config.strategy):
      return config, False  # Only the chief reads the run dir; the others follow it (loop.start).
  if not config.out:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    config = dataclasses.replace(config, out=os.path.join("runs", f"{config.preset}-{stamp}"))
  saved = os.path.join(config.out, config_lib.CONFIG_NAME)
  if config.fresh or not os.path.exists(saved):
    return config, False
  previous = config_lib.load(saved)
  given, before = vars(args), config_lib.flat(previous)
  changed = sorted(k for k in given if k not in _RESUMABLE_CHANGES and before[k] != given[k])
  if changed:
    raise ValueError(
        f"{config.out} was trained with {', '.join(f'{k}={before[k]!r}' for k in changed)}: "
        "pass the same values to resume, or --fresh to start over")
  return config_lib.replace(previous, **{**given, "out": config.out, "fresh": False}), True


def train(config, resuming, log=print):
  """Runs (or resumes) one training run, holding its run directory's lock; returns the summary dict.

  Raises:
    RunDirError: the run directory is in use, has no readable checkpoint to
      resume from, or a write into it failed.
  """
  # TensorFlow loads here, not at import, so --help and a bad flag answer at once.
  startup.import_tensorflow()
  from vae.rundir import lock  # pylint: disable=import-outside-toplevel
  from vae.training import cluster  # pylint: disable=import-outside-toplevel

  # On several workers the chief owns the run directory; the others write
  # into temporary directories of their own.
  owner = (lock.RunLock(config.out, PROG).acquire(log) if cluster.is_chief(config.strategy)
           else contextlib.nullcontext())
  with owner:
    return _train(config, resuming, log)


@dataclasses.dataclass
class _Progress:
  """What the outer loop counts as it goes."""
  step: int
  window: object  # `loop.RollingStats` of the steps since the last log line
  stop_reason: str = "completed"
  train_seconds: float = 0.0  # in compiled calls after the first (which traces)
  trained_steps: int = 0
  calls: int = 0
  consecutive_bad: int = 0  # non-finite steps in a row at the end of the last call
  last_stats: dict = dataclasses.field(default_factory=dict)


def _train(config, resuming, log):
  """`train` once the run directory is this process's: the outer loop, one call at a time."""
  from vae.training import cluster  # pylint: disable=import-outside-toplevel

  run = _start(config, resuming)
  progress = _Progress(run.step, _new_window())
  start_time = time.time()
  previous_handler = signal.signal(signal.SIGTERM, _stop_on_sigterm)
  lost = None
  try:
    _validate_an_unvalidated_epoch(run, progress)
    while progress.step < run.total_steps and progress.stop_reason == "completed":
      previous_step = _call_steps(run, config, progress)
      if previous_step is not None:  # None: rolled back
        _after_call(run, config, progress, previous_step, start_time)
  except (KeyboardInterrupt, Stop):
    progress.stop_reason = "interrupted"
  except cluster.PEER_ERRORS as error:
    if config.strategy != "multiworker":
      raise
    progress.stop_reason, lost = "worker lost", error
  except rundir.RunDirError:
    progress.stop_reason = "write failed"  # Nothing more is written: the last good checkpoint stays.
    raise
  finally:
    signal.signal(signal.SIGTERM, previous_handler)
    _close(run, progress)
  if lost is not None:
    raise cluster.WorkerLost(cluster.lost_line(config, lost))
  return _write_summary(run, config, progress, time.time() - start_time, log)


def _new_window():
  from vae.training import loop  # pylint: disable=import-outside-toplevel
  return loop.RollingStats()


def _stop_on_sigterm(signum, frame):
  raise Stop()


def _start(config, resuming):
  """The run's state (`loop.start`); a worker lost while the job starts is `WorkerLost`."""
  from vae.training import cluster, loop  # pylint: disable=import-outside-toplevel
  try:
    return loop.start(config, resuming)
  except cluster.PEER_ERRORS as error:
    if config.strategy != "multiworker":
      raise
    raise cluster.WorkerLost(cluster.lost_line(config, error)) from None


def _validate_an_unvalidated_epoch(run, progress):
  """A run killed between an epoch's last step and its validation validates it first."""
  from vae.training import loop  # pylint: disable=import-outside-toplevel
  epoch = loop.unvalidated_epoch(run, progress.step)
  if epoch and loop.end_of_epoch(run, epoch, progress.step):
    progress.stop_reason = "early stopping"


def _call_steps(run, config, progress):
  """One compiled call of steps, counted; rolls back if it diverged.

  Returns:
    The step before the call, or None after a rollback.
  """
  from vae.training import loop  # pylint: disable=import-outside-toplevel
  n = loop.steps_in_next_call(run, progress.step)
  out, seconds = loop.call_steps(run, n, progress.consecutive_bad)
  if progress.calls:  # The first call traces and compiles: not a training speed.
    progress.train_seconds += seconds
    progress.trained_steps += n
  progress.calls += 1
  previous_step, progress.step = progress.step, run.step
  progress.window.add(out, n, seconds)
  progress.consecutive_bad = int(out["consecutive_bad"])
  if out["max_consecutive_bad"] < config.nan_tolerance:
    return previous_step
  progress.consecutive_bad = 0
  _roll_back(run, config, progress)
  return None


def _roll_back(run, config, progress):
  """Restores the last good checkpoint at a lower learning rate, or stops: diverged."""
  from vae.training import loop  # pylint: disable=import-outside-toplevel
  restored = loop.rollback(run)
  if restored is None:
    progress.stop_reason = "diverged"
    run.board.message(f"stopping: the loss still diverges after {config.max_rollbacks} rollbacks; "
                      f"the last good checkpoint is {run.checkpoints.latest.latest_checkpoint}")
    return
  run.board.message(
      f"rollback {int(run.state.rollbacks.numpy())}/{config.max_rollbacks}: {config.nan_tolerance} "
      f"non-finite or spiking steps in a row; restored {restored}, learning rate scale now "
      f"{float(run.state.lr_scale.numpy()):g}")
  progress.step = run.step


def _after_call(run, config, progress, previous_step, start_time):
  """The log line, the checkpoint, the epoch's end and the time budget, each when it is due."""
  from vae.training import cluster, loop  # pylint: disable=import-outside-toplevel
  step = progress.step
  epoch = step // run.steps_per_epoch
  if loop.crossed(previous_step, step, config.log_every) or step == run.total_steps:
    progress.last_stats = loop.log_window(run, progress.window, step, epoch)
    progress.window = _new_window()
  if loop.crossed(previous_step, step, config.checkpoint_every):
    run.checkpoints.save("latest", step)
  if step % run.steps_per_epoch == 0 and loop.end_of_epoch(run, epoch, step):
    progress.stop_reason = "early stopping"
  over_time = bool(config.max_minutes) and time.time() - start_time > config.max_minutes * 60
  if config.max_minutes and cluster.agree(run.strategy, over_time):  # Workers stop together.
    progress.stop_reason = "time budget"


def _close(run, progress):
  """The last checkpoints and summaries (unless the run cannot write them), then the writers."""
  from vae.training import loop  # pylint: disable=import-outside-toplevel
  try:
    if progress.stop_reason not in ("diverged", "worker lost", "write failed"):
      loop.finish(run, progress.step)
      loop.flush_summaries(run)  # A write that fails says so here, as one line.
  finally:
    with contextlib.suppress(Exception):  # Flushed above; after a failed write, nothing to add.
      run.writer.close()
    run.board.close()


def _write_summary(run, config, progress, wall_time_s, log):
  """summary.json, and the run's one closing line; returns the summary."""
  from vae.rundir import files  # pylint: disable=import-outside-toplevel
  from vae.training import loop  # pylint: disable=import-outside-toplevel
  images_per_s = progress.trained_steps * config.batch_size / max(progress.train_seconds, 1e-9)
  summary = loop.summary(run, stop_reason=progress.stop_reason, step=progress.step,
                         wall_time_s=wall_time_s, images_per_s=images_per_s,
                         last_stats=progress.last_stats)
  files.write_json(os.path.join(run.run_dir, "summary.json"), summary)
  log(f"{progress.stop_reason} at step {progress.step} ({summary['epochs']:.1f} epochs) in "
      f"{summary['wall_time_s']:.0f} s, {summary['images_per_s']:.0f} images/s; best val bits/dim "
      f"{summary['best_val_bpd']}; skipped steps {summary['skipped_steps']}, rollbacks "
      f"{summary['rollbacks']}; run in {config.out}")
  return summary


def main(argv=None):
  args = argument_parser().parse_args(argv)
  try:
    config, resuming = resolve_config(args)
    summary = train(config, resuming)
  except rundir.RunDirError as error:  # In use, no readable checkpoint (2), a failed write (1).
    print(f"{PROG}: error: {error}", file=sys.stderr)
    return error.status
  except (ValueError, OSError, NoImagesError) as error:
    print(f"{PROG}: error: {error}", file=sys.stderr)
    return 2
  return 130 if summary["stop_reason"] == "interrupted" else 0


if __name__ == "__main__":
  sys.exit(main())
