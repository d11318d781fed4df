"""Tests for common/cli.py: dataclass fields as flags, and argparse errors in one line."""

import contextlib
import dataclasses
import io

import tensorflow as tf

from common import cli


@dataclasses.dataclass(frozen=True)
class Settings:
  size: int = 64
  rate: float = 0.5
  name: str = "x"
  flip: bool = True
  widths: tuple = (1, 2)


def _parser(**kwargs):
  parser = cli.OneLineParser(prog="prog")
  cli.add_field_flags(parser, dataclasses.fields(Settings),
                      parsers={tuple: lambda text: tuple(map(int, text.split(",")))}, **kwargs)
  return parser


class FieldFlagsTest(tf.test.TestCase):

  def test_every_field_is_a_flag_with_its_default(self):
    self.assertEqual(cli.from_flags(Settings, _parser().parse_args([])), Settings())

  def test_flags_are_typed_by_the_default_and_booleans_have_a_no_form(self):
    args = _parser().parse_args(["--size", "32", "--rate", "0.25", "--name", "y", "--no-flip",
                                 "--widths", "3,4,5"])
    self.assertEqual(cli.from_flags(Settings, args),
                     Settings(size=32, rate=0.25, name="y", flip=False, widths=(3, 4, 5)))

  def test_unset_leaves_flags_not_given_out_of_the_namespace(self):
    self.assertEqual(vars(_parser(unset=True).parse_args(["--size", "8"])), {"size": 8})


class OneLineParserTest(tf.test.TestCase):

  def test_a_bad_flag_is_one_line_on_stderr_and_status_2(self):
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as raised:
      _parser().parse_args(["--size", "big"])
    self.assertEqual(raised.exception.code, 2)
    self.assertEqual(stderr.getvalue(),
                     "prog: error: argument --size: invalid int value: 'big'\n")

if __name__ == "__main__":
  tf.test.main()
