"""Faults produced for real: two processes on one run, a damaged checkpoint, a disk that fills.

Each test runs the programs as a user would and checks what the user sees
(the exit status, one line and no traceback) and what is kept (the last good
checkpoint restores afterwards, and a rerun goes on from it).
"""

import contextlib
import errno
import glob
import io
import os
import socket
import subprocess
import tempfile
import time
from unittest import mock

import pytest
import tensorflow as tf

import train_loop
from tests import fixtures
from vae.rundir import load, lock

# 80 sprites give 2 steps an epoch: --epochs lets --max-steps decide where a run ends.
TRAIN = ("--preset", "smoke", "--dashboard", "plain", "--checkpoint-every", "4", "--epochs", "1000")


def truncate(path):
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)


def leftovers(run_dir):
  """Temporaries or half-written files anywhere under `run_dir`."""
  return [path for path in glob.glob(os.path.join(run_dir, "**"), recursive=True)
          if "_temp" in path or ".tmp-" in path or path.endswith(".tempstate")]


def finish(process, timeout=600):
  """(exit status, stdout, stderr lines that are not TensorFlow's log) of a started program."""
  status, stdout, stderr = fixtures.finish_program(process, timeout)
  return status, stdout, fixtures.program_lines(stderr)


@pytest.mark.slow
class FaultTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = fixtures.make_sprite_folder(os.path.join(tempfile.mkdtemp(prefix="pokevae_"), "sprites"))

  def train(self, run_dir, *args):
    return fixtures.start_program("train_loop.py", *TRAIN, "--data-dir", self.data_dir,
                                  "--out", run_dir, *args)

  def assertOneLine(self, result, status, *phrases, program="train_loop.py"):
    code, stdout, lines = result
    self.assertEqual(code, status, (stdout, lines))
    self.assertNotIn("Traceback", "\n".join(lines) + stdout)
    self.assertLen(lines, 1, lines)
    self.assertStartsWith(lines[0], f"{program}: error: ")
    for phrase in phrases:
      self.assertRegex(lines[0], phrase)

  def assertRestores(self, run_dir, which="latest"):
    model, _, prefix, _ = load.load_model(run_dir, which, log=self.fail)
    self.assertTrue(all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in model.variables
                        if v.dtype.is_floating))
    return prefix

  def test_a_second_process_is_refused_and_a_killed_owners_lock_taken_over(self):
    run_dir = os.path.join(self.get_temp_dir(), "run")
    first = self.train(run_dir, "--max-steps", "100000")
    deadline = time.time() + 300
    while not glob.glob(os.path.join(run_dir, "checkpoints", "latest", "ckpt-*.index")):
      self.assertIsNone(first.poll(), "the first training ended early")
      self.assertLess(time.time(), deadline, "the first training wrote no checkpoint in 300 s")
      time.sleep(1)
    second = finish(self.train(run_dir, "--max-steps", "100000"))
    self.assertOneLine(second, 2, f"{run_dir} is in use by pid {first.pid} on "
                       f"{socket.gethostname()} \\(train_loop.py, since ")
    self.assertIsNone(first.poll(), "the refused process stopped the owner")

    first.kill()  # kill -9: the lock stays behind, stale.
    first.communicate()
    self.assertTrue(os.path.exists(os.path.join(run_dir, lock.LOCK_NAME)))
    third = finish(self.train(run_dir, "--max-steps", "1"))
    self.assertEqual(third[0], 0, third)
    self.assertRegex(third[1], f"took over the stale lock of {run_dir}: pid {first.pid} on .* "
                     "is no longer running")
    self.assertIn("resumed from", third[1])
    self.assertFalse(os.path.exists(os.path.join(run_dir, lock.LOCK_NAME)))
    self.assertRestores(run_dir)

  def test_a_damaged_checkpoint_is_named_and_skipped_and_none_readable_refused(self):
    run_dir = os.path.join(self.get_temp_dir(), "run")
    self.assertEqual(finish(self.train(run_dir, "--max-steps", "8"))[0], 0)
    latest = os.path.join(run_dir, "checkpoints", "latest")
    newest = tf.train.latest_checkpoint(latest)
    truncate(newest + ".data-00000-of-00001")

    # generate.py and evaluate.py share the fallback: one line on stderr, then the older one.
    status, stdout, lines = finish(fixtures.start_program(
        "generate.py", "--ckpt", run_dir, "--which", "latest", "-n", "2",
        "--out", os.path.join(self.get_temp_dir(), "sprites")))
    self.assertEqual(status, 0, lines)
    self.assertLen(lines, 1, lines)
    self.assertRegex(lines[0], f"generate.py: warning: skipping a damaged checkpoint: {newest}"
                     r"\.data-00000-of-00001 is damaged \(Read less bytes than requested\)")

    status, stdout, _ = finish(self.train(run_dir, "--max-steps", "12"))
    self.assertEqual(status, 0)
    self.assertIn(f"skipping a damaged checkpoint: {newest}.data-00000-of-00001 is damaged", stdout)
    self.assertRegex(stdout, r"resumed from .*ckpt-\d+ at step")
    self.assertIn("completed at step 12", stdout)

    for data in glob.glob(os.path.join(latest, "*.data-*")):
      truncate(data)
    self.assertOneLine(finish(self.train(run_dir, "--max-steps", "16")), 2,
                       "no readable checkpoint: .* is damaged .*: pass --fresh to start the run over")
    self.assertOneLine(finish(fixtures.start_program(
        "generate.py", "--ckpt", run_dir, "--which", "latest", "-n", "2",
        "--out", os.path.join(self.get_temp_dir(), "more"))), 2,
                       "no readable checkpoint: .*: train again, or pass another --ckpt",
                       program="generate.py")
    self.assertRestores(run_dir, "best")  # Nothing lost that was whole.

  def test_a_disk_that_fills_is_one_line_leaves_no_temporaries_and_a_rerun_resumes(self):
    mount_point = tempfile.mkdtemp(prefix="pokevae_tmpfs_")
    # 700 KB holds the config and a first checkpoint of the smoke model, not a second.
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=700k", "tmpfs", mount_point],
                             capture_output=True, text=True, check=False)
    if mounted.returncode:
      self.skipTest(f"cannot mount a small tmpfs here ({mounted.stderr.strip() or 'not root'}); "
                    "test_injected_enospc_* runs in its place")
    self.addCleanup(subprocess.run, ["umount", "-l", mount_point], check=False)
    run_dir = os.path.join(mount_point, "run")
    result = finish(self.train(run_dir))
    self.assertOneLine(result, 1, f"could not write {run_dir}/.*: No space left on device "
                       r"\(\d+(\.\d)? (bytes|KB) free on its disk\)$")
    self.assertEqual(leftovers(run_dir), [])
    good = self.assertRestores(run_dir)

    subprocess.run(["mount", "-o", "remount,size=64m", mount_point], check=True)
    status, stdout, lines = finish(self.train(run_dir))
    self.assertEqual(status, 0, lines)
    self.assertIn(f"resumed from {good} at step", stdout)
    self.assertEqual(leftovers(run_dir), [])


@pytest.mark.slow
class InjectedFullDiskTest(tf.test.TestCase):
  """The same fault from write calls that raise ENOSPC: runs wherever a tmpfs cannot be mounted."""

  def test_injected_enospc_in_a_checkpoint_save_is_one_line_and_a_rerun_resumes(self):
    data_dir = fixtures.make_sprite_folder(os.path.join(self.get_temp_dir(), "sprites"))
    run_dir = os.path.join(self.get_temp_dir(), "run")
    argv = [*TRAIN, "--data-dir", data_dir, "--out", run_dir, "--max-steps", "12"]
    real_write = tf.train.Checkpoint._write  # pylint: disable=protected-access
    calls = []

    def fills_after_the_first(checkpoint, prefix, options=None):
      calls.append(prefix)
      if len(calls) > 1:  # A save that begins, then finds the disk full.
        os.makedirs(prefix + "_temp", exist_ok=True)
        raise tf.errors.ResourceExhaustedError(
            None, None, f"{prefix}_temp/part-00000-of-00001.data-00000-of-00001.tempstate1; "
            f"{os.strerror(errno.ENOSPC)} [Op:SaveV2]")
      return real_write(checkpoint, prefix, options)

    stderr = io.StringIO()
    with mock.patch.object(tf.train.Checkpoint, "_write", fills_after_the_first), \
        contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
      status = train_loop.main(argv)
    lines = stderr.getvalue().splitlines()
    self.assertEqual(status, 1, lines)
    self.assertLen(lines, 1)
    self.assertRegex(lines[0], f"^train_loop.py: error: could not write {calls[1]}: No space left "
                     r"on device \(.* free on its disk\)$")
    self.assertEqual(leftovers(run_dir), [])
    self.assertFalse(os.path.exists(os.path.join(run_dir, lock.LOCK_NAME)))
    _, _, prefix, _ = load.load_model(run_dir, "latest", log=self.fail)
    self.assertEqual(prefix, calls[0])

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
      self.assertEqual(train_loop.main(argv), 0)
    self.assertIn(f"resumed from {calls[0]} at step", stdout.getvalue())
