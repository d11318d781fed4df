"""Who does what when training runs on several devices or machines.

`--strategy multiworker` builds `tf.distribute.MultiWorkerMirroredStrategy`
from the standard `TF_CONFIG` environment variable (as Vertex AI, Kubernetes
operators and Slurm wrappers set it). Every worker runs the same program; as
TensorFlow's multi-worker guide prescribes:

- the chief (task "chief", else worker 0) alone writes the run directory:
  config.json, checkpoints, TensorBoard, previews, summary.json. The other
  workers take part in every save (a checkpoint of mirrored variables is a
  collective act) but write into a temporary directory, removed at exit;
- the data is sharded explicitly, by rows (`epoch_iterator`): every worker
  builds the same seeded global batch (`SpriteData.train_epoch`) and keeps
  its rows, so N workers train on exactly what one process would at the same
  global batch. `distribute_datasets_from_function` applies no
  `AutoShardPolicy`; the function does the sharding itself;
- decisions a worker could take alone (resuming or not, the time budget) are
  agreed by an all-reduce (`agree`), so no worker waits for a step the others
  skip. The others agree by construction: skips and rollbacks follow
  all-reduced losses and gradients, early stopping follows a validation that
  every worker computes on the same data with the same weights.

A worker that dies stops the job: TensorFlow checks its peers every 30 s and
aborts pending collectives when one is unreachable, and any collective that
waits longer than `COLLECTIVE_TIMEOUT_S` fails. Either way the survivors raise
`WorkerLost`, which the program prints as one line; rerunning the same command
on every worker resumes from the chief's last checkpoint.
"""

import glob
import json
import os
import re
import shutil
import tempfile

import tensorflow as tf

from common.processes import process_alive

# The longest a collective (one all-reduce of a step) may wait for its peers.
# It must cover a peer still tracing its first step on a loaded machine.
COLLECTIVE_TIMEOUT_S = 300
# What a collective raises when a peer is gone: aborted by the health check
# (Unavailable), timed out (DeadlineExceeded), or the peer restarted (FailedPrecondition).
PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
               tf.errors.FailedPreconditionError)


_WORKER_DIRS = []


class WorkerLost(ConnectionError):
  """A worker of a multi-worker job stopped answering; the job cannot go on.

  An `OSError`, so programs print it as their other input/output errors."""


def make_strategy(name):
  """The `tf.distribute.Strategy` for `Config.strategy`.

  Raises:
    ValueError: "multiworker" without a usable `TF_CONFIG`.
  """
  if name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices)
  if name == "multiworker":
    _task()  # Fails with a clear message before TensorFlow tries to connect.
    options = tf.distribute.experimental.CommunicationOptions(
        # NCCL between GPUs, gRPC ring between CPUs.
        implementation=tf.distribute.experimental.CommunicationImplementation.AUTO,
        timeout_seconds=COLLECTIVE_TIMEOUT_S)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
  return tf.distribute.get_strategy()


def is_chief(strategy_name) -> bool:
  """Whether this process writes the run directory (always, but for multiworker)."""
  if strategy_name != "multiworker":
    return True
  task_type, index, cluster = _task()
  return task_type == "chief" or (task_type == "worker" and index == 0 and "chief" not in cluster)


def task_name(strategy_name) -> str:
  """"worker 1 of 2" for a multi-worker task, "" otherwise (for messages)."""
  if strategy_name != "multiworker":
    return ""
  task_type, index, cluster = _task()
  return f"{task_type} {index} of {sum(len(hosts) for hosts in cluster.values())}"


def run_dir(out, strategy_name):
  """Where this process writes: `out` on the chief, elsewhere a temporary directory
  that is removed when the process exits (normally or by an exception), or, if
  the process was killed outright, by the next worker to start on this host."""
  if is_chief(strategy_name):
    os.makedirs(out, exist_ok=True)
    return out
  # A worker killed outright could not remove its directory: sweep those first.
  for stale in glob.glob(os.path.join(tempfile.gettempdir(), "pokevae-worker-*-*")):
    pid = os.path.basename(stale).split("-")[2]
    if pid.isdigit() and not process_alive(int(pid)):
      shutil.rmtree(stale, ignore_errors=True)
  temporary = tempfile.TemporaryDirectory(  # pylint: disable=consider-using-with
      prefix=f"pokevae-worker-{os.getpid()}-")
  _WORKER_DIRS.append(temporary)  # Its finalizer removes it at exit.
  return temporary.name


def agree(strategy, flag: bool) -> bool:
  """True on every worker if `flag` is True on any (an all-reduce; the flag alone otherwise)."""
  if strategy.extended._in_multi_worker_mode():  # pylint: disable=protected-access
    # Eager: one scalar now and then (TensorFlow warns once that eager collectives are slow).
    total = strategy.run(lambda: tf.distribute.get_replica_context().all_reduce(
        tf.distribute.ReduceOp.SUM, tf.constant(float(flag))))
    return bool(strategy.experimental_local_results(total)[0].numpy() > 0.0)
  return flag


def epoch_iterator(strategy, data, global_batch, seed, step, with_types=False):
  """A distributed iterator over the rest of the epoch that holds global step `step`.

  Each input pipeline (one per worker) keeps its rows of every global batch;
  a worker with several replicas cuts its rows into per-replica batches in
  replica order, so replica r sees rows [r * b, (r + 1) * b) of the global
  batch, the rows whose noise it draws in `step.make_train_fn`. With
  `with_types`, the batches are (images, types) pairs, for a conditional model.
  """
  epoch, start = divmod(step, data.steps_per_epoch(global_batch))

  def dataset_fn(context):
    pipelines = context.num_input_pipelines
    batches = data.train_epoch(global_batch, seed=seed, epoch=epoch, start=start,
                               shard=context.input_pipeline_id, shards=pipelines,
                               with_types=with_types)
    per_replica = context.get_per_replica_batch_size(global_batch)
    if per_replica != global_batch // pipelines:
      batches = batches.unbatch().batch(per_replica, drop_remainder=True)
    return batches

  return iter(strategy.distribute_datasets_from_function(dataset_fn))


def lost_line(config, error) -> str:
  """The line a worker prints when a peer is lost: who, what, and how to resume."""
  return (f"{task_name(config.strategy)} lost contact with {lost_message(error)}; rerun the same "
          "command on every worker to resume from the chief's last checkpoint in "
          f"{os.path.join(config.out, 'checkpoints', 'latest')}")


def lost_message(error) -> str:
  """What a collective's error says about the lost peer, in a few words.

  TensorFlow's message is many lines (graph context, gRPC details); keep the
  peer it names and the line that says what went wrong.
  """
  text = str(getattr(error, "message", "") or error)
  peers = sorted(set(re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", text)))
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  cause = next((line for line in lines if any(word in line.lower() for word in _CAUSES)),
               lines[0] if lines else type(error).__name__)
  cause = cause.split(" [Op:")[0][:240]
  return f"{', '.join(f'{kind} {index}' for kind, index in peers) or 'a peer'}: {cause}"


_CAUSES = ("is down", "connection refused", "failed to connect", "deadline", "timed out",
           "timeout", "restarted", "unavailable", "aborted")


def _task():
  raw = os.environ.get("TF_CONFIG", "")
  if not raw:
    raise ValueError("--strategy multiworker reads the cluster from TF_CONFIG, which is not set "
                     "(see README: Training on several machines)")
  try:
    spec = json.loads(raw)
    cluster, task = spec["cluster"], spec["task"]
    return task["type"], int(task["index"]), cluster
  except (ValueError, KeyError, TypeError) as error:
    raise ValueError(f"TF_CONFIG must be JSON with cluster and task (type, index), got {raw!r}: "
                     f"{error}") from None
