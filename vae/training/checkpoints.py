"""Checkpoints of a run: `latest` for resuming, `best` for evaluating.

A run directory holds `checkpoints/latest/` (the last few, written at an
interval, at each epoch end and at exit) and `checkpoints/best/` (the one with
the best validation bits/dim so far). Both hold the same objects: the model, the
optimizer (its moments and `iterations`, the step counter) and the loop's
`TrainState`, so a resumed run continues step count, schedules and early
stopping exactly. A checkpoint whose weights are not all finite is never
written: the last good one stays what a rollback or a resume returns to.
`resolve` finds a run's checkpoint and config, `restore_model` reads only the
model out of a checkpoint (for evaluation), checking that it fits.
"""

import os

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from common.errors import first_line
from vae.config import CONFIG_NAME


class CheckpointError(ValueError):
  """A checkpoint that is missing, damaged or does not fit; the message is one line."""


class NoCheckpointError(CheckpointError):
  """A path that should hold a checkpoint holds none."""


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
        checkpoint_name="ckpt")
    self.best = tf.train.CheckpointManager(
        self.checkpoint, os.path.join(root, "best"), max_to_keep=1,
        checkpoint_name="ckpt")

  def weights_finite(self):
    return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in self.model.variables
               if v.dtype.is_floating)

  def save(self, which, step):
    """Saves to `latest` or `best`; returns the path, or None if weights are not finite."""
    if not self.weights_finite():
      return None
    manager = self.latest if which == "latest" else self.best
    return manager.save(checkpoint_number=step)

  def restore_latest(self, directory=None):
    """Restores the newest `latest` checkpoint; returns its path or None if there is none.

    Args:
      directory: Where to look instead of this run's `checkpoints/latest` (a
        multi-worker job's other workers resume from the chief's).
    """
    path = tf.train.latest_checkpoint(directory) if directory else self.latest.latest_checkpoint
    if path is None:
      return None
    self.checkpoint.restore(path).assert_existing_objects_matched()
    return path


def resolve(path, which="best"):
  """Finds the checkpoint prefix and config.json for a run directory or a prefix.

  Args:
    path: a run directory (holding `config.json` and `checkpoints/`) or a
      checkpoint prefix such as `runs/x/checkpoints/best/ckpt-40`.
    which: `best` or `latest`, used when `path` is a run directory.

  Returns:
    (checkpoint prefix, path of the run's config.json).

  Raises:
    NoCheckpointError: with a message naming what is missing.
  """
  if os.path.isdir(path) and os.path.isdir(os.path.join(path, "checkpoints")):
    run_dir = path
    prefix = tf.train.latest_checkpoint(os.path.join(path, "checkpoints", which))
    if prefix is None and which == "best":
      prefix = tf.train.latest_checkpoint(os.path.join(path, "checkpoints", "latest"))
    if prefix is None:
      raise NoCheckpointError(f"{path} holds no checkpoint under checkpoints/{which}: train first")
  elif os.path.exists(path + ".index"):
    prefix = path
    run_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(path))))
  elif os.path.isdir(path):
    found = tf.train.latest_checkpoint(path)
    if found is None:
      raise NoCheckpointError(f"{path} is neither a run directory nor holds a checkpoint")
    prefix = found
    run_dir = os.path.dirname(os.path.dirname(os.path.abspath(path)))
  else:
    raise NoCheckpointError(f"{path} does not exist: pass a run directory or a checkpoint prefix")
  config_path = os.path.join(run_dir, CONFIG_NAME)
  if not os.path.exists(config_path):
    raise NoCheckpointError(f"no {CONFIG_NAME} found beside {prefix} (looked in {run_dir})")
  return prefix, config_path


def _model_variable_count(prefix):
  """Variables in the `model` subtree of the checkpoint's object graph.

  Counted on the object graph, not on variable names: a variable is stored
  under the first path that reaches it, which for a Keras optimizer that
  tracks the model's variables can be `optimizer/...`, not `model/...`.
  """
  graph = trackable_object_graph_pb2.TrackableObjectGraph()
  graph.ParseFromString(tf.train.load_checkpoint(prefix).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
  roots = [c.node_id for c in graph.nodes[0].children if c.local_name == "model"]
  seen, stack = set(), roots
  while stack:
    node = stack.pop()
    if node not in seen:
      seen.add(node)
      stack.extend(c.node_id for c in graph.nodes[node].children)
  return sum(1 for node in seen
             if any(a.name == "VARIABLE_VALUE" for a in graph.nodes[node].attributes))


def restore_model(model, prefix, config_path):
  """Restores only `model` from the training checkpoint `prefix`.

  Raises:
    CheckpointError: the checkpoint is damaged, or `model` (built from
      `config_path`) has other variables than the checkpoint's model.
  """
  def error(problem, cause):
    return CheckpointError(f"checkpoint {prefix} {problem}: {first_line(cause, type(cause).__name__)}")

  try:
    stored = _model_variable_count(prefix)
    status = tf.train.Checkpoint(model=model).restore(prefix)
    status.expect_partial()  # The optimizer and loop state are not needed here.
    status.assert_existing_objects_matched()
  except ValueError as cause:  # Shapes or structure differ: the config changed.
    raise error(f"does not match {config_path}", cause) from None
  except (AssertionError, IndexError, tf.errors.OpError) as cause:
    raise error("is damaged or unreadable", cause) from None
  if stored != len(model.variables):
    raise CheckpointError(
        f"checkpoint {prefix} does not match {config_path}: it holds {stored} model "
        f"variables, the config builds {len(model.variables)}")
