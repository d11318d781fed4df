"""Tests for vae.training.cluster: TF_CONFIG roles, and real multi-worker runs on localhost."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

import train_loop
from tests import fixtures
from vae.training import cluster, localhost

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_argv(data_dir, out, steps, *extra):
  return [sys.executable, "train_loop.py", "--preset", "smoke", "--data-dir", data_dir,
          "--out", out, "--batch-size", "16", "--epochs", "100", "--max-steps", str(steps),
          "--log-every", "4", "--checkpoint-every", "8", "--seed", "3", "--deterministic",
          "--dashboard", "plain", *extra]


def start_workers(argv, count=2):
  """Starts `count` workers of one job on localhost; their stdout and stderr go to temp files."""
  ports = localhost.free_ports(count)
  workers = []
  for index in range(count):
    env = dict(os.environ, TF_CONFIG=localhost.tf_config(ports, index), TF_CPP_MIN_LOG_LEVEL="2")
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    process = subprocess.Popen([*argv, "--strategy", "multiworker"], cwd=ROOT, env=env,
                               stdout=out, stderr=err, text=True)
    workers.append((process, out, err))
  return workers


def output(worker):
  _, out, err = worker
  out.seek(0)
  err.seek(0)
  return out.read(), err.read()


def model_variables(prefix):
  reader = tf.train.load_checkpoint(prefix)
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
          if name.startswith("model/")}


def read_summary(run_dir):
  with open(os.path.join(run_dir, "summary.json"), encoding="utf-8") as f:
    return json.load(f)


class RolesTest(tf.test.TestCase):

  def test_worker_0_is_chief_unless_the_cluster_names_one(self):
    cases = [({"worker": ["a:1", "b:2"]}, "worker", 0, True),
             ({"worker": ["a:1", "b:2"]}, "worker", 1, False),
             ({"chief": ["c:0"], "worker": ["a:1"]}, "worker", 0, False),
             ({"chief": ["c:0"], "worker": ["a:1"]}, "chief", 0, True)]
    for spec, kind, index, chief in cases:
      raw = json.dumps({"cluster": spec, "task": {"type": kind, "index": index}})
      with mock.patch.dict(os.environ, {"TF_CONFIG": raw}):
        self.assertEqual(cluster.is_chief("multiworker"), chief, msg=raw)
        self.assertEqual(cluster.task_name("multiworker"),
                         f"{kind} {index} of {sum(len(v) for v in spec.values())}")
    with mock.patch.dict(os.environ, {"TF_CONFIG": localhost.tf_config([1, 2], 1)}):
      self.assertTrue(cluster.is_chief("default"))  # TF_CONFIG matters only to multiworker.

  def test_only_the_chief_writes_out_and_killed_workers_dirs_are_swept(self):
    out = os.path.join(self.get_temp_dir(), "out")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tempfile.mkdtemp(prefix=f"pokevae-worker-{dead}-")
    live = tempfile.mkdtemp(prefix=f"pokevae-worker-{os.getpid()}-")
    with mock.patch.dict(os.environ, {"TF_CONFIG": localhost.tf_config([1, 2], 1)}):
      worker_dir = cluster.run_dir(out, "multiworker")
    self.assertFalse(os.path.exists(out))
    self.assertFalse(os.path.exists(stale))
    self.assertTrue(os.path.isdir(live))
    self.assertTrue(os.path.basename(worker_dir).startswith(f"pokevae-worker-{os.getpid()}-"))
    with mock.patch.dict(os.environ, {"TF_CONFIG": localhost.tf_config([1, 2], 0)}):
      self.assertEqual(cluster.run_dir(out, "multiworker"), out)
    self.assertTrue(os.path.isdir(out))
    os.rmdir(live)

  def test_missing_or_malformed_tf_config_is_a_clear_error(self):
    with mock.patch.dict(os.environ, {"TF_CONFIG": ""}):
      with self.assertRaisesRegex(ValueError, "reads the cluster from TF_CONFIG, which is not set"):
        cluster.make_strategy("multiworker")
    with mock.patch.dict(os.environ, {"TF_CONFIG": '{"cluster": {}}'}):
      with self.assertRaisesRegex(ValueError, "TF_CONFIG must be JSON with cluster and task"):
        cluster.is_chief("multiworker")

  def test_multiworker_needs_an_explicit_out_dir(self):
    parser = train_loop.argument_parser()
    with self.assertRaisesRegex(ValueError, "--strategy multiworker needs --out"):
      train_loop.resolve_config(parser.parse_args(["--strategy", "multiworker"]))

  def test_lost_message_names_the_peer_and_the_cause(self):
    text = ("Graph execution error:\n\nDetected at node CollectiveReduceV2\n"
            "failed to connect to all addresses; Connection refused\n"
            "Additional GRPC error information from remote target /job:worker/replica:0/task:1 "
            "while calling /tensorflow.WorkerService/RecvBuf")
    error = tf.errors.UnavailableError(None, None, text)
    self.assertEqual(cluster.lost_message(error),
                     "worker 1: failed to connect to all addresses; Connection refused")


@pytest.mark.slow
class TwoWorkersTest(tf.test.TestCase):
  """Two real worker processes on localhost, CPU collectives over gRPC."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = fixtures.make_sprite_folder(os.path.join(tempfile.mkdtemp(prefix="pokevae_"), "sprites"))

  def test_two_workers_train_what_one_process_trains_at_the_same_global_batch(self):
    one = os.path.join(self.get_temp_dir(), "one")
    result = subprocess.run(train_argv(self.data_dir, one, 12), cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    two = os.path.join(self.get_temp_dir(), "two")
    before = set(os.listdir(tempfile.gettempdir()))
    workers = start_workers(train_argv(self.data_dir, two, 12))
    for worker in workers:
      worker[0].wait(timeout=400)
      self.assertEqual(worker[0].returncode, 0, output(worker)[1][-3000:])
    expected, actual = read_summary(one), read_summary(two)
    self.assertEqual(actual["steps"], 12)
    # Same data rows, noise rows and initial weights: only the order of float
    # sums differs (two partial sums, then an all-reduce), as in the
    # MirroredStrategy test of tests/test_training_step.py, and with its tolerances.
    self.assertAllClose(actual["last_train"]["loss"], expected["last_train"]["loss"], rtol=1e-4)
    self.assertAllClose(actual["last_train"]["grad_norm"], expected["last_train"]["grad_norm"],
                        rtol=1e-3)
    weights, reference = (model_variables(s["latest_checkpoint"]) for s in (actual, expected))
    self.assertEqual(sorted(weights), sorted(reference))
    for name, value in reference.items():
      self.assertAllClose(weights[name], value, rtol=1e-3, atol=1e-3, msg=name)
    # The chief alone wrote the run dir; the other worker's temporary dir is gone.
    self.assertTrue(os.path.exists(os.path.join(two, "tb")))
    self.assertEqual(sorted(os.listdir(two)),
                     ["checkpoints", "config.json", "previews", "summary.json", "tb"])
    left = [n for n in set(os.listdir(tempfile.gettempdir())) - before if "pokevae-worker-" in n]
    self.assertEqual(left, [])

  def test_a_killed_worker_stops_the_job_with_one_line_and_a_rerun_resumes(self):
    out = os.path.join(self.get_temp_dir(), "killed")
    argv = train_argv(self.data_dir, out, 120)
    latest = os.path.join(out, "checkpoints", "latest")
    before = set(os.listdir(tempfile.gettempdir()))
    workers = start_workers(argv)
    deadline = time.time() + 300
    while time.time() < deadline and all(w[0].poll() is None for w in workers):
      path = tf.train.latest_checkpoint(latest)
      if path and not path.endswith("-0"):
        break
      time.sleep(0.1)
    self.assertTrue(all(w[0].poll() is None for w in workers), "the job ended before the kill")
    workers[1][0].send_signal(signal.SIGKILL)
    killed = time.time()
    chief = workers[0][0]
    chief.wait(timeout=cluster.COLLECTIVE_TIMEOUT_S + 60)  # No hang: at worst the collective timeout.
    stopped_after = time.time() - killed
    stderr = output(workers[0])[1]
    self.assertEqual(chief.returncode, 2, stderr[-3000:])
    ours = [line for line in stderr.splitlines() if line.startswith("train_loop.py: error:")]
    self.assertLen(ours, 1)
    self.assertEqual(stderr.strip().splitlines()[-1], ours[0])
    self.assertRegex(ours[0], r"worker 0 of 2 lost contact with worker 1: .*; rerun the same "
                              r"command on every worker to resume from the chief's last checkpoint in "
                              + latest)
    print(f"chief stopped {stopped_after:.1f} s after the kill")
    killed_at = int(tf.train.latest_checkpoint(latest).rsplit("-", 1)[1])
    self.assertLess(killed_at, 120)

    workers = start_workers(argv)
    for worker in workers:
      worker[0].wait(timeout=600)
      self.assertEqual(worker[0].returncode, 0, output(worker)[1][-3000:])
    resumed_from = int(output(workers[0])[0].split(f"resumed from {latest}/ckpt-")[1].split()[0])
    self.assertGreaterEqual(resumed_from, killed_at)
    self.assertEqual(read_summary(out)["steps"], 120)
    self.assertTrue(np.isfinite(read_summary(out)["best_val_bpd"]))
    # The killed worker's temporary dir was swept by the rerun; the rerun's removed at exit.
    left = [n for n in set(os.listdir(tempfile.gettempdir())) - before if "pokevae-worker-" in n]
    self.assertEqual(left, [])


if __name__ == "__main__":
  tf.test.main()
