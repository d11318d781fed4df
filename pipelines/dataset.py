"""`load()` and `SpriteData`: image files -> cached uint8 sprites -> training batches.

`load()` lists and pre-checks the files (see `sources`), then decodes every
usable file once, through the same tf.data stages the batches come from, so
that `count()` is exact and every file that fails is named in `summary()`.
The decoded uint8 images are cached (4x smaller than float32): in memory by
default, or in tf.data cache files under a directory for sets that do not
fit, where a second run reads the files and decodes nothing (see `disk_cache`).

A folder with a types table (see `types_table`) also gives every sprite its
types, multi-hot over `types_table.TYPE_NAMES` (`types`); batches carry them
beside the images when asked (`with_types=True`), for a model conditioned on
types (Sohn et al. 2015). Without the flag every caller gets images alone.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from common.errors import check_choice, first_line
from pipelines import canvas, decode, disk_cache, probe, sources, transforms, types_table
from pipelines.config import SPLITS, DataConfig, background_rgb
from pipelines.errors import NoImagesError, SkipFile

# Shuffle window for sets read from disk: bounded in bytes (16384 sprites at 64 px).
_SHUFFLE_BYTES = 256 * 2**20


class SpriteData:
  """A data folder, decoded and split; hands out tf.data pipelines and arrays.

  Attributes:
    config: The `DataConfig` it was loaded with.
    records: One `sources.Record` per image file: path, group, split, status,
      and the species and types of its row in the types table.
    types_table: The path of the types table the types came from, or None
      when the folder has none (then `types` is not available).
  """

  def __init__(self, config: DataConfig, records, decoded, types_table_path=None):
    self.config = config
    self.records = list(records)
    self.types_table = types_table_path
    self._decoded = decoded  # split -> Dataset of cached [S, S, 4] uint8.

  @property
  def type_names(self) -> tuple:
    """The names of the columns of `types`: `types_table.TYPE_NAMES`; () without a table."""
    return types_table.TYPE_NAMES if self.types_table else ()

  def types(self, split: str) -> np.ndarray:
    """The types of every image of a split, float32 [N, len(type_names)] multi-hot.

    One row per image in the order of `array` (and of an unaugmented
    `dataset`): 1 at each of the sprite's one or two types, all 0 for a sprite
    whose file has no row in the table (counted in `summary`).

    Raises:
      ValueError: the folder has no types table.
    """
    return types_table.multi_hot(self._per_image(split, lambda r: r.types))

  def primary_types(self, split: str) -> np.ndarray:
    """The index into `type_names` of every image's primary type, int32 [N]; -1 without a row."""
    index = {name: i for i, name in enumerate(types_table.TYPE_NAMES)}
    return np.array(self._per_image(split, lambda r: index[r.types[0]] if r.types else -1),
                    np.int32).reshape([-1])

  def _per_image(self, split, value):
    check_choice("split", split, SPLITS)
    if not self.types_table:
      raise ValueError(f"{self.config.folder} has no types table: put a {types_table.TABLE_NAME} "
                       "in it or pass --types-table FILE (see README, Data)")
    return [value(r) for r in self.records if r.ok and r.split == split for _ in range(r.images)]

  def count(self, split: str) -> int:
    """Number of usable images in "train", "val" or "test"."""
    check_choice("split", split, SPLITS)
    return sum(r.images for r in self.records if r.split == split)

  def dataset(self, split, batch_size, *, training, seed=0, drop_remainder=False,
              with_types=False):
    """One epoch of float32 batches [batch, S, S, C] in [0, 1], multiples of 1/255.

    Args:
      split: "train", "val" or "test".
      batch_size: Images per batch.
      training: Shuffle and augment (flip, shift, hue as configured). Val and
        test data should never be augmented.
      seed: With `training`, the same seed gives the same batches.
      drop_remainder: Drop a last, smaller batch.
      with_types: Give (images, types) pairs, the types float32 [batch, T]
        multi-hot as in `types`; the images are the same as without it.

    Returns:
      A `tf.data.Dataset`; iterating it again gives a new, seeded epoch.
    """
    check_choice("split", split, SPLITS)
    if batch_size < 1:
      raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    # list -> decode -> cache happened in load(); this reads the cache.
    images = self._examples(split, with_types)
    if training:
      # Reshuffled each epoch, in the same sequence of orders for a given seed.
      images = images.shuffle(self._shuffle_buffer(split), seed=seed,
                              reshuffle_each_iteration=True)
    # Batch before augmenting: one vectorised op per batch, not one per image.
    batches = images.batch(batch_size, drop_remainder=drop_remainder)
    if training:
      # One [2] seed per batch drives its augmentation, fresh each epoch.
      seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
      batches = self._augment(tf.data.Dataset.zip(batches, seeds))
    return self._finish(batches)

  def steps_per_epoch(self, batch_size: int) -> int:
    """Full training batches per epoch (`train_epoch` drops the remainder)."""
    return self.count("train") // batch_size

  def train_epoch(self, batch_size, *, seed, epoch, start=0, shard=0, shards=1,
                  with_types=False):
    """Training batches of one epoch, from its `start`-th: a pure function of the arguments.

    An exact resume, and several workers that must agree, need the batch of
    step s to be the same whenever and by whomever it is computed. So epoch e
    is the training images shuffled with a seed made of (seed, e), cut into
    `steps_per_epoch` full batches, and its batch b is augmented with the
    stateless seed (seed, s) of its global step s = e * steps_per_epoch + b.
    The position in the data is then the step counter (`optimizer.iterations`),
    which every checkpoint holds already: the input pipeline adds nothing to a
    checkpoint, whatever the size of the data set.

    Args:
      batch_size: Images per step, over all shards (the global batch).
      seed: The run's seed.
      epoch: The epoch, from 0.
      start: The first batch to give. Resuming mid-epoch skips `start *
        batch_size` images after the shuffle: at most one epoch of cache
        reads, never a decode.
      shard: Which rows to keep: rows [shard * b, (shard + 1) * b) of each
        global batch, with b = batch_size // shards. Every shard computes the
        whole batch and keeps its rows, so shards together see exactly what one
        process would (the price: each redoes the augmentation of the batch).
      shards: How many shards (input pipelines, one per worker) share a batch.
      with_types: Give (images, types) pairs, the types float32
        [batch_size // shards, T] multi-hot as in `types`. The images, and so
        the run, are exactly those without it: the types ride along through
        the same shuffle.

    Returns:
      A `tf.data.Dataset` of `steps_per_epoch(batch_size) - start` float32
      batches [batch_size // shards, S, S, C], or (images, types) pairs.
    """
    if batch_size < 1 or batch_size % shards:
      raise ValueError(f"batch_size must be a positive multiple of {shards} (the input "
                       f"pipelines), got {batch_size}")
    if not 0 <= shard < shards:
      raise ValueError(f"shard must be in [0, {shards}), got {shard}")
    steps = self.steps_per_epoch(batch_size)
    if not 0 <= start <= steps:
      raise ValueError(f"start must be in [0, {steps}] for an epoch of {steps} batches, got {start}")
    epoch_seed = int(np.random.SeedSequence([seed & 0xFFFFFFFF, epoch]).generate_state(1)[0])
    images = self._examples("train", with_types).shuffle(
        self._shuffle_buffer("train"), seed=epoch_seed, reshuffle_each_iteration=False)
    batches = images.skip(start * batch_size).batch(batch_size, drop_remainder=True)
    first_step = epoch * steps + start
    step_seeds = tf.data.Dataset.range(first_step, (epoch + 1) * steps).map(
        lambda step: tf.stack([tf.constant(seed, tf.int64), step]))
    batches = self._augment(tf.data.Dataset.zip(batches, step_seeds))
    if shards > 1:
      rows = batch_size // shards
      batches = batches.map(lambda *batch: tuple(b[shard * rows:(shard + 1) * rows] for b in batch)
                            if len(batch) > 1 else batch[0][shard * rows:(shard + 1) * rows])
    return self._finish(batches)

  def _examples(self, split, with_types):
    """The cached images of a split, or (image, types) pairs in the same order."""
    if not with_types:
      return self._decoded[split]
    # Zipped before any shuffle: a seeded shuffle orders elements by the seed
    # alone, so the images come in the order they would without the types.
    types = tf.data.Dataset.from_tensor_slices(self.types(split).reshape([-1, len(self.type_names)]))
    return tf.data.Dataset.zip(self._decoded[split], types)

  def _augment(self, batches_and_seeds):
    config = self.config

    def augment(batch, seed):
      images, types = batch if isinstance(batch, tuple) else (batch, None)
      images = transforms.augment(images, seed, flip=config.flip, translate=config.translate,
                                  hue=config.hue)
      return images if types is None else (images, types)

    # Augment after the cache, so each epoch sees new variants of the sprites.
    return batches_and_seeds.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

  def _finish(self, batches):
    config = self.config
    rgb = background_rgb(config.background)

    def finish(images):
      if config.channels == 3:
        # Composite after augmenting, so shifted-in pixels show the background.
        images = transforms.over_background(images, rgb)
      return tf.cast(images, tf.float32) / 255.0

    batches = batches.map(lambda *batch: (finish(batch[0]), *batch[1:]) if len(batch) > 1
                          else finish(batch[0]))
    # Prepare the next batch while the model trains on this one.
    return batches.prefetch(tf.data.AUTOTUNE)

  def _shuffle_buffer(self, split):
    count = max(1, self.count(split))
    if self.config.cache == "memory":
      return count  # The buffer holds references to cached tensors: a full shuffle is free.
    return min(count, max(1, _SHUFFLE_BYTES // (4 * self.config.image_size**2)))

  def array(self, split: str) -> np.ndarray:
    """All images of a split, uint8 [N, S, S, C], unaugmented, in file order."""
    check_choice("split", split, SPLITS)
    size = self.config.image_size
    blocks = [b.numpy() for b in self._decoded[split].batch(4096)]
    images = np.concatenate(blocks) if blocks else np.zeros((0, size, size, 4), np.uint8)
    if self.config.channels == 3:
      images = transforms.over_background(images, background_rgb(self.config.background)).numpy()
    return images

  def groups(self, split: str) -> np.ndarray:
    """The species group of every image of a split, in the order of `array` (and of
    an unaugmented `dataset`): one entry per frame."""
    check_choice("split", split, SPLITS)
    return np.array([r.group for r in self.records if r.ok and r.split == split
                     for _ in range(r.images)])

  def summary(self) -> dict:
    """What was found, as JSON-able data.

    `types` is None without a types table; with one, the table, how many
    decoded files have a row, and the path of every decoded file without one
    (they stay in the data, with no type).
    """
    decoded = [r for r in self.records if r.ok]
    types = None
    if self.types_table:
      types = {"table": str(self.types_table),
               "with_row": sum(1 for r in decoded if r.types),
               "without_row": [r.path for r in decoded if not r.types]}
    return {
        "data_dir": str(self.config.folder),
        "files": len(self.records),
        "decoded": len(decoded),
        "skipped": [{"path": r.path, "reason": r.reason} for r in self.records if not r.ok],
        "images": {s: self.count(s) for s in SPLITS},
        "groups": {s: len({r.group for r in decoded if r.split == s}) for s in SPLITS},
        "image_size": self.config.image_size,
        "channels": self.config.channels,
        "scale": self.config.scale,
        "frames": self.config.frames,
        "cache": self.config.cache,
        "types": types,
    }


def load(config: DataConfig) -> SpriteData:
  """Lists, checks, splits and decodes a data folder.

  Raises:
    NoImagesError: the folder is missing or holds no usable image.
    ValueError: a bad config value (raised when the `DataConfig` is built).
  """
  records = sources.scan(config)
  table_path = types_table.path_for(config)
  decoder = _Decoder(config)
  on_disk = config.cache not in ("memory", "none")
  decoded, outcomes = {}, {}
  for split in SPLITS:
    paths = [r.path for r in records if r.split == split and r.ok]
    prefix = disk_cache.prefix_for(config, split, paths) if on_disk else ""
    if prefix and disk_cache.is_complete(prefix):
      outcomes.update(disk_cache.read_outcomes(prefix))
      decoded[split] = _decode_stages(decoder, paths, config, prefix)
      continue
    # Other processes may fill the same cache: write a private one, then publish it.
    writing = disk_cache.temporary_prefix(prefix) if prefix else ""
    decoded[split] = _decode_stages(decoder, paths, config, writing)
    for _ in decoded[split].batch(1024):  # One pass decodes and fills the cache.
      pass
    outcomes.update({p: decoder.outcomes[p] for p in paths})
    if prefix:
      disk_cache.publish(writing, prefix, {p: decoder.outcomes[p] for p in paths})
      decoded[split] = _decode_stages(decoder, paths, config, prefix)
  records = [_with_outcome(r, outcomes.get(r.path)) for r in records]
  if not any(r.images for r in records):
    raise NoImagesError(sources.no_images_message(config.folder, records))
  return SpriteData(config, records, decoded, table_path)


class _Decoder:
  """File -> [n, S, S, 4] premultiplied uint8, called from tf.data.

  A file that fails yields an empty [0, S, S, 4] block and its reason is kept
  in `outcomes` (path -> image count, or the reason it was skipped).
  """

  def __init__(self, config):
    self.folder = config.folder
    self.size = config.image_size
    self.scale = config.scale
    self.frames = config.frames
    self.outcomes = {}

  def __call__(self, path):
    path = path.decode("utf-8")
    try:
      frames = decode.read_frames(probe.read_bytes(self.folder / path), self.frames)
      images = []
      for frame in frames:
        try:
          images.append(canvas.place(frame, self.size, self.scale))
        except SkipFile:
          if len(frames) == 1:
            raise
      if not images:  # Blank frames inside an animation are dropped, not errors.
        raise SkipFile("fully transparent: no visible pixel in any frame")
      self.outcomes[path] = len(images)
      return np.stack(images)
    except Exception as error:  # pylint: disable=broad-except
      # Whatever one file does (SkipFile, cv2.error, MemoryError), the run goes on.
      reason = str(error)
      if not isinstance(error, SkipFile):
        reason = f"decode failed: {type(error).__name__}: {first_line(error)}".rstrip(": ")
      self.outcomes[path] = reason
      return np.zeros((0, self.size, self.size, 4), np.uint8)


def _decode_stages(decoder, paths, config, prefix):
  size = config.image_size
  # List: one element per file that passed the header check.
  files = tf.data.Dataset.from_tensor_slices(tf.constant(paths, tf.string, shape=[len(paths)]))
  # Decode with OpenCV, in parallel (it releases the GIL), keeping file order.
  blocks = files.map(
      lambda path: tf.ensure_shape(
          tf.numpy_function(decoder, [path], tf.uint8), [None, size, size, 4]),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  # One element per image; a failed file's empty block vanishes here. (Not
  # unbatch(): its slices kept every block resident behind a file cache.)
  images = blocks.flat_map(tf.data.Dataset.from_tensor_slices)
  # Cache the decoded uint8 images so decoding happens once, not every epoch.
  if config.cache == "memory":
    return images.cache()
  if config.cache == "none":
    return images
  return images.cache(prefix)


def _with_outcome(record, outcome):
  if outcome is None:  # Skipped by the header check; never decoded.
    return record
  if isinstance(outcome, int):
    return dataclasses.replace(record, images=outcome)
  return dataclasses.replace(record, status=f"skipped: {outcome}", images=0)

