"""Describes a data folder as the pipeline sees it.

  python -m pipelines                       # the bundled sprites
  python -m pipelines --data-dir DIR --image-size 32 --json
  python -m pipelines --manifest files.csv --sheet sheet.png

Prints files found, decoded and skipped (with reasons), images and species
groups per split, the training size and channels, and with a types table how
many files have a row in it and which have none: a rich table, or JSON with
--json. Bad flag values and folders without a usable image are one line
on stderr and exit status 2.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import csv
import dataclasses
import json
import sys

from common import cli
from pipelines import display, sources
from pipelines.config import SPLITS, DataConfig
from pipelines.errors import NoImagesError

PROG = "python -m pipelines"
_MISSING_SHOWN = 50  # files without a types row listed in the table; --json lists all.


def parse_args(argv=None):
  parser = cli.OneLineParser(prog=PROG, description=__doc__.split("\n")[0])
  parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
  parser.add_argument("--manifest", metavar="FILE.csv",
                      help="write path,group,split,status (and species,types with a types "
                           "table) for every file")
  parser.add_argument("--sheet", metavar="FILE.png",
                      help="write a contact sheet of one augmented training batch")
  parser.add_argument("--sheet-size", type=int, default=64, help="images on the sheet")
  parser.add_argument("--seed", type=int, default=0, help="seed of the sheet's batch")
  data = parser.add_argument_group("data", "DataConfig fields (see pipelines/config.py)")
  cli.add_field_flags(data, dataclasses.fields(DataConfig))
  return parser.parse_args(argv)


def write_manifest(path, records, with_types=False):
  parent = os.path.dirname(path)
  if parent:
    os.makedirs(parent, exist_ok=True)
  with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(["path", "group", "split", "status"] + (["species", "types"] * with_types))
    writer.writerows([r.path, r.group, r.split, r.status]
                     + ([r.species, "/".join(r.types)] * with_types) for r in records)


def write_sheet(path, data, count, seed):
  batch = next(iter(data.dataset("train", count, training=True, seed=seed)), None)
  if batch is None:
    raise ValueError("the train split is empty; no contact sheet to draw")
  shown = display.to_display_uint8(batch.numpy(), data.config.channels)
  display.write_png(path, display.image_grid(shown, ncols=8, scale=2))


def print_tables(summary):
  from rich.console import Console  # pylint: disable=import-outside-toplevel
  from rich.table import Table  # pylint: disable=import-outside-toplevel
  console = Console()
  overview = Table(title=f"pipelines: {summary['data_dir']}", show_header=False)
  overview.add_row("files", str(summary["files"]))
  overview.add_row("decoded", str(summary["decoded"]))
  overview.add_row("skipped", str(len(summary["skipped"])))
  overview.add_row("training images",
                   f"{summary['image_size']}x{summary['image_size']}x{summary['channels']}, "
                   f"scale {summary['scale']}, frames {summary['frames']}, "
                   f"cache {summary['cache']}")
  console.print(overview)
  per_split = Table("split", "images", "species groups", title="splits")
  for split in SPLITS:
    per_split.add_row(split, str(summary["images"][split]), str(summary["groups"][split]))
  console.print(per_split)
  if summary["skipped"]:
    skipped = Table("path", "reason", title="skipped files")
    for item in summary["skipped"]:
      skipped.add_row(item["path"], item["reason"])
    console.print(skipped)
  types = summary["types"]
  if types is None:
    console.print("types: none (no types table; training is unconditional)")
    return
  missing = types["without_row"]
  table = Table(title="types", show_header=False)
  table.add_row("table", types["table"])
  table.add_row("files with a row", str(types["with_row"]))
  table.add_row("files without a row", f"{len(missing)} (kept, with no type)")
  console.print(table)
  if missing:
    shown = Table("path", title="files without a row in the types table")
    for path in missing[:_MISSING_SHOWN]:
      shown.add_row(path)
    if len(missing) > _MISSING_SHOWN:
      shown.add_row(f"... and {len(missing) - _MISSING_SHOWN} more (all of them: --json)")
    console.print(shown)


def main(argv=None) -> int:
  args = parse_args(argv)
  try:
    config = cli.from_flags(DataConfig, args)
    if args.sheet_size < 1:
      raise ValueError(f"sheet_size must be at least 1, got {args.sheet_size}")
    sources.scan(config)  # Fails fast, before TensorFlow loads, on an empty folder.
    from common import startup  # pylint: disable=import-outside-toplevel
    startup.import_tensorflow()  # Without TensorFlow's start-up log lines.
    from pipelines import dataset  # pylint: disable=import-outside-toplevel
    data = dataset.load(config)
    if args.manifest:
      write_manifest(args.manifest, data.records, with_types=data.types_table is not None)
    if args.sheet:
      write_sheet(args.sheet, data, args.sheet_size, args.seed)
  except (NoImagesError, ValueError, OSError) as error:
    print(f"{PROG}: error: {error}", file=sys.stderr)
    return 2
  summary = data.summary()
  if args.json:
    print(json.dumps(summary, indent=2))
  else:
    print_tables(summary)
  return 0


if __name__ == "__main__":
  sys.exit(main())
