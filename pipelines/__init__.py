"""The data side of PokeVAE: sprite files in, premultiplied RGBA batches out.

`load(DataConfig(...))` returns a `SpriteData` with exact counts, the list of
skipped files and their reasons, species-disjoint splits, and tf.data
pipelines. The image helpers render model outputs (premultiplied) as
pictures. TensorFlow is imported on first use of `load`/`SpriteData`, so
checking a config or an empty folder stays fast and quiet.
"""

from pipelines.config import BUNDLED_DIR, DataConfig
from pipelines.errors import NoImagesError
from pipelines.display import image_grid, straight_colour, to_display_uint8, unpremultiply, write_png

__all__ = [
    "BUNDLED_DIR", "DataConfig", "NoImagesError", "SpriteData", "load",
    "image_grid", "straight_colour", "to_display_uint8", "unpremultiply", "write_png",
]


def __getattr__(name):
  # PEP 562 lazy attributes: `import pipelines` must not pull in TensorFlow.
  if name in ("SpriteData", "load"):
    from pipelines import dataset  # pylint: disable=import-outside-toplevel
    return getattr(dataset, name)
  raise AttributeError(f"module 'pipelines' has no attribute {name!r}")
