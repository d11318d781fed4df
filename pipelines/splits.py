"""Train/val/test assignment that keeps each species in one split.

Regular, shiny, every form and every animation frame of one Pokemon look
alike; if they were spread over splits, validation would measure memory, not
generalisation. So the unit of assignment is the species group: the leading
National Dex number of the file name (`201-question` -> `201`, `25_f3` ->
`25`), or the name itself (less a trailing `_f<frame>`) when it has no number.

A group's split comes from a hash of its name, not from its position in a
sorted list, so adding or removing files never moves another group.
"""

import hashlib
import pathlib
import re

_LEADING_NUMBER = re.compile(r"\d+")
_FRAME_SUFFIX = re.compile(r"_f\d+$")


def group_of(path) -> str:
  """The species group of a file: its leading Dex number, else its frame-less stem."""
  stem = pathlib.PurePath(path).stem
  number = _LEADING_NUMBER.match(stem)
  if number:
    return str(int(number.group()))  # "025" and "25" are the same species.
  return _FRAME_SUFFIX.sub("", stem)


def split_of(group: str, val_fraction: float = 0.1, test_fraction: float = 0.1) -> str:
  """Assigns a group to "train", "val" or "test", stably, by hashing its name.

  The hash is mapped to a number u uniform in [0, 1): u < test_fraction is
  test, the next val_fraction is val, the rest is train.
  """
  digest = hashlib.sha256(group.encode("utf-8")).digest()
  u = int.from_bytes(digest[:8], "big") / 2.0**64
  if u < test_fraction:
    return "test"
  if u < test_fraction + val_fraction:
    return "val"
  return "train"
