"""Checkpoints of a run: `latest` for resuming, `best` for evaluating.

A run directory holds `checkpoints/latest/` (the last `keep` checkpoints,
written at an interval, at each epoch end and at exit) and
`checkpoints/best/` (the best two by validation bits/dim so far, the older a
fallback). Both hold the same objects: the model, the optimizer (its moments
and `iterations`, the step counter) and the loop's `TrainState`, so a
resumed run continues step count, schedules and early stopping exactly. A
checkpoint whose weights are not all finite is never written: the last good
one stays what a rollback or a resume returns to.

A checkpoint can be damaged after it was written (a partial copy, a disk
that filled while it was rewritten): `restore_newest` tries a folder's
checkpoints newest first, says in one line which file it skipped and why,
and restores the newest that reads whole. A save that fails (a full disk)
removes what it had begun, so the files under a checkpoint's final name are
always those of a complete save, and raises the one line of
`files.write_failed`.
"""

import glob
import os
import re

import tensorflow as tf

from vae.rundir import RunDirError, files

CHECKPOINT_NAME = "ckpt"
BEST_KEEP = 2


def _step(prefix):
  match = re.search(r"-(\d+)$", prefix)
  return int(match.group(1)) if match else -1


def candidates(directory):
  """The checkpoint prefixes of `directory`, newest first.

  The newest is the last saved (the checkpoint state's order, which a
  `--fresh` run restarts); prefixes on disk that the state does not list
  (its file lost, or a save it never recorded) follow, highest step first.
  """
  listed = []
  try:
    state = tf.train.get_checkpoint_state(directory)
  except (tf.errors.OpError, ValueError):  # A damaged state file: go by the files.
    state = None
  if state is not None:
    paths = list(state.all_model_checkpoint_paths) + [state.model_checkpoint_path]
    # get_checkpoint_state has already put `directory` in front of a relative path.
    for path in reversed(paths):
      path = os.path.normpath(path)
      if path not in listed:
        listed.append(path)
  found = {os.path.normpath(name.split(".index")[0].split(".data-")[0])
           for name in glob.glob(os.path.join(glob.escape(directory), f"{CHECKPOINT_NAME}-*"))
           if name.endswith(".index") or ".data-" in name}
  return listed + sorted(found - set(listed), key=_step, reverse=True)


def damage(prefix, error=None):
  """What is wrong with checkpoint `prefix`, naming the file: "PATH is missing", "PATH: why".

  Args:
    prefix: a checkpoint prefix.
    error: what restoring it raised, if it was tried.
  """
  index = prefix + ".index"
  if not os.path.exists(index):
    return f"{index} is missing"
  try:
    reader = tf.train.load_checkpoint(prefix)
    del reader
  except (tf.errors.OpError, ValueError) as cause:
    return f"{index} is damaged ({files.reason(cause)})"
  data = sorted(glob.glob(glob.escape(prefix) + ".data-*"))
  shards = re.search(r"-of-(\d+)$", data[0]) if data else None
  if not data or (shards and len(data) < int(shards.group(1))):
    return f"a data file of {prefix} is missing"
  named = data[0] if len(data) == 1 else f"the data files of {prefix}"
  return f"{named} is damaged ({files.reason(error) if error else 'unreadable'})"


# What restoring a damaged checkpoint raises: a short read (IndexError), a
# checksum or a missing file (OpError), an object graph that lost objects.
DAMAGE_ERRORS = (AssertionError, IndexError, tf.errors.OpError)


def restore_newest(restore, prefixes, log, *, what_to_do):
  """Calls `restore(prefix)` on `prefixes` in order until one does not fail for damage.

  Args:
    restore: restores one prefix, raising one of `DAMAGE_ERRORS` if it cannot.
    prefixes: newest first (`candidates`).
    log: called with one line per damaged checkpoint skipped, once one restores.
    what_to_do: the end of the line when none is readable ("pass --fresh ...").

  Returns:
    The prefix restored, or None when `prefixes` is empty.

  Raises:
    RunDirError: every checkpoint is damaged.
  """
  problems = []
  for prefix in prefixes:
    try:
      restore(prefix)
    except DAMAGE_ERRORS as error:
      problems.append(damage(prefix, error))
      continue
    for problem in problems:  # Told once one reads: with none, the error line says it all.
      log(f"skipping a damaged checkpoint: {problem}; restored an older one")
    return prefix
  if not problems:
    return None
  older = f" (and {len(problems) - 1} older, damaged too)" if len(problems) > 1 else ""
  raise RunDirError(f"no readable checkpoint: {problems[0]}{older}: {what_to_do}")


def remove_temporaries(run_dir):
  """Removes what saves killed half way left in `run_dir`'s checkpoint folders."""
  for pattern in ("*_temp", "*.tempstate*", ".*.tmp-*"):
    for path in glob.glob(os.path.join(glob.escape(run_dir), "checkpoints", "*", pattern)):
      files.remove(path)


class RunCheckpoints:
  """The `latest` and `best` checkpoint managers of one run directory."""

  def __init__(self, run_dir, *, model, optimizer=None, state=None, keep=3, **others):
    """`others`: more objects to save beside them (the critic and its optimizer), by name."""
    objects = dict(model=model, **{k: v for k, v in others.items() if v is not None})
    if optimizer is not None:
      objects["optimizer"] = optimizer
    if state is not None:
      objects["state"] = state
    self.model = model
    self.checkpoint = tf.train.Checkpoint(**objects)
    root = os.path.join(run_dir, "checkpoints")
    self.latest = tf.train.CheckpointManager(
        self.checkpoint, os.path.join(root, "latest"), max_to_keep=keep,
        checkpoint_name=CHECKPOINT_NAME)
    self.best = tf.train.CheckpointManager(
        self.checkpoint, os.path.join(root, "best"), max_to_keep=BEST_KEEP,
        checkpoint_name=CHECKPOINT_NAME)

  def weights_finite(self):
    return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in self.model.variables
               if v.dtype.is_floating)

  def save(self, which, step):
    """Saves to `latest` or `best`; returns the path, or None if weights are not finite.

    Raises:
      RunDirError: the write failed (status 1); nothing of it is left behind.
    """
    if not self.weights_finite():
      return None
    manager = self.latest if which == "latest" else self.best
    prefix = os.path.join(manager.directory, f"{CHECKPOINT_NAME}-{step}")
    before = set(glob.glob(os.path.join(glob.escape(manager.directory), "*")))
    try:
      return manager.save(checkpoint_number=step)
    except (OSError, tf.errors.OpError) as error:
      for path in set(glob.glob(os.path.join(glob.escape(manager.directory), "*"))) - before:
        files.remove(path)  # The save's temporaries and any file it began under a final name.
      raise files.write_failed(prefix, error) from None

  def restore(self, prefix):
    """Restores every object from `prefix`, failing unless all of them were there."""
    self.checkpoint.restore(prefix).assert_existing_objects_matched()

  def restore_latest(self, directory=None, log=print):
    """Restores the newest readable `latest` checkpoint; returns its path or None if there is none.

    Args:
      directory: Where to look instead of this run's `checkpoints/latest` (a
        multi-worker job's other workers resume from the chief's).
      log: told of each damaged checkpoint skipped.

    Raises:
      RunDirError: there are checkpoints, and none is readable.
    """
    directory = directory or self.latest.directory
    return restore_newest(self.restore, candidates(directory), log,
                          what_to_do="pass --fresh to start the run over")
