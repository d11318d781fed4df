"""Tests for vae/rundir/lock.py: one owner per run directory."""

import json
import os
import socket
import subprocess
import sys
import unittest

from vae import rundir
from vae.rundir import lock


def dead_pid():
  """The pid of a process of this host that has exited (and been reaped)."""
  child = subprocess.Popen([sys.executable, "-c", "pass"])
  child.wait()
  return child.pid


class RunLockTest(unittest.TestCase):

  def setUp(self):
    super().setUp()
    import tempfile  # pylint: disable=import-outside-toplevel
    self.run_dir = tempfile.mkdtemp()
    self.path = os.path.join(self.run_dir, lock.LOCK_NAME)

  def write_lock(self, **owner):
    with open(self.path, "w", encoding="utf-8") as f:
      json.dump(dict(dict(pid=os.getpid(), host=socket.gethostname(), program="train_loop.py",
                          started="2024-01-01 00:00:00", token="x"), **owner), f)

  def test_the_lock_names_its_owner_and_goes_when_released(self):
    with lock.RunLock(self.run_dir, "train_loop.py").acquire() as held:
      with open(held.path, encoding="utf-8") as f:
        owner = json.load(f)
      self.assertEqual((owner["pid"], owner["host"], owner["program"]),
                       (os.getpid(), socket.gethostname(), "train_loop.py"))
      self.assertIn("started", owner)
    self.assertFalse(os.path.exists(self.path))

  def test_a_second_owner_is_refused_with_the_pid_and_host(self):
    with lock.RunLock(self.run_dir, "train_loop.py").acquire():
      with self.assertRaisesRegex(
          rundir.RunDirError,
          f"{self.run_dir} is in use by pid {os.getpid()} on {socket.gethostname()} "
          r"\(train_loop.py, since .*\): wait for it to finish or stop it") as caught:
        lock.RunLock(self.run_dir, "evaluate.py").acquire()
      self.assertEqual(caught.exception.status, 2)
      self.assertTrue(os.path.exists(self.path))  # The refused one leaves the owner's lock.

  def test_a_lock_whose_process_is_gone_is_taken_over_saying_so(self):
    pid = dead_pid()
    self.write_lock(pid=pid)
    lines = []
    held = lock.RunLock(self.run_dir, "train_loop.py").acquire(lines.append)
    self.assertEqual(len(lines), 1)
    self.assertRegex(lines[0], f"took over the stale lock .*pid {pid} on .* is no longer running")
    with open(self.path, encoding="utf-8") as f:
      self.assertEqual(json.load(f)["pid"], os.getpid())
    held.release()

  def test_a_lock_from_another_host_is_never_taken_over(self):
    self.write_lock(pid=dead_pid(), host="elsewhere")
    with self.assertRaisesRegex(rundir.RunDirError,
                                f"on elsewhere .*if it no longer runs on elsewhere, remove {self.path}"):
      lock.RunLock(self.run_dir, "train_loop.py").acquire()

  def test_a_damaged_lock_file_is_taken_over(self):
    with open(self.path, "w", encoding="utf-8") as f:
      f.write("{\"pid\": ")
    lines = []
    lock.RunLock(self.run_dir, "train_loop.py").acquire(lines.append).release()
    self.assertRegex(lines[0], "not a readable lock")

  def test_release_leaves_a_lock_that_is_no_longer_its_own(self):
    held = lock.RunLock(self.run_dir, "train_loop.py").acquire()
    self.write_lock(token="someone else")
    held.release()
    self.assertTrue(os.path.exists(self.path))

  def test_run_containing_finds_the_run_an_export_goes_into(self):
    os.makedirs(os.path.join(self.run_dir, "checkpoints"))
    with open(os.path.join(self.run_dir, "config.json"), "w", encoding="utf-8") as f:
      f.write("{}")
    self.assertEqual(lock.run_containing(os.path.join(self.run_dir, "exported")), self.run_dir)
    self.assertEqual(lock.run_containing(os.path.join(self.run_dir, "a", "b")), self.run_dir)
    self.assertIsNone(lock.run_containing(os.path.join(os.path.dirname(self.run_dir), "x")))


if __name__ == "__main__":
  unittest.main()
