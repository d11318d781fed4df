"""Tests for evaluate.py, the program: a whole run, and its one-line errors."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import glob  # pylint: disable=wrong-import-position
import json  # pylint: disable=wrong-import-position
import pathlib  # pylint: disable=wrong-import-position
import re  # pylint: disable=wrong-import-position
import tempfile  # pylint: disable=wrong-import-position

import cv2  # pylint: disable=wrong-import-position
import pytest  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

import evaluate  # pylint: disable=wrong-import-position
from tests import browser  # pylint: disable=wrong-import-position
from tests import fixtures  # pylint: disable=wrong-import-position
from tests import test_evaluation_page as page_test  # pylint: disable=wrong-import-position
from vae import config as config_lib  # pylint: disable=wrong-import-position
from vae.evaluation import page  # pylint: disable=wrong-import-position
from vae.evaluation import report as evaluation  # pylint: disable=wrong-import-position

FAST = ["--iw-samples", "10", "--num-samples", "50"]
PICTURES = ("reconstructions.png", "samples.png", "samples_vs_real.png", "interpolations.png",
            "traversals.png", "nearest_neighbors.png", "samples_pixel_art.png")
# TensorFlow's own C++ log lines (e.g. "E0000 00:00:... cuda_platform.cc:52] ...")
# are not the program's output.
TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} ")


def start(*args):
  """Starts evaluate.py in a fresh interpreter, as a user would."""
  return fixtures.start_program("evaluate.py", *args)


@pytest.mark.slow
class EvaluateProgramTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    tmp = pathlib.Path(cls.tmp.name)
    shared = fixtures.smoke_run()
    sprites, config, model = fixtures.shared_sprites(), shared.config, shared.model
    # A copy of the shared run: this one gets a training curve in tb/.
    cls.run_dir = str(tmp / "run")
    cls.prefix = fixtures.make_run(cls.run_dir, config, model)
    with tf.summary.create_file_writer(os.path.join(cls.run_dir, "tb")).as_default():
      for epoch in range(1, 6):  # What train_loop.py writes after each epoch.
        tf.summary.scalar(page.CURVE_TAG, 3.0 + 1.0 / epoch, step=20 * epoch)

    truncated = str(tmp / "truncated")
    data, = glob.glob(fixtures.make_run(truncated, config, model) + ".data-*")
    with open(data, "r+b") as f:
      f.truncate(os.path.getsize(data) // 2)
    edited = str(tmp / "edited")
    fixtures.make_run(edited, config, model)
    config_lib.save(config_lib.preset("smoke", data_dir=sprites, latent_dim=9),
                    os.path.join(edited, "config.json"))
    (tmp / "empty" / "checkpoints").mkdir(parents=True)

    cls.out, cls.export = str(tmp / "out"), str(tmp / "export")
    # The processes run side by side: each spends most of its time starting.
    runs = {
        "full": start("--ckpt", cls.run_dir, "--out", cls.out, "--export", cls.export,
                      "--json", "--pixel-art", *FAST),
        "other": start("--ckpt", cls.run_dir, "--sampler", "blend", "--out", str(tmp / "other"),
                       "--export", str(tmp / "other_export"), "--json", *FAST),
        "missing": start("--ckpt", str(tmp / "nowhere"), *FAST),
        "empty": start("--ckpt", str(tmp / "empty"), *FAST),
        "truncated": start("--ckpt", truncated, "--data-dir", sprites, *FAST),
        "edited": start("--ckpt", edited, *FAST),
    }
    cls.results = {name: fixtures.finish_program(process) for name, process in runs.items()}

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def assertOneLineError(self, name, *phrases):
    status, stdout, stderr = self.results[name]
    self.assertEqual(status, 2, stderr)
    self.assertNotIn("Traceback", stderr)
    self.assertEqual(stdout, "")
    lines = [line for line in stderr.splitlines() if line and not TF_LOG_LINE.match(line)]
    self.assertLen(lines, 1, stderr)
    self.assertStartsWith(lines[0], "evaluate.py: error: ")
    for phrase in phrases:
      self.assertIn(phrase, lines[0])

  def test_run_prints_the_report_as_json_and_writes_the_same_report_json(self):
    status, stdout, stderr = self.results["full"]
    self.assertEqual(status, 0, stderr)
    printed = json.loads(stdout)
    with open(os.path.join(self.out, "report.json"), encoding="utf-8") as f:
      self.assertEqual(json.load(f), printed)
    self.assertEqual(list(printed), list(evaluation.REPORT_KEYS))
    self.assertEqual((printed["split"], printed["checkpoint"], printed["iw_samples"],
                      printed["num_samples"], printed["seed"]),
                     ("test", self.prefix, 10, 50, 0))
    # The table went to stderr, every metric a row, its feature space named.
    for key in ("bits_per_dim_iwae", "fd", "kid", "coverage", "memorization", "kl_per_dim"):
      self.assertRegex(stderr, rf"\n. {key} ")
    self.assertIn("random-convnet", stderr)
    self.assertIn("not ImageNet FID", stderr)
    self.assertIn("near-copies (ratio < ", stderr)
    # The silhouette test, with the species of the training sprites.
    self.assertBetween(printed["memorization"]["shape_near_copy_fraction"], 0.0, 1.0)
    self.assertIn("memorization (shapes)", stderr)

  def test_run_writes_every_picture_with_an_alpha_channel(self):
    for name in PICTURES:
      picture = cv2.imread(os.path.join(self.out, name), cv2.IMREAD_UNCHANGED)
      self.assertIsNotNone(picture, name)
      self.assertEqual(picture.shape[2], 4, name)
      self.assertIn(0, picture[..., 3], name)  # Transparent padding and background.
    samples = cv2.imread(os.path.join(self.out, "samples.png"), cv2.IMREAD_UNCHANGED)
    self.assertEqual(samples.shape, (7 * 129 + 1, 8 * 129 + 1, 4))  # 50 samples, 8 a row.

  def read_page(self):
    with open(os.path.join(self.out, "report.html"), encoding="utf-8") as f:
      return f.read()

  def test_report_page_shows_every_metric_of_report_json_with_its_meaning(self):
    with open(os.path.join(self.out, "report.json"), encoding="utf-8") as f:
      report = json.load(f)
    text = self.read_page()
    parsed = page_test.parse(text)
    for key in page.flatten(report):
      self.assertIn(key, parsed.cells + parsed.titles)
    self.assertNotIn(page.UNDESCRIBED, text)
    for key in ("latent_dim", "widths", "data.image_size"):  # the run's config
      self.assertIn(key, parsed.cells)
    self.assertIn("polyline", parsed.tags)  # the validation curve
    self.assertIn("after each of 5 epochs", text)

  def test_report_page_embeds_every_picture_and_refers_to_nothing_outside(self):
    text = self.read_page()
    parsed = page_test.parse(text)
    self.assertLen(parsed.images, len(PICTURES))
    for src, name in zip(parsed.images, PICTURES):
      with self.subTest(name):
        page_test.assert_same_picture(self, page_test.decode_data_uri(src),
                            cv2.imread(os.path.join(self.out, name), cv2.IMREAD_UNCHANGED))
    self.assertTrue(all(ref.startswith("data:") for ref in parsed.references))
    # No address of anything elsewhere (base64 payloads aside, which may spell anything).
    self.assertFalse(re.search(r"https?:|//", re.sub(r'data:[^"]*', "", text)))
    self.assertNotIn("<script", text)

  def test_report_page_opens_in_a_headless_browser_without_errors(self):
    shot = browser.check_page(self, os.path.join(self.out, "report.html"), "report.png")
    print(f"screenshot of report.html: {shot}")

  def test_run_exports_a_saved_model_with_the_four_signatures(self):
    loaded = tf.saved_model.load(self.export)
    self.assertCountEqual(loaded.signatures, ["sample", "encode", "decode", "reconstruct"])

  def test_another_sampler_is_fitted_reported_and_exported_with_its_config(self):
    status, stdout, stderr = self.results["other"]
    self.assertEqual(status, 0, stderr)
    report = json.loads(stdout)
    self.assertEqual(report["expost"]["kind"], "blend")
    self.assertTrue(report["expost"]["refitted_here"])
    self.assertEqual(report["sampler"], "blend")
    export = os.path.join(self.tmp.name, "other_export")
    with open(os.path.join(export, "assets.extra", "config.json"), encoding="utf-8") as f:
      self.assertEqual(json.load(f)["sampler"], "blend")  # not the run's "quilt"

  def test_a_missing_path_is_one_line_and_status_2(self):
    self.assertOneLineError("missing", "nowhere does not exist")

  def test_a_folder_without_checkpoints_is_one_line_and_status_2(self):
    self.assertOneLineError("empty", "empty", "checkpoint")

  def test_a_truncated_checkpoint_is_one_line_and_status_2(self):
    self.assertOneLineError("truncated", "no readable checkpoint", ".data-00000-of-00001 is damaged")

  def test_a_config_that_does_not_match_the_checkpoint_is_one_line_and_status_2(self):
    self.assertOneLineError("edited", "does not match", "config.json", "shape")

  def test_default_iw_samples_depend_on_whether_a_gpu_is_visible(self):
    expected = 1000 if tf.config.list_physical_devices("GPU") else 100
    self.assertIsNone(evaluate.parse_args(["--ckpt", "x"]).iw_samples)
    self.assertEqual(evaluate.default_iw_samples(), expected)
    self.assertEqual(evaluate.parse_args(["--ckpt", "x", "--iw-samples", "7"]).iw_samples, 7)

  def test_bad_flag_values_exit_with_status_2(self):
    for flags in (["--iw-samples", "0"], ["--num-samples", "1"], ["--temperature", "0"],
                  ["--limit", "1"]):
      with self.assertRaises(SystemExit) as raised:
        evaluate.parse_args(["--ckpt", "x", *flags])
      self.assertEqual(raised.exception.code, 2)


if __name__ == "__main__":
  tf.test.main()
