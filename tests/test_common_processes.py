"""Tests for common/processes.py: whether the writer of a file still runs."""

import os
import subprocess
import sys

import tensorflow as tf

from common.processes import process_alive


class ProcessAliveTest(tf.test.TestCase):

  def test_this_process_is_alive_and_a_reaped_child_is_not(self):
    self.assertTrue(process_alive(os.getpid()))
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    self.assertFalse(process_alive(int(child.stdout)))

  def test_another_users_process_counts_as_alive(self):
    if os.geteuid() == 0:
      self.skipTest("root may signal every process, so none refuses")
    self.assertTrue(process_alive(1))  # init: signalling it is refused, not unknown.


if __name__ == "__main__":
  tf.test.main()
