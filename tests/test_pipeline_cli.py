"""Tests for `python -m pipelines`: summaries, manifest, sheet, and exit status 2."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import contextlib
import csv
import io
import json
import subprocess
import sys
import tempfile

import cv2
import pytest
import tensorflow as tf

from pipelines import __main__ as inspect_cli
from tests import fixtures as fx

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args):
  """Runs the CLI in a fresh process, as a user would."""
  return subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=REPO,
                        capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
class ExitStatusTest(tf.test.TestCase):
  """Failures are one line on stderr and status 2, before TensorFlow even loads."""

  def test_empty_folder_exits_2_with_one_line(self):
    root = tempfile.mkdtemp(dir=self.get_temp_dir())
    done = _run("--data-dir", root)
    self.assertEqual(done.returncode, 2)
    self.assertEqual(done.stderr.splitlines(), [f"python -m pipelines: error: no image files "
                                                f"(.png, .jpg, .jpeg, .gif, .bmp, .webp, "
                                                f".tif, .tiff) in {root}"])
    self.assertEqual(done.stdout, "")

  def test_bad_flag_value_exits_2_with_one_line(self):
    for args, message in [(["--channels", "5"], "channels must be 4"),
                          (["--scale", "huge"], "scale must be one of fit, keep"),
                          (["--image-size", "big"], "invalid int value: 'big'")]:
      done = _run(*args)
      self.assertEqual(done.returncode, 2, msg=args)
      self.assertLen(done.stderr.splitlines(), 1, msg=done.stderr)
      self.assertIn(message, done.stderr)


class OutputTest(tf.test.TestCase):

  def test_json_manifest_and_sheet_describe_a_mixed_folder(self):
    root = tempfile.mkdtemp(dir=self.get_temp_dir())
    fx.sprite_folder(root, [f"{v}/{n}.png" for n in range(1, 21) for v in ("a", "b")])
    with open(os.path.join(root, "broken.gif"), "wb") as f:
      f.write(b"GIF89a")
    manifest = os.path.join(root, "out", "manifest.csv")
    sheet = os.path.join(root, "out", "sheet.png")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
      status = inspect_cli.main(["--data-dir", root, "--image-size", "16", "--json",
                                 "--manifest", manifest, "--sheet", sheet, "--sheet-size", "10"])
    self.assertEqual(status, 0)
    summary = json.loads(stdout.getvalue())
    self.assertEqual((summary["files"], summary["decoded"]), (41, 40))
    self.assertEqual([s["path"] for s in summary["skipped"]], ["broken.gif"])
    self.assertEqual(sum(summary["images"].values()), 40)
    with open(manifest, newline="", encoding="utf-8") as f:
      rows = list(csv.DictReader(f))
    self.assertLen(rows, 41)
    split_of_group = {}
    for row in rows:
      self.assertEqual(split_of_group.setdefault(row["group"], row["split"]), row["split"])
    self.assertEqual(cv2.imread(sheet, cv2.IMREAD_UNCHANGED).shape, (2 * 33 + 1, 8 * 33 + 1, 4))

  def test_table_output_lists_skipped_files(self):
    root = tempfile.mkdtemp(dir=self.get_temp_dir())
    fx.sprite_folder(root, ["1.png", "2.png"])
    with open(os.path.join(root, "zero.png"), "wb"):
      pass
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
      self.assertEqual(inspect_cli.main(["--data-dir", root, "--image-size", "16"]), 0)
    self.assertIn("zero.png", stdout.getvalue())
    self.assertIn("empty file (0 bytes)", stdout.getvalue())


if __name__ == "__main__":
  tf.test.main()
