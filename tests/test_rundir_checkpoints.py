"""Tests for vae/rundir/checkpoints.py and load.py: finding, writing and restoring a run's checkpoints."""

import glob
import os
import pathlib
import shutil
from unittest import mock

import numpy as np
import tensorflow as tf

from tests import fixtures
from vae import config as config_lib
from vae import rundir
from vae.model import VAE
from vae.rundir import checkpoints, load

OLD_RUN = pathlib.Path(__file__).resolve().parent / "data" / "smoke_run_before_restructure"


def truncate(prefix):
  """Cuts a checkpoint's data file to half, as a partial copy or a full disk leaves it."""
  data, = glob.glob(prefix + ".data-*")
  with open(data, "r+b") as f:
    f.truncate(os.path.getsize(data) // 2)
  return data


class RunCheckpointsTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.run_dir = self.get_temp_dir()
    self.config = config_lib.preset("smoke", out=self.run_dir)
    config_lib.save(self.config, os.path.join(self.run_dir, config_lib.CONFIG_NAME))
    self.model, optimizer, state = fixtures.trainables(self.config)
    self.ckpts = checkpoints.RunCheckpoints(self.run_dir, model=self.model, optimizer=optimizer,
                                            state=state)

  def test_weights_that_are_not_finite_are_never_written(self):
    good = self.ckpts.save("latest", 1)
    variable = self.model.trainable_variables[0]
    variable.assign(tf.fill(variable.shape, np.nan))
    self.assertIsNone(self.ckpts.save("latest", 2))
    self.assertIsNone(self.ckpts.save("best", 2))
    self.assertEqual(self.ckpts.latest.latest_checkpoint, good)
    self.assertIsNone(self.ckpts.best.latest_checkpoint)
    # A rollback returns to the good weights.
    self.assertEqual(self.ckpts.restore_latest(), good)
    self.assertTrue(np.all(np.isfinite(variable.numpy())))

  def test_a_truncated_newest_is_named_and_the_newest_readable_restored(self):
    variable = self.model.trainable_variables[0]
    variable.assign(tf.ones_like(variable))
    good = self.ckpts.save("latest", 1)
    variable.assign(2 * tf.ones_like(variable))
    data = truncate(self.ckpts.save("latest", 2))
    variable.assign(tf.zeros_like(variable))
    lines = []
    self.assertEqual(self.ckpts.restore_latest(log=lines.append), good)
    self.assertAllEqual(variable, tf.ones_like(variable))
    self.assertLen(lines, 1)
    self.assertRegex(lines[0], f"{data} is damaged .*; restored an older one")

  def test_candidates_of_a_relative_directory_are_the_prefixes_on_disk(self):
    self.ckpts.save("latest", 3)
    self.ckpts.save("latest", 7)
    directory = os.path.join(self.run_dir, "checkpoints", "latest")
    cwd = os.getcwd()
    os.chdir(os.path.dirname(self.run_dir))
    try:
      relative = os.path.relpath(directory)
      found = checkpoints.candidates(relative)
      self.assertEqual(found, [os.path.join(relative, "ckpt-7"), os.path.join(relative, "ckpt-3")])
      self.assertTrue(all(os.path.exists(p + ".index") for p in found))
    finally:
      os.chdir(cwd)

  def test_a_missing_index_is_named(self):
    good = self.ckpts.save("latest", 1)
    newest = self.ckpts.save("latest", 2)
    os.remove(newest + ".index")
    lines = []
    self.assertEqual(self.ckpts.restore_latest(log=lines.append), good)
    self.assertIn(f"{newest}.index is missing", lines[0])

  def test_with_none_readable_resuming_is_refused_with_what_to_do(self):
    truncate(self.ckpts.save("latest", 1))
    truncate(self.ckpts.save("latest", 2))
    with self.assertRaisesRegex(rundir.RunDirError,
                                r"no readable checkpoint: .*ckpt-2.data.* is damaged .*\(and 1 older, "
                                r"damaged too\): pass --fresh") as caught:
      self.ckpts.restore_latest(log=self.fail)  # The error line alone says it.
    self.assertEqual(caught.exception.status, 2)
    self.assertNotIn("\n", str(caught.exception))

  def test_latest_keeps_the_last_three_and_best_the_last_two(self):
    for step in range(1, 6):
      self.ckpts.save("latest", step)
      self.ckpts.save("best", step)
    self.assertEqual([os.path.basename(p) for p in checkpoints.candidates(self.ckpts.latest.directory)],
                     ["ckpt-5", "ckpt-4", "ckpt-3"])
    self.assertEqual([os.path.basename(p) for p in checkpoints.candidates(self.ckpts.best.directory)],
                     ["ckpt-5", "ckpt-4"])

  def test_a_save_that_fails_leaves_nothing_and_says_where_and_how_much_space(self):
    good = self.ckpts.save("latest", 1)
    before = sorted(os.listdir(self.ckpts.latest.directory))
    real_write = tf.train.Checkpoint._write  # pylint: disable=protected-access  # What CheckpointManager calls.

    def fills_the_disk(checkpoint, prefix, options=None):
      real_write(checkpoint, prefix, options)  # Files under the final name, as a merge cut short.
      raise tf.errors.ResourceExhaustedError(None, None, f"{prefix}_temp; No space left on device")

    with mock.patch.object(tf.train.Checkpoint, "_write", fills_the_disk):
      with self.assertRaisesRegex(rundir.RunDirError,
                                  r"could not write .*ckpt-2: .*No space left on device "
                                  r"\(.* free on its disk\)") as caught:
        self.ckpts.save("latest", 2)
    self.assertEqual(caught.exception.status, 1)
    self.assertEqual(sorted(os.listdir(self.ckpts.latest.directory)), before)
    self.assertEqual(self.ckpts.restore_latest(), good)

  def test_remove_temporaries_removes_what_a_killed_save_left(self):
    self.ckpts.save("latest", 1)
    temp = os.path.join(self.ckpts.latest.directory, "ckpt-2_temp")
    os.makedirs(temp)
    checkpoints.remove_temporaries(self.run_dir)
    self.assertFalse(os.path.exists(temp))
    self.assertLen(checkpoints.candidates(self.ckpts.latest.directory), 1)

  def test_resolve_a_run_directory_prefers_best_and_falls_back_to_latest(self):
    config_path = os.path.join(self.run_dir, config_lib.CONFIG_NAME)
    latest = self.ckpts.save("latest", 3)
    self.assertEqual(load.resolve(self.run_dir, "best"), ([latest], config_path))
    best = self.ckpts.save("best", 4)
    self.assertEqual(load.resolve(self.run_dir, "best"), ([best, latest], config_path))
    self.assertEqual(load.resolve(self.run_dir, "latest"), ([latest], config_path))

  def test_a_damaged_best_is_skipped_for_the_newest_readable(self):
    latest = self.ckpts.save("latest", 3)
    truncate(self.ckpts.save("best", 4))
    lines = []
    _, _, prefix, _ = load.load_model(self.run_dir, "best", log=lines.append)
    self.assertEqual(prefix, latest)
    self.assertRegex(lines[0], r"best/ckpt-4.data-00000-of-00001 is damaged")

  def test_resolve_a_prefix_or_a_checkpoint_folder_finds_the_run_config(self):
    config_path = os.path.join(self.run_dir, config_lib.CONFIG_NAME)
    prefix = self.ckpts.save("best", 5)
    self.assertEqual(load.resolve(prefix), ([prefix], os.path.abspath(config_path)))
    folder = os.path.join(self.run_dir, "checkpoints", "best")
    self.assertEqual(load.resolve(folder), ([prefix], os.path.abspath(config_path)))

  def test_resolve_names_what_is_missing(self):
    with self.assertRaisesRegex(rundir.RunDirError, "nowhere does not exist"):
      load.resolve(os.path.join(self.run_dir, "nowhere"))
    with self.assertRaisesRegex(rundir.RunDirError, "neither a run directory nor holds"):
      load.resolve(self.run_dir)  # Nothing saved yet.
    self.ckpts.save("best", 6)
    with self.assertRaisesRegex(rundir.RunDirError, "holds no checkpoint under checkpoints/latest"):
      load.resolve(self.run_dir, "latest")
    os.remove(os.path.join(self.run_dir, config_lib.CONFIG_NAME))
    prefix = self.ckpts.save("latest", 7)
    with self.assertRaisesRegex(rundir.RunDirError, "no config.json found beside"):
      load.resolve(prefix)


class RunBeforeRestructureTest(tf.test.TestCase):
  """A run made before vae/ was split by role still resumes and evaluates."""

  def setUp(self):
    super().setUp()
    self.run_dir = self.get_temp_dir()
    latest = os.path.join(self.run_dir, "checkpoints", "latest")
    os.makedirs(latest)
    for path in OLD_RUN.glob("ckpt-40.*"):
      shutil.copy(path, latest)
    tf.compat.v1.train.update_checkpoint_state(latest, os.path.join(latest, "ckpt-40"))
    shutil.copy(OLD_RUN / "run_config.json", os.path.join(self.run_dir, config_lib.CONFIG_NAME))
    self.config = config_lib.load(os.path.join(self.run_dir, config_lib.CONFIG_NAME))

  def test_its_checkpoint_restores_model_optimizer_and_loop_state(self):
    model, optimizer, state = fixtures.trainables(self.config)
    ckpts = checkpoints.RunCheckpoints(self.run_dir, model=model, optimizer=optimizer, state=state)
    self.assertEndsWith(ckpts.restore_latest(), "ckpt-40")  # Asserts every object matched.
    self.assertEqual(int(optimizer.iterations.numpy()), 40)
    self.assertTrue(np.isfinite(state.best_val_bpd.numpy()))

  def test_its_model_restores_alone_for_evaluation(self):
    (prefix,), config_path = load.resolve(self.run_dir, "best")  # No best: latest.
    model = VAE.from_config(self.config, compute_dtype=tf.float32)
    load.restore_model(model, prefix, config_path)
    self.assertTrue(np.all(np.isfinite(model.sample(2, seed=[1, 2]).numpy())))


if __name__ == "__main__":
  tf.test.main()
