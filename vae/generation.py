"""What `generate.py` draws: samples, paths between two sprites, variations.

A `Generator` is a trained model behind three calls, whichever form it was
saved in: a run directory or checkpoint prefix (restored by
`vae.rundir.load`) or an exported SavedModel (`vae.rundir.savedmodel`),
whose `RunDirError`s reach the program as they are.

* `sample(n, temperature, seed)`: new sprites from the sampler the run uses
  (always `model.sample`, so a run whose samples come from a density fitted
  after training samples from that density).
* `encode_mean(images)`: the posterior mean of each sprite, its latent code.
* `render(z)`: the images that codes stand for.
* `between(a, b, steps)` and `like(a, n, spread, seed)`: the path between two
  sprites' codes (slerp of the posterior means) and variations of one.
* With a sampler that holds the training sprites' types (`type_names` not
  empty): `sample(..., types=)`, sprites of those types, and
  `restyle(a, n, types)`, one sprite blended toward its nearest sprites of
  those types.

Every draw is seeded with stateless ops or NumPy's PCG64, so the same
request gives the same images. Sprite files from anywhere are read the way
the training data was: decoded by `pipelines.decode`, placed on the
training canvas by `pipelines.canvas`.
"""

import dataclasses

import cv2
import numpy as np
import tensorflow as tf

from common.errors import first_line
import pipelines
from pipelines import canvas
from pipelines import decode
from pipelines import display
from pipelines import transforms
from pipelines.config import background_rgb
from pipelines.errors import SkipFile
from pipelines import types_table
from pipelines.types_table import TYPE_NAMES
from vae import config as config_lib
from vae import pictures
from vae.rundir import load as run_load
from vae.rundir import savedmodel

# Images per compiled call when sampling; each chunk has its own seed, so a
# progress bar can advance without changing what is drawn.
CHUNK = 64


class GenerationError(ValueError):
  """A problem with the request (an input file, the channels asked for), told in one line."""


@dataclasses.dataclass
class Generator:
  """A trained model reduced to sample / encode / render.

  Attributes:
    image_size, channels, code_dim: the model's geometry (code_dim: the size of a code).
    checkpoint: the checkpoint prefix or SavedModel folder it came from.
    config: the run's `vae.config.Config` (the defaults when a SavedModel
      holds none): how files are placed on the canvas.
    sampler: what `sample` draws from, in words, for generate.json.
    type_names: the types `sample` and `restyle` take, () for a model whose
      sampler holds none.
  """
  image_size: int
  channels: int
  code_dim: int
  checkpoint: str
  config: config_lib.Config
  sampler: str
  _sample: object
  _encode: object
  _render: object
  type_names: tuple = ()
  _sample_types: object = None
  _restyle: object = None

  def sample(self, n, temperature, seed, on_chunk=None, types=None):
    """n images [n, S, S, C] in [0, 1]; chunk i is seeded with (seed, i).

    `on_chunk(count)` is called after each chunk, for a progress bar.
    `types`: None, or a multi-hot [len(type_names)] (`parse_types`).
    """
    parts = []
    for i, start in enumerate(range(0, n, CHUNK)):
      count = min(CHUNK, n - start)
      args = (tf.constant(count, tf.int32), tf.constant(temperature, tf.float32),
              tf.constant([seed, i], tf.int32))
      parts.append(np.asarray(self._sample(*args) if types is None else
                              self._sample_types(*args, tf.constant(types, tf.float32))))
      if on_chunk:
        on_chunk(count)
    return np.concatenate(parts)

  def encode_mean(self, images):
    return np.asarray(self._encode(tf.constant(images, tf.float32)))

  def render(self, z):
    return np.asarray(self._render(tf.constant(z, tf.float32)))

  def between(self, image_a, image_b, steps):
    """`steps` images along the slerp path between two sprites' codes, ends included."""
    codes = self.encode_mean(np.stack([image_a, image_b]))
    return self.render(pictures.slerp(codes[0], codes[1], np.linspace(0.0, 1.0, steps)))

  def like(self, image, n, spread, seed):
    """n variations of one sprite: its code plus `spread` times standard normal noise.

    The noise is in prior units, not the posterior's scale: the posterior of
    a sprite is narrow (its decodings all look the same), while the prior is
    what the decoder learned to read.
    """
    code = self.encode_mean(image[None])
    noise = np.random.default_rng(seed).standard_normal((n, self.code_dim))
    return self.render((code + spread * noise).astype(np.float32))

  def parse_types(self, text):
    """A user's "fire" or "water,flying" as the multi-hot `sample` and `restyle` take.

    Raises:
      GenerationError: the model's sampler holds no types, or the names are
        not types (the message lists the valid ones).
    """
    if not self.type_names:
      raise GenerationError(
          f"the model in {self.checkpoint} cannot make sprites of a type: its sampler holds no "
          "types (train on data with a types table, with --sampler blend)")
    try:
      return types_table.parse_types(text, self.type_names)
    except ValueError as error:
      raise GenerationError(str(error)) from None

  def restyle(self, image, n, types):
    """Up to n images of one sprite blended halfway with its nearest training sprites of
    `types`, one per species, nearest first (`VAE.restyle_codes`); a conditional model's
    first is the sprite itself decoded given `types` (`VAE.recondition`)."""
    return np.asarray(self._restyle(tf.constant(image[None], tf.float32),
                                    tf.constant(n, tf.int32), tf.constant(types, tf.float32)))

  def read_sprite(self, path):
    """One sprite file as the model's input [S, S, C] float32 in [0, 1]."""
    try:
      with open(path, "rb") as f:
        rgba = decode.read_frames(f.read())[0]
      placed = canvas.place(rgba, self.image_size, self.config.data.scale)
    except SkipFile as error:
      raise GenerationError(f"cannot use {path}: {error}") from None
    except OSError as error:
      raise GenerationError(f"cannot read {path}: {error.strerror}") from None
    if self.channels == 3:
      placed = transforms.over_background(
          placed, background_rgb(self.config.data.background)).numpy()
    return placed.astype(np.float32) / 255.0


def load(path, which="best", log=print):
  """The `Generator` of a run directory, checkpoint prefix or SavedModel folder.

  `log` is told of each damaged checkpoint skipped.

  Raises:
    RunDirError: no model can be read from `path`.
  """
  if savedmodel.is_saved_model(path):
    return _from_saved_model(path)
  model, config, prefix, _ = run_load.load_model(path, which, log)
  images = tf.TensorSpec([None, *model.image_shape], tf.float32)
  seed = tf.TensorSpec([2], tf.int32)
  sample = tf.function(
      lambda n, temperature, s: model.sample(n, temperature=temperature, seed=s),
      input_signature=[tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float32), seed])
  encode = tf.function(lambda x: model.encode(x).mean(), input_signature=[images])
  render = tf.function(model.render,
                       input_signature=[tf.TensorSpec([None, model.code_dim], tf.float32)])
  if not (model.expost.holds_types or model.conditional):
    return Generator(model.image_size, model.channels, model.code_dim, prefix, config,
                     model.sampler_name, sample, encode, render)
  types = tf.TensorSpec([len(TYPE_NAMES)], tf.float32)
  sample_types = tf.function(
      lambda n, temperature, s, t: model.sample(n, temperature=temperature, seed=s, types=t),
      input_signature=[tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float32), seed, types])
  restyle = tf.function(lambda x, n, t: model.restyle(x, n, t),
                        input_signature=[images, tf.TensorSpec([], tf.int32), types])
  return Generator(model.image_size, model.channels, model.code_dim, prefix, config,
                   model.sampler_name, sample, encode, render, TYPE_NAMES, sample_types, restyle)


def _from_saved_model(path):
  exported = savedmodel.load(path)
  module = exported.module
  typed = "sample_types" in module.signatures
  return Generator(
      exported.image_size, exported.channels, exported.code_dim, path, exported.config,
      f"SavedModel sample (the run's sampler: {exported.sampler})",
      lambda n, t, s: module.sample(count=n, temperature=t, seed=s)["images"],
      lambda x: module.signatures["encode"](images=x)["mean"],
      lambda z: module.signatures["decode"](z=z)["images"],
      tuple(name.decode() for name in module.type_names.numpy()) if typed else (),
      lambda n, t, s, y: module.signatures["sample_types"](
          count=n, temperature=t, seed=s, types=y)["images"],
      lambda x, n, y: module.signatures["restyle"](images=x, count=n, types=y)["images"])


def finish(images, channels, *, size=None, pixel_art=False, rgb=False, scale=1, seed=0):
  """Model images [N, S, S, C] in [0, 1] -> pixels of image files, uint8.

  Args:
    images: premultiplied RGBA (C = 4) or RGB.
    channels: C.
    size: None for the model's size, or the side of the canvas to resample
      to (96: the canvas Black/White sprites are drawn on).
    pixel_art: quantise each image to 16 colours with a hard alpha edge
      (`vae.pictures.pixel_art`, the palette view of evaluate.py).
    rgb: composite RGBA on white and drop alpha.
    scale: nearest-neighbour upscaling, so each sprite pixel stays square.
    seed: seed of the palette's k-means.

  Returns:
    [N, H, W, 4] straight-alpha RGBA, or [N, H, W, 3] RGB, uint8.
  """
  images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
  if size and size != images.shape[1]:
    # Premultiplied values resample without dark halos (see pipelines.canvas):
    # area averaging to shrink, bilinear to enlarge.
    method = cv2.INTER_AREA if size < images.shape[1] else cv2.INTER_LINEAR
    images = np.stack([cv2.resize(image, (size, size), interpolation=method)
                       for image in images]).reshape(len(images), size, size, channels)
  if pixel_art:
    images = pictures.pixel_art(images, channels, seed=seed)
  if rgb and channels == 4:
    images = display.composite(images[..., :3], images[..., 3:], 1.0)  # on white
    channels = 3
  out = pipelines.to_display_uint8(images, channels)
  return out.repeat(scale, axis=1).repeat(scale, axis=2)
