"""tf.data cache files on disk that several processes may fill at once.

A cache is a tf.data tensor bundle (`PREFIX.index`, `PREFIX.data-*`) plus
`PREFIX.outcomes.json` (what became of each file), all named after a hash of
the settings and the files it holds (`prefix_for`). It is complete when
`PREFIX.index` and `PREFIX.outcomes.json` both exist.

Two processes loading the same folder into one cache directory (two workers
of one job, two experiments on one machine) must not meet in each other's
files: tf.data refuses a second writer of one prefix, and a reader of a
half-written one would fail. So every writer fills a private temporary prefix
(`PREFIX.tmp-<host>-<pid>-<random>`) and then `publish` renames its files into
place, data first, `.outcomes.json` last. `os.replace` is atomic on POSIX, so
a reader sees either no cache or a complete one; when two writers finish, the
second replaces the first's files with identical bytes (decoding is
deterministic), which open readers do not notice: they keep the old inode.
"""

import glob
import hashlib
import json
import os
import pathlib
import re
import socket
import uuid

from common.processes import process_alive

_VERSION = 1  # Bump when decoding changes what a cache file holds.
_TEMP = re.compile(r"\.tmp-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8}[._]")


def prefix_for(config, split, paths):
  """The cache prefix of one split: unique to the settings and files it holds.

  Args:
    config: The `DataConfig`; `config.cache` is the directory (created here).
    split: "train", "val" or "test".
    paths: The split's file paths, relative to `config.folder`.
  """
  folder = config.folder.resolve()
  stats = [os.stat(folder / p) for p in paths]
  files = [(p, st.st_size, st.st_mtime_ns) for p, st in zip(paths, stats)]
  key = json.dumps([_VERSION, str(folder), config.image_size, config.scale,
                    config.frames, files])
  directory = pathlib.Path(config.cache).expanduser()
  directory.mkdir(parents=True, exist_ok=True)
  return str(directory / f"{split}-{hashlib.sha256(key.encode()).hexdigest()[:16]}")


def is_complete(prefix):
  """True if a published cache exists; also removes temporaries of dead writers."""
  _remove_dead_writers_files(prefix)
  return os.path.exists(f"{prefix}.index") and os.path.exists(f"{prefix}.outcomes.json")


def read_outcomes(prefix):
  return json.loads(pathlib.Path(f"{prefix}.outcomes.json").read_text(encoding="utf-8"))


def temporary_prefix(prefix):
  """A prefix no other writer uses, to fill before `publish`."""
  return f"{prefix}.tmp-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def publish(temporary, prefix, outcomes):
  """Moves a filled temporary cache to `prefix`, atomically file by file.

  Args:
    temporary: The prefix tf.data wrote (from `temporary_prefix`).
    prefix: The shared prefix readers open.
    outcomes: JSON-able outcomes of the split's files, stored beside it.
  """
  pathlib.Path(f"{temporary}.outcomes.json").write_text(json.dumps(outcomes), encoding="utf-8")
  names = sorted(glob.glob(glob.escape(temporary) + ".data-*"))
  # The index and the outcomes mark a cache complete, so they move last.
  names += [f"{temporary}.index", f"{temporary}.outcomes.json"]
  for name in names:
    os.replace(name, prefix + name[len(temporary):])


def _remove_dead_writers_files(prefix):
  """Removes temporaries left by crashed writers on this host; never a live writer's."""
  host = socket.gethostname()
  for path in glob.glob(glob.escape(prefix) + ".tmp-*"):
    match = _TEMP.search(path[len(prefix):])
    if match and match["host"] == host and not process_alive(int(match["pid"])):
      try:
        os.remove(path)
      except FileNotFoundError:  # Another process cleaned it first.
        pass

