"""The species table: every species and form with its Dex number, base species and types.

`data/types/types.csv` is written by `python -m pipelines.fetch types` from
Pokemon Showdown's data (the npm package `@pkmn/dex`, pinned in
`pipelines/fetch/species_types.py`) and committed, so nothing here needs the
network or Node. A user's folder may hold its own `types.csv` with the same
columns (`COLUMNS`).

The join from a sprite file to its row (`TypesTable.row_of`) goes by the
file's name alone, after dropping its folders, its extension and an
animation-frame suffix `_f<N>`:

- A name that starts with a number is that National Dex number; the words
  after it name the form: `25.png` is the species' own form (Pikachu),
  `201-question.png` is Unown-Question, `479-wash.png` Rotom-Wash.
- Any other name is a species or form name as Showdown writes it, compared
  by `name_key` (lower case, accents and `'.:%` dropped, other runs of
  separators as one `-`): `vulpix-alola.png` is Vulpix-Alola,
  `mr-mime-galar.png` Mr. Mime-Galar, `zygarde-10.png` Zygarde-10%.
- Words the table does not know are dropped from the end, one at a time,
  until a row is found: `25-shiny.png` is Pikachu, `vulpix-alola-shiny.png`
  Vulpix-Alola, `alcremie-ruby-cream-strawberry.png` Alcremie-Ruby-Cream.
  The longest known name wins, so `porygon-z.png` is Porygon-Z, not Porygon.
  A name whose first word is not a species either (`my-fakemon.png`) has no
  row: it is counted and named in the data summary.

Every form has the number and the base species of its species (`baseSpecies`
in the package), which is what the splits need (`pipelines.splits`).
"""

import csv
import dataclasses
import functools
import pathlib
import re
import unicodedata

import numpy as np

from pipelines.config import BUNDLED_DIR

# Written by `python -m pipelines.fetch types`; a data folder's own table has this name.
TABLE_NAME = "types.csv"
TABLE_PATH = pathlib.Path(__file__).resolve().parent.parent / "data" / "types" / TABLE_NAME

COLUMNS = ("num", "form", "name", "base_species", "primary_type", "secondary_type")

# The game's own order of the types. The bundled Black/White sprites have the
# first 17 (generation 5); Fairy came with generation 6 and is kept, last, for
# the species and forms after generation 5 (Sylveon, Arceus-Fairy).
TYPE_NAMES = ("Normal", "Fighting", "Flying", "Poison", "Ground", "Rock", "Bug", "Ghost", "Steel",
              "Fire", "Water", "Grass", "Electric", "Psychic", "Ice", "Dragon", "Dark", "Fairy")

_FRAME_SUFFIX = re.compile(r"_f\d+$")
_LEADING_NUMBER = re.compile(r"(\d+)(?:[-_.\s]+(.*))?$")
_DROPPED = re.compile(r"['\u2019.:%]")
_SEPARATORS = re.compile(r"[^a-z0-9]+")


@dataclasses.dataclass(frozen=True)
class Row:
  """One species or form.

  Attributes:
    num: National Dex number; every form shares its species' number.
    form: The form's name ("Wash", "Alola"); the base form's own name, often
      "" ("Normal" for Deoxys, "Plant" for Burmy).
    name: The species or form as Showdown names it ("Rotom-Wash").
    base_species: The species the form belongs to ("Rotom").
    types: One or two type names, primary first.
  """
  num: int
  form: str
  name: str
  base_species: str
  types: tuple

  @property
  def primary_type(self) -> str:
    return self.types[0]


def name_key(text: str) -> str:
  """A species, form or file name reduced for comparison: "Mr. Mime-Galar" -> "mr-mime-galar".

  Lower case, accents dropped ("Flabébé" -> "flabebe"), apostrophes, dots,
  colons and percent signs dropped ("Farfetch’d" -> "farfetchd", "Zygarde-10%"
  -> "zygarde-10"), and every other run of non-alphanumeric characters (spaces,
  `_`, `-`) made one `-` ("Type: Null", "type_null" -> "type-null").
  """
  ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
  return _SEPARATORS.sub("-", _DROPPED.sub("", ascii_text.lower())).strip("-")


def file_stem(path) -> str:
  """The part of a file's path the join reads: no folders, extension or frame suffix."""
  return _FRAME_SUFFIX.sub("", pathlib.PurePath(path).stem)


class TypesTable:
  """The rows of a types table, indexed for the join from file names.

  Attributes:
    rows: Every `Row`, in the table's order.
    source: Where the rows came from (a path), for messages.
  """

  def __init__(self, rows, source: str = ""):
    self.rows = tuple(rows)
    self.source = source
    self._by_name, self._by_number = {}, {}
    for row in self.rows:
      key = name_key(row.name)
      if key in self._by_name:
        raise ValueError(f"{source}: two rows are named {key!r} ({self._by_name[key].name!r} "
                         f"and {row.name!r})")
      self._by_name[key] = row
      forms = {name_key(row.form)}
      if row.name == row.base_species:
        forms.add("")  # `25.png`, with no form word, is the species' own form.
      for form in forms:
        if (row.num, form) in self._by_number:
          raise ValueError(f"{source}: two rows have number {row.num} and form {form!r} "
                           f"({self._by_number[row.num, form].name!r} and {row.name!r})")
        self._by_number[row.num, form] = row

  def __len__(self):
    return len(self.rows)

  def row_of(self, path):
    """The row of a sprite file by the rule in the module docstring, or None.

    Args:
      path: The file's path; only its name counts ("shiny/25.png" is "25").

    Returns:
      The `Row`, or None when the table has none for the file.
    """
    key = name_key(file_stem(path))
    number = _LEADING_NUMBER.match(key)
    if number:
      num, words = int(number.group(1)), (number.group(2) or "").split("-")
      for end in range(len(words), -1, -1):
        row = self._by_number.get((num, "-".join(w for w in words[:end] if w)))
        if row is not None:
          return row
      return None
    words = key.split("-")
    for end in range(len(words), 0, -1):
      row = self._by_name.get("-".join(words[:end]))
      if row is not None:
        return row
    return None

  def base_species_of(self, path):
    """`name_key` of the file's base species ("meowth" for meowth-galar.png), or None."""
    row = self.row_of(path)
    return None if row is None else name_key(row.base_species)


def multi_hot(types_per_sprite) -> np.ndarray:
  """float32 [N, len(TYPE_NAMES)]: 1 at each of a sprite's types (none: all 0).

  Args:
    types_per_sprite: For each sprite a sequence of type names from
      `TYPE_NAMES` (empty for a sprite without a row).
  """
  index = {name: i for i, name in enumerate(TYPE_NAMES)}
  out = np.zeros((len(types_per_sprite), len(TYPE_NAMES)), np.float32)
  for i, types in enumerate(types_per_sprite):
    for name in types:
      out[i, index[name]] = 1.0
  return out


def read(path) -> TypesTable:
  """Reads and checks a types table (a CSV with the header `COLUMNS`).

  Raises:
    ValueError: one line naming the file, the line and what is wrong (a
      missing column, a number that is not one, an unknown type name, a name
      or a (number, form) given twice).
    OSError: the file cannot be read.
  """
  path = pathlib.Path(path)
  with open(path, newline="", encoding="utf-8") as f:
    reader = csv.DictReader(f)
    header = tuple(reader.fieldnames or ())
    if header != COLUMNS:
      raise ValueError(f"{path}: the columns must be {','.join(COLUMNS)}, got "
                       f"{','.join(header) or 'no header'}")
    rows = [_row(path, line, values) for line, values in enumerate(reader, start=2)]
  return TypesTable(rows, source=str(path))


def _row(path, line, values):
  where = f"{path}:{line}"
  if None in values or any(v is None for v in values.values()):
    raise ValueError(f"{where}: expected {len(COLUMNS)} values ({','.join(COLUMNS)})")
  try:
    num = int(values["num"])
  except ValueError:
    raise ValueError(f"{where}: num must be a National Dex number, got {values['num']!r}") from None
  if num < 1:
    raise ValueError(f"{where}: num must be at least 1, got {num}")
  if not values["name"].strip() or not values["base_species"].strip():
    raise ValueError(f"{where}: name and base_species must not be empty")
  types = tuple(t.strip() for t in (values["primary_type"], values["secondary_type"]) if t.strip())
  if not values["primary_type"].strip():
    raise ValueError(f"{where}: primary_type must not be empty")
  for name in types:
    if name not in TYPE_NAMES:
      raise ValueError(f"{where}: unknown type {name!r}; the types are {', '.join(TYPE_NAMES)}")
  if len(types) == 2 and types[0] == types[1]:
    raise ValueError(f"{where}: primary_type and secondary_type are both {types[0]}")
  return Row(num, values["form"].strip(), values["name"].strip(), values["base_species"].strip(),
             types)


@functools.lru_cache(maxsize=None)
def committed() -> TypesTable:
  """The committed table, data/types/types.csv (read once per process)."""
  if not TABLE_PATH.exists():
    raise OSError(f"{TABLE_PATH} is missing; rebuild it with: python -m pipelines.fetch types")
  return read(TABLE_PATH)


def path_for(config):
  """The types table a `DataConfig` asks for (its `types_table`), or None for none.

  Raises:
    OSError: `types_table` names a file that does not exist.
  """
  if config.types_table == "none":
    return None
  if config.types_table:
    path = pathlib.Path(config.types_table).expanduser()
    if not path.is_file():
      raise OSError(f"types_table {config.types_table} does not exist")
    return path
  own = config.folder / TABLE_NAME
  if own.is_file():
    return own
  # The bundled sprites' table lives beside them, in data/types, with its provenance.
  if config.folder.resolve() == BUNDLED_DIR:
    return TABLE_PATH
  return None


def parse_types(text, type_names=TYPE_NAMES) -> np.ndarray:
  """A user's "fire" or "water,flying" as a float32 multi-hot [len(type_names)].

  Case and spaces do not matter.

  Raises:
    ValueError: no type, more than two, one given twice, or an unknown name
      (the message lists the valid names).
  """
  index = {name.lower(): i for i, name in enumerate(type_names)}
  names = [part.strip().lower() for part in str(text).split(",") if part.strip()]
  unknown = [name for name in names if name not in index]
  if unknown:
    raise ValueError(f"unknown type {unknown[0]!r}; the types are {', '.join(type_names)}")
  if not 1 <= len(names) <= 2 or len(set(names)) != len(names):
    raise ValueError(f"give one or two different types, such as fire or water,flying; got "
                     f"{text!r}")
  out = np.zeros(len(type_names), np.float32)
  out[[index[name] for name in names]] = 1.0
  return out
