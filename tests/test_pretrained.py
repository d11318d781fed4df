"""Tests for vae/pretrained.py and the pretrained model generate.py falls back on.

With a `pretrained/` folder in the checkout these tests check that one; without
it they never pass vacuously: they train a smoke run in a temporary folder,
evaluate it and package it the way `pretrained/` is made, and check that.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # pylint: disable=wrong-import-position
import pathlib  # pylint: disable=wrong-import-position
import tempfile  # pylint: disable=wrong-import-position

import pytest  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

from tests import fixtures  # pylint: disable=wrong-import-position
from vae import pretrained  # pylint: disable=wrong-import-position

# Bits/dim of the small evaluation, repeated in another process: the same
# seeded draws on the same CPU give the same sums up to float reassociation.
TOLERANCE = 1e-3


def make_smoke_package(tmp):
  """Trains, evaluates and packages a smoke run; returns the package folder."""
  sprites = fixtures.shared_sprites()
  run_dir, dest = str(tmp / "run"), str(tmp / "pretrained")
  for args in (["train_loop.py", "--preset", "smoke", "--data-dir", sprites, "--out", run_dir,
                "--dashboard", "plain"],
               ["evaluate.py", "--ckpt", run_dir, "--iw-samples", "10", "--num-samples", "50"],
               ["-m", "vae.pretrained", run_dir, "--dest", dest]):
    status, _, stderr = fixtures.run_program(*args)
    assert status == 0, f"{args[0]} failed: {stderr[-3000:]}"
  return dest


@pytest.mark.slow
class PretrainedTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    tmp = pathlib.Path(cls.tmp.name)
    shipped = fixtures.ROOT / "pretrained"
    cls.dest = str(shipped) if (shipped / "config.json").exists() else make_smoke_package(tmp)
    with open(os.path.join(cls.dest, "check.json"), encoding="utf-8") as f:
      cls.check = json.load(f)
    cls.check_out = str(tmp / "check")
    cls.evaluated = fixtures.run_program(*pretrained.check_command(cls.dest, cls.check_out))
    cls.generated = fixtures.run_program("generate.py", "-n", "4",
                                         "--out", str(tmp / "sprites_out"),
                                         env={"POKEVAE_PRETRAINED": cls.dest})
    cls.sprites_out = str(tmp / "sprites_out")
    cls.typed = fixtures.run_program("generate.py", "--type", "fire", "-n", "4",
                                     "--out", str(tmp / "fire_out"),
                                     env={"POKEVAE_PRETRAINED": cls.dest})

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def test_evaluate_reproduces_the_recorded_figures_on_the_small_split(self):
    status, stdout, stderr = self.evaluated
    self.assertEqual(status, 0, stderr[-3000:])
    report = json.loads(stdout)
    self.assertEqual(report["num_images"], self.check["num_images"])
    self.assertLessEqual(report["num_images"], pretrained.CHECK_IMAGES)
    for key in ("bits_per_dim_elbo", "bits_per_dim_iwae"):
      self.assertAllClose(report[key], self.check[key], atol=TOLERANCE, msg=key)
    self.assertAllClose(report["recon_psnr"], self.check["recon_psnr"], atol=0.05)
    self.assertTrue(os.path.exists(os.path.join(self.check_out, "report.html")))

  def test_generate_without_ckpt_uses_the_pretrained_model(self):
    status, stdout, stderr = self.generated
    self.assertEqual(status, 0, stderr[-3000:])
    self.assertStartsWith(stdout, "wrote 4 files")
    with open(os.path.join(self.sprites_out, "generate.json"), encoding="utf-8") as f:
      record = json.load(f)
    self.assertStartsWith(record["checkpoint"], os.path.join(self.dest, "checkpoints", "best"))

  def test_generate_makes_sprites_of_a_type_with_the_pretrained_model(self):
    status, stdout, stderr = self.typed
    if self.dest != str(fixtures.ROOT / "pretrained"):
      # The smoke package's sprites have no types table: one line says so.
      self.assertEqual(status, 2, stderr[-3000:])
      self.assertIn("holds no types", stderr)
      return
    self.assertEqual(status, 0, stderr[-3000:])
    self.assertStartsWith(stdout, "wrote 4 files")

  def test_the_package_holds_what_it_should_and_stays_small(self):
    names = set(os.listdir(self.dest))
    self.assertContainsSubset({"config.json", "checkpoints", "report.json", "check.json",
                               "COMMAND.md"}, names)
    size = sum(p.stat().st_size for p in pathlib.Path(self.dest).rglob("*") if p.is_file())
    self.assertLess(size, pretrained.MAX_BYTES)
    # Only the best checkpoint, and in it only the model: no optimizer moments.
    best = os.path.join(self.dest, "checkpoints", "best")
    prefix = tf.train.latest_checkpoint(best)
    self.assertIsNotNone(prefix)
    self.assertLen([n for n in os.listdir(best) if n.endswith(".index")], 1)
    stored = [name for name, _ in tf.train.list_variables(prefix)]
    self.assertFalse([n for n in stored if n.startswith("optimizer")], stored[:5])
    self.assertNotEmpty([n for n in stored if n.startswith("model/")])

  def test_command_md_gives_the_commands_that_made_it(self):
    with open(os.path.join(self.dest, "COMMAND.md"), encoding="utf-8") as f:
      text = f.read()
    for words in ("train_loop.py --preset", "evaluate.py --ckpt", "python -m vae.pretrained",
                  self.check["command"], "Source commit"):
      self.assertIn(words, text)

  def test_packaging_refuses_a_folder_that_holds_files_and_the_run_itself(self):
    busy = pathlib.Path(self.tmp.name) / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    for dest, phrase in ((str(busy), "--force"), (self.dest, "the run")):
      status, _, stderr = fixtures.run_program("-m", "vae.pretrained", self.dest, "--dest", dest,
                              "--report", self.dest)
      self.assertEqual(status, 2, stderr)
      lines = stderr.strip().splitlines()
      self.assertLen(lines, 1, stderr)
      self.assertIn(phrase, lines[0])
    self.assertEqual(os.listdir(busy), ["notes.txt"])
    self.assertTrue(os.path.exists(os.path.join(self.dest, "config.json")))


@pytest.mark.slow  # trains, evaluates and packages a smoke run
class PackageTest(tf.test.TestCase):
  """`python -m vae.pretrained` on a fresh run, whether or not the checkout ships a package."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    cls.dest = make_smoke_package(pathlib.Path(cls.tmp.name))

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def test_a_fresh_run_packages_and_its_package_reproduces_its_check(self):
    with open(os.path.join(self.dest, "check.json"), encoding="utf-8") as f:
      check = json.load(f)
    status, stdout, stderr = fixtures.run_program(
        *pretrained.check_command(self.dest, os.path.join(self.tmp.name, "check")))
    self.assertEqual(status, 0, stderr[-3000:])
    self.assertAllClose(json.loads(stdout)["bits_per_dim_elbo"], check["bits_per_dim_elbo"],
                        atol=TOLERANCE)

  def test_a_run_packages_with_another_sampler_fitted_to_its_weights(self):
    run_dir = os.path.join(self.tmp.name, "run")
    dest = os.path.join(self.tmp.name, "blend_package")
    status, _, stderr = fixtures.run_program("-m", "vae.pretrained", run_dir, "--dest", dest,
                                             "--sampler", "blend")
    self.assertEqual(status, 0, stderr[-3000:])
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
      self.assertEqual(json.load(f)["sampler"], "quilt")  # the run's own, untouched
    with open(os.path.join(dest, "config.json"), encoding="utf-8") as f:
      self.assertEqual(json.load(f)["sampler"], "blend")
    with open(os.path.join(dest, "COMMAND.md"), encoding="utf-8") as f:
      text = f.read()
    self.assertIn("--sampler blend", text)
    self.assertIn("trained with the quilt sampler", text)
    # The package's sampler is fitted to its weights: evaluating it fits nothing.
    status, stdout, stderr = fixtures.run_program(
        *pretrained.check_command(dest, os.path.join(self.tmp.name, "blend_check")))
    self.assertEqual(status, 0, stderr[-3000:])
    report = json.loads(stdout)
    self.assertEqual(report["expost"]["kind"], "blend")
    self.assertFalse(report["expost"]["refitted_here"])


if __name__ == "__main__":
  tf.test.main()
