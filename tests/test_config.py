"""Tests for vae.config: presets, flags, validation and the saved JSON."""

import json
import os
import subprocess
import sys

import tensorflow as tf

from vae import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ConfigTest(tf.test.TestCase):

  def parse(self, *argv):
    parser = config_lib.argument_parser("train_loop.py", "test")
    return config_lib.from_args(parser.parse_args(list(argv)))

  def test_flags_override_the_preset(self):
    config = self.parse("--preset", "smoke", "--latent-dim", "12", "--beta", "0.5",
                        "--widths", "4,8", "--no-flip")
    self.assertEqual(config.preset, "smoke")
    self.assertEqual(config.latent_dim, 12)
    self.assertEqual(config.beta, 0.5)
    self.assertEqual(config.widths, (4, 8))
    self.assertFalse(config.flip)
    self.assertEqual(config.image_size, config_lib.PRESETS["smoke"]["image_size"])

  def test_json_round_trip_is_identical(self):
    config = config_lib.preset("quality", beta=0.25)
    path = os.path.join(self.get_temp_dir(), "config.json")
    config_lib.save(config, path)
    self.assertEqual(config_lib.load(path), config)

  def test_unknown_field_in_json_is_an_error(self):
    values = json.loads(config_lib.Config().to_json())
    values["latent_dims"] = 3
    with self.assertRaisesRegex(ValueError, "latent_dims"):
      config_lib.from_dict(values)

  def test_bad_values_name_the_field_and_value(self):
    for kwargs, pattern in [(dict(image_size=50), "image_size.*50"),
                            (dict(beta_schedule="sometimes"), "beta_schedule.*sometimes"),
                            (dict(lr=0.0), "lr must be positive"),
                            (dict(batch_size=0), "batch_size must be at least 1"),
                            (dict(beta=-1.0), "beta must not be negative")]:
      with self.subTest(**kwargs):
        with self.assertRaisesRegex(ValueError, pattern):
          config_lib.Config(**kwargs)

  def test_every_preset_is_valid(self):
    for name in config_lib.PRESETS:
      self.assertEqual(config_lib.preset(name).preset, name)

  def test_cli_rejects_unknown_and_ill_typed_flags_in_one_line(self):
    for argv, needle in [(["--latent-dimz", "3"], "unrecognized arguments"),
                         (["--latent-dim", "many"], "invalid int value"),
                         (["--image-size", "50"], "image_size must be one of")]:
      with self.subTest(argv=argv):
        result = subprocess.run([sys.executable, "train_loop.py", *argv], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 2)
        lines = [l for l in result.stderr.splitlines() if "error" in l]
        self.assertLen(lines, 1, result.stderr)
        self.assertIn(needle, lines[0])
        self.assertNotIn("Traceback", result.stderr)


if __name__ == "__main__":
  tf.test.main()
