"""Writes that leave a whole file or none, and the one line a failed write is told in.

A disk that fills (or any other `OSError`) can stop a write half way. Every
file a program writes into a run directory or an output folder goes to a
temporary name beside its final one first and is renamed into place only
when it is complete (`os.replace` is atomic within a filesystem), so a
reader never finds half a file under a final name; the temporary is removed
when the write fails. `write_failed` turns the failure into one line naming
the path and the space left on its disk.
"""

import contextlib
import json
import os
import re
import shutil
import uuid

from vae.rundir import WRITE_FAILED, RunDirError


def temporary_name(path):
  """A name beside `path` that no other writer uses, keeping its extension (codecs go by it)."""
  head, tail = os.path.split(os.fspath(path))
  stem, ext = os.path.splitext(tail)
  return os.path.join(head, f".{stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}{ext}")


def free_space(path):
  """The space left on the disk that holds `path` (or its nearest existing parent), in words."""
  probe = os.path.abspath(os.fspath(path))
  while not os.path.exists(probe) and os.path.dirname(probe) != probe:
    probe = os.path.dirname(probe)
  try:
    free = shutil.disk_usage(probe).free
  except OSError:
    return "unknown space"
  for unit in ("bytes", "KB", "MB", "GB"):
    if free < 1024 or unit == "GB":
      return f"{free:.0f} {unit}" if unit == "bytes" else f"{free:.1f} {unit}"
    free /= 1024
  return f"{free:.1f} TB"


def reason(error):
  """What went wrong, in a few words: the `strerror` of an OSError, else its first line.

  TensorFlow's file errors read "{{function_node ...}} PATH; No space left on
  device [Op:SaveV2]": the words after the path are kept.
  """
  text = getattr(error, "strerror", None) or getattr(error, "message", None) or str(error)
  lines = str(text).strip().splitlines()
  if not lines:
    return type(error).__name__
  line = re.sub(r"\{\{[^}]*\}\}\s*|\s*\[Op:[^\]]*\]", "", lines[0])
  return line.rsplit("; ", 1)[-1].strip() or lines[0]


def write_failed(path, error):
  """The `RunDirError` (exit status 1) of a failed write of `path`."""
  return RunDirError(f"could not write {path}: {reason(error)} ({free_space(path)} free on its disk)",
                     status=WRITE_FAILED)


def remove(path):
  """Removes a file or a folder if it is there."""
  if os.path.isdir(path) and not os.path.islink(path):
    shutil.rmtree(path, ignore_errors=True)
  elif os.path.lexists(path):
    with contextlib.suppress(OSError):
      os.remove(path)


@contextlib.contextmanager
def writing(path):
  """Turns an `OSError` raised inside into `write_failed(path, ...)`."""
  try:
    yield
  except OSError as error:
    raise write_failed(getattr(error, "filename", None) or path, error) from None


@contextlib.contextmanager
def replacing(path):
  """Yields a temporary name for `path`; renames it to `path` when the block completes.

  The temporary (a file or a folder) is removed if the block raises. A
  folder at `path` is replaced whole: the old one is moved aside first and
  removed once the new one is in place.

  Raises:
    RunDirError: an `OSError` in the block or the rename, with status 1.
  """
  path = os.fspath(path)
  temporary = temporary_name(path)
  try:
    parent = os.path.dirname(path)
    if parent:
      os.makedirs(parent, exist_ok=True)
    yield temporary
    if os.path.isdir(temporary) and os.path.isdir(path):
      old = temporary_name(path)
      os.replace(path, old)
      os.replace(temporary, path)
      remove(old)
    else:
      os.replace(temporary, path)
  except OSError as error:  # Named by its final path: the temporary is gone.
    raise write_failed(path, error) from None
  finally:
    remove(temporary)


def write_text(path, text):
  """Writes `text` (UTF-8) to `path` whole or not at all; `RunDirError` if the write fails."""
  with replacing(path) as temporary:
    with open(temporary, "w", encoding="utf-8") as f:
      f.write(text)
  return path


def write_json(path, value):
  """`write_text` of `value` as indented JSON."""
  return write_text(path, json.dumps(value, indent=2) + "\n")


def write_bytes(path, data):
  """Writes `data` to `path` whole or not at all; `RunDirError` if the write fails."""
  with replacing(path) as temporary:
    with open(temporary, "wb") as f:
      f.write(data)
  return path
