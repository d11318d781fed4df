"""Command-line plumbing shared by the data programs.

`OneLineParser` turns a bad flag into one line on stderr and exit status 2
(argparse's default also prints the whole usage). `add_config_flags` offers
every `DataConfig` field as a flag named after it (`--image-size 32`,
`--no-flip`), so the flags can never drift from the dataclass.
"""

import argparse
import dataclasses
import sys

from pipelines.config import DataConfig


class OneLineParser(argparse.ArgumentParser):
  """An ArgumentParser whose errors are one line: `<prog>: error: <message>`."""

  def error(self, message):
    print(f"{self.prog}: error: {message}", file=sys.stderr)
    sys.exit(2)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
  """Adds one flag per `DataConfig` field, with the field's default and docs."""
  group = parser.add_argument_group("data", "DataConfig fields (see pipelines/config.py)")
  for field in dataclasses.fields(DataConfig):
    flag = "--" + field.name.replace("_", "-")
    if field.type in (bool, "bool"):
      group.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default)
    else:
      kind = {"int": int, "float": float, "str": str}.get(field.type, field.type)
      group.add_argument(flag, type=kind, default=field.default,
                         metavar=field.name.upper(), help=f"default: {field.default!r}")


def config_from_args(args: argparse.Namespace) -> DataConfig:
  """Builds the `DataConfig` from parsed flags (ValueError on a bad value)."""
  return DataConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(DataConfig)})
