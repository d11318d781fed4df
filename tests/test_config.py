"""Tests for vae/config.py and train_loop.py's flags: presets, validation, the saved JSON."""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import pytest
import tensorflow as tf
from absl.testing import parameterized

import train_loop
from pipelines.config import DataConfig
from vae import config as config_lib

ROOT = pathlib.Path(__file__).resolve().parent.parent
# config.json of a smoke run written before the data settings were nested in
# Config (`train_loop.py --preset smoke --dashboard plain`): every field flat.
OLD_RUN = ROOT / "tests" / "data" / "smoke_run_before_restructure"


def parse(*argv):
  return train_loop.config_from_flags(train_loop.argument_parser().parse_args(list(argv)))


class ConfigTest(tf.test.TestCase, parameterized.TestCase):

  def test_flags_override_the_preset(self):
    config = parse("--preset", "smoke", "--latent-dim", "12", "--beta", "0.5",
                   "--widths", "4,8", "--no-flip")
    self.assertEqual(config.preset, "smoke")
    self.assertEqual(config.latent_dim, 12)
    self.assertEqual(config.beta, 0.5)
    self.assertEqual(config.widths, (4, 8))
    self.assertFalse(config.data.flip)
    self.assertEqual(config.data.image_size, config_lib.PRESETS["smoke"]["image_size"])

  def test_every_data_config_field_is_a_flag(self):
    config = parse("--background", "102030", "--val-fraction", "0.2", "--test-fraction", "0.3",
                   "--data-dir", "somewhere", "--image-size", "32", "--cache", "none")
    self.assertEqual(config.data, DataConfig(background="102030", val_fraction=0.2, test_fraction=0.3,
                                             data_dir="somewhere", image_size=32, cache="none"))
    flags = {a.dest for a in train_loop.argument_parser()._actions}  # pylint: disable=protected-access
    self.assertContainsSubset([f.name for f in dataclasses.fields(DataConfig)], flags)

  def test_no_config_field_shadows_a_data_field(self):
    run_fields = {f.name for f in dataclasses.fields(config_lib.Config)}
    self.assertEmpty(run_fields & set(config_lib.DATA_FIELDS))

  def test_json_round_trip_is_identical(self):
    config = config_lib.preset("quality", beta=0.25, image_size=96)
    path = os.path.join(self.get_temp_dir(), "config.json")
    config_lib.save(config, path)
    self.assertEqual(config_lib.load(path), config)
    with open(path, encoding="utf-8") as f:
      self.assertEqual(json.load(f)["data"]["image_size"], 96)

  def test_a_flat_config_json_written_before_nesting_loads(self):
    config = config_lib.load(OLD_RUN / "run_config.json")
    # The model fields added since take the values of the model it trained.
    expected = config_lib.preset("smoke", dashboard="plain", out=config.out,
                                 **config_lib.LEGACY_MODEL_FIELDS)
    self.assertEqual(config, expected)
    self.assertEqual((config.grid_size, config.sampler), (0, "prior"))
    # Fields the old file lacks take their defaults.
    self.assertEqual((config.data.background, config.data.val_fraction), ("ffffff", 0.1))

  @parameterized.named_parameters(
      ("top_level", {"latent_dims": 3}, "latent_dims"),
      ("nested", {"data": {"imagesize": 3}}, "data.imagesize"),
  )
  def test_unknown_field_in_json_is_an_error(self, extra, field):
    values = json.loads(config_lib.Config().to_json())
    for key, value in extra.items():
      values[key] = {**values[key], **value} if isinstance(value, dict) else value
    with self.assertRaisesRegex(ValueError, field):
      config_lib.from_dict(values)

  @parameterized.named_parameters(
      ("image_size", dict(image_size=50), "image_size.*50"),
      ("beta_schedule", dict(beta_schedule="sometimes"), "beta_schedule.*sometimes"),
      ("lr", dict(lr=0.0), "lr must be positive"),
      ("batch_size", dict(batch_size=0), "batch_size must be at least 1"),
      ("beta", dict(beta=-1.0), "beta must not be negative"),
      ("palette_size", dict(palette_size=0), "palette_size must be at least 1, got 0"),
      ("palette_offset", dict(palette_offset=-2.0), "palette_offset must not be negative, got -2"),
      ("output_convs", dict(output_convs=-1), "output_convs must not be negative, got -1"),
      ("channels", dict(channels=2), "channels must be 4"),
      ("val_fraction", dict(val_fraction=1.0), "val_fraction must be in"),
      ("norm", dict(norm="batch"), "norm must be one of group, none, got 'batch'"),
      ("decoder_norm", dict(decoder_norm="layer"),
       "decoder_norm must be one of group, none, got 'layer'"),
      ("condition", dict(condition="colour"), "condition must be one of none, types, got "
       "'colour'"),
      ("condition_dropout", dict(condition_dropout=1.0), r"condition_dropout must be in \[0, 1\), "
       "got 1.0"),
  )
  def test_bad_values_name_the_field_and_value(self, changes, pattern):
    with self.assertRaisesRegex(ValueError, pattern):
      config_lib.replace(config_lib.Config(), **changes)

  def test_replace_takes_data_fields_by_name(self):
    config = config_lib.replace(config_lib.Config(), image_size=32, latent_dim=5)
    self.assertEqual((config.data.image_size, config.latent_dim), (32, 5))
    self.assertEqual(config_lib.flat(config)["image_size"], 32)

  def test_condition_is_none_by_default_a_flag_and_saved(self):
    self.assertEqual(config_lib.Config().condition, "none")
    config = parse("--preset", "smoke", "--condition", "types", "--types-table", "my.csv",
                   "--condition-dropout", "0.2")
    self.assertEqual((config.condition, config.data.types_table, config.condition_dropout),
                     ("types", "my.csv", 0.2))
    self.assertEqual(config_lib.from_dict(json.loads(config.to_json())), config)
    # A config.json written before the field existed is of an unconditional run.
    values = json.loads(config_lib.Config().to_json())
    del values["condition"], values["condition_dropout"], values["data"]["types_table"]
    old = config_lib.from_dict(values)
    self.assertEqual((old.condition, old.data.types_table), ("none", ""))

  @parameterized.parameters(*config_lib.PRESETS)
  def test_every_preset_is_valid(self, name):
    self.assertEqual(config_lib.preset(name).preset, name)


@pytest.mark.slow
class ProgramFlagsTest(tf.test.TestCase, parameterized.TestCase):
  """train_loop.py answers these before TensorFlow loads: one line, status 2."""

  @parameterized.named_parameters(
      ("unknown_flag", ["--latent-dimz", "3"], "unrecognized arguments"),
      ("ill_typed", ["--latent-dim", "many"], "invalid int value"),
      ("bad_value", ["--image-size", "50"], "image_size must be one of"),
      ("bad_data_value", ["--test-fraction", "1.5"], "test_fraction must be in"),
  )
  def test_cli_rejects_unknown_and_ill_typed_flags_in_one_line(self, argv, needle):
    result = subprocess.run([sys.executable, "train_loop.py", *argv], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    self.assertEqual(result.returncode, 2)
    lines = [l for l in result.stderr.splitlines() if "error" in l]
    self.assertLen(lines, 1, result.stderr)
    self.assertIn(needle, lines[0])
    self.assertNotIn("Traceback", result.stderr)


if __name__ == "__main__":
  tf.test.main()
