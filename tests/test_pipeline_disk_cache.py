"""Tests for pipelines.disk_cache: several processes filling one cache directory."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import json
import subprocess
import sys
import tempfile
import textwrap
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

import pipelines
from pipelines import dataset, disk_cache
from tests import fixtures as fx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Loads a folder through a disk cache once both loaders are ready (a file
# barrier, so that they decode and write at the same moment), then prints a
# hash of every split's images.
_LOADER = textwrap.dedent("""
    import hashlib, json, os, sys, time
    sys.path.insert(0, {root!r})
    import pipelines
    from pipelines import dataset
    data_dir, cache, barrier, name = sys.argv[1:]
    open(os.path.join(barrier, name), "w").close()
    while len(os.listdir(barrier)) < 2:
      time.sleep(0.01)
    data = pipelines.load(pipelines.DataConfig(data_dir=data_dir, image_size=32, cache=cache))
    print(json.dumps({{s: hashlib.sha256(data.array(s).tobytes()).hexdigest()
                      for s in ("train", "val", "test")}}))
""")


def _tempdir(test):
  return tempfile.mkdtemp(dir=test.get_temp_dir())


class ConcurrentWritersTest(tf.test.TestCase):

  @pytest.mark.slow
  def test_two_processes_filling_one_cache_both_succeed_and_read_the_same_images(self):
    names = [f"{v}/{n}.png" for n in range(1, 151) for v in ("regular", "shiny")]
    root = fx.sprite_folder(_tempdir(self), names, size=48)
    cache, barrier = _tempdir(self), _tempdir(self)
    script = _LOADER.format(root=ROOT)
    loaders = [subprocess.Popen([sys.executable, "-c", script, root, cache, barrier, name],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name in ("a", "b")]
    results = []
    for loader in loaders:
      stdout, stderr = loader.communicate(timeout=300)
      self.assertEqual(loader.returncode, 0, stderr[-3000:])
      results.append(json.loads(stdout.strip().splitlines()[-1]))
    self.assertEqual(results[0], results[1])
    # Published and complete: no temporaries left, and a third load decodes nothing.
    self.assertEqual([n for n in os.listdir(cache) if ".tmp-" in n], [])
    in_memory = pipelines.load(pipelines.DataConfig(data_dir=root, image_size=32))
    with mock.patch.object(dataset.decode, "read_frames", side_effect=AssertionError("decoded")):
      reread = pipelines.load(pipelines.DataConfig(data_dir=root, image_size=32, cache=cache))
    for split in ("train", "val", "test"):
      self.assertAllEqual(reread.array(split), in_memory.array(split))

  def test_a_dead_writers_temporaries_are_removed_and_a_live_writers_are_kept(self):
    cache = _tempdir(self)
    prefix = os.path.join(cache, "train-0123456789abcdef")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    live = disk_cache.temporary_prefix(prefix)  # This process's own.
    crashed = live.replace(f"-{os.getpid()}-", f"-{dead}-")
    for name in (f"{crashed}_0.lockfile", f"{crashed}_0.data-00000-of-00001",
                 f"{live}_0.lockfile"):
      with open(name, "w", encoding="utf-8"):
        pass
    self.assertFalse(disk_cache.is_complete(prefix))
    self.assertEqual(os.listdir(cache), [os.path.basename(f"{live}_0.lockfile")])

  def test_publish_moves_every_file_to_the_shared_prefix(self):
    cache = _tempdir(self)
    prefix = os.path.join(cache, "val-0123456789abcdef")
    writing = disk_cache.temporary_prefix(prefix)
    images = tf.data.Dataset.from_tensor_slices(np.arange(12, dtype=np.uint8).reshape(3, 2, 2))
    for _ in images.cache(writing):
      pass
    self.assertFalse(disk_cache.is_complete(prefix))
    disk_cache.publish(writing, prefix, {"a.png": 3})
    self.assertTrue(disk_cache.is_complete(prefix))
    self.assertEqual(disk_cache.read_outcomes(prefix), {"a.png": 3})
    self.assertEqual([n for n in os.listdir(cache) if ".tmp-" in n], [])
    # Read back through another source: the values can only come from the files.
    zeros = tf.data.Dataset.from_tensor_slices(np.zeros((3, 2, 2), np.uint8))
    reread = np.stack([x.numpy() for x in zeros.cache(prefix)])
    self.assertAllEqual(reread, np.arange(12).reshape(3, 2, 2))


if __name__ == "__main__":
  tf.test.main()
