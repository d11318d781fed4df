"""Errors a user reads: a bad value named with its argument, any error cut to one line.

`check_choice` raises the `ValueError` every layer raises for a setting
outside its choices (`sampler must be one of prior, expost, blend, got
'x'`); `first_line` shortens any error to the one line a program prints
before it exits with status 2.
"""


def check_choice(name, value, choices):
  """Raises ValueError naming `name` and `value` unless `value` is one of `choices`."""
  if value not in choices:
    raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")


def first_line(error, default=""):
  """The first line of `error`'s message, or `default` when it has none."""
  return (str(error).strip().splitlines() or [default])[0]
