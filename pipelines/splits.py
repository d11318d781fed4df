"""Train/val/test assignment that keeps each species in one split.

Regular, shiny, every form and every animation frame of one Pokemon look
alike; if they were spread over splits, validation would measure memory, not
generalisation. So the unit of assignment is the species group (see `group_of`):
a file's base species where the species table has the file's name (every form
goes with its species by construction: `baseSpecies` in Showdown's data, see
`types_table`), else the species that the name rule of `species` reads.

A group's split comes from a hash of its name, not from its position in a
sorted list, so adding or removing files never moves another group.
"""

import hashlib
import pathlib
import re

from pipelines import species, types_table

_LEADING_NUMBER = re.compile(r"\d+")


def group_of(path, table=None) -> str:
  """The species group of a file, from its name alone (folders do not count).

  - A name that starts with a number is grouped by that National Dex number:
    `25.png`, `025.gif`, `shiny/25-shiny.png`, `201-question.png`, `25_f3.png`
    are "25", "25", "25", "201", "25". Every form has its species' number, so
    this is the base species already (and the table is not needed).
  - Any other name, after dropping a trailing animation-frame suffix `_f<N>`,
    is grouped by its base species in `table` (`TypesTable.row_of` states the
    join): `meowth-galar.png`, `vivillon-poke-ball.png` and
    `alcremie-ruby-cream-plain.png` are "meowth", "vivillon" and "alcremie";
    the group is the base species' `types_table.name_key`, "mr-mime" for Mr.
    Mime.
  - A name the table does not have (`my-fakemon.png`), or any name when there
    is no table, is grouped by `species.species_of`: only known form words are
    stripped, and species with hyphens in their names are kept whole
    (`vulpix-alola.png`, `nidoran-f.png` and `porygon-z-shiny.png` are
    "vulpix", "nidoran-f" and "porygon-z").

  Where both know a name they agree but for a few forms whose last words the
  rule does not know (`arcanine-hisui-noble`, `vivillon-poke-ball`): the
  table's answer is right by construction, the rule's a guess.

  Args:
    path: The file's path, relative or absolute, "/"-separated or native.
    table: A `types_table.TypesTable`, or None for the name rule alone.

  Returns:
    The group name, the key `split_of` hashes.
  """
  stem = pathlib.PurePath(path).stem
  number = _LEADING_NUMBER.match(stem)
  if number:
    return str(int(number.group()))  # "025" and "25" are the same species.
  base = table.base_species_of(path) if table is not None else None
  return base or species.species_of(types_table.file_stem(path))


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
