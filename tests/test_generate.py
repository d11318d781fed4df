"""Tests for generate.py, the program: files a user gets, byte for byte, and its one-line errors."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import contextlib  # pylint: disable=wrong-import-position
import io  # pylint: disable=wrong-import-position
import json  # pylint: disable=wrong-import-position
import pathlib  # pylint: disable=wrong-import-position
import re  # pylint: disable=wrong-import-position
import tempfile  # pylint: disable=wrong-import-position

import cv2  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import pytest  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

import generate  # pylint: disable=wrong-import-position
from tests import fixtures  # pylint: disable=wrong-import-position
from tests.test_generation import write_sprite  # pylint: disable=wrong-import-position
from vae.rundir import savedmodel  # pylint: disable=wrong-import-position

TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} ")
# Requests that must be answered before TensorFlow loads, all in one fresh
# interpreter: argv lists as JSON in, (status, stdout, stderr) of each out,
# and whether any of them imported TensorFlow.
NO_TENSORFLOW = """
import contextlib, io, json, sys
sys.argv[0] = "generate.py"
import generate
results = {}
for name, argv in json.loads(sys.argv[1]).items():
  stdout, stderr = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
    try:
      status = generate.main(argv)
    except SystemExit as stop:  # argparse
      status = stop.code
  results[name] = [status, stdout.getvalue(), stderr.getvalue()]
print(json.dumps(dict(results=results, tensorflow="tensorflow" in sys.modules)))
"""


def generate_here(*args):
  """(status, stdout, stderr) of generate.py's `main` run in this process.

  TensorFlow is loaded here already, so a request that needs the model skips
  an interpreter's start; what it writes and prints is the program's.
  """
  stdout, stderr = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
    status = generate.main(list(args))
  return status, stdout.getvalue(), stderr.getvalue()


def read_all(directory):
  return {name: (pathlib.Path(directory) / name).read_bytes()
          for name in sorted(os.listdir(directory))}


@pytest.mark.slow
class GenerateProgramTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    tmp = pathlib.Path(cls.tmp.name)
    shared = fixtures.smoke_run()
    run, saved = shared.run_dir, str(tmp / "export")
    savedmodel.export(shared.model, saved, config_json=shared.config.to_json())
    rgb_run = fixtures.smoke_run(channels=3).run_dir
    cls.png = write_sprite(str(tmp / "mine.png"), 57, 43)
    cls.jpeg = write_sprite(str(tmp / "photo.jpg"), 120, 80, (40, 90, 220))
    clear = str(tmp / "clear.png")
    cv2.imwrite(clear, np.zeros((20, 20, 4), np.uint8))
    text = tmp / "notes.png"
    text.write_text("not an image")
    busy = tmp / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    (tmp / "a_file").write_text("x")
    (tmp / "empty" / "checkpoints").mkdir(parents=True)
    cls.out = {name: str(tmp / name) for name in (
        "run1", "run2", "saved1", "saved2", "between", "mix", "like", "options", "forced")}
    forced = pathlib.Path(cls.out["forced"])
    forced.mkdir()
    (forced / "sprite_0099.png").write_bytes(b"stale")
    same = ["-n", "10", "--seed", "3", "--temperature", "0.8"]
    # Three fresh interpreters, side by side: the second of each pair of same
    # commands (the files must not depend on the process that made them), and
    # every request answered before TensorFlow loads.
    started = {
        "run2": fixtures.start_program("generate.py", "--ckpt", run, *same,
                                       "--out", cls.out["run2"]),
        "saved2": fixtures.start_program("generate.py", "--ckpt", saved, *same,
                                         "--out", cls.out["saved2"]),
    }
    # Requests that load the model, in this process meanwhile.
    here = {
        "run1": ["--ckpt", run, *same, "--out", cls.out["run1"]],
        "saved1": ["--ckpt", saved, *same, "--out", cls.out["saved1"]],
        "between": ["--ckpt", run, "--between", cls.png, cls.jpeg, "--steps", "5",
                    "--out", cls.out["between"]],
        "mix": ["--ckpt", saved, "--mix", cls.png, cls.jpeg, "--out", cls.out["mix"]],
        "like": ["--ckpt", run, "--like", cls.jpeg, "-n", "4", "--spread", "0.3",
                 "--out", cls.out["like"]],
        "options": ["--ckpt", run, "-n", "3", "--size", "96", "--scale", "2",
                    "--pixel-art", "--format", "webp", "--out", cls.out["options"]],
        "forced": ["--ckpt", run, "-n", "2", "--force", "--out", cls.out["forced"]],
        # Errors found after the model loads.
        "unreadable": ["--ckpt", run, "--like", str(text), "--out", str(tmp / "o1")],
        "transparent": ["--ckpt", run, "--mix", clear, cls.png, "--out", str(tmp / "o2")],
        "rgb_as_rgba": ["--ckpt", rgb_run, "--channels", "4", "--out", str(tmp / "o3")],
        "no_checkpoint": ["--ckpt", str(tmp / "empty"), "--out", str(tmp / "o4")],
        "untyped": ["--ckpt", run, "--type", "fire", "--out", str(tmp / "o8")],
    }
    # Errors found before TensorFlow loads.
    quick = {
        "missing_ckpt": ["--ckpt", str(tmp / "nowhere"), "--out", str(tmp / "o5")],
        "no_pretrained": ["--out", str(tmp / "o6")],
        "zero": ["--ckpt", run, "-n", "0"],
        "out_is_a_file": ["--ckpt", run, "--out", str(tmp / "a_file")],
        "out_holds_files": ["--ckpt", run, "--out", str(busy)],
        "missing_image": ["--ckpt", run, "--between", cls.png, str(tmp / "gone.png"),
                          "--out", str(tmp / "o7")],
        "bad_size": ["--ckpt", run, "--size", "48"],
        "one_end": ["--ckpt", run, "--between", cls.png],
        "two_modes": ["--ckpt", run, "--mix", cls.png, cls.png, "--like", cls.png],
        "one_step": ["--ckpt", run, "--between", cls.png, cls.png, "--steps", "1"],
        "cold": ["--ckpt", run, "--temperature", "0"],
        "stray_spread": ["--ckpt", run, "--spread", "2"],
        "bad_type": ["--ckpt", run, "--type", "fyre"],
        "type_mix": ["--ckpt", run, "--type", "fire", "--mix", cls.png, cls.png],
        "help": ["--help"],
    }
    started["quick"] = fixtures.start_program(
        "-c", NO_TENSORFLOW, json.dumps(quick),
        env={"POKEVAE_PRETRAINED": str(tmp / "no_pretrained_here")})
    cls.results = {name: generate_here(*args) for name, args in here.items()}
    cls.results.update({name: fixtures.finish_program(process)
                        for name, process in started.items()})
    status, stdout, stderr = cls.results.pop("quick")
    assert status == 0, stderr[-3000:]
    answered = json.loads(stdout)
    cls.results.update({name: tuple(result) for name, result in answered["results"].items()})
    cls.quick_imported_tensorflow = answered["tensorflow"]

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def assertSucceeded(self, name):
    status, stdout, stderr = self.results[name]
    self.assertEqual(status, 0, stderr)
    self.assertStartsWith(stdout, "wrote ")
    self.assertNotIn("Traceback", stderr)

  def assertOneLineError(self, name, *phrases):
    status, stdout, stderr = self.results[name]
    self.assertEqual(status, 2, stderr)
    self.assertNotIn("Traceback", stderr)
    self.assertNotIn("wrote", stdout)
    lines = [line for line in stderr.splitlines() if line and not TF_LOG_LINE.match(line)]
    self.assertLen(lines, 1, stderr)
    self.assertStartsWith(lines[0], "generate.py: error: ")
    for phrase in phrases:
      self.assertIn(phrase, lines[0])

  def assertAnsweredWithoutTensorFlow(self, name, *phrases):
    self.assertOneLineError(name, *phrases)
    self.assertFalse(self.quick_imported_tensorflow)

  def image(self, out, name):
    image = cv2.imread(os.path.join(self.out[out], name), cv2.IMREAD_UNCHANGED)
    self.assertIsNotNone(image, name)
    return image

  def test_the_same_command_gives_byte_identical_files_from_a_run(self):
    self.assertSucceeded("run1")
    self.assertSucceeded("run2")
    first = read_all(self.out["run1"])
    self.assertEqual(sorted(first), sorted(
        [f"sprite_{i:04d}.png" for i in range(10)] + ["sheet.png", "generate.json"]))
    self.assertEqual(first, read_all(self.out["run2"]))
    # Ten different sprites, not one drawn ten times.
    self.assertNotEqual(first["sprite_0000.png"], first["sprite_0001.png"])

  def test_the_same_command_gives_byte_identical_files_from_a_saved_model(self):
    self.assertSucceeded("saved1")
    self.assertSucceeded("saved2")
    self.assertEqual(read_all(self.out["saved1"]), read_all(self.out["saved2"]))

  def test_sprites_are_straight_alpha_pngs_and_the_sheet_holds_them_all(self):
    sheet = self.image("run1", "sheet.png")
    self.assertEqual(sheet.shape, (2 * 33 + 1, 8 * 33 + 1, 4))
    for i in (0, 9):
      sprite = self.image("run1", f"sprite_{i:04d}.png")
      self.assertEqual(sprite.shape, (32, 32, 4))
      top, left = 1 + 33 * (i // 8), 1 + 33 * (i % 8)
      self.assertAllEqual(sheet[top:top + 32, left:left + 32], sprite)

  def test_generate_json_records_every_setting(self):
    with open(os.path.join(self.out["run1"], "generate.json"), encoding="utf-8") as f:
      record = json.load(f)
    self.assertEqual(record["checkpoint"], fixtures.smoke_run().prefix)
    self.assertEqual(record["mode"], "sample")
    self.assertIn("quilts: z1 from a", record["sampler"])
    settings = record["settings"]
    self.assertEqual((settings["seed"], settings["temperature"], settings["n"], settings["size"],
                      settings["scale"], settings["pixel_art"], settings["format"]),
                     (3, 0.8, 10, "native", 1, False, "png"))
    self.assertEqual(record["model"], {"image_size": 32, "channels": 4, "code_dim": 8 + 8 * 8 * 2})
    self.assertEqual(record["config"]["preset"], "smoke")
    self.assertIn("sheet.png", record["files"])

  def test_between_two_sprites_of_other_sizes_and_formats_writes_frames_and_a_strip(self):
    self.assertSucceeded("between")
    names = sorted(os.listdir(self.out["between"]))
    self.assertEqual(names, [f"frame_{i:04d}.png" for i in range(5)] +
                     ["generate.json", "strip.png"])
    self.assertEqual(self.image("between", "frame_0004.png").shape, (32, 32, 4))
    # The strip: sprite A, five frames, sprite B.
    self.assertEqual(self.image("between", "strip.png").shape, (34, 7 * 33 + 1, 4))
    with open(os.path.join(self.out["between"], "generate.json"), encoding="utf-8") as f:
      record = json.load(f)
    self.assertEqual([i["path"] for i in record["inputs"]], [self.png, self.jpeg])
    self.assertLen(record["inputs"][1]["sha256"], 64)

  def test_mix_writes_one_fusion_and_a_strip(self):
    self.assertSucceeded("mix")
    self.assertEqual(sorted(os.listdir(self.out["mix"])),
                     ["generate.json", "mix.png", "strip.png"])
    self.assertEqual(self.image("mix", "strip.png").shape, (34, 3 * 33 + 1, 4))

  def test_like_writes_n_variations(self):
    self.assertSucceeded("like")
    self.assertLen([n for n in os.listdir(self.out["like"]) if n.startswith("sprite_")], 4)

  def test_size_scale_pixel_art_and_webp_shape_the_files(self):
    self.assertSucceeded("options")
    sprite = self.image("options", "sprite_0002.webp")
    self.assertEqual(sprite.shape, (192, 192, 4))
    self.assertAllInSet(np.unique(sprite[..., 3]), [0, 255])
    self.assertTrue(os.path.exists(os.path.join(self.out["options"], "sheet.webp")))

  def test_force_writes_into_a_used_folder_and_clears_the_old_sprites(self):
    self.assertSucceeded("forced")
    self.assertEqual(sorted(os.listdir(self.out["forced"])),
                     ["generate.json", "sheet.png", "sprite_0000.png", "sprite_0001.png"])

  def test_an_unreadable_image_is_one_line_and_status_2(self):
    self.assertOneLineError("unreadable", "notes.png")

  def test_a_fully_transparent_image_is_one_line_and_status_2(self):
    self.assertOneLineError("transparent", "clear.png", "no visible pixel")

  def test_rgba_from_a_three_channel_checkpoint_is_one_line_and_status_2(self):
    self.assertOneLineError("rgb_as_rgba", "--channels 4", "3 channels")

  def test_a_folder_without_checkpoints_is_one_line_and_status_2(self):
    self.assertOneLineError("no_checkpoint", "empty", "checkpoint")

  def test_a_type_on_a_model_whose_sampler_holds_none_is_one_line_and_status_2(self):
    self.assertOneLineError("untyped", "cannot make sprites of a type", "holds no types")

  def test_a_missing_checkpoint_answers_before_tensorflow_loads(self):
    self.assertAnsweredWithoutTensorFlow("missing_ckpt", "nowhere does not exist")

  def test_no_ckpt_and_no_pretrained_model_says_to_train_or_pass_ckpt(self):
    self.assertAnsweredWithoutTensorFlow("no_pretrained", "no_pretrained_here", "train",
                                         "--ckpt")

  def test_output_problems_answer_before_tensorflow_loads(self):
    self.assertAnsweredWithoutTensorFlow("out_is_a_file", "a_file is a file")
    self.assertAnsweredWithoutTensorFlow("out_holds_files", "--force")
    self.assertEqual(os.listdir(os.path.join(self.tmp.name, "busy")), ["keep.txt"])

  def test_a_missing_image_answers_before_tensorflow_loads(self):
    self.assertAnsweredWithoutTensorFlow("missing_image", "gone.png")

  def test_help_answers_before_tensorflow_loads(self):
    status, stdout, stderr = self.results["help"]
    self.assertEqual(status, 0, stderr)
    for words in ("usage: generate.py", "--between A B", "--like A", "generate.json"):
      self.assertIn(words, stdout)
    self.assertFalse(self.quick_imported_tensorflow)

  def test_bad_flags_answer_before_tensorflow_loads(self):
    for name, phrase in (("zero", "-n must be at least 1, got 0"), ("bad_size", "--size"),
                         ("one_end", "--between"), ("two_modes", "not allowed with"),
                         ("one_step", "--steps must be at least 2"),
                         ("cold", "--temperature must be positive"),
                         ("stray_spread", "--spread goes with --like"),
                         ("bad_type", "--type: unknown type 'fyre'; the types are Normal, "),
                         ("type_mix", "--type goes with sampling or --like")):
      with self.subTest(name):
        status, stdout, stderr = self.results[name]
        self.assertEqual(status, 2, stderr)
        lines = [line for line in stderr.splitlines() if line]
        self.assertLen(lines, 1, stderr)
        self.assertIn(phrase, lines[0])
        self.assertFalse(self.quick_imported_tensorflow)


if __name__ == "__main__":
  tf.test.main()
