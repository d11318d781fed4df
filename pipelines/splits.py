"""Train/val/test assignment that keeps each species in one split.

Regular, shiny, every form and every animation frame of one Pokemon look
alike; if they were spread over splits, validation would measure memory, not
generalisation. So the unit of assignment is the species group (see `group_of`).

A group's split comes from a hash of its name, not from its position in a
sorted list, so adding or removing files never moves another group.
"""

import hashlib
import pathlib
import re

from pipelines import species

_LEADING_NUMBER = re.compile(r"\d+")
_FRAME_SUFFIX = re.compile(r"_f\d+$")


def group_of(path) -> str:
  """The species group of a file, from its name alone (folders do not count).

  - A name that starts with a number is grouped by that National Dex number:
    `25.png`, `025.gif`, `shiny/25-shiny.png`, `201-question.png`, `25_f3.png`
    are "25", "25", "25", "201", "25".
  - Any other name is grouped by its species, after dropping a trailing
    animation-frame suffix `_f<N>`: `vulpix-alola.png`, `shiny/vulpix.png` and
    `charizard-mega-x_f2.png` are "vulpix", "vulpix", "charizard", while
    `nidoran-f`, `mr-mime-galar` and `porygon-z` stay "nidoran-f", "mr-mime"
    and "porygon-z". `species.species_of` states the rule: only known form
    words are stripped, and species with hyphens in their names are kept whole.

  Args:
    path: The file's path, relative or absolute, "/"-separated or native.

  Returns:
    The group name, the key `split_of` hashes.
  """
  stem = pathlib.PurePath(path).stem
  number = _LEADING_NUMBER.match(stem)
  if number:
    return str(int(number.group()))  # "025" and "25" are the same species.
  return species.species_of(_FRAME_SUFFIX.sub("", stem))


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
