"""Finds the image files of a data folder and gives each a group and a split.

This is the cheap first look, with no decoding and no TensorFlow: list the
files, check each header (see `probe`), assign the split. A folder where no
file passes fails here, fast, with `NoImagesError`.
"""

import dataclasses
import os
import pathlib

from pipelines import probe, splits, types_table
from pipelines.errors import NoImagesError, SkipFile

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")


@dataclasses.dataclass(frozen=True)
class Record:
  """One image file and what became of it.

  Attributes:
    path: Path relative to the data folder, "/"-separated.
    group: Species group (see `splits.group_of`).
    split: "train", "val" or "test".
    status: "ok", or "skipped: <reason>".
    images: Images decoded from the file (frames, with frames="all").
    species: The name of the file's row in the types table ("Rotom-Wash"); ""
      when there is no table or the table has no row for it.
    types: The row's one or two type names, primary first; () without a row.
  """
  path: str
  group: str
  split: str
  status: str = "ok"
  images: int = 0
  species: str = ""
  types: tuple = ()

  @property
  def ok(self) -> bool:
    return self.status == "ok"

  @property
  def reason(self) -> str:
    """Why the file was skipped; "" when it was not."""
    return self.status.removeprefix("skipped: ") if not self.ok else ""


def list_images(folder: pathlib.Path) -> list[str]:
  """Relative paths of files with an image extension under `folder`, sorted."""
  found = []
  for root, dirs, files in os.walk(folder):
    dirs[:] = [d for d in dirs if not d.startswith(".")]  # .git, .cache, ...
    for name in files:
      if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith("."):
        found.append(pathlib.Path(root, name).relative_to(folder).as_posix())
  return sorted(found)


def scan(config) -> list[Record]:
  """Lists and pre-checks the files of `config.folder` (a `DataConfig`).

  Species groups come from the folder's types table when it has one (see
  `types_table.path_for`), else from the committed table, so every form goes
  with its base species; each file's types come from the folder's table only.

  Returns:
    One `Record` per image file; files failing the header check are skipped
    with their reason, the rest are "ok" pending decoding.

  Raises:
    NoImagesError: the folder is missing or holds no file that passes.
    ValueError: the types table is malformed (one line naming file and line).
    OSError: the types table named by the config does not exist.
  """
  folder = config.folder
  if not folder.is_dir():
    hint = " (run: python -m pipelines.fetch bundled)" if not config.data_dir else ""
    raise NoImagesError(f"data folder {folder} does not exist{hint}")
  table_path = types_table.path_for(config)
  table = types_table.read(table_path) if table_path else None
  groups_table = table or types_table.committed()
  records = []
  for path in list_images(folder):
    group = splits.group_of(path, groups_table)
    split = splits.split_of(group, config.val_fraction, config.test_fraction)
    row = table.row_of(path) if table else None
    try:
      probe.probe(probe.read_bytes(folder / path))
      status = "ok"
    except SkipFile as error:
      status = f"skipped: {error}"
    records.append(Record(path, group, split, status, species=row.name if row else "",
                          types=row.types if row else ()))
  if not any(r.ok for r in records):
    raise NoImagesError(no_images_message(folder, records))
  return records


def no_images_message(folder, records) -> str:
  """The one line that says why `folder` gave no usable image."""
  if not records:
    kinds = ", ".join(IMAGE_EXTENSIONS)
    return f"no image files ({kinds}) in {folder}"
  first = next(r for r in records if not r.ok)
  return (f"no usable image in {folder}: all {len(records)} image files were skipped "
          f"(e.g. {first.path}: {first.reason})")
