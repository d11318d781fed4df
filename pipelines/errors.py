"""Exceptions shared by the data pipeline.

`NoImagesError` is public: programs catch it to print one line and exit 2.
`SkipFile` is internal: it carries the reason a single file is left out, so
that one bad file is reported in the summary instead of stopping the run.
"""


class NoImagesError(ValueError):
  """A data folder holds no image the pipeline can use."""


class SkipFile(Exception):
  """One file cannot be used; `str(error)` is the reason shown to the user."""
