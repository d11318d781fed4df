"""End-to-end tests of train_loop.py on a small synthetic sprite folder."""

import dataclasses
import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
import tensorflow as tf

import train_loop
from tests import fixtures
from vae import config as config_lib
from vae.model import VAE
from vae.rundir import load as rundir_load
from vae.training import schedules

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scalars(run_dir, tag):
  """{step: value} of one TensorBoard scalar written by the loop."""
  values = {}
  for path in sorted(glob.glob(os.path.join(run_dir, "tb", "events.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          values[event.step] = float(tf.make_ndarray(value.tensor))
  return values


def read_summary(run_dir):
  with open(os.path.join(run_dir, "summary.json"), encoding="utf-8") as f:
    return json.load(f)


@pytest.mark.slow
class TrainLoopTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = fixtures.make_sprite_folder(os.path.join(tempfile.mkdtemp(prefix="pokevae_"), "sprites"))

  def config(self, **overrides):
    values = dict(data_dir=self.data_dir, batch_size=16, dashboard="plain",
                  out=os.path.join(self.get_temp_dir(), "run"), log_every=4,
                  checkpoint_every=8, steps_per_call=4, translate=2)
    values.update(overrides)
    return config_lib.preset("smoke", **values)

  def test_smoke_run_lowers_the_loss_and_writes_a_complete_run_dir(self):
    config = self.config(epochs=20, max_steps=0, lr=3e-3)
    summary = train_loop.train(config, resuming=False, log=lambda *_: None)
    run = config.out
    distortion = scalars(run, "train/distortion")
    first, last = distortion[min(distortion)], distortion[max(distortion)]
    # 80 steps of the tiny smoke model: a clear drop, far from convergence.
    self.assertLess(last, 0.85 * first, f"distortion {first} -> {last}")
    self.assertEqual(summary["stop_reason"], "completed")
    self.assertEqual(summary["steps"], 20 * summary["steps_per_epoch"])
    for path in ("config.json", "summary.json", "previews/epoch_0001.png", "checkpoints/best/checkpoint",
                 "checkpoints/latest/checkpoint"):
      self.assertTrue(os.path.exists(os.path.join(run, path)), path)
    self.assertEqual(config_lib.load(os.path.join(run, "config.json")), config)
    self.assertNotEmpty(scalars(run, "val/bits_per_dim"))
    self.assertTrue(np.isfinite(summary["best_val_bpd"]))

  def test_smoke_run_with_the_palette_likelihood_trains_and_checkpoints_its_palette(self):
    config = self.config(epochs=20, max_steps=0, lr=3e-3, likelihood="palette", palette_size=8)
    summary = train_loop.train(config, resuming=False, log=lambda *_: None)
    distortion = scalars(config.out, "train/distortion")
    first, last = distortion[min(distortion)], distortion[max(distortion)]
    self.assertLess(last, 0.85 * first, f"distortion {first} -> {last}")
    self.assertTrue(np.isfinite(summary["best_val_bpd"]))
    # The palette network's variables are the model's, trained and saved:
    # the checkpoint restores them (every stored variable matched) to other
    # values than a fresh model's.
    model = VAE.from_config(config)
    names = [v.name for v in model.trainable_variables]
    self.assertContainsSubset(["vae/likelihood/hidden/w:0", "vae/likelihood/to_palette/w:0"], names)
    fresh = model.decoder.likelihood.to_palette.w.numpy()
    rundir_load.restore_model(model, tf.train.latest_checkpoint(os.path.join(config.out, "checkpoints", "latest")),
                              os.path.join(config.out, "config.json"))
    self.assertNotAllClose(model.decoder.likelihood.to_palette.w, fresh)

  def test_resume_continues_the_step_count_and_beta_schedule(self):
    config = self.config(epochs=100, max_steps=12, warmup_steps=20, beta=2.0)
    self.assertEqual(train_loop.train(config, resuming=False, log=lambda *_: None)["steps"], 12)
    resumed = dataclasses.replace(config, max_steps=24)
    summary = train_loop.train(resumed, resuming=True, log=lambda *_: None)
    self.assertEqual(summary["steps"], 24)
    beta = scalars(config.out, "train/beta")
    # The window logged at step 16 ran steps 12..15; beta is the schedule's there.
    expected = np.mean([float(schedules.beta_at(config, s)) for s in range(12, 16)])
    self.assertAllClose(beta[16], expected, rtol=1e-5)

  def test_rerunning_an_out_dir_resumes_its_config_and_refuses_a_different_model(self):
    out = os.path.join(self.get_temp_dir(), "saved")
    saved = config_lib.preset("smoke", data_dir=self.data_dir, out=out, latent_dim=5)
    config_lib.save(saved, os.path.join(out, "config.json"))
    parser = train_loop.argument_parser()
    config, resuming = train_loop.resolve_config(parser.parse_args(["--out", out, "--epochs", "9"]))
    self.assertTrue(resuming)
    self.assertEqual(config, dataclasses.replace(saved, epochs=9))
    with self.assertRaisesRegex(ValueError, "latent_dim=5.*--fresh"):
      train_loop.resolve_config(parser.parse_args(["--out", out, "--latent-dim", "6"]))
    config, resuming = train_loop.resolve_config(
        parser.parse_args(["--out", out, "--latent-dim", "6", "--fresh"]))
    self.assertFalse(resuming)
    self.assertEqual(config.latent_dim, 6)

  def test_early_stopping_fires_when_validation_stops_improving(self):
    config = self.config(epochs=50, max_steps=0, patience=2, min_delta=1e9, beta_schedule="constant")
    summary = train_loop.train(config, resuming=False, log=lambda *_: None)
    self.assertEqual(summary["stop_reason"], "early stopping")
    # Epoch 1 always improves on +inf; epochs 2 and 3 cannot improve by 1e9.
    self.assertEqual(summary["steps"], 3 * summary["steps_per_epoch"])

  def test_huge_learning_rate_is_skipped_or_rolled_back_and_leaves_a_usable_checkpoint(self):
    config = self.config(epochs=20, max_steps=60, lr=10.0, lr_schedule="constant", beta_schedule="constant")
    summary = train_loop.train(config, resuming=False, log=lambda *_: None)
    # Group normalisation keeps this model finite, so it is the spike guard that
    # must fire: skip, roll back with a halved learning rate, and give up at last.
    self.assertGreater(summary["skipped_steps"], 0)
    self.assertEqual(summary["rollbacks"], config.max_rollbacks)
    self.assertEqual(summary["stop_reason"], "diverged")
    model = VAE.from_config(config)
    tf.train.Checkpoint(model=model).restore(summary["latest_checkpoint"]).expect_partial()
    for variable in model.variables:
      self.assertTrue(np.all(np.isfinite(variable.numpy())), variable.name)
    images = model.sample(4, seed=[1, 2])
    self.assertTrue(np.all(np.isfinite(images.numpy())))


def kill_after_a_checkpoint(test, process, latest, timeout=240):
  """kill -9 once `latest` holds a checkpoint past step 0; returns that checkpoint's step."""
  deadline = time.time() + timeout
  while time.time() < deadline and process.poll() is None:
    path = tf.train.latest_checkpoint(latest)
    if path and not path.endswith("-0"):
      break
    time.sleep(0.02)
  test.assertIsNone(process.poll(), "the run ended before it could be killed")
  process.send_signal(signal.SIGKILL)
  process.wait()
  return int(tf.train.latest_checkpoint(latest).rsplit("-", 1)[1])


@pytest.mark.slow
class KillAndResumeTest(tf.test.TestCase):


  def test_kill_9_then_rerun_reaches_the_same_final_step(self):
    data_dir = fixtures.make_sprite_folder(os.path.join(self.get_temp_dir(), "sprites"))
    out = os.path.join(self.get_temp_dir(), "run")
    argv = [sys.executable, "train_loop.py", "--preset", "smoke", "--data-dir", data_dir,
            "--out", out, "--batch-size", "16", "--epochs", "100", "--max-steps", "160",
            "--checkpoint-every", "8", "--dashboard", "plain"]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed_at = kill_after_a_checkpoint(self, process, os.path.join(out, "checkpoints", "latest"))
    self.assertLess(killed_at, 160)
    self.assertFalse(os.path.exists(os.path.join(out, "summary.json")))
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    self.assertIn(f"resumed from", result.stdout)
    self.assertEqual(read_summary(out)["steps"], 160)


@pytest.mark.slow
class DeterminismTest(tf.test.TestCase):

  def test_same_seed_gives_the_same_losses(self):
    data_dir = fixtures.make_sprite_folder(os.path.join(self.get_temp_dir(), "sprites"))
    runs = []
    for name in ("a", "b"):
      out = os.path.join(self.get_temp_dir(), name)
      result = subprocess.run(
          [sys.executable, "train_loop.py", "--preset", "smoke", "--data-dir", data_dir, "--out", out,
           "--batch-size", "16", "--epochs", "10", "--max-steps", "16", "--log-every", "4", "--seed", "3",
           "--deterministic", "--dashboard", "plain"],
          cwd=ROOT, capture_output=True, text=True, timeout=300)
      self.assertEqual(result.returncode, 0, result.stderr[-2000:])
      runs.append(scalars(out, "train/loss"))
    self.assertLen(runs[0], 4)
    self.assertEqual(runs[0], runs[1])


def weights_hash(prefix):
  """SHA-256 of every variable of a checkpoint (model, optimizer, loop state)."""
  reader = tf.train.load_checkpoint(prefix)
  digest = hashlib.sha256()
  for name in sorted(reader.get_variable_to_shape_map()):
    if "save_counter" not in name and "OBJECT_GRAPH" not in name:
      digest.update(name.encode())
      digest.update(np.ascontiguousarray(reader.get_tensor(name)).tobytes())
  return digest.hexdigest()


@pytest.mark.slow
class ExactResumeTest(tf.test.TestCase):

  def test_a_killed_deterministic_run_resumed_matches_an_uninterrupted_one(self):
    data_dir = fixtures.make_sprite_folder(os.path.join(self.get_temp_dir(), "sprites"))

    def argv(out):
      # 8 steps per epoch and a checkpoint every 4: the kill can land mid-epoch, so the
      # resume must find the epoch's order and its offset in it. Logs, checkpoints and
      # compiled calls all fall on multiples of 4, so the logging windows line up.
      return [sys.executable, "train_loop.py", "--preset", "smoke", "--data-dir", data_dir,
              "--out", out, "--batch-size", "8", "--epochs", "100", "--max-steps", "48",
              "--log-every", "4", "--checkpoint-every", "4", "--steps-per-call", "4",
              "--seed", "3", "--deterministic", "--dashboard", "plain"]

    whole = os.path.join(self.get_temp_dir(), "whole")
    result = subprocess.run(argv(whole), cwd=ROOT, capture_output=True, text=True, timeout=300)
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])

    resumed = os.path.join(self.get_temp_dir(), "resumed")
    latest = os.path.join(resumed, "checkpoints", "latest")
    process = subprocess.Popen(argv(resumed), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    killed_at = kill_after_a_checkpoint(self, process, latest)
    self.assertLess(killed_at, 48)
    print(f"killed at step {killed_at}")
    result = subprocess.run(argv(resumed), cwd=ROOT, capture_output=True, text=True, timeout=300)
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    self.assertIn(f"resumed from {latest}", result.stdout)

    expected, actual = read_summary(whole), read_summary(resumed)
    for key in ("loss", "distortion", "rate", "elbo", "grad_norm"):
      self.assertEqual(actual["last_train"][key], expected["last_train"][key], key)
    self.assertEqual(actual["best_val_bpd"], expected["best_val_bpd"])
    self.assertEqual(weights_hash(actual["latest_checkpoint"]), weights_hash(expected["latest_checkpoint"]))
    # Every loss logged after the resume point, step by step.
    after = {s: v for s, v in scalars(whole, "train/loss").items() if s > killed_at}
    self.assertNotEmpty(after)
    self.assertEqual({s: v for s, v in scalars(resumed, "train/loss").items() if s > killed_at}, after)


if __name__ == "__main__":
  tf.test.main()
