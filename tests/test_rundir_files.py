"""Tests for vae/rundir/files.py: whole files or none, and the line a failed write is told in."""

import errno
import os
import tempfile
import unittest
from unittest import mock

import numpy as np

import pipelines
from vae import rundir
from vae.rundir import files


class FilesTest(unittest.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp()

  def test_write_text_replaces_a_file_whole(self):
    path = os.path.join(self.dir, "sub", "report.json")
    files.write_text(path, "old")
    files.write_json(path, {"a": 1})
    with open(path, encoding="utf-8") as f:
      self.assertEqual(f.read(), '{\n  "a": 1\n}\n')
    self.assertEqual(os.listdir(os.path.dirname(path)), ["report.json"])

  def test_a_failed_write_keeps_the_old_file_removes_the_temporary_and_names_the_space(self):
    path = os.path.join(self.dir, "summary.json")
    files.write_text(path, "good")
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with self.assertRaisesRegex(
        rundir.RunDirError, f"could not write {path}: No space left on device "
        r"\(\d+(\.\d)? (bytes|KB|MB|GB) free on its disk\)") as caught:
      with files.replacing(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as f:
          f.write("half")
        raise full
    self.assertEqual(caught.exception.status, 1)
    with open(path, encoding="utf-8") as f:
      self.assertEqual(f.read(), "good")
    self.assertEqual(os.listdir(self.dir), ["summary.json"])

  def test_a_folder_is_replaced_whole(self):
    path = os.path.join(self.dir, "exported")
    for text in ("first", "second"):
      with files.replacing(path) as temporary:
        os.makedirs(temporary)
        files.write_text(os.path.join(temporary, "README.md"), text)
    with open(os.path.join(path, "README.md"), encoding="utf-8") as f:
      self.assertEqual(f.read(), "second")
    self.assertEqual(os.listdir(self.dir), ["exported"])

  def test_a_png_that_cannot_be_written_leaves_no_file(self):
    path = os.path.join(self.dir, "sprite_0000.png")
    real_open = open

    def full_disk_open(name, mode="r", *args, **kwargs):
      handle = real_open(name, mode, *args, **kwargs)
      if "w" in mode:
        handle.write = mock.Mock(side_effect=OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
      return handle

    with mock.patch("builtins.open", full_disk_open):
      with self.assertRaisesRegex(rundir.RunDirError, f"could not write {path}: No space left"):
        with files.writing(self.dir):
          pipelines.write_png(path, np.zeros([4, 4, 4], np.uint8))
    self.assertEqual(os.listdir(self.dir), [])

  def test_free_space_looks_at_the_nearest_existing_folder(self):
    self.assertRegex(files.free_space(os.path.join(self.dir, "not", "yet")),
                     r"^\d+(\.\d)? (bytes|KB|MB|GB)$")


if __name__ == "__main__":
  unittest.main()
