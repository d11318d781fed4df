"""Tests for vae/evaluation/report.py: restoring a run, and the report's numbers."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import glob  # pylint: disable=wrong-import-position
import json  # pylint: disable=wrong-import-position
import math  # pylint: disable=wrong-import-position
import tempfile  # pylint: disable=wrong-import-position

import pytest
import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

from tests import fixtures  # pylint: disable=wrong-import-position
from vae import config as config_lib  # pylint: disable=wrong-import-position
from vae.model import VAE  # pylint: disable=wrong-import-position
from vae.evaluation import appearance  # pylint: disable=wrong-import-position
from vae.evaluation import metrics  # pylint: disable=wrong-import-position
from vae.evaluation import report as evaluation  # pylint: disable=wrong-import-position
from vae import rundir  # pylint: disable=wrong-import-position
from vae.rundir import load  # pylint: disable=wrong-import-position

SETTINGS = dict(iw_samples=10, num_samples=50, temperature=1.0)


@pytest.mark.slow  # its set-up and compiled steps take several seconds on 2 cores
class EvaluationTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    run = fixtures.smoke_run()
    cls.sprites = fixtures.shared_sprites()
    cls.config, cls.model, cls.run_dir, cls.prefix = run.config, run.model, run.run_dir, run.prefix
    cls.images, cls.train, cls.heldout, _ = evaluation.load_split(cls.config, "test")
    cls.result = evaluation.compute_report(cls.model, cls.images, cls.train, seed=0, **SETTINGS)
    cls.report = cls.result.report

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def edited_run(self, name, **changes):
    """A copy of the run whose config.json has `changes`."""
    run_dir = os.path.join(self.tmp.name, name)
    fixtures.make_run(run_dir, self.config, self.model)
    config_lib.save(config_lib.preset("smoke", **changes), os.path.join(run_dir, "config.json"))
    return run_dir

  def test_load_split_gives_float_images_of_the_configured_size(self):
    self.assertEqual(self.images.shape[1:], (32, 32, 4))
    self.assertGreaterEqual(len(self.images), 8)
    self.assertGreater(len(self.train), len(self.images))
    self.assertAllInRange(self.images, 0.0, 1.0)
    self.assertIs(self.heldout, self.images)

  def test_load_split_of_train_takes_the_memorization_threshold_from_test(self):
    _, train, heldout, _ = evaluation.load_split(self.config, "train")
    self.assertAllEqual(heldout, self.images)
    self.assertEqual(len(train), len(self.train))

  def test_load_model_restores_the_checkpointed_weights(self):
    model, config, prefix, config_path = load.load_model(self.run_dir)
    self.assertEqual(prefix, self.prefix)
    self.assertEqual(config, self.config)
    self.assertEqual(config_path, os.path.join(self.run_dir, "config.json"))
    for restored, saved in zip(model.variables, self.model.variables):
      self.assertAllEqual(restored, saved)

  def test_load_model_builds_float32_compute_for_a_mixed_precision_run(self):
    run_dir = self.edited_run("mixed", mixed_precision=True)
    model, *_ = load.load_model(run_dir)
    self.assertEqual(model.encoder.compute_dtype, tf.float32)

  def test_load_model_names_a_config_whose_latent_dim_was_edited(self):
    with self.assertRaisesRegex(rundir.RunDirError, "does not match .*config.json"):
      load.load_model(self.edited_run("latent", latent_dim=9))

  def test_load_model_names_a_config_that_builds_fewer_variables(self):
    mog = config_lib.preset("smoke", prior="mog")
    run_dir = os.path.join(self.tmp.name, "mog")
    fixtures.make_run(run_dir, mog)
    config_lib.save(self.config, os.path.join(run_dir, "config.json"))
    held = len(VAE.from_config(mog).variables)
    built = len(VAE.from_config(self.config).variables)
    self.assertGreater(held, built)  # The mixture prior's means, scales and logits.
    with self.assertRaisesRegex(rundir.RunDirError,
                                f"holds {held} model variables, the config builds {built}"):
      load.load_model(run_dir)

  def test_load_model_names_a_truncated_checkpoint(self):
    run_dir = os.path.join(self.tmp.name, "truncated")
    prefix = fixtures.make_run(run_dir, self.config, self.model)
    data, = glob.glob(prefix + ".data-*")
    with open(data, "r+b") as f:
      f.truncate(os.path.getsize(data) // 2)
    with self.assertRaisesRegex(rundir.RunDirError, r"no readable checkpoint: .*ckpt-\d+\.data-00000-of-00001 is damaged"):
      load.load_model(run_dir)

  def test_load_model_names_a_missing_path_and_an_unreadable_config(self):
    with self.assertRaisesRegex(rundir.RunDirError, "does not exist"):
      load.load_model(os.path.join(self.tmp.name, "nowhere"))
    run_dir = os.path.join(self.tmp.name, "bad_config")
    fixtures.make_run(run_dir, self.config, self.model)
    with open(os.path.join(run_dir, "config.json"), "w", encoding="utf-8") as f:
      json.dump({"latent_dims": 8}, f)
    with self.assertRaisesRegex(rundir.RunDirError, "not a usable run config.*latent_dims"):
      load.load_model(run_dir)

  def test_report_has_every_key_with_finite_values(self):
    report = dict(self.report, split="test", checkpoint=self.prefix)
    self.assertCountEqual(report, evaluation.REPORT_KEYS)
    numbers = [v for k, v in report.items() if isinstance(v, (int, float))]
    numbers += report["kl_per_dim"] + [
        v for v in report["memorization"].values() if isinstance(v, float)]
    self.assertTrue(all(math.isfinite(v) for v in numbers), report)
    self.assertLen(report["kl_per_dim"], 8)
    self.assertEqual((report["num_images"], report["num_samples"], report["iw_samples"]),
                     (len(self.images), 50, 10))
    self.assertIn("quantile", report["memorization"]["threshold_definition"])
    json.dumps(report, allow_nan=False)

  def test_iwae_bits_per_dim_are_no_more_than_elbo_bits_per_dim(self):
    self.assertLessEqual(self.report["bits_per_dim_iwae"], self.report["bits_per_dim_elbo"])

  def test_report_numbers_agree_with_their_definitions(self):
    report = self.report
    self.assertAllClose(report["elbo"], -(report["distortion"] + report["rate"]), rtol=1e-5)
    self.assertAllClose(report["bits_per_dim_elbo"],
                        -report["elbo"] / (32 * 32 * 4 * math.log(2)), rtol=1e-5)
    # kl_per_dim is the global latent's; the grid's rate is reported as one figure.
    self.assertAllClose(sum(report["kl_per_dim"]), report["rate_by_level"]["top"], rtol=1e-4)
    self.assertAllClose(report["rate_by_level"]["top"] + report["rate_by_level"]["grid"],
                        report["rate"], rtol=1e-4)
    recon = self.model.reconstruct(self.images)
    self.assertAllClose(report["recon_psnr"], metrics.psnr(self.images, recon), rtol=1e-6)
    means = self.model.encode(self.images).mean()[:, :self.model.latent_dim]
    self.assertEqual(report["active_units"], metrics.active_units(means))
    # The viewer's measures are those of vae/evaluation/appearance.py on the same images.
    self.assertEqual(report["silhouette"]["real"], appearance.silhouette(self.images))
    self.assertAllClose(report["sharpness"]["reconstructions"],
                        appearance.edge_strength(recon) / appearance.edge_strength(self.images))
    self.assertGreater(report["bits_per_dim_foreground"], report["bits_per_dim_elbo"])
    self.assertEqual(self.result.samples.shape, (50, 32, 32, 4))
    self.assertAllInRange(self.result.samples, 0.0, 1.0)

  def test_the_same_seed_gives_the_same_report_and_another_seed_another(self):
    again = evaluation.compute_report(self.model, self.images, self.train, seed=0, **SETTINGS)
    self.assertEqual(again.report, self.report)
    other = evaluation.compute_report(self.model, self.images, self.train, seed=1, **SETTINGS)
    self.assertNotEqual(other.report["fd"], self.report["fd"])
    self.assertNotEqual(other.report["bits_per_dim_iwae"], self.report["bits_per_dim_iwae"])

  def test_draw_samples_gives_the_samples_the_report_judged(self):
    self.assertAllEqual(evaluation.draw_samples(self.model, SETTINGS["num_samples"], seed=0),
                        self.result.samples)
    self.assertNotAllEqual(evaluation.draw_samples(self.model, SETTINGS["num_samples"], seed=1),
                           self.result.samples)


if __name__ == "__main__":
  tf.test.main()
