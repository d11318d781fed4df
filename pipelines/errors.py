"""Exceptions shared by the data pipeline.

`NoImagesError` is public: programs catch it to print one line and exit 2.
`SkipFile` is internal: it carries the reason a single file is left out, so
that one bad file is reported in the summary instead of stopping the run.
`first_line` shortens any error to the one line a user is shown.
"""


class NoImagesError(ValueError):
  """A data folder holds no image the pipeline can use."""


class SkipFile(Exception):
  """One file cannot be used; `str(error)` is the reason shown to the user."""


def first_line(error, default=""):
  """The first line of `error`'s message, or `default` when it has none."""
  return (str(error).strip().splitlines() or [default])[0]
