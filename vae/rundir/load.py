"""From a path to the model it holds: a run directory, a checkpoint folder or prefix.

`resolve` finds the checkpoints a path stands for (newest first) and the
run's `config.json` beside them; `load_model` rebuilds the model from that
config and restores the newest readable checkpoint into it, checking that
the two fit. Every way that can fail is a `RunDirError` line (status 2).
"""

import os

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from common.errors import first_line
from vae import config as config_lib
from vae.model import VAE
from vae.rundir import RunDirError
from vae.rundir import checkpoints


def resolve(path, which="best"):
  """The checkpoint prefixes a path stands for, newest first, and the run's config.json.

  Args:
    path: a run directory (holding `config.json` and `checkpoints/`), a
      folder of checkpoints, or a checkpoint prefix such as
      `runs/x/checkpoints/best/ckpt-40`.
    which: `best` or `latest`, used when `path` is a run directory. `best`
      falls back to `latest` when best holds none that reads.

  Returns:
    (list of checkpoint prefixes, path of the run's config.json).

  Raises:
    RunDirError: naming what is missing.
  """
  if os.path.isdir(path) and os.path.isdir(os.path.join(path, "checkpoints")):
    run_dir = path
    folders = [which] + (["latest"] if which == "best" else [])
    prefixes = [p for folder in folders
                for p in checkpoints.candidates(os.path.join(path, "checkpoints", folder))]
    if not prefixes:
      raise RunDirError(f"{path} holds no checkpoint under checkpoints/{which}: train first")
  elif os.path.exists(path + ".index") or os.path.exists(path + ".data-00000-of-00001"):
    prefixes = [path]
    run_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(path))))
  elif os.path.isdir(path):
    prefixes = checkpoints.candidates(path)
    if not prefixes:
      raise RunDirError(f"{path} is neither a run directory nor holds a checkpoint")
    run_dir = os.path.dirname(os.path.dirname(os.path.abspath(path)))
  else:
    raise RunDirError(f"{path} does not exist: pass a run directory or a checkpoint prefix")
  config_path = os.path.join(run_dir, config_lib.CONFIG_NAME)
  if not os.path.exists(config_path):
    raise RunDirError(f"no {config_lib.CONFIG_NAME} found beside {prefixes[0]} (looked in {run_dir})")
  return prefixes, config_path


def load_config(config_path):
  """The run's `Config` from its config.json; `RunDirError` if it is not usable."""
  try:
    return config_lib.load(config_path)
  except (OSError, ValueError, TypeError) as error:
    raise RunDirError(
        f"{config_path} is not a usable run config: {first_line(error, type(error).__name__)}") from None


def _object_graph(prefix):
  graph = trackable_object_graph_pb2.TrackableObjectGraph()
  graph.ParseFromString(tf.train.load_checkpoint(prefix).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
  return graph


def _children(graph, path):
  """The local names of the children of the object at `path` (names from the root)."""
  node = 0
  for name in path:
    found = [c.node_id for c in graph.nodes[node].children if c.local_name == name]
    if not found:
      return set()
    node = found[0]
  return {c.local_name for c in graph.nodes[node].children}


def _model_variable_count(graph):
  """Variables in the `model` subtree of the checkpoint's object graph.

  Counted on the object graph, not on variable names: a variable is stored
  under the first path that reaches it, which for a Keras optimizer that
  tracks the model's variables can be `optimizer/...`, not `model/...`.
  """
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
    RunDirError: `model` (built from `config_path`) has other variables than
      the checkpoint's model.
    One of `checkpoints.DAMAGE_ERRORS`: the checkpoint is damaged.
  """
  graph = _object_graph(prefix)
  stored = _model_variable_count(graph)
  # A sampler's variables added since the checkpoint was written stay as built.
  missing = [name for name in model.expost.optional
             if name not in _children(graph, ("model", "expost"))]
  with model.expost.without(missing):
    try:
      status = tf.train.Checkpoint(model=model).restore(prefix)
      status.expect_partial()  # The optimizer and loop state are not needed here.
      status.assert_existing_objects_matched()
    except ValueError as cause:  # Shapes or structure differ: the config changed.
      raise RunDirError(f"checkpoint {prefix} does not match {config_path}: "
                        f"{first_line(cause, type(cause).__name__)}") from None
    built = len(model.variables)
  if stored != built:
    raise RunDirError(
        f"checkpoint {prefix} does not match {config_path}: it holds {stored} model "
        f"variables, the config builds {built}")


def load_model(path, which="best", log=print):
  """Restores a run's model for evaluation or generation.

  Args:
    path: a run directory, checkpoint folder or prefix (see `resolve`).
    which: "best" or "latest", for a run directory.
    log: told in one line of each damaged checkpoint skipped.

  Returns:
    (model with float32 compute, `Config`, checkpoint prefix, config path).

  Raises:
    RunDirError: no checkpoint, an unreadable config, no readable checkpoint,
      or a config that does not build the checkpoint's model.
  """
  prefixes, config_path = resolve(path, which)
  config = load_config(config_path)
  # float32 whatever the run trained with: evaluation is cheap, and exported
  # graphs should not depend on mixed precision.
  model = VAE.from_config(config, compute_dtype=tf.float32)
  prefix = checkpoints.restore_newest(
      lambda p: restore_model(model, p, config_path), prefixes, log,
      what_to_do="train again, or pass another --ckpt")
  return model, config, prefix, config_path
