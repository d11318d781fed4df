"""Command-line plumbing shared by the programs.

`OneLineParser` turns a bad flag into one line on stderr and exit status 2
(argparse's default also prints the whole usage). `add_field_flags` offers
dataclass fields as flags named after them (`--image-size 32`, `--no-flip`),
so flags can never drift from the dataclass, and `from_flags` builds the
dataclass back from the parsed flags.
"""

import argparse
import dataclasses
import sys


class OneLineParser(argparse.ArgumentParser):
  """An ArgumentParser whose errors are one line: `<prog>: error: <message>`."""

  def error(self, message):
    print(f"{self.prog}: error: {message}", file=sys.stderr)
    sys.exit(2)


def add_field_flags(parser, fields, *, unset=False, parsers=None) -> None:
  """Adds one flag per dataclass field, typed by the field's default.

  Args:
    parser: an ArgumentParser or argument group.
    fields: `dataclasses.fields(...)`, or some of them.
    unset: leave flags that are not given out of the parsed namespace
      (default `argparse.SUPPRESS`), so a caller sees which were given;
      else a flag not given takes the field's default.
    parsers: {type: parse function} for defaults of other types than
      bool, int, float and str (e.g. a tuple).
  """
  parsers = parsers or {}
  for field in fields:
    flag = "--" + field.name.replace("_", "-")
    kwargs = dict(default=argparse.SUPPRESS if unset else field.default,
                  help=f"default: {field.default!r}")
    kind = type(field.default)
    if kind is bool:
      kwargs["action"] = argparse.BooleanOptionalAction
    else:
      kwargs.update(type=parsers.get(kind, kind), metavar=field.name.upper())
    parser.add_argument(flag, **kwargs)


def from_flags(cls, args: argparse.Namespace):
  """The dataclass `cls` with every field from the flag of its name (ValueError on a bad value)."""
  return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})
