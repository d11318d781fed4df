"""`DataConfig`: every setting of the data pipeline, with its default, in one place.

The config is validated when it is built, so a bad value fails where it was
written (a preset, a CLI flag) with a message naming the field and the value.
"""

import dataclasses
import pathlib
import re

from common.errors import check_choice

# The committed sprite set, rebuilt by `python -m pipelines.fetch bundled`.
BUNDLED_DIR = pathlib.Path(__file__).resolve().parent.parent / "data" / "sprites"

SPLITS = ("train", "val", "test")
SCALES = ("fit", "keep")
FRAMES = ("first", "all")


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """How files become training images.

  Attributes:
    data_dir: Folder searched recursively for images; "" means the bundled
      `data/sprites`.
    image_size: Side of the square training images, in pixels.
    channels: 4 = premultiplied RGBA, 3 = RGB composited over `background`.
    scale: "fit" crops each sprite to its visible pixels and fills the frame;
      "keep" centres it on a fixed 96 px canvas so relative sizes survive.
    background: RGB hex colour behind the sprite when `channels == 3`, and
      for rendering.
    frames: "first" frame of an animation, or "all" of its frames.
    cache: "memory" keeps decoded uint8 images in RAM; "none" decodes every
      epoch; anything else is a directory for on-disk tf.data cache files.
    val_fraction: Share of species groups held out for validation.
    test_fraction: Share of species groups held out for testing.
    flip: Random horizontal flips in training batches.
    translate: Largest random shift in pixels in training batches.
    hue: Random hue rotation of training images (a "shiny" variant).
    types_table: The species table that gives each sprite its types (see
      `pipelines.types_table`): "" is the folder's own `types.csv` if it has
      one (the bundled set's is data/types/types.csv), else none; "none" is
      none; anything else is the path of a CSV with the same columns. Without
      one the data has no types, and trains unconditionally.
  """

  data_dir: str = ""
  image_size: int = 64
  channels: int = 4
  scale: str = "fit"
  background: str = "ffffff"
  frames: str = "first"
  cache: str = "memory"
  val_fraction: float = 0.1
  test_fraction: float = 0.1
  flip: bool = True
  translate: int = 4
  hue: bool = False
  types_table: str = ""

  def __post_init__(self):
    _check_type(self, "image_size", int)
    _check_type(self, "channels", int)
    _check_type(self, "translate", int)
    if not 8 <= self.image_size <= 1024:
      raise ValueError(
          f"image_size must be between 8 and 1024 pixels, got {self.image_size}")
    if self.channels not in (3, 4):
      raise ValueError(
          f"channels must be 4 (premultiplied RGBA) or 3 (RGB), "
          f"got {self.channels}")
    check_choice("scale", self.scale, SCALES)
    check_choice("frames", self.frames, FRAMES)
    background_rgb(self.background)
    if not self.cache:
      raise ValueError(
          'cache must be "memory", "none" or a directory, got ""')
    for name in ("val_fraction", "test_fraction"):
      value = getattr(self, name)
      if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    if self.val_fraction + self.test_fraction >= 1.0:
      raise ValueError(
          "val_fraction + test_fraction must leave some training data, got "
          f"{self.val_fraction} + {self.test_fraction}")
    if not 0 <= self.translate < self.image_size // 2:
      raise ValueError(
          f"translate must be in [0, {self.image_size // 2}) for image_size "
          f"{self.image_size}, got {self.translate}")

  @property
  def folder(self) -> pathlib.Path:
    """The folder to read: `data_dir`, or the bundled set when it is ""."""
    return pathlib.Path(self.data_dir).expanduser() if self.data_dir else BUNDLED_DIR


def background_rgb(hex_colour: str) -> tuple[int, int, int]:
  """Parses "ffffff" or "#ffffff" into an (r, g, b) tuple of ints."""
  digits = hex_colour[1:] if hex_colour.startswith("#") else hex_colour
  if not re.fullmatch(r"[0-9a-fA-F]{6}", digits):
    raise ValueError(
        f"background must be an RGB hex colour such as ffffff, got {hex_colour!r}")
  return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))


def _check_type(config, name, kind):
  value = getattr(config, name)
  # bool is an int subclass; True as an image size is a mistake, not a 1.
  if not isinstance(value, kind) or isinstance(value, bool):
    raise ValueError(f"{name} must be an {kind.__name__}, got {value!r}")
