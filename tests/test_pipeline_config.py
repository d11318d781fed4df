"""Tests for pipelines.config: validation, and its fields as the flags of `python -m pipelines`."""

import dataclasses

import tensorflow as tf

from common import cli
from pipelines import __main__ as inspect_cli
from pipelines.config import BUNDLED_DIR, DataConfig, background_rgb


class DataConfigTest(tf.test.TestCase):

  def test_defaults_describe_the_bundled_set(self):
    config = DataConfig()
    self.assertEqual(config.folder, BUNDLED_DIR)
    self.assertEqual((config.image_size, config.channels, config.scale), (64, 4, "fit"))

  def test_bad_values_name_the_field_and_the_value(self):
    cases = [
        (dict(image_size=4), "image_size .* got 4"),
        (dict(image_size=True), "image_size must be an int, got True"),
        (dict(channels=2), "channels .* got 2"),
        (dict(scale="stretch"), "scale must be one of fit, keep, got 'stretch'"),
        (dict(frames="some"), "frames must be one of first, all, got 'some'"),
        (dict(background="white"), "background .* got 'white'"),
        (dict(cache=""), "cache must be"),
        (dict(val_fraction=1.5), r"val_fraction must be in \[0, 1\), got 1.5"),
        (dict(val_fraction=0.5, test_fraction=0.5), "must leave some training data"),
        (dict(translate=40), r"translate must be in \[0, 32\) .* got 40"),
    ]
    for kwargs, message in cases:
      with self.assertRaisesRegex(ValueError, message, msg=str(kwargs)):
        DataConfig(**kwargs)

  def test_background_accepts_hash_prefix(self):
    self.assertEqual(background_rgb("#ff8000"), (255, 128, 0))


class FlagsTest(tf.test.TestCase):

  def _parse(self, argv):
    return cli.from_flags(DataConfig, inspect_cli.parse_args(argv))

  def test_every_field_has_a_flag_with_its_default(self):
    self.assertEqual(self._parse([]), DataConfig())

  def test_flags_set_fields(self):
    config = self._parse(["--image-size", "32", "--channels", "3", "--scale", "keep",
                          "--no-flip", "--hue", "--val-fraction", "0.2", "--frames", "all"])
    self.assertEqual(config, dataclasses.replace(
        DataConfig(), image_size=32, channels=3, scale="keep", flip=False, hue=True,
        val_fraction=0.2, frames="all"))

  def test_unparsable_flag_exits_2(self):
    with self.assertRaises(SystemExit) as raised:
      self._parse(["--image-size", "big"])
    self.assertEqual(raised.exception.code, 2)


if __name__ == "__main__":
  tf.test.main()
