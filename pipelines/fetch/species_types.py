"""Builds data/types/types.csv from the pinned `@pkmn/dex` package (Pokemon Showdown's data).

`npm pack` fetches the tarball into a temporary folder (see `npm`), its
SHA-256 is checked, it is unpacked there, and Node runs
`species_types.js` on it, which prints every species and form the package
knows with its types. This module writes them as the table
`pipelines.types_table` reads, and a PROVENANCE.md beside it. The command is
`python -m pipelines.fetch types`; the table is committed, so training never
needs Node.
"""

import csv
import json
import pathlib
import shutil
import subprocess
import tarfile
import tempfile

from pipelines import types_table
from pipelines.fetch import npm

PACKAGE = "@pkmn/dex@0.10.11"
PIN = npm.Pin(PACKAGE,
              sha256="ca4c1912805c295ae90cd5f2d0f465cceec1093757af44469bde9788681ad55b",
              integrity=("sha512-htR2Etf3WCiu4k4ukmyYD94do97sTm9LfmxJ8tg2uuPGJsZ98ZZGlJFUZNltfX"
                         "U0pO61ItiU6obRXTw05qipDQ=="))
SCRIPT = pathlib.Path(__file__).with_name("species_types.js")
DEFAULT_OUT = types_table.TABLE_PATH.parent


def species_rows(tar_path) -> list[dict]:
  """Unpacks the tarball into a temporary folder and runs `species_types.js` on it.

  Returns:
    The rows the script prints: num, form, name, base_species, types, gen.
  """
  node = shutil.which("node")
  if node is None:
    raise npm.FetchError(f"node not found on PATH: install Node.js to read {PACKAGE}")
  with tempfile.TemporaryDirectory(prefix="pokevae-dex-") as workdir:
    with tarfile.open(tar_path) as tar:
      # The "data" filter refuses links and paths out of the folder (Python 3.11.4 on).
      if hasattr(tarfile, "data_filter"):
        tar.extractall(workdir, filter="data")
      else:
        tar.extractall(workdir)
    try:
      done = subprocess.run([node, str(SCRIPT), str(pathlib.Path(workdir, "package"))],
                            capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
      raise npm.FetchError(f"node {SCRIPT.name} failed: {error}") from None
  if done.returncode != 0:
    lines = [l for l in done.stderr.splitlines() if l.strip()]
    raise npm.FetchError(f"node {SCRIPT.name} failed: "
                         f"{lines[-1].strip() if lines else f'exit status {done.returncode}'}")
  return json.loads(done.stdout)


def write_table(rows, out_dir: pathlib.Path, tar_path) -> types_table.TypesTable:
  """Writes types.csv and PROVENANCE.md into `out_dir`; returns the table as read back.

  Reading the file back checks it as every later reader will (known type
  names, no name or (number, form) twice).
  """
  out_dir.mkdir(parents=True, exist_ok=True)
  path = out_dir / types_table.TABLE_NAME
  tmp = path.with_suffix(".tmp")
  with open(tmp, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(types_table.COLUMNS)
    for row in rows:
      types = list(row["types"]) + [""]
      writer.writerow([row["num"], row["form"], row["name"], row["base_species"],
                       types[0], types[1]])
  table = types_table.read(tmp)  # Raises before anything is replaced.
  tmp.replace(path)
  later = sum(1 for row in rows if row["gen"] > 5)
  (out_dir / "PROVENANCE.md").write_text(_PROVENANCE.format(
      package=PACKAGE, size=pathlib.Path(tar_path).stat().st_size, sha256=PIN.sha256,
      integrity=PIN.integrity, rows=len(rows), species=len({r["num"] for r in rows}),
      top=max(r["num"] for r in rows), later=later, gen5=len(rows) - later,
      sha256_table=npm.sha256_file(path)))
  return table


_PROVENANCE = """\
# Provenance of data/types

Built by `python -m pipelines.fetch types`; do not edit by hand.

## Source

| | |
| --- | --- |
| package | npm `{package}` (Pokemon Showdown's data, github.com/pkmn/ps) |
| fetched with | `npm pack {package}`, read by `node pipelines/fetch/species_types.js` |
| tarball | {size} bytes |
| SHA-256 | `{sha256}` |
| npm integrity | `{integrity}` |
| `types.csv` SHA-256 | `{sha256_table}` |

The SHA-256 is pinned in `pipelines/fetch/species_types.py`; a tarball that does not match
is refused.

## What was taken

One row per species and form the package knows with a National Dex number of 1 or more
(`Dex.species.all()` and every species' `cosmeticFormes`): {rows} rows, {species} numbers
(1 to {top}). Create-A-Pokemon fakemon and MissingNo. (numbers below 1) are left out.

| column | from the package |
| --- | --- |
| `num` | `num` |
| `form` | `forme`, or for a species' own form its `baseForme` (Deoxys: `Normal`), often empty |
| `name` | `name` |
| `base_species` | `baseSpecies` |
| `primary_type`, `secondary_type` | `types` (the second empty for a single type) |

Types are those of generation 5 (`Dex.forGen(5)`), the generation of the bundled
Black/White sprites: there is no Fairy type, Clefairy is Normal, Togekiss Normal/Flying
({gen5} rows). A species or form that generation 5 does not have (its `gen` is 6 or more:
Sylveon, Vulpix-Alola, Arceus-Fairy) keeps its types of the newest generation, Fairy
among them ({later} rows), so newer sprites join the table too.

## Licence

Pokemon Showdown's data is MIT-licensed (the package's `package.json`); the names
are trademarks of Nintendo, Creatures Inc., GAME FREAK inc. and The Pokemon Company.
"""
