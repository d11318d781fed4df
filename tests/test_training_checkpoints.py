"""Tests for vae/training/checkpoints.py: finding, writing and restoring a run's checkpoints."""

import os
import pathlib
import shutil

import numpy as np
import tensorflow as tf

from tests import fixtures
from vae import config as config_lib
from vae.model import VAE
from vae.training import checkpoints

OLD_RUN = pathlib.Path(__file__).resolve().parent / "data" / "smoke_run_before_restructure"


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

  def test_resolve_a_run_directory_prefers_best_and_falls_back_to_latest(self):
    config_path = os.path.join(self.run_dir, config_lib.CONFIG_NAME)
    latest = self.ckpts.save("latest", 3)
    self.assertEqual(checkpoints.resolve(self.run_dir, "best"), (latest, config_path))
    best = self.ckpts.save("best", 4)
    self.assertEqual(checkpoints.resolve(self.run_dir, "best"), (best, config_path))
    self.assertEqual(checkpoints.resolve(self.run_dir, "latest"), (latest, config_path))

  def test_resolve_a_prefix_or_a_checkpoint_folder_finds_the_run_config(self):
    config_path = os.path.join(self.run_dir, config_lib.CONFIG_NAME)
    prefix = self.ckpts.save("best", 5)
    self.assertEqual(checkpoints.resolve(prefix), (prefix, os.path.abspath(config_path)))
    folder = os.path.join(self.run_dir, "checkpoints", "best")
    self.assertEqual(checkpoints.resolve(folder), (prefix, os.path.abspath(config_path)))

  def test_resolve_names_what_is_missing(self):
    with self.assertRaisesRegex(checkpoints.NoCheckpointError, "nowhere does not exist"):
      checkpoints.resolve(os.path.join(self.run_dir, "nowhere"))
    with self.assertRaisesRegex(checkpoints.NoCheckpointError, "neither a run directory nor holds"):
      checkpoints.resolve(self.run_dir)  # Nothing saved yet.
    self.ckpts.save("best", 6)
    with self.assertRaisesRegex(checkpoints.NoCheckpointError, "holds no checkpoint under checkpoints/latest"):
      checkpoints.resolve(self.run_dir, "latest")
    os.remove(os.path.join(self.run_dir, config_lib.CONFIG_NAME))
    prefix = self.ckpts.save("latest", 7)
    with self.assertRaisesRegex(checkpoints.NoCheckpointError, "no config.json found beside"):
      checkpoints.resolve(prefix)


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
    prefix, config_path = checkpoints.resolve(self.run_dir, "best")  # No best: latest.
    model = VAE.from_config(self.config, compute_dtype=tf.float32)
    checkpoints.restore_model(model, prefix, config_path)
    self.assertTrue(np.all(np.isfinite(model.sample(2, seed=[1, 2]).numpy())))


if __name__ == "__main__":
  tf.test.main()
