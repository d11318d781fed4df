"""One owner per run directory: `RUN/lock.json`, taken by whoever writes the run.

Two trainings into one `--out` would interleave their checkpoints and
summaries into a run that is neither. The process that writes a run
directory (a training, fresh or resumed, on the chief of a multi-worker job;
`evaluate.py --export` into it) holds its lock for as long as it writes, and
a second one is refused with one line naming the owner.

The lock is a JSON file (pid, host, program, start time, a token), created
whole or not at all: written under a private name, then hard-linked to
`lock.json`, which fails if the name exists, on local disks and NFS alike.
A lock whose process is gone (`kill -9`, a power cut) stays behind; on the
host that wrote it, a pid that no longer runs marks it stale and the next
process takes it over, saying so. A lock from another host cannot be checked
from here and is never taken over. `release` removes the lock only while it
is still this process's own.
"""

import contextlib
import json
import os
import socket
import time
import uuid

from common.processes import process_alive
from vae.rundir import RunDirError

LOCK_NAME = "lock.json"


def _describe(owner):
  return (f"pid {owner.get('pid')} on {owner.get('host')} ({owner.get('program')}, "
          f"since {owner.get('started')})")


def _read(path):
  """The owner a lock file names; {} for a file that is not a lock (damaged)."""
  try:
    with open(path, encoding="utf-8") as f:
      owner = json.load(f)
  except (OSError, ValueError):
    return {}
  return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else {}


def run_containing(path):
  """The run directory (holding config.json and checkpoints/) that `path` lies in, or None."""
  probe = os.path.dirname(os.path.abspath(os.fspath(path)))
  while True:
    if (os.path.isfile(os.path.join(probe, "config.json"))
        and os.path.isdir(os.path.join(probe, "checkpoints"))):
      return probe
    if os.path.dirname(probe) == probe:
      return None
    probe = os.path.dirname(probe)


class RunLock:
  """The lock of one run directory, held by this process once `acquire` returns.

  Use as a context manager (`with RunLock(run, "train_loop.py").acquire(log):`);
  the lock is released when the block ends, however it ends.
  """

  def __init__(self, run_dir, program):
    self.run_dir = os.fspath(run_dir)
    self.path = os.path.join(self.run_dir, LOCK_NAME)
    self.owner = dict(pid=os.getpid(), host=socket.gethostname(), program=program,
                      started=time.strftime("%Y-%m-%d %H:%M:%S"), token=uuid.uuid4().hex)
    self.held = False

  def acquire(self, log=print):
    """Takes the lock, taking over a stale one (told to `log`); returns self.

    Raises:
      RunDirError: the run directory is in use by a live process (or by one
        on another host), or cannot be written.
    """
    os.makedirs(self.run_dir, exist_ok=True)
    for _ in range(3):  # A stale lock taken over, then a race lost, at most.
      if self._create():
        self.held = True
        return self
      owner = _read(self.path)
      if not owner and os.path.exists(self.path):
        if self._take_over(owner):
          log(f"took over {self.path}, which was not a readable lock")
        continue
      if not owner:
        continue  # Released in between: try again.
      if owner["host"] != self.owner["host"] or process_alive(owner["pid"]):
        raise RunDirError(
            f"{self.run_dir} is in use by {_describe(owner)}: wait for it to finish or stop it"
            + ("" if owner["host"] == self.owner["host"] else
               f"; if it no longer runs on {owner['host']}, remove {self.path}"))
      if self._take_over(owner):
        log(f"took over the stale lock of {self.run_dir}: {_describe(owner)} is no longer running")
    raise RunDirError(f"could not take the lock {self.path}: other processes keep taking it")

  def _create(self):
    """Creates the lock file whole, if there is none; whether this process now holds it."""
    private = f"{self.path}.{self.owner['token']}"
    try:
      with open(private, "w", encoding="utf-8") as f:
        json.dump(self.owner, f)
      os.link(private, self.path)
      return True
    except FileExistsError:
      return False
    except OSError as error:
      raise RunDirError(f"could not write {self.path}: {error.strerror or error}") from None
    finally:
      with contextlib.suppress(OSError):
        os.remove(private)

  def _take_over(self, stale):
    """Moves the stale lock `stale` aside if it is still the one there; whether it was.

    Two processes may find the same stale lock: the first moves it aside
    and creates its own; the second then moves that one aside, sees it is
    not the stale lock it read, and puts it back.
    """
    aside = f"{self.path}.stale-{self.owner['token']}"
    try:
      os.rename(self.path, aside)
    except FileNotFoundError:
      return False
    if _read(aside) == stale:
      os.remove(aside)
      return True
    with contextlib.suppress(OSError):
      os.link(aside, self.path)  # Someone else's live lock: put it back.
    os.remove(aside)
    return False

  def release(self):
    """Removes the lock if this process still holds it."""
    if self.held and _read(self.path).get("token") == self.owner["token"]:
      with contextlib.suppress(OSError):
        os.remove(self.path)
    self.held = False

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.release()
