"""Tests for `python -m pipelines`: summaries, manifest, sheet, and exit status 2."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import contextlib
import csv
import io
import json
import pathlib
import subprocess
import sys
import tempfile

import cv2
import pytest
import tensorflow as tf

from pipelines import __main__ as inspect_cli
from pipelines import splits
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

  def test_named_box_sprites_with_forms_keep_each_species_in_one_split(self):
    forms = {"abomasnow": ["", "-mega"], "charizard": ["", "-mega-x", "-mega-y", "-gmax"],
             "vulpix": ["", "-alola"], "ninetales": ["", "-alola"], "meowth": ["", "-alola", "-galar",
             "-gmax"], "growlithe": ["", "-hisui"], "wooper": ["", "-paldea"], "pikachu": ["", "-gmax",
             "-f", "-original-cap"], "unown": ["-a", "-b", "-exclamation"], "burmy": ["", "-1", "-2"],
             "meowstic": ["", "-f"], "slowbro": ["", "-mega", "-galar"], "mr-mime": ["", "-galar"],
             "nidoran-f": [""], "nidoran-m": [""], "porygon-z": [""], "ho-oh": [""],
             "jangmo-o": [""], "type-null": [""], "tapu-koko": [""], "darmanitan": ["", "-galar",
             "-zen", "-galar-zen"], "zygarde": ["", "-10", "-complete"], "venusaur": ["", "-mega",
             "-gmax"], "rotom": ["", "-wash", "-heat"], "deoxys": ["", "-attack", "-speed"]}
    species_of = {f"{variant}/{name}{form}{marker}.png": name
                  for name, suffixes in forms.items() for form in suffixes
                  for variant, marker in (("regular", ""), ("shiny", "-shiny"))}
    root = tempfile.mkdtemp(dir=self.get_temp_dir())
    fx.sprite_folder(root, sorted(species_of))
    manifest = os.path.join(root, "m.csv")
    with contextlib.redirect_stdout(io.StringIO()):
      self.assertEqual(inspect_cli.main(["--data-dir", root, "--image-size", "16", "--json",
                                         "--manifest", manifest]), 0)
    with open(manifest, newline="", encoding="utf-8") as f:
      rows = list(csv.DictReader(f))
    self.assertEqual({r["path"]: r["group"] for r in rows}, species_of)
    splits_of_species = {}
    for row in rows:
      splits_of_species.setdefault(species_of[row["path"]], set()).add(row["split"])
    self.assertEqual({k: v for k, v in splits_of_species.items() if len(v) > 1}, {})
    self.assertLen(set().union(*splits_of_species.values()), 3)
    # The folder is a real test: grouped by file stem, some species would leak.
    by_stem = {}
    for path, name in species_of.items():
      by_stem.setdefault(name, set()).add(splits.split_of(pathlib.PurePath(path).stem))
    self.assertNotEmpty([name for name, found in by_stem.items() if len(found) > 1])

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


class TypesOutputTest(tf.test.TestCase):
  """With a types table: files without a row are named, the manifest has each file's types."""

  def setUp(self):
    super().setUp()
    self.root = tempfile.mkdtemp(dir=self.get_temp_dir())
    fx.sprite_folder(self.root, ["1.png", "shiny/1.png", "2-blue.png", "fakemon.png"])
    self.table = pathlib.Path(self.root, "types.csv")
    self.table.write_text("num,form,name,base_species,primary_type,secondary_type\n"
                          "1,,Emberling,Emberling,Fire,\n2,,Tidling,Tidling,Water,Flying\n")

  def _main(self, *args):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
      status = inspect_cli.main(["--data-dir", self.root, "--image-size", "16", *args])
    return status, stdout.getvalue(), stderr.getvalue()

  def test_table_names_the_file_without_a_row_and_manifest_has_types(self):
    manifest = os.path.join(self.root, "m.csv")
    status, stdout, _ = self._main("--manifest", manifest)
    self.assertEqual(status, 0)
    self.assertRegex(stdout, r"files with a row +│ 3 ")
    self.assertRegex(stdout, r"files without a row +│ 1 ")
    self.assertIn("fakemon.png", stdout)
    with open(manifest, newline="", encoding="utf-8") as f:
      rows = {r["path"]: (r["species"], r["types"]) for r in csv.DictReader(f)}
    self.assertEqual(rows, {"1.png": ("Emberling", "Fire"), "shiny/1.png": ("Emberling", "Fire"),
                            "2-blue.png": ("Tidling", "Water/Flying"), "fakemon.png": ("", "")})

  def test_json_lists_every_file_without_a_row(self):
    status, stdout, _ = self._main("--json")
    self.assertEqual(status, 0)
    types = json.loads(stdout)["types"]
    self.assertEqual((types["with_row"], types["without_row"]), (3, ["fakemon.png"]))

  def test_without_a_table_the_summary_says_so(self):
    self.table.unlink()
    status, stdout, _ = self._main()
    self.assertEqual(status, 0)
    self.assertIn("types: none", stdout)

  def test_bad_table_or_missing_table_is_one_line_and_status_2(self):
    self.table.write_text("num,form,name,base_species,primary_type,secondary_type\n"
                          "1,,Emberling,Emberling,Fyre,\n")
    for args, message in [((), "types.csv:2: unknown type 'Fyre'"),
                          (("--types-table", "/nowhere.csv"), "types_table /nowhere.csv does not "
                                                              "exist")]:
      status, stdout, stderr = self._main(*args)
      self.assertEqual(status, 2, msg=args)
      self.assertLen(stderr.splitlines(), 1, msg=stderr)
      self.assertIn(message, stderr)
      self.assertEqual(stdout, "")


if __name__ == "__main__":
  tf.test.main()
