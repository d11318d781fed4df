"""Whether a process of this host still runs, for files named after their writer.

The disk cache's temporary files and a worker's private run directory carry
the writer's pid in their name; a file whose writer is gone is left over from
a crash and may be removed, one whose writer lives is in use.
"""

import os


def process_alive(pid) -> bool:
  """Whether process `pid` of this host still runs."""
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Someone else's process: alive.
    return True
  return True
