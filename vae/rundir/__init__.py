"""The run directory's room: everything that reads or writes a run's folder.

A run directory (`train_loop.py --out RUN`) holds `config.json`,
`checkpoints/latest/` and `checkpoints/best/`, and what the programs write
beside them (`tb/`, `previews/`, `summary.json`, `eval/`, an export). In the
manner of Orbit's `CheckpointManager`, one place owns it and training,
evaluation and generation ask it; none of them reaches into another:

* `lock`: one process writes a run directory at a time (`RUN/lock.json`).
* `files`: writes that leave either the whole file or none under its final
  name, and the one line a failed write (a full disk) is told in.
* `checkpoints`: saving, rotating and restoring a run's checkpoints, skipping
  a damaged one for the newest that reads.
* `load`: a path (run directory, checkpoint prefix) to the model it holds,
  rebuilt from the `config.json` beside it.
* `savedmodel`: writing and reading the SavedModel of `evaluate.py --export`.

Every failure is a `RunDirError` whose message is the one line a program
prints, and whose `status` is the exit status it returns.

This module imports nothing, so that `lock` and `files` can be used before
TensorFlow loads.
"""

# Exit statuses: a request that cannot be served as asked (a run in use, no
# readable checkpoint), and a write that failed (a full disk).
REFUSED = 2
WRITE_FAILED = 1


class RunDirError(Exception):
  """A run directory that cannot be used or written as asked; the message is one line.

  Attributes:
    status: the exit status a program returns for it (`REFUSED` or `WRITE_FAILED`).
  """

  def __init__(self, message, status=REFUSED):
    super().__init__(message)
    self.status = status
